"""`import polycall` stays light: no pydantic, jiter, asyncio or SDK until they are needed."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pydantic", "jiter", "asyncio", "openai", "anthropic", "google.genai", "vertexai")


def test_import_polycall_loads_nothing_heavy() -> None:
    code = (
        "import sys, polycall\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""

