"""A type checker sees the calls' models: `for fc in client.create(..., response_model=
Iterable[A | B])` gives `fc: A | B`, and each factory gives a `Client` or an `AsyncClient`
as its SDK client is sync or async (mypy run on `tests/typing/`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parents[1]
CHECKS = Path(__file__).resolve().parent / "typing"


@pytest.fixture(scope="module")
def mypy_output() -> str:
    """mypy (the project's strict settings) on both typing files, in one run."""
    files = [CHECKS / "check_create.py", CHECKS / "check_create_wrong.py"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-error-summary",
            "--hide-error-context",
            *map(str, files),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 2: mypy itself failed
    return done.stdout


def test_create_and_its_streams_are_typed_by_the_response_model(mypy_output: str) -> None:
    errors = [line for line in mypy_output.splitlines() if "check_create.py:" in line]
    assert not errors, "\n".join(errors)


def test_a_wrong_type_is_reported(mypy_output: str) -> None:
    """The check can fail: a wrong `assert_type` and a non-model response_model are errors."""
    wrong = [line for line in mypy_output.splitlines() if "check_create_wrong.py:" in line]
    assert any(
        'Expression is of type "Weather | GoogleSearch", not "Weather"' in line for line in wrong
    ), mypy_output
    assert any('cannot be "int"' in line for line in wrong), mypy_output
    assert len(wrong) == 2, mypy_output
