"""Run the seed page's examples unchanged (`import polycall as instructor`).

Each example runs against the real provider when its credentials are set
(OPENAI_API_KEY for OpenAI; GOOGLE_CLOUD_PROJECT for Vertex AI), and otherwise against
polycall's built-in fake provider on 127.0.0.1, which answers with the seed's three calls.

    python examples/run_seed.py            # both examples
    python examples/run_seed.py openai     # one of them
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from polycall.testing import FakeProvider

HERE = Path(__file__).resolve().parent

SEED_CALLS = [
    ("Weather", {"location": "Toronto", "units": "metric"}),
    ("Weather", {"location": "Dallas", "units": "imperial"}),
    ("GoogleSearch", {"query": "who won the super bowl"}),
]


def run(script: str, env: dict[str, str], setup: str = "") -> int:
    """Run an example file as `__main__`, after `setup` code (used to point an SDK at the fake)."""
    code = f"{setup}\nimport runpy\nrunpy.run_path({str(HERE / script)!r}, run_name='__main__')"
    return subprocess.run([sys.executable, "-c", code], check=False, env={**os.environ, **env}).returncode


@dataclass(frozen=True)
class Example:
    """One seed example: its file, the provider it reaches and the variable whose presence means
    the real one, and how the fake stands in for it otherwise."""

    title: str
    script: str
    credential: str  # set: the example runs against `real`
    real: str
    builder: str  # "module:function" in polycall.testing: the fake's whole response
    env: Callable[[str], dict[str, str]] = lambda url: {}  # from the fake's URL
    setup: Callable[[str], str] = lambda url: ""  # code run first, from the fake's URL
    sdk: str | None = None  # an optional SDK: the example is skipped without it
    extra: str = ""

    def __call__(self) -> int:
        if self.sdk and importlib.util.find_spec(self.sdk) is None:
            print(f'== {self.title} example: skipped (pip install "polycall[{self.extra}]" to run it)', flush=True)
            return 0
        if os.environ.get(self.credential):
            print(f"== {self.title} example: against {self.real} ({self.credential} is set)", flush=True)
            return run(self.script, {})
        module, name = self.builder.split(":")
        response = getattr(importlib.import_module(f"polycall.testing.{module}"), name)(SEED_CALLS)
        with FakeProvider() as fake:
            fake.push(response)
            print(f"== {self.title} example: no {self.credential}, so against polycall's fake provider at {fake.url}", flush=True)
            return run(self.script, self.env(fake.url), self.setup(fake.url))


EXAMPLES = {
    "openai": Example(
        "OpenAI", "seed_openai.py", "OPENAI_API_KEY", "the real OpenAI API", "openai:chat_completion",
        env=lambda url: {"OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": "fake-key"},
    ),
    "vertexai": Example(
        "Vertex AI", "seed_vertexai.py", "GOOGLE_CLOUD_PROJECT", "Vertex AI", "gemini:generate_content",
        setup=lambda url: f"from polycall.testing.gemini import init_vertexai\ninit_vertexai({url!r})",
        sdk="vertexai", extra="vertexai",
    ),
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in EXAMPLES]
    if unknown:
        print(f"unknown example(s) {unknown}; choose from {sorted(EXAMPLES)}", file=sys.stderr)
        return 2
    codes = [EXAMPLES[name]() for name in names or list(EXAMPLES)]
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
