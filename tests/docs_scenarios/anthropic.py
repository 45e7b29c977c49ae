"""Scenarios for the Anthropic page: the seed's three calls on Anthropic Messages.

`anthropic.Anthropic()` / `anthropic.AsyncAnthropic()` built with default arguments read
ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, which these scenarios point at the fake.
"""

from __future__ import annotations

import pytest

from docs_scenarios.common import ANSWER
from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.anthropic import message, message_stream


def anthropic_env(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`anthropic.Anthropic()` / `AsyncAnthropic()` with default arguments reach the fake."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)


def anthropic_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's answer after a short text block: Weather, Weather, GoogleSearch."""
    anthropic_env(fake, monkeypatch)
    fake.push(message(SEED_CALLS, text="I'll look those up."))


def anthropic_seed_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls as a raw event stream."""
    anthropic_env(fake, monkeypatch)
    fake.push(message_stream(SEED_CALLS, text="I'll look those up."))


def anthropic_seed_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls, then a text answer once the tool results are sent back."""
    anthropic_env(fake, monkeypatch)
    fake.push(message(SEED_CALLS, text="I'll look those up."), message(text=ANSWER))
