"""Scenarios shared by the docs pages: the seed's three calls on OpenAI Chat Completions.

A scenario is `name(fake, monkeypatch)`: it scripts the started fake provider and points
the SDK clients a docs example builds with default arguments at it.
"""

from __future__ import annotations

import pytest

from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.openai import chat_completion, chat_stream

ANSWER = "Toronto is at 18°C, Dallas at 75°F, and the Kansas City Chiefs won the Super Bowl."


def openai_env(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`openai.OpenAI()` / `openai.AsyncOpenAI()` with default arguments reach the fake."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test")


def seed_openai(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's answer: Weather(Toronto), Weather(Dallas), GoogleSearch, in that order."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion(SEED_CALLS))


def seed_openai_twice(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's answer, served to two requests."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion(SEED_CALLS), chat_completion(SEED_CALLS))


def seed_openai_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls as a streamed response."""
    openai_env(fake, monkeypatch)
    fake.push(chat_stream(SEED_CALLS))


def seed_openai_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls, then a text answer once the tool results are sent back."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion(SEED_CALLS), chat_completion(text=ANSWER))
