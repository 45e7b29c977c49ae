"""Scenarios for the Tool loop page: streamed steps on OpenAI Chat, Anthropic and Gemini."""

from __future__ import annotations

import pytest

from docs_scenarios.anthropic import anthropic_env
from docs_scenarios.common import ANSWER, openai_env
from docs_scenarios.gemini import genai_env
from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.anthropic import message_stream
from polycall.testing.gemini import gemini_stream
from polycall.testing.openai import chat_stream

DALLAS = SEED_CALLS[1]
DALLAS_IN_KELVIN = ("Weather", {"location": "Dallas", "units": "kelvin"})


def loop_openai(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls, streamed, then a text answer to their results."""
    openai_env(fake, monkeypatch)
    fake.push(chat_stream(SEED_CALLS), chat_stream(text=ANSWER))


def loop_openai_bad_call(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dallas in kelvin (invalid), corrected at the next step, then the answer."""
    openai_env(fake, monkeypatch)
    fake.push(
        chat_stream([SEED_CALLS[0], DALLAS_IN_KELVIN]), chat_stream([DALLAS]), chat_stream(text=ANSWER)
    )


def loop_openai_report(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A weather call, then the `Report` tool that ends the run."""
    openai_env(fake, monkeypatch)
    report = ("Report", {"summary": "Sunny in Toronto", "warm": True})
    fake.push(chat_stream([SEED_CALLS[0]]), chat_stream([report]))


def loop_openai_endless(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that calls a tool at every request."""
    openai_env(fake, monkeypatch)
    fake.push(*(chat_stream([SEED_CALLS[0]]) for _ in range(3)))


def loop_anthropic(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls on Anthropic, streamed, then the answer."""
    anthropic_env(fake, monkeypatch)
    fake.push(message_stream(SEED_CALLS, text="I'll look those up."), message_stream(text=ANSWER))


def loop_genai(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls on Gemini, streamed, then the answer."""
    genai_env(fake, monkeypatch)
    fake.push(gemini_stream(SEED_CALLS), gemini_stream(text=ANSWER))
