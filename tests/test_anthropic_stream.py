"""Anthropic Messages, streamed: raw SSE events through the real SDK against the fake provider."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel

import polycall
from helpers import anthropic_client
from models import CUT_CALLS, SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, Weather
from polycall.testing import FakeProvider, Gate, sse_response
from polycall.testing.anthropic import message, message_stream
from polycall.toolset import tool_set

USER = SEED_MESSAGES[1:]
BAD = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]


class Ping(BaseModel):
    """A tool without arguments."""


claude_client = functools.partial(anthropic_client, model="claude-sonnet-4-6")


def test_seed_scenario_streamed(fake: FakeProvider) -> None:
    fake.push(message_stream(SEED_CALLS, text="On it."))
    stream = claude_client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(stream) == SEED_VALUES
    assert [c.id for c in stream.result.calls] == ["toolu_fake_0", "toolu_fake_1", "toolu_fake_2"]
    assert stream.result.usage == polycall.Usage(10, 20)
    assert stream.result.text == "On it."
    assert fake.last.json["stream"] is True
    assert fake.last.json["tool_choice"] == {"type": "any"}


async def test_seed_scenario_streamed_async(fake: FakeProvider) -> None:
    fake.push(message_stream(SEED_CALLS))
    stream = claude_client(fake, is_async=True).create_iterable(
        messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert [value async for value in stream] == SEED_VALUES
    assert stream.result.usage == polycall.Usage(10, 20)


def test_create_with_stream_true(fake: FakeProvider) -> None:
    fake.push(message_stream(SEED_CALLS))
    assert (
        list(claude_client(fake).create(messages=USER, response_model=SEED_MODEL, stream=True))
        == SEED_VALUES
    )


def test_streamed_and_whole_responses_agree(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS, text="On it."), message_stream(SEED_CALLS, text="On it."))
    client = claude_client(fake)
    whole = client.create(messages=USER, response_model=SEED_MODEL)
    stream = client.create_iterable(messages=USER, response_model=SEED_MODEL)
    assert list(stream) == list(whole)
    streamed = stream.result
    assert streamed.calls == whole.calls
    assert (streamed.text, streamed.usage) == (whole.text, whole.usage)
    assert streamed.assistant_message() == whole.assistant_message()


def test_first_call_is_yielded_before_the_stream_finishes(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(message_stream(SEED_CALLS, text="On it.", gates={0: gate}))
    stream = claude_client(fake).create_iterable(messages=USER, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[0]
    assert not gate.timed_out  # the server is still holding the rest of the stream
    gate.open()
    assert list(stream) == SEED_VALUES[1:]
    assert gate.reached.is_set() and not gate.timed_out


async def test_first_call_is_yielded_before_the_stream_finishes_async(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(message_stream(SEED_CALLS, gates={0: gate}))
    stream = claude_client(fake, is_async=True).create_iterable(messages=USER, response_model=SEED_MODEL)
    assert await stream.__anext__() == SEED_VALUES[0]
    assert not gate.timed_out
    gate.open()
    assert [value async for value in stream] == SEED_VALUES[1:]
    assert gate.reached.is_set() and not gate.timed_out


async def test_max_tokens_async(fake: FakeProvider) -> None:
    fake.push(message_stream(CUT_CALLS, stop_reason="max_tokens"))
    got: list[Any] = []
    with pytest.raises(polycall.IncompleteOutputError):
        async for value in claude_client(fake, is_async=True).create_iterable(
            messages=USER, response_model=SEED_MODEL
        ):
            got.append(value)
    assert got == SEED_VALUES[:2]


def _event(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"type": kind, **fields}


def _message_start(**usage: int) -> tuple[str, dict[str, Any]]:
    """`message_start` of an assistant message with no content yet and this usage."""
    message = {
        "type": "message",
        "id": "msg_x",
        "role": "assistant",
        "model": "m",
        "content": [],
        "usage": usage,
    }
    return _event("message_start", message=message)


def _tool_use_start(index: int, id: str, name: str) -> tuple[str, dict[str, Any]]:
    """A `tool_use` block starting with an empty input, as the API streams it."""
    block = {"type": "tool_use", "id": id, "name": name, "input": {}}
    return _event("content_block_start", index=index, content_block=block)


def _delta(index: int, **delta: Any) -> tuple[str, dict[str, Any]]:
    return _event("content_block_delta", index=index, delta=delta)


def test_stream_cut_inside_a_tool_block_is_a_dropped_connection(fake: FakeProvider) -> None:
    fake.push(
        sse_response(
            [
                _message_start(input_tokens=5, output_tokens=1),
                _tool_use_start(0, "toolu_1", "Weather"),
                _delta(0, type="input_json_delta", partial_json='{"location": "Tor'),
            ]
        )
    )
    with pytest.raises(polycall.ProviderError, match="ended before its message_delta"):
        list(claude_client(fake).create_iterable(messages=USER, response_model=SEED_MODEL))


def test_refusal_stream(fake: FakeProvider) -> None:
    fake.push(message_stream(text="I can't", stop_reason="refusal"))
    with pytest.raises(polycall.RefusalError, match="refusal"):
        list(claude_client(fake).create_iterable(messages=USER, response_model=SEED_MODEL))


def test_indexes_count_every_block_and_empty_input_is_an_empty_object(fake: FakeProvider) -> None:
    fake.push(
        sse_response(
            [
                _message_start(input_tokens=50, cache_read_input_tokens=7, output_tokens=1),
                _event("ping"),
                _event(
                    "content_block_start",
                    index=0,
                    content_block={"type": "thinking", "thinking": "", "signature": ""},
                ),
                _delta(0, type="thinking_delta", thinking="Two cities."),
                _delta(0, type="signature_delta", signature="sig"),
                _event("content_block_stop", index=0),
                _event("content_block_start", index=1, content_block={"type": "text", "text": ""}),
                _delta(1, type="text_delta", text="Checking."),
                _event("content_block_stop", index=1),
                _tool_use_start(2, "toolu_a", "Ping"),
                _event("content_block_stop", index=2),
                _tool_use_start(3, "toolu_b", "Weather"),
                _delta(3, type="input_json_delta", partial_json=""),
                _delta(3, type="input_json_delta", partial_json='{"location": "Toronto",'),
                _event("ping"),
                _delta(3, type="input_json_delta", partial_json=' "units": "metric"}'),
                _event("content_block_stop", index=3),
                _tool_use_start(4, "toolu_c", "Ping"),
                _delta(4, type="input_json_delta", partial_json=""),
                _event("content_block_stop", index=4),
                _event(
                    "message_delta",
                    delta={"stop_reason": "tool_use", "stop_sequence": None},
                    usage={"output_tokens": 42},
                ),
                _event("message_stop"),
            ]
        )
    )
    stream = claude_client(fake).create_iterable(
        messages=USER, response_model=Iterable[Ping | Weather]
    )
    assert list(stream) == [Ping(), SEED_VALUES[0], Ping()]
    result = stream.result
    assert [(c.id, c.arguments) for c in result.calls] == [
        ("toolu_a", {}),
        ("toolu_b", dict(SEED_CALLS[0][1])),
        ("toolu_c", {}),
    ]
    assert result.text == "Checking."
    assert result.usage == polycall.Usage(57, 42)


def test_create_partial_shows_the_call_in_progress(fake: FakeProvider) -> None:
    fake.push(message_stream(SEED_CALLS, piece=6))
    items = list(claude_client(fake).create_partial(messages=USER, response_model=SEED_MODEL))
    finals = [item for item in items if not isinstance(item, polycall.Partial)]
    assert finals == SEED_VALUES
    partials = [item for item in items if isinstance(item, polycall.Partial)]
    searches = [p for p in partials if p.name == "GoogleSearch"]
    queries = [p.arguments.get("query") for p in searches]
    assert any(q and q != "who won the super bowl" for q in queries)  # a prefix, while it streamed
    assert searches[-1].value.query.startswith("who")
    assert items.index(searches[0]) < items.index(SEED_VALUES[2])
    assert {p.name for p in partials} == {"Weather", "GoogleSearch"}


def test_stream_retry_re_asks_only_the_failed_call(fake: FakeProvider) -> None:
    fake.push(
        message_stream(BAD, usage=(100, 30)),
        message_stream([SEED_CALLS[1]], ids=["toolu_r"], usage=(150, 5)),
    )
    stream = claude_client(fake).create_iterable(
        messages=USER, response_model=SEED_MODEL, max_retries=1
    )
    assert list(stream) == [SEED_VALUES[0], SEED_VALUES[2], SEED_VALUES[1]]
    assert list(stream.result) == SEED_VALUES
    assert [c.id for c in stream.result.calls] == ["toolu_fake_0", "toolu_fake_1", "toolu_fake_2"]
    assert stream.result.usage == polycall.Usage(250, 35)
    assert len(fake.requests) == 2
    assistant, results = fake.last.json["messages"][len(USER) :]
    assert [b["input"] for b in assistant["content"]] == [args for _, args in BAD]
    assert [
        (b["tool_use_id"], b["content"] == "ok", b.get("is_error")) for b in results["content"]
    ] == [("toolu_fake_0", True, None), ("toolu_fake_1", False, True), ("toolu_fake_2", True, None)]


def _seed_events() -> list[Any]:
    response = message_stream(SEED_CALLS)
    assert response.chunks is not None
    return [chunk.decode() for chunk in response.chunks if isinstance(chunk, bytes)]


def test_error_event_mid_stream_is_a_provider_error(fake: FakeProvider) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = _seed_events()
    first_call = (
        next(i for i, e in enumerate(events) if e.startswith("event: content_block_stop")) + 1
    )
    fake.push(sse_response([*events[:first_call], ("error", overloaded)]))
    stream = claude_client(fake).create_iterable(messages=USER, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[0]
    with pytest.raises(polycall.ProviderError, match="Overloaded") as caught:
        next(stream)
    assert isinstance(caught.value.__cause__, anthropic.APIStatusError)
    # The SDK's error carries the stream's own 200: no error status, so none is reported.
    assert caught.value.__cause__.status_code == 200 and caught.value.status_code is None


def test_sdk_stream_is_closed_when_iteration_stops_early(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(message_stream(SEED_CALLS, gates={0: gate}))
    client = claude_client(fake)
    opened: list[Any] = []
    send = client.adapter.send

    def spy(request: dict[str, Any]) -> Any:
        opened.append(send(request))
        return opened[-1]

    client.adapter.send = spy
    stream = client.create_iterable(messages=USER, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[0]
    stream.close()
    gate.open()
    assert opened[0].response.is_closed


async def test_async_sdk_stream_is_closed_when_iteration_stops_early(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(message_stream(SEED_CALLS, gates={0: gate}))
    client = claude_client(fake, is_async=True)
    opened: list[Any] = []
    asend = client.adapter.asend

    async def spy(request: dict[str, Any]) -> Any:
        opened.append(await asend(request))
        return opened[-1]

    client.adapter.asend = spy
    stream = client.create_iterable(messages=USER, response_model=SEED_MODEL)
    assert await stream.__anext__() == SEED_VALUES[0]
    await stream.aclose()
    gate.open()
    assert opened[0].response.is_closed


def test_adapter_stream_closes_the_sdk_stream(fake: FakeProvider) -> None:
    fake.push(message_stream(SEED_CALLS))
    adapter = claude_client(fake).adapter
    request = adapter.prepare(tool_set(SEED_MODEL), {"messages": USER})
    events: Any
    with adapter.stream(request) as events:
        first = next(iter(events))
    assert first.type == "message_start"
    assert events.response.is_closed
