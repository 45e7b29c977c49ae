"""Scenarios for the FAQ page."""

from __future__ import annotations

import pytest

from docs_scenarios.common import openai_env
from polycall.testing import FakeProvider
from polycall.testing.openai import chat_completion


def openai_get_weather(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """One call to a tool named `get_weather`."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion([("get_weather", {"location": "Lima"})]))
