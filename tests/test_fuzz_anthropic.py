"""Fuzzing Anthropic Messages: generated and mutated bodies and SSE event streams through the
real `anthropic` SDK (over an in-process transport, and a few over HTTP to the fake)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polycall
from fuzzing import (
    Call,
    Encoding,
    Frame,
    Harness,
    Scenario,
    Transport,
    Wire,
    budget,
    cut_points,
    dumps,
    encodings,
    frames_of,
    hostile_scenarios,
    mutated_bytes,
    mutated_frames,
    mutated_tree,
    pieces,
    resplit,
    run,
    sdk_httpx,
    sse_bytes,
    valid_scenarios,
)
from polycall.testing import FakeProvider, Response
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
HOSTILE = hostile_scenarios(text_arguments=False, finishes=FINISHES)


@budget()
@given(valid_scenarios(), encodings, cut_points, pieces, st.booleans())
def test_valid_response_gives_exactly_its_calls(
    scenario: Scenario, encoding: Encoding, cuts: list[int], piece: int, partial: bool
) -> None:
    MESSAGES.check_valid(scenario, encoding=encoding, cuts=cuts, piece=piece, partial=partial)


@budget()
@given(valid_scenarios(), st.integers(0, 2**20), pieces, st.booleans())
def test_stream_cut_before_its_finish_is_an_error(
    scenario: Scenario, at: int, piece: int, drop: bool
) -> None:
    MESSAGES.check_cut(scenario, at=at, piece=piece, drop=drop)


@budget()
@given(HOSTILE, pieces, st.integers(0, 1))
def test_json_and_stream_agree_on_hostile_calls(
    scenario: Scenario, piece: int, max_retries: int
) -> None:
    MESSAGES.check_agree(scenario, piece=piece, max_retries=max_retries)


@budget()
@given(st.data(), valid_scenarios() | HOSTILE, st.sampled_from([200, 200, 200, 400, 401, 529]))
def test_mutated_body_gives_calls_or_a_polycall_error(
    data: st.DataObject, scenario: Scenario, status: int
) -> None:
    mutated = data.draw(mutated_tree(body(scenario)))
    if data.draw(st.booleans()):
        MESSAGES.run_body(mutated, status=status)
    else:
        chunks = [dumps(mutated).encode("utf-8", "surrogatepass")]
        MESSAGES.run_body(None, chunks=data.draw(mutated_bytes(chunks)), status=status)


@budget()
@given(st.data(), valid_scenarios() | HOSTILE, pieces, st.booleans())
def test_mutated_stream_gives_calls_or_a_polycall_error(
    data: st.DataObject, scenario: Scenario, piece: int, partial: bool
) -> None:
    stream = data.draw(mutated_frames(MESSAGES.frames(scenario, piece)))
    chunks = sse_bytes(stream)
    if data.draw(st.booleans()):
        chunks = data.draw(mutated_bytes(chunks))
    MESSAGES.run_frames(
        (), chunks=chunks, partial=partial, max_retries=data.draw(st.integers(0, 1))
    )


@budget(0.3)
@given(valid_scenarios(), HOSTILE, encodings, cut_points, pieces)
def test_async_client_agrees(
    valid: Scenario, hostile: Scenario, encoding: Encoding, cuts: list[int], piece: int
) -> None:
    MESSAGES.check_valid(
        valid, encoding=encoding, cuts=cuts, piece=piece, partial=False, is_async=True
    )
    MESSAGES.check_agree(hostile, piece=piece, max_retries=0, is_async=True)
    sync, async_ = MESSAGES.run_body(body(hostile)), MESSAGES.run_body(body(hostile), is_async=True)
    assert sync.summary() == async_.summary()


@settings(budget(0.1), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid_scenarios(), encodings, cut_points, pieces)
def test_over_http_to_the_fake_provider(
    fake: FakeProvider, scenario: Scenario, encoding: Encoding, cuts: list[int], piece: int
) -> None:
    client = polycall.from_anthropic(anthropic.Anthropic(**{**SDK, "base_url": fake.url}))
    stream = MESSAGES.frames(scenario, piece)
    fake.push(
        Response(body=body(scenario)),
        Response(
            chunks=resplit(sse_bytes(stream, encoding), cuts), content_type="text/event-stream"
        ),
    )
    for streamed in (False, True):
        outcome = run(client, stream=streamed, kwargs=MESSAGES.kwargs)
        assert outcome.calls() == scenario.expected()


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
