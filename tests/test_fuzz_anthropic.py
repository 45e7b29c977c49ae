"""Fuzzing Anthropic Messages: a scenario as a body and an SSE event stream, and the harness
over the real `anthropic` SDK, for the property tests of test_fuzz.py; and what the fuzzing
found, kept as regression tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic
import pytest

import polycall
from fuzzing import (
    Call,
    Frame,
    Fuzzed,
    Harness,
    Scenario,
    Transport,
    Wire,
    dumps,
    frames_of,
    hostile_scenarios,
    sdk_httpx,
    valid_scenarios,
)
from polycall.testing.anthropic import message, message_stream

FINISHES = [
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "refusal",
    "pause_turn",
    "model_context_window_exceeded",
]


def _calls(scenario: Scenario) -> list[tuple[str, str]]:
    """Each call's input as JSON text (the builders parse it for the whole body)."""
    return [(call.name, dumps(call.arguments)) for call in scenario.calls]


def _ids(scenario: Scenario) -> list[Any]:
    return [call.id for call in scenario.calls]


def body(scenario: Scenario) -> Any:
    return message(
        _calls(scenario), text=scenario.text, stop_reason=scenario.finish, ids=_ids(scenario)
    ).body


def frames(scenario: Scenario, piece: int) -> list[Frame]:
    return frames_of(
        message_stream(
            _calls(scenario),
            text=scenario.text,
            stop_reason=scenario.finish,
            piece=piece,
            ids=_ids(scenario),
        )
    )


def terminal(frames: Sequence[Frame]) -> int:
    return next(i for i, f in enumerate(frames) if f.event == "message_delta")


TRANSPORT = Transport()
HTTPX = sdk_httpx("anthropic")
SDK = {"api_key": "sk-ant-fuzz", "base_url": "http://fuzz.invalid", "max_retries": 0}
MESSAGES = Harness(
    Wire(body, frames, terminal),
    TRANSPORT,
    polycall.from_anthropic(anthropic.Anthropic(**SDK, http_client=TRANSPORT.client(HTTPX))),
    polycall.from_anthropic(
        anthropic.AsyncAnthropic(**SDK, http_client=TRANSPORT.client(HTTPX, is_async=True))
    ),
    {"model": "claude-sonnet-4-6"},
)
FUZZED = Fuzzed(
    "anthropic",
    MESSAGES,
    valid_scenarios(),
    hostile_scenarios(text_arguments=False, finishes=FINISHES),
    error_statuses=(400, 401, 529),
    over_http=lambda url: polycall.from_anthropic(anthropic.Anthropic(**{**SDK, "base_url": url})),
    http_kwargs=MESSAGES.kwargs,
)


# What the fuzzing found, in its smallest form: fixed ones kept as regression tests, open
# ones marked xfail (and their crash listed in fuzzing.KNOWN_CRASHES) until fixed.


def test_a_stream_cut_between_two_calls_is_an_error() -> None:
    scenario = Scenario(
        (
            Call("Weather", {"location": "A", "units": "metric"}, "toolu_1"),
            Call("GoogleSearch", {"query": "q"}, "toolu_2"),
        )
    )
    stream = MESSAGES.frames(scenario, 100)
    assert [f.event for f in stream[4:6]] == ["content_block_stop", "content_block_start"]
    outcome = MESSAGES.run_frames(stream[:5])  # the connection drops after the first call
    assert isinstance(outcome.error, polycall.ProviderError), outcome.calls()


@pytest.mark.parametrize("partial", [False, True])
def test_partial_json_not_text_is_no_crash(partial: bool) -> None:
    stream = MESSAGES.frames(Scenario((Call("GoogleSearch", {"query": "q"}, "toolu_1"),)), 100)
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": {"query": "q"}},
    }
    wrong = [*stream[:2], Frame(delta, "content_block_delta"), *stream[2:]]
    MESSAGES.run_frames(wrong, partial=partial, known=())


@pytest.mark.parametrize("where", ["stop_reason", "streamed stop_reason", "index"])
def test_fields_of_the_wrong_type_are_no_crash(where: str) -> None:
    scenario = Scenario((Call("GoogleSearch", {"query": "q"}, "toolu_1"),))
    if where == "stop_reason":
        MESSAGES.run_body({**body(scenario), "stop_reason": {"a": 1}}, known=())
        return
    stream = MESSAGES.frames(scenario, 100)
    event = "message_delta" if where == "streamed stop_reason" else "content_block_start"
    at = next(i for i, f in enumerate(stream) if f.event == event)
    data = stream[at].data
    if event == "message_delta":
        data = {**data, "delta": {**data["delta"], "stop_reason": {"a": 1}}}
    else:
        data = {**data, "index": [0]}
    MESSAGES.run_frames([*stream[:at], Frame(data, event), *stream[at + 1 :]], known=())


@pytest.mark.parametrize("streamed", [False, True])
def test_text_not_text_is_no_crash(streamed: bool) -> None:
    scenario = Scenario((Call("GoogleSearch", {"query": "q"}, "toolu_1"),), text="Searching.")
    if not streamed:
        data = body(scenario)
        data["content"][0]["text"] = 7
        MESSAGES.run_body(data, known=())
        return
    stream = MESSAGES.frames(scenario, 100)
    at = next(i for i, f in enumerate(stream) if f.event == "content_block_start")
    start = {**stream[at].data, "content_block": {"type": "text", "text": 7}}
    MESSAGES.run_frames([*stream[:at], Frame(start, stream[at].event), *stream[at + 1 :]], known=())
