"""Run the seed page's examples unchanged (`import polycall as instructor`).

Each example runs against the real provider when its credentials are set
(OPENAI_API_KEY for OpenAI; GOOGLE_CLOUD_PROJECT for Vertex AI), and otherwise against
polycall's built-in fake provider on 127.0.0.1, which answers with the seed's three calls.

    python examples/run_seed.py            # both examples
    python examples/run_seed.py openai     # one of them
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
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


def openai_example() -> int:
    if os.environ.get("OPENAI_API_KEY"):
        print("== OpenAI example: against the real OpenAI API (OPENAI_API_KEY is set)", flush=True)
        return run("seed_openai.py", {})
    from polycall.testing.openai import chat_completion

    with FakeProvider() as fake:
        fake.push(chat_completion(SEED_CALLS))
        print(f"== OpenAI example: no OPENAI_API_KEY, so against polycall's fake provider at {fake.url}", flush=True)
        return run("seed_openai.py", {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "fake-key"})


def vertexai_example() -> int:
    if importlib.util.find_spec("vertexai") is None:
        print('== Vertex AI example: skipped (pip install "polycall[vertexai]" to run it)', flush=True)
        return 0
    if os.environ.get("GOOGLE_CLOUD_PROJECT"):
        print("== Vertex AI example: against Vertex AI (GOOGLE_CLOUD_PROJECT is set)", flush=True)
        return run("seed_vertexai.py", {})
    from polycall.testing.gemini import generate_content

    with FakeProvider() as fake:
        fake.push(generate_content(SEED_CALLS))
        print(f"== Vertex AI example: no GOOGLE_CLOUD_PROJECT, so against polycall's fake provider at {fake.url}", flush=True)
        setup = f"from polycall.testing.gemini import init_vertexai\ninit_vertexai({fake.url!r})"
        return run("seed_vertexai.py", {}, setup)


EXAMPLES = {"openai": openai_example, "vertexai": vertexai_example}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in EXAMPLES]
    if unknown:
        print(f"unknown example(s) {unknown}; choose from {sorted(EXAMPLES)}", file=sys.stderr)
        return 2
    codes = [EXAMPLES[name]() for name in names or list(EXAMPLES)]
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
