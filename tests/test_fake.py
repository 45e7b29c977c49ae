"""The fake provider users test with: a response that cannot be served is a 500 naming why,
and scripts that would silently test nothing are refused as they are built."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import openai_client
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL
from polycall import ProviderError
from polycall.testing import FakeProvider, Gate, json_response
from polycall.testing.openai import chat_completion, chat_stream
from providers import MATRIX

USER, MODEL = SEED_MESSAGES[1:], SEED_MODEL


def _broken(request: Any) -> Any:
    return {"no": "Response"}["yes"]


@pytest.mark.parametrize(
    ("script", "named"),
    [
        (_broken, "KeyError('yes')"),
        (lambda request: {"choices": []}, "returned dict, not a Response"),
        (json_response({"when": object()}), "TypeError"),
    ],
)
def test_a_response_that_cannot_be_served_is_a_500_naming_why(
    fake: FakeProvider, script: Any, named: str
) -> None:
    fake.push(script)
    client = openai_client(fake)
    with pytest.raises(ProviderError, match="scripting the response failed") as caught:
        client.create(messages=USER, response_model=MODEL, model="m")
    assert caught.value.status_code == 500 and named in str(caught.value)
    with pytest.raises(ProviderError, match="no scripted response .*an earlier one failed"):
        client.create(messages=USER, response_model=MODEL, model="m")


def test_push_takes_responses_and_last_needs_a_request(fake: FakeProvider) -> None:
    with pytest.raises(TypeError, match="push\\(\\) takes Responses"):
        fake.push(chat_completion(SEED_CALLS).body)
    with pytest.raises(LookupError, match="no request yet"):
        _ = fake.last


@pytest.mark.parametrize("provider", MATRIX)
def test_builders_refuse_ids_and_gates_that_do_not_fit_the_calls(provider: str) -> None:
    cell = MATRIX[provider]
    two = SEED_CALLS[:2]
    ids_option = "call_ids" if provider == "responses" else "ids"
    with pytest.raises(ValueError, match="1 id\\(s\\) for 2 call\\(s\\)"):
        cell.whole(two, **{ids_option: ["only_one"]})
    with pytest.raises(ValueError, match="gates at \\[2\\]"):
        cell.streamed(two, gates={2: Gate()})
    assert cell.streamed(two, gates={1: Gate()}).chunks  # the last call's gate is in range


def test_a_gate_in_range_holds_the_stream(fake: FakeProvider) -> None:
    gate = Gate()
    response = chat_stream(SEED_CALLS[:2], gates={1: gate})
    assert gate in (response.chunks or [])
