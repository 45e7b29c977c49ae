"""Scenarios for the OpenAI Chat, OpenAI-compatible, Streaming and Retries pages."""

from __future__ import annotations

import pytest

from docs_scenarios.common import openai_env
from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.openai import (
    chat_chunk,
    chat_completion,
    chat_error,
    chat_sse,
    chat_stream,
)

DALLAS_IN_KELVIN = ("Weather", {"location": "Dallas", "units": "kelvin"})
BAD_SEED = [SEED_CALLS[0], DALLAS_IN_KELVIN, SEED_CALLS[2]]
OPENAI_IDS = ["call_Zx0wY6", "call_Pq3rS1", "call_Lm8nB2"]


def chat_seed_with_ids(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's calls with OpenAI-style ids and usage."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion(SEED_CALLS, ids=OPENAI_IDS, usage=(82, 61)))


def chat_required_refused(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that refuses `tool_choice="required"` with a 400, then answers with "auto"."""
    openai_env(fake, monkeypatch)
    refusal = "tool_choice 'required' is not supported; use 'auto' or 'none'"
    fake.push(chat_error(400, refusal, param="tool_choice"), chat_completion(SEED_CALLS))
    fake.push(chat_completion(SEED_CALLS))


def chat_azure(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`openai.AzureOpenAI()` built from the Azure environment variables reaches the fake."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    fake.push(chat_completion(SEED_CALLS))


def chat_partial_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's first call, streamed in three pieces."""
    openai_env(fake, monkeypatch)
    pieces = ['{"location": "Tor', 'onto", "units"', ': "metric"}']
    head = {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "Weather", "arguments": ""},
    }
    events = [chat_chunk({"role": "assistant"}), chat_chunk({"tool_calls": [head]})]
    events += [
        chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces
    ]
    events += [chat_chunk({}, "tool_calls"), chat_chunk(usage=(40, 18))]
    fake.push(chat_sse(events))


def chat_stream_cut_off(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream that hits `max_tokens` in the middle of its third call."""
    openai_env(fake, monkeypatch)
    calls = [*SEED_CALLS[:2], ("GoogleSearch", '{"query": "who won')]
    fake.push(chat_stream(calls, finish_reason="length"))


def chat_one_bad_call_then_fixed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dallas in kelvin among the seed's calls, then the corrected call."""
    openai_env(fake, monkeypatch)
    fixed = chat_completion([SEED_CALLS[1]], ids=["call_9fX2"], usage=(131, 19))
    fake.push(chat_completion(BAD_SEED, usage=(82, 61)), fixed)


def chat_one_bad_call_streamed_then_fixed(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, streamed."""
    openai_env(fake, monkeypatch)
    fake.push(chat_stream(BAD_SEED), chat_stream([SEED_CALLS[1]]))


def chat_bad_call_every_time(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dallas in kelvin, and again on every retry."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion(BAD_SEED), *[chat_completion([DALLAS_IN_KELVIN]) for _ in range(3)])
