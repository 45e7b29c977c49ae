"""How a stream ends, alike on the providers whose wires script it alike: Anthropic Messages
and Bedrock Converse (both say `max_tokens`), over the provider matrix."""

from __future__ import annotations

import pytest

import polycall
from models import CUT_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall.testing import FakeProvider
from providers import MATRIX

PROVIDERS = ["anthropic", "bedrock"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_max_tokens_yields_the_complete_calls_then_raises(fake: FakeProvider, provider: str) -> None:
    cell = MATRIX[provider]
    fake.push(cell.streamed(CUT_CALLS, stop_reason="max_tokens"))
    stream = cell.client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert [next(stream), next(stream)] == SEED_VALUES[:2]
    with pytest.raises(polycall.IncompleteOutputError) as caught:
        next(stream)
    assert caught.value.reason == "max_tokens"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_text_only_stream_is_no_tool_calls(fake: FakeProvider, provider: str) -> None:
    cell = MATRIX[provider]
    fake.push(cell.streamed(text="It is sunny."))
    with pytest.raises(polycall.NoToolCallsError) as caught:
        list(cell.client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    assert caught.value.text == "It is sunny."
