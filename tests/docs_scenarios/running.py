"""Scenarios for the Running the calls page."""

from __future__ import annotations

import pytest

from docs_scenarios.common import ANSWER, openai_env
from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.openai import chat_completion, chat_stream


def seed_openai_stream_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls as a streamed response, then a text answer to the tool results."""
    openai_env(fake, monkeypatch)
    fake.push(chat_stream(SEED_CALLS), chat_completion(text=ANSWER))
