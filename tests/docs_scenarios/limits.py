"""Scenarios for the Limits page: a response whose call has very long arguments."""

from __future__ import annotations

import pytest

from docs_scenarios.common import openai_env
from polycall.testing import FakeProvider
from polycall.testing.openai import chat_completion, chat_stream

LONG_QUERY = ("GoogleSearch", {"query": "who won the super bowl " * 200})  # ~4.8 kB


def openai_long_arguments(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """One call with about 4.8 kB of arguments."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion([LONG_QUERY]))


def openai_long_arguments_streamed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same call, streamed in 50-character pieces."""
    openai_env(fake, monkeypatch)
    fake.push(chat_stream([LONG_QUERY], piece=50))
