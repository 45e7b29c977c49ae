"""Each provider API's wire as the fuzz tests drive it, a module per provider: how a
scenario becomes its body and stream, and its `FUZZED` (built by `fuzzing.fuzzed`)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from helpers import installed

#: The wire modules, by the SDK each drives; and the SDK of each wire.
WIRES = {
    "openai": ("openai", "responses"),
    "anthropic": ("anthropic",),
    "google.genai": ("gemini",),
}
SDKS = {name: sdk for sdk, names in WIRES.items() for name in names}


def load(name: str) -> ModuleType | None:
    """The wire module `name`, or None when its SDK is not installed."""
    return importlib.import_module(f"{__name__}.{name}") if installed(SDKS[name]) else None


def needs(name: str) -> pytest.MarkDecorator:
    """Skips a test, saying why, when the SDK of the wire `name` is not installed."""
    return pytest.mark.skipif(not installed(SDKS[name]), reason=f"{SDKS[name]} is not installed")
