"""The README's main job: the seed examples run unchanged against the built-in fake provider."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_LINES = [
    "location='Toronto' units='metric'",
    "location='Dallas' units='imperial'",
    "query='who won the super bowl'",
]


def run_seed(name: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "GOOGLE_CLOUD_PROJECT")}
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "run_seed.py"), name],
        check=False, capture_output=True, text=True, env=env, timeout=120,
    )


def test_seed_example_file_is_the_seed_verbatim() -> None:
    seed = (ROOT.parent / "shared" / "seed" / "parallel_tools.md")
    if not seed.is_file():
        pytest.skip("seed page not present")
    example = (ROOT / "examples" / "seed_openai.py").read_text()
    original = example.replace("import polycall as instructor", "import instructor")
    indented = "\n".join("    " + line if line else line for line in original.splitlines())
    assert example.count("import polycall as instructor") == 1
    assert indented in seed.read_text()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.skipif(
            importlib.util.find_spec(name) is None, reason=f"{name} not installed"
        ))
        for name in ("openai", "vertexai")  # each example's name is its SDK's
    ],
)
def test_seed_prints_its_three_lines(name: str) -> None:
    result = run_seed(name)
    assert result.returncode == 0, result.stderr
    assert "fake provider" in result.stdout
    assert result.stdout.strip().splitlines()[-3:] == SEED_LINES


def test_unknown_example_is_refused() -> None:
    result = run_seed("nope")
    assert result.returncode == 2
    assert "unknown example" in result.stderr
