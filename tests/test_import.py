"""`import polycall` stays light: no pydantic, jiter, asyncio or SDK until they are needed."""

from __future__ import annotations

import subprocess
import sys

from polycall.providers.registry import PROVIDERS

#: The core's heavy dependencies, and every provider's SDK (from its descriptor).
HEAVY = ("pydantic", "jiter", "asyncio", "opentelemetry", *(p.sdk for p in PROVIDERS))


def test_import_polycall_loads_nothing_heavy() -> None:
    code = (
        "import sys, polycall\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""

