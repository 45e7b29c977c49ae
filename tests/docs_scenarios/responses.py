"""Scenarios for the Responses API and `from_provider` pages.

The docs runner already points every SDK built with default arguments at the fake
(`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `GROQ_BASE_URL`, ... and their keys).
"""

from __future__ import annotations

import pytest

from docs_scenarios.common import ANSWER
from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.anthropic import message
from polycall.testing.openai import chat_completion
from polycall.testing.openai_responses import response_body, response_stream


def responses_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls from `/v1/responses`, after a reasoning item."""
    fake.push(response_body(SEED_CALLS, reasoning=True))


def responses_seed_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls as a streamed Responses API response."""
    fake.push(response_stream(SEED_CALLS))


def responses_seed_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls, then a text answer once the tool results are sent back."""
    fake.push(response_body(SEED_CALLS), response_body(text=ANSWER))


def responses_one_bad_call_then_fixed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dallas asked for in kelvin, then the corrected call on the retry."""
    bad = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
    fake.push(response_body(bad), response_body([SEED_CALLS[1]], call_ids=["call_7"]))


def from_provider_openai(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's calls on Chat Completions (for `from_provider("openai/...")` or `"groq/..."`)."""
    fake.push(chat_completion(SEED_CALLS))


def from_provider_anthropic(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's calls as Anthropic `tool_use` blocks."""
    fake.push(message(SEED_CALLS))
