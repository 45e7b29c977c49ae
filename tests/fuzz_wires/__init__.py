"""Each provider API's wire as the fuzz tests drive it, a module per provider: how a
scenario becomes its body and stream, and its `FUZZED` (built by `fuzzing.fuzzed`).

The matrix comes from the provider registry: every fake wire a descriptor names for one of
its modes (`polycall/testing/<wire>.py`) has its fuzz wire here, `fuzz_wires/<wire>.py`,
driving the SDK of the first provider that names it (Vertex AI shares Gemini's wire, fuzzed
through google-genai; its own SDK is fuzzed over HTTP in test_fuzz_regressions.py)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from helpers import installed
from polycall.providers.registry import PROVIDERS

#: Each fake wire of the registry, and the SDK its fuzz wire drives.
SDKS: dict[str, str] = {}
for _provider in PROVIDERS:
    for _wire in _provider.wires.values():
        SDKS.setdefault(_wire, _provider.sdk)


def load(name: str) -> ModuleType | None:
    """The wire module `name`, or None when its SDK is not installed."""
    return importlib.import_module(f"{__name__}.{name}") if installed(SDKS[name]) else None


def needs(name: str) -> pytest.MarkDecorator:
    """Skips a test, saying why, when the SDK of the wire `name` is not installed."""
    return pytest.mark.skipif(not installed(SDKS[name]), reason=f"{SDKS[name]} is not installed")
