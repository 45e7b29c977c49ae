"""Streaming OpenAI Chat Completions: `create_iterable`, `create(stream=True)`, `create_partial`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Annotated, Any

import openai
import pytest
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic import Tag as PydanticTag
from pydantic.alias_generators import to_camel
from pydantic_core import core_schema

import polycall
from helpers import openai_client
from helpers import seed_request as kwargs
from models import SEED_CALLS, SEED_VALUES, GoogleSearch, Weather
from polycall import (
    IncompleteOutputError,
    NoToolCallsError,
    Partial,
    PolycallError,
    ProviderError,
    RefusalError,
    UnknownToolError,
    ValidationFailed,
)
from polycall.testing import FakeProvider, Gate, Response
from polycall.testing.openai import (
    Hangup,
    chat_chunk,
    chat_completion,
    chat_error,
    chat_sse,
    chat_stream,
    parallel_call,
)

MODEL = "gpt-4o-mini"
HOLD = 5.0  # seconds to wait for the server to reach a gate (it does right after a chunk)
BAD_CALLS = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]


def calls_chunk(*tool_calls: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return chat_chunk({"tool_calls": list(tool_calls)}, finish)


def collect(stream: Any) -> tuple[list[Any], PolycallError | None]:
    """Everything a stream yields, and the error it ends with (if any)."""
    items: list[Any] = []
    try:
        for item in stream:
            items.append(item)  # noqa: PERF402 - keep what came before an error
    except PolycallError as exc:
        return items, exc
    return items, None


async def acollect(stream: Any) -> tuple[list[Any], PolycallError | None]:
    items: list[Any] = []
    try:
        async for item in stream:
            items.append(item)
    except PolycallError as exc:
        return items, exc
    return items, None


# --- as soon as complete ------------------------------------------------------------------


def test_each_call_is_yielded_while_the_server_holds_the_rest(
    fake: FakeProvider, client: Any
) -> None:
    gates = {k: Gate() for k in range(3)}
    fake.push(chat_stream(SEED_CALLS, gates=gates))
    stream = client.create_iterable(**kwargs())
    for k, expected in enumerate(SEED_VALUES):
        assert next(stream) == expected
        assert gates[k].reached.wait(HOLD)  # the server holds the rest of the stream at gate k
        gates[k].open()
    assert list(stream) == []
    assert not any(gate.timed_out for gate in gates.values())


async def test_async_each_call_is_yielded_while_the_server_holds_the_rest(
    fake: FakeProvider, aclient: Any
) -> None:
    gates = {k: Gate() for k in range(3)}
    fake.push(chat_stream(SEED_CALLS, gates=gates))
    seen = []
    async for value in aclient.create_iterable(**kwargs()):
        k = len(seen)
        assert gates[k].reached.wait(HOLD)
        seen.append(value)
        gates[k].open()
    assert seen == SEED_VALUES
    assert not any(gate.timed_out for gate in gates.values())


def test_first_call_arrives_before_the_second_is_sent(fake: FakeProvider, client: Any) -> None:
    gate = Gate()
    fake.push(chat_stream(SEED_CALLS, gates={0: gate}))
    stream = client.create_iterable(**kwargs())
    first = next(stream)  # the server cannot send call 1 before the gate opens
    held = gate.reached.wait(HOLD)
    gate.open()
    assert first == SEED_VALUES[0] and held
    assert list(stream) == SEED_VALUES[1:]
    assert not gate.timed_out  # so call 0 came while the server was holding the stream


def test_create_stream_true_is_create_iterable(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream(SEED_CALLS))
    stream = client.create(stream=True, **kwargs())
    assert isinstance(stream, polycall.CallStream)
    assert list(stream) == SEED_VALUES
    body = fake.last.json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["tool_choice"] == "required"
    assert [t["function"]["name"] for t in body["tools"]] == ["Weather", "GoogleSearch"]


async def test_async_create_stream_true(fake: FakeProvider, aclient: Any) -> None:
    fake.push(chat_stream(SEED_CALLS))
    stream = await aclient.create(stream=True, **kwargs())
    assert isinstance(stream, polycall.AsyncCallStream)
    assert [value async for value in stream] == SEED_VALUES


def test_user_stream_options_are_kept(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream(SEED_CALLS, usage=None))
    assert (
        list(client.create_iterable(**kwargs(stream_options={"include_usage": False})))
        == SEED_VALUES
    )
    assert fake.last.json["stream_options"] == {"include_usage": False}


# --- the final result ---------------------------------------------------------------------


@pytest.mark.parametrize("read", ["values", "calls"])
def test_the_result_of_a_failed_stream_says_it_failed(
    fake: FakeProvider, client: Any, read: str
) -> None:
    fake.push(chat_stream(SEED_CALLS, finish_reason="length"))
    stream = client.create_iterable(**kwargs())
    with pytest.raises(polycall.IncompleteOutputError) as failed:
        list(stream if read == "values" else stream.calls())
    with pytest.raises(PolycallError, match="the stream failed, so it has no result") as caught:
        _ = stream.result
    assert caught.value.__cause__ is failed.value


async def test_the_result_of_a_failed_async_stream_says_it_failed(
    fake: FakeProvider, aclient: Any
) -> None:
    fake.push(chat_stream(SEED_CALLS, finish_reason="length"))
    stream = aclient.create_iterable(**kwargs())
    with pytest.raises(polycall.IncompleteOutputError):
        [value async for value in stream]
    with pytest.raises(PolycallError, match="the stream failed, so it has no result"):
        _ = stream.result


def test_result_holds_ids_usage_and_the_chunks(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream(SEED_CALLS, usage=(40, 12), ids=["call_x", "call_y", "call_z"]))
    stream = client.create_iterable(**kwargs())
    with pytest.raises(PolycallError, match="not ended"):
        _ = stream.result
    assert list(stream) == SEED_VALUES
    result = stream.result
    assert list(result) == SEED_VALUES
    assert [(c.id, c.name) for c in result.calls] == [
        ("call_x", "Weather"),
        ("call_y", "Weather"),
        ("call_z", "GoogleSearch"),
    ]
    assert result.calls[1].arguments == {"location": "Dallas", "units": "imperial"}
    assert (result.usage.input_tokens, result.usage.output_tokens) == (40, 12)
    assert isinstance(result.raw, openai.types.chat.ChatCompletionChunk)  # the final chunk
    assert result.raw.usage is not None and result.raw.usage.prompt_tokens == 40
    assert result.tool_results(["a", "b", "c"])[2] == {
        "role": "tool",
        "tool_call_id": "call_z",
        "content": "c",
    }


async def test_async_result(fake: FakeProvider, aclient: Any) -> None:
    fake.push(chat_stream(SEED_CALLS, usage=(5, 6)))
    stream = aclient.create_iterable(**kwargs())
    assert [value async for value in stream] == SEED_VALUES
    assert [c.id for c in stream.result.calls] == ["call_0", "call_1", "call_2"]
    assert stream.result.usage.total_tokens == 11


# --- same items, order and errors as create() ---------------------------------------------

OUTCOMES: dict[str, tuple[Callable[[], Response], Callable[[], Response]]] = {
    "seed": (lambda: chat_completion(SEED_CALLS), lambda: chat_stream(SEED_CALLS)),
    "one call": (lambda: chat_completion(SEED_CALLS[2:]), lambda: chat_stream(SEED_CALLS[2:])),
    "invalid": (lambda: chat_completion(BAD_CALLS), lambda: chat_stream(BAD_CALLS)),
    "unknown tool": (
        lambda: chat_completion([SEED_CALLS[0], ("Bing", {})]),
        lambda: chat_stream([SEED_CALLS[0], ("Bing", {})]),
    ),
    "malformed json": (
        lambda: chat_completion([("GoogleSearch", '{"query": ')]),
        lambda: chat_stream([("GoogleSearch", '{"query": ')]),
    ),
    "text only": (lambda: chat_completion(text="Sunny."), lambda: chat_stream(text="Sunny.")),
    "length": (
        lambda: chat_completion(SEED_CALLS[:1], finish_reason="length"),
        lambda: chat_stream(SEED_CALLS[:1], finish_reason="length"),
    ),
    "content filter": (
        lambda: chat_completion(SEED_CALLS[:1], finish_reason="content_filter"),
        lambda: chat_stream(SEED_CALLS[:1], finish_reason="content_filter"),
    ),
    "odd finish reason": (
        lambda: chat_completion(SEED_CALLS, finish_reason="tool_call"),
        lambda: chat_stream(SEED_CALLS, finish_reason="tool_call"),
    ),
}


def outcome(values: list[Any], error: PolycallError | None) -> tuple[Any, ...]:
    """What a create() or a stream gave: its values, or its error's type, failing ids, valid
    calls and text."""
    if error is None:
        return ("ok", values)
    errors = getattr(error, "errors", None)
    return (
        type(error).__name__,
        sorted(errors) if errors is not None else None,
        getattr(error, "valid", None),
        getattr(error, "text", None),
    )


@pytest.mark.parametrize("name", list(OUTCOMES))
def test_streaming_and_create_agree(fake: FakeProvider, client: Any, name: str) -> None:
    whole, streamed = OUTCOMES[name]
    fake.push(whole(), streamed())
    try:
        created = outcome(list(client.create(**kwargs())), None)
    except PolycallError as exc:
        created = outcome([], exc)
    values, error = collect(client.create_iterable(**kwargs()))
    assert (outcome(values, None) if error is None else outcome([], error)) == created
    if isinstance(error, ValidationFailed):
        assert values == error.valid  # the valid calls were yielded before the error


@pytest.mark.parametrize("name", ["seed", "invalid", "text only", "length"])
async def test_async_streaming_and_create_agree(
    fake: FakeProvider, aclient: Any, name: str
) -> None:
    whole, streamed = OUTCOMES[name]
    fake.push(whole(), streamed())
    try:
        created: tuple[Any, ...] = outcome(list(await aclient.create(**kwargs())), None)
    except PolycallError as exc:
        created = outcome([], exc)
    values, error = await acollect(aclient.create_iterable(**kwargs()))
    assert (outcome(values, None) if error is None else outcome([], error)) == created
    if isinstance(error, ValidationFailed):
        assert values == error.valid


def test_invalid_call_in_a_stream_yields_the_valid_ones_then_fails(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_stream(BAD_CALLS))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == [SEED_VALUES[0], SEED_VALUES[2]]
    assert isinstance(error, ValidationFailed) and list(error.errors) == ["call_1"]
    assert error.valid == [SEED_VALUES[0], SEED_VALUES[2]]


def test_unknown_tool_in_a_stream(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream([("Bing", {"q": 1}), SEED_CALLS[2]]))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == [SEED_VALUES[2]]
    assert isinstance(error, UnknownToolError) and "Bing" in str(error)


# --- cut-offs, refusals and empty streams -------------------------------------------------


def test_length_after_two_complete_calls_yields_them_then_raises(
    fake: FakeProvider, client: Any
) -> None:
    events = [
        chat_chunk({"role": "assistant"}),
        calls_chunk(
            {
                "index": 0,
                "id": "call_0",
                "type": "function",
                "function": {
                    "name": "Weather",
                    "arguments": '{"location": "Toronto", "units": "metric"}',
                },
            }
        ),
        calls_chunk(
            {
                "index": 1,
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "Weather",
                    "arguments": '{"location": "Dallas", "units": "imperial"}',
                },
            }
        ),
        calls_chunk(
            {
                "index": 2,
                "id": "call_2",
                "type": "function",
                "function": {"name": "GoogleSearch", "arguments": '{"query": "who w'},
            }
        ),
        chat_chunk({}, "length"),
    ]
    fake.push(chat_sse(events))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == SEED_VALUES[:2]
    assert isinstance(error, IncompleteOutputError) and error.reason == "length"


async def test_async_length_cut_off(fake: FakeProvider, aclient: Any) -> None:
    events = [
        calls_chunk(
            {
                "index": 0,
                "id": "a",
                "function": {"name": "GoogleSearch", "arguments": '{"query": "x"}'},
            }
        ),
        calls_chunk(
            {"index": 1, "id": "b", "function": {"name": "GoogleSearch", "arguments": '{"qu'}}
        ),
        chat_chunk({}, "length"),
    ]
    fake.push(chat_sse(events))
    values, error = await acollect(aclient.create_iterable(**kwargs()))
    assert values == [GoogleSearch(query="x")]
    assert isinstance(error, IncompleteOutputError)


@pytest.mark.parametrize("reason", ["length", "content_filter"])
def test_a_call_closed_in_the_chunk_that_stops_the_response_is_out(
    fake: FakeProvider, client: Any, reason: str
) -> None:
    # (some servers send a whole call and the finish reason in one chunk)
    opening = {"index": 0, "id": "a", "function": {"name": "GoogleSearch", "arguments": '{"query'}}
    closing = {"tool_calls": [{"index": 0, "function": {"arguments": '": "x"}'}}]}
    events = [calls_chunk(opening), chat_chunk(closing, reason)]
    fake.push(chat_sse(events))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == [GoogleSearch(query="x")]
    assert isinstance(error, IncompleteOutputError if reason == "length" else polycall.RefusalError)


def test_stream_with_no_call_raises_no_tool_calls(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream(text="I would rather chat."))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == []
    assert isinstance(error, NoToolCallsError) and error.text == "I would rather chat."
    assert isinstance(error.raw, openai.types.chat.ChatCompletionChunk)  # the final chunk


def test_streamed_refusal_raises_refusal_error(fake: FakeProvider, client: Any) -> None:
    events = [
        chat_chunk({"role": "assistant", "refusal": "I can't"}),
        chat_chunk({"refusal": " do that."}),
        chat_chunk({}, "stop"),
    ]
    fake.push(chat_sse(events))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == []
    assert isinstance(error, RefusalError) and error.reason == "I can't do that."


# --- dropped connections and early close --------------------------------------------------


def test_connection_dropped_mid_stream_is_a_provider_error(fake: FakeProvider, client: Any) -> None:
    events = list(chat_stream(SEED_CALLS).chunks or [])
    fake.push(Response(chunks=[*events[:9], Hangup()], content_type="text/event-stream"))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == SEED_VALUES[:1]  # the call completed before the drop still came
    assert _dropped(error)


async def test_async_connection_dropped_mid_stream(fake: FakeProvider, aclient: Any) -> None:
    events = list(chat_stream(SEED_CALLS).chunks or [])
    fake.push(Response(chunks=[*events[:4], Hangup()], content_type="text/event-stream"))
    values, error = await acollect(aclient.create_iterable(**kwargs()))
    assert values == []
    assert _dropped(error)


def _dropped(error: BaseException | None) -> bool:
    """A ProviderError caused by the SDK's own error for the drop: `APIConnectionError`, or on
    SDKs before openai 3 the HTTP library's `RemoteProtocolError` unwrapped."""
    cause = error.__cause__ if error is not None else None
    return isinstance(error, ProviderError) and (
        isinstance(cause, openai.APIConnectionError) or type(cause).__name__ == "RemoteProtocolError"
    )


def test_stream_that_stops_before_finishing_is_a_provider_error(
    fake: FakeProvider, client: Any
) -> None:
    events = [
        calls_chunk(
            {
                "index": 0,
                "id": "a",
                "function": {"name": "GoogleSearch", "arguments": '{"query": "x"}'},
            }
        ),
        calls_chunk(
            {
                "index": 1,
                "id": "b",
                "function": {"name": "GoogleSearch", "arguments": '{"query": "y"}'},
            }
        ),
    ]
    fake.push(chat_sse(events, done=False))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == [GoogleSearch(query="x"), GoogleSearch(query="y")]  # each closed its JSON
    assert isinstance(error, ProviderError) and "ended before" in str(error)


def test_error_event_mid_stream_is_a_provider_error(fake: FakeProvider, client: Any) -> None:
    events = list(chat_stream(SEED_CALLS).chunks or [])
    error_event = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    fake.push(Response(chunks=[*events[:9], error_event], content_type="text/event-stream"))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == SEED_VALUES[:1]
    assert isinstance(error, ProviderError) and "overloaded" in str(error)


def test_http_error_before_the_stream_is_a_provider_error(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_error(503, "try later", type="server_error"))
    values, error = collect(client.create_iterable(**kwargs()))
    assert values == [] and isinstance(error, ProviderError)
    assert isinstance(error.__cause__, openai.InternalServerError)


@pytest.fixture
def closed_streams(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every SDK stream polycall closes, recorded."""
    closed: list[Any] = []
    for cls in (openai.Stream, openai.AsyncStream):
        original = cls.close

        def spy(self: Any, _original: Any = original) -> Any:
            closed.append(self)
            return _original(self)

        monkeypatch.setattr(cls, "close", spy)
    return closed


def _close(stream: Any) -> None:
    assert next(stream) == SEED_VALUES[0]
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)


def _leave_with(stream: Any) -> None:
    with stream:
        for value in stream:
            assert value == SEED_VALUES[0]
            break


def _break_calls(stream: Any) -> None:
    """`for call in stream.calls(): break` closes it at the break, the stream still held."""
    for call in stream.calls():
        assert call.value == SEED_VALUES[0]
        break


@pytest.mark.parametrize("leave", [_close, _leave_with, _break_calls], ids=["close", "with", "calls"])
def test_leaving_early_closes_the_sdk_stream(
    fake: FakeProvider, client: Any, closed_streams: list[Any], leave: Callable[[Any], None]
) -> None:
    gate = Gate()
    fake.push(chat_stream(SEED_CALLS, gates={1: gate}))
    stream = client.create_iterable(**kwargs())
    leave(stream)
    gate.open()
    assert len(closed_streams) == 1 and closed_streams[0].response.is_closed


async def test_async_breaking_out_of_calls_closes_the_sdk_stream(
    fake: FakeProvider, aclient: Any, closed_streams: list[Any]
) -> None:
    gate = Gate()
    fake.push(chat_stream(SEED_CALLS, gates={1: gate}))
    stream = aclient.create_iterable(**kwargs())
    calls = stream.calls()
    async for call in calls:
        assert call.value == SEED_VALUES[0]
        break
    await calls.aclose()  # what `async for` leaves to the caller (or the event loop's hooks)
    gate.open()
    assert len(closed_streams) == 1 and closed_streams[0].response.is_closed


def test_a_finished_stream_is_closed_too(
    fake: FakeProvider, client: Any, closed_streams: list[Any]
) -> None:
    fake.push(chat_stream(SEED_CALLS))
    assert list(client.create_iterable(**kwargs())) == SEED_VALUES
    assert len(closed_streams) == 1


async def test_async_closing_early_closes_the_sdk_stream(
    fake: FakeProvider, aclient: Any, closed_streams: list[Any]
) -> None:
    gate = Gate()
    fake.push(chat_stream(SEED_CALLS, gates={0: gate}))
    stream = aclient.create_iterable(**kwargs())
    assert await stream.__anext__() == SEED_VALUES[0]
    await stream.aclose()
    gate.open()
    assert len(closed_streams) == 1 and closed_streams[0].response.is_closed


# --- delta quirks -------------------------------------------------------------------------

W_TORONTO = '{"location": "Toronto", "units": "metric"}'
W_DALLAS = '{"location": "Dallas", "units": "imperial"}'
SEARCH = '{"query": "who won the super bowl"}'

QUIRKS: dict[str, list[Any]] = {
    "missing index, ids on the head": [
        calls_chunk({"id": "a", "function": {"name": "Weather", "arguments": W_TORONTO[:10]}}),
        calls_chunk({"function": {"arguments": W_TORONTO[10:]}}),
        calls_chunk({"id": "b", "function": {"name": "Weather", "arguments": W_DALLAS}}),
        calls_chunk({"id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH}}),
        chat_chunk({}, "tool_calls"),
    ],
    "missing index and ids, whole calls": [
        calls_chunk({"function": {"name": "Weather", "arguments": W_TORONTO}}),
        calls_chunk({"function": {"name": "Weather", "arguments": W_DALLAS}}),
        calls_chunk(
            {"function": {"name": "GoogleSearch", "arguments": SEARCH}}, finish="tool_calls"
        ),
    ],
    "duplicate index with a new id": [
        calls_chunk({"index": 0, "id": "a", "function": {"name": "Weather", "arguments": ""}}),
        calls_chunk({"index": 0, "function": {"arguments": W_TORONTO}}),
        calls_chunk(
            {"index": 0, "id": "b", "function": {"name": "Weather", "arguments": W_DALLAS}}
        ),
        calls_chunk({"index": 0, "id": "c", "function": {"name": "GoogleSearch", "arguments": ""}}),
        calls_chunk({"index": 0, "function": {"arguments": SEARCH}}),
        chat_chunk({}, "tool_calls"),
    ],
    "sparse indexes": [
        calls_chunk(
            {"index": 0, "id": "a", "function": {"name": "Weather", "arguments": W_TORONTO}}
        ),
        calls_chunk(
            {"index": 3, "id": "b", "function": {"name": "Weather", "arguments": W_DALLAS[:5]}}
        ),
        calls_chunk({"index": 3, "function": {"arguments": W_DALLAS[5:]}}),
        calls_chunk(
            {"index": 7, "id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH}}
        ),
        chat_chunk({}, "tool_calls"),
    ],
    "index starting at 1": [
        chat_chunk({"content": "Let me check."}),
        calls_chunk({"index": 1, "id": "a", "function": {"name": "Weather", "arguments": ""}}),
        calls_chunk({"index": 1, "function": {"arguments": W_TORONTO}}),
        calls_chunk(
            {"index": 2, "id": "b", "function": {"name": "Weather", "arguments": W_DALLAS}}
        ),
        calls_chunk(
            {"index": 3, "id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH}}
        ),
        chat_chunk({}, "tool_calls"),
    ],
    "all calls in one chunk with the finish": [
        calls_chunk(
            {
                "index": 0,
                "id": "a",
                "type": "function",
                "function": {"name": "Weather", "arguments": W_TORONTO},
            },
            {
                "index": 1,
                "id": "b",
                "type": "function",
                "function": {"name": "Weather", "arguments": W_DALLAS},
            },
            {
                "index": 2,
                "id": "c",
                "type": "function",
                "function": {"name": "GoogleSearch", "arguments": SEARCH},
            },
            finish="tool_calls",
        ),
    ],
    "id-less continuation with an empty name": [
        calls_chunk({"index": 0, "id": "a", "function": {"name": "Weather", "arguments": ""}}),
        calls_chunk({"index": 0, "function": {"name": "", "arguments": W_TORONTO}}),
        calls_chunk({"index": 1, "id": "b", "function": {"name": "Weather", "arguments": ""}}),
        calls_chunk({"index": 1, "function": {"name": "", "arguments": W_DALLAS}}),
        calls_chunk(
            {"index": 2, "id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH}}
        ),
        chat_chunk({}, "tool_calls"),
    ],
    "id repeated on every delta": [
        calls_chunk(
            {"index": 0, "id": "a", "function": {"name": "Weather", "arguments": W_TORONTO[:7]}}
        ),
        calls_chunk({"index": 0, "id": "a", "function": {"arguments": W_TORONTO[7:]}}),
        calls_chunk(
            {"index": 1, "id": "b", "function": {"name": "Weather", "arguments": W_DALLAS}}
        ),
        calls_chunk(
            {"index": 2, "id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH}}
        ),
        chat_chunk({}, "tool_calls"),
    ],
    "every call at index 0, interleaved, an id on every delta": [
        calls_chunk({"index": 0, "id": "a", "function": {"name": "Weather", "arguments": W_TORONTO[:10]}}),
        calls_chunk({"index": 0, "id": "b", "function": {"name": "Weather", "arguments": W_DALLAS[:10]}}),
        calls_chunk({"index": 0, "id": "a", "function": {"arguments": W_TORONTO[10:]}}),
        calls_chunk({"index": 0, "id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH[:8]}}),
        calls_chunk({"index": 0, "id": "b", "function": {"arguments": W_DALLAS[10:]}}),
        calls_chunk({"index": 0, "id": "c", "function": {"arguments": SEARCH[8:]}}),
        chat_chunk({}, "tool_calls"),
    ],
    "no index, interleaved, an id on every delta": [
        calls_chunk({"id": "a", "function": {"name": "Weather", "arguments": ""}}),
        calls_chunk({"id": "b", "function": {"name": "Weather", "arguments": W_DALLAS[:10]}}),
        calls_chunk({"id": "a", "function": {"arguments": W_TORONTO}}),
        calls_chunk({"id": "b", "function": {"arguments": W_DALLAS[10:]}}),
        calls_chunk({"id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH}}),
        chat_chunk({}, "tool_calls"),
    ],
    "the name on every delta, no index nor ids": [
        *(
            calls_chunk({"function": {"name": name, "arguments": text[i : i + 12]}})
            for name, text in (("Weather", W_TORONTO), ("Weather", W_DALLAS), ("GoogleSearch", SEARCH))
            for i in range(0, len(text), 12)
        ),
        chat_chunk({}, "tool_calls"),
    ],
    "Azure leading chunk and usage chunk without choices": [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [],
        },
        calls_chunk(
            {"index": 0, "id": "a", "function": {"name": "Weather", "arguments": W_TORONTO}}
        ),
        calls_chunk(
            {"index": 1, "id": "b", "function": {"name": "Weather", "arguments": W_DALLAS}}
        ),
        calls_chunk(
            {"index": 2, "id": "c", "function": {"name": "GoogleSearch", "arguments": SEARCH}}
        ),
        chat_chunk({}, "tool_calls"),
        chat_chunk(usage=(3, 4)),
    ],
    "arguments as objects": [
        calls_chunk(
            {
                "index": 0,
                "id": "a",
                "function": {
                    "name": "Weather",
                    "arguments": {"location": "Toronto", "units": "metric"},
                },
            }
        ),
        calls_chunk(
            {
                "index": 1,
                "id": "b",
                "function": {
                    "name": "Weather",
                    "arguments": {"location": "Dallas", "units": "imperial"},
                },
            }
        ),
        calls_chunk(
            {
                "index": 2,
                "id": "c",
                "function": {
                    "name": "GoogleSearch",
                    "arguments": {"query": "who won the super bowl"},
                },
            }
        ),
        chat_chunk({}, "stop"),
    ],
}


@pytest.mark.parametrize("name", list(QUIRKS))
def test_delta_quirks_give_the_seed_calls(fake: FakeProvider, client: Any, name: str) -> None:
    fake.push(chat_sse(QUIRKS[name]))
    stream = client.create_iterable(**kwargs())
    assert list(stream) == SEED_VALUES
    ids = [c.id for c in stream.result.calls]
    assert len(set(ids)) == 3
    if "ids" not in name:
        assert ids == ["a", "b", "c"]


@pytest.mark.parametrize("limits", [None, polycall.Limits(max_argument_bytes=60)], ids=["default", "tight"])
def test_streamed_parallel_wrapper_is_unwrapped(fake: FakeProvider, limits: Any) -> None:
    """Each inner call is held to `max_argument_bytes` (about 45 each here), as in a whole
    response; the wrapper holding all three is not."""
    client = openai_client(fake, **({"limits": limits} if limits else {}))
    wrapper = parallel_call(SEED_CALLS, id="call_w")
    arguments = wrapper["function"]["arguments"]
    events = [
        calls_chunk(
            {
                "index": 0,
                "id": "call_w",
                "type": "function",
                "function": {"name": "multi_tool_use.parallel", "arguments": ""},
            }
        ),
        *[
            calls_chunk({"index": 0, "function": {"arguments": arguments[i : i + 20]}})
            for i in range(0, len(arguments), 20)
        ],
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_sse(events))
    stream = client.create_iterable(**kwargs())
    assert list(stream) == SEED_VALUES
    assert [(c.id, c.name) for c in stream.result.calls] == [
        ("call_w_0", "Weather"),
        ("call_w_1", "Weather"),
        ("call_w_2", "GoogleSearch"),
    ]


def test_duplicate_ids_in_a_stream_are_made_unique(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream(SEED_CALLS, ids=["same", "same", None]))
    stream = client.create_iterable(**kwargs())
    assert list(stream) == SEED_VALUES
    ids = [c.id for c in stream.result.calls]
    assert ids[0] == "same" and len(set(ids)) == 3 and all(ids)


# --- create_partial -----------------------------------------------------------------------


def test_create_partial_yields_partials_then_each_validated_call(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_stream(SEED_CALLS, piece=4))
    items = list(client.create_partial(**kwargs()))
    finals = [item for item in items if not isinstance(item, Partial)]
    assert finals == SEED_VALUES
    partials = [item for item in items if isinstance(item, Partial)]
    assert partials and all(p.name in ("Weather", "GoogleSearch") for p in partials)
    # fields fill in as they arrive: a location before the units, growing prefixes of "Toronto"
    toronto = [
        p.value
        for p in partials
        if p.name == "Weather" and p.value.location and "Toronto".startswith(p.value.location)
    ]
    assert any(v.units is None for v in toronto)
    assert [v.location for v in toronto] == sorted((v.location for v in toronto), key=len)
    # every call's partials come before the call itself
    first_final = items.index(SEED_VALUES[0])
    assert all(isinstance(item, Partial) and item.name == "Weather" for item in items[:first_final])
    queries = [p.value.query for p in partials if p.name == "GoogleSearch" and p.value.query]
    assert queries and queries[-1] in ("who won the super bowl", "who won the super bow")
    assert all("who won the super bowl".startswith(q) for q in queries)


def test_a_chunk_that_adds_nothing_to_the_call_yields_no_partial(
    fake: FakeProvider, client: Any
) -> None:
    """Chunks with an empty delta (Azure's content-filter results), text or usage, between
    a call's fragments, show no snapshot again; another call's snapshot is shown even when
    it reads like the last one shown (two calls streamed at once)."""
    empty = chat_chunk({})
    empty["choices"][0]["content_filter_results"] = {"hate": {"filtered": False}}
    fake.push(chat_sse([
        calls_chunk({"index": 0, "id": "a", "function": {"name": "Weather", "arguments": W_TORONTO[:17]}}),
        empty,
        chat_chunk({"content": "thinking"}),
        chat_chunk(usage=(1, 2)),
        calls_chunk({"index": 1, "id": "b", "function": {"name": "Weather", "arguments": W_TORONTO[:17]}}),
        empty,
        calls_chunk({"index": 0, "function": {"arguments": W_TORONTO[17:]}}),
        calls_chunk({"index": 1, "function": {"arguments": W_TORONTO[17:]}}),
        chat_chunk({}, "tool_calls"),
    ]))
    toronto = Weather(location="Toronto", units="metric")
    snapshot = Partial("Weather", {"location": "Tor"}, None)
    assert [
        replace(item, value=None) if isinstance(item, Partial) else item
        for item in client.create_partial(**kwargs())
    ] == [snapshot, snapshot, toronto, toronto]


async def test_async_create_partial(fake: FakeProvider, aclient: Any) -> None:
    fake.push(chat_stream(SEED_CALLS, piece=6))
    items = [item async for item in aclient.create_partial(**kwargs())]
    assert [item for item in items if not isinstance(item, Partial)] == SEED_VALUES
    assert any(
        isinstance(item, Partial) and isinstance(item.value.location, str)
        for item in items
        if isinstance(item, Partial) and item.name == "Weather"
    )


def test_create_partial_partial_model_is_not_the_real_model(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_stream(SEED_CALLS[:1], piece=5))
    items = list(client.create_partial(**kwargs()))
    assert items[-1] == SEED_VALUES[0] and isinstance(items[-1], Weather)
    assert all(
        not isinstance(item.value, Weather) for item in items[:-1] if isinstance(item, Partial)
    )


class Place(BaseModel):
    city: str
    country: str

    @model_validator(mode="before")
    @classmethod
    def title_city(cls, data: Any) -> Any:
        return {**data, "city": data["city"].title()}  # every complete call has a city


class Trip(BaseModel):
    place: Place
    days: int


def test_a_nested_model_shows_as_it_is_written_its_validators_only_on_the_call(
    fake: FakeProvider, client: Any
) -> None:
    """A nested model is partial too: its fields show as they arrive (not only once all its
    required fields have begun), and its validators, like the call's own, see only the
    complete call."""
    trip = {"place": {"city": "paris", "country": "FR"}, "days": 3}
    fake.push(chat_stream([("Trip", trip)], piece=6))
    items = list(client.create_partial(**kwargs(response_model=Iterable[Trip])))
    assert items[-1] == Trip(place=Place(city="Paris", country="FR"), days=3)
    places = [item.value.place for item in items[:-1] if item.value.place is not None]
    cities = [place.city for place in places if place.city]
    assert cities[0] != "paris" and "paris" in cities and "Paris" not in cities
    assert any(place.city == "paris" and place.country is None for place in places)
    assert not any(isinstance(place, Place) for place in places)


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Letter(BaseModel):
    body: str
    signature: str


class Mail(BaseModel):
    to: str
    letters: list[Letter]
    tree: Node


def test_models_in_lists_and_a_model_holding_itself_are_partial_too(
    fake: FakeProvider, client: Any
) -> None:
    mail = {
        "to": "Ada",
        "letters": [{"body": "Dear Ada, how are you?", "signature": "B"}],
        "tree": {"name": "root", "children": [{"name": "leaf"}]},
    }
    fake.push(chat_stream([("Mail", mail)], piece=5))
    items = list(client.create_partial(**kwargs(response_model=Iterable[Mail])))
    assert items[-1] == Mail.model_validate(mail)
    values = [item.value for item in items[:-1]]
    bodies = [v.letters[0].body for v in values if v.letters and v.letters[0].body]
    assert len(bodies) >= 3 and bodies[-1] == "Dear Ada, how are you?"
    assert any(v.letters and v.letters[0].signature is None for v in values)
    leaves = [v.tree.children[0].name for v in values if v.tree and v.tree.children]
    assert leaves[-1] == "leaf"


class Tag(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: str


class Cat(BaseModel):
    name: str


class Dog(BaseModel):
    name: str


def _kind(value: Any) -> str:
    return "dog" if "bark" in str(value) else "cat"


class Post(BaseModel):
    title: str
    tags: set[Tag]
    pet: Annotated[
        Annotated[Cat, PydanticTag("cat")] | Annotated[Dog, PydanticTag("dog")],
        Field(discriminator=Discriminator(_kind)),
    ]


def test_partials_keep_frozen_models_hashable_and_a_callable_discriminator(
    fake: FakeProvider, client: Any
) -> None:
    post = {"title": "t", "tags": [{"label": "rock"}, {"label": "roll"}], "pet": {"name": "bark bark"}}
    fake.push(chat_stream([("Post", post)], piece=5))
    items = list(client.create_partial(**kwargs(response_model=Iterable[Post])))
    assert items[-1] == Post.model_validate(post)
    values = [item.value for item in items[:-1]]
    assert any(v.tags and {t.label for t in v.tags} == {"rock", "roll"} for v in values)
    pets = [v.pet for v in values if v.pet is not None]  # each as the discriminator picks it
    assert [type(pet).__name__ for pet in pets if "bark" in pet.name] == ["Dog", "Dog"]
    assert all(type(pet).__name__ == "Cat" for pet in pets if "bark" not in pet.name)


class Stamp:
    """A type pydantic knows only as an arbitrary one."""

    def __init__(self, text: str) -> None:
        self.text = text


class Entry(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())
    model_name: str
    stamp: Annotated[Stamp, PlainValidator(Stamp), WithJsonSchema({"type": "string"})]


@pytest.mark.filterwarnings("error::UserWarning")
def test_partials_of_a_model_with_arbitrary_types_and_model_fields(fake: FakeProvider, client: Any) -> None:
    """The copy keeps what building it needs (arbitrary types allowed, no protected
    `model_` namespace), so the fields before the arbitrary one show as they come."""
    fake.push(chat_stream([("Entry", {"model_name": "gemini flash lite", "stamp": "2026"})], piece=5))
    items = list(client.create_partial(**kwargs(response_model=Iterable[Entry])))
    assert isinstance(items[-1], Entry) and items[-1].stamp.text == "2026"
    assert "gemini flash lite" in [item.value.model_name for item in items[:-1]]


def test_partials_of_a_model_read_by_name_read_names(fake: FakeProvider, client: Any) -> None:
    """A model validated by its field names (not its aliases) gets a schema of names, and
    its copy reads names too."""
    if "validate_by_alias" not in ConfigDict.__annotations__:
        pytest.skip("validate_by_name / validate_by_alias come with pydantic 2.11")

    class Person(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=False)  # type: ignore[typeddict-unknown-key]
        first_name: str
        last_name: str

    fake.push(chat_stream([("Person", {"first_name": "Ann", "last_name": "Lee"})], piece=6))
    items = list(client.create_partial(**kwargs(response_model=Iterable[Person])))
    assert items[-1] == Person(first_name="Ann", last_name="Lee")
    assert "Ann" in [item.value.first_name for item in items[:-1]]


class Coded(str):
    """A type whose validation reads the request's validation context."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return core_schema.with_info_after_validator_function(
            lambda value, info: cls(info.context["prefix"] + value), core_schema.str_schema()
        )


class Ticket(BaseModel):
    code: Coded
    note: str


def test_partials_are_validated_with_the_validation_context(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream([("Ticket", {"code": "42", "note": "a long note to stream"})], piece=6))
    stream = client.create_partial(**kwargs(response_model=Iterable[Ticket]), context={"prefix": "T-"})
    items = list(stream)
    assert (items[-1].code, items[-1].note) == ("T-42", "a long note to stream")
    partials = [item.value for item in items[:-1]]
    assert partials and all(p.code in (None, "T-42") for p in partials) and partials[-1].note


class Located(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel)
    location_name: str
    search_query: str = Field(alias="q")


def test_partials_read_fields_by_their_aliases(fake: FakeProvider, client: Any) -> None:
    """The schema names the fields by their aliases, so the model writes those."""
    fake.push(chat_stream([("Located", {"locationName": "Oslo", "q": "weather"})], piece=4))
    items = list(client.create_partial(**kwargs(response_model=Iterable[Located])))
    assert items[-1] == Located(locationName="Oslo", q="weather")
    last = items[-2]
    assert isinstance(last, Partial) and last.value.location_name == "Oslo"
    assert any(isinstance(i, Partial) and i.value.search_query == "weath" for i in items)


@pytest.mark.parametrize("leave", ["close", "with", "calls"])
def test_a_stream_closed_before_its_end_has_no_result(
    fake: FakeProvider, client: Any, leave: str
) -> None:
    """Also when it is iterated after: the calls it did not read are not dropped silently."""
    fake.push(chat_stream(SEED_CALLS))
    stream = client.create_iterable(**kwargs())
    if leave == "calls":
        for _ in stream.calls():
            break
    else:
        with stream:
            next(stream)
            if leave == "close":
                stream.close()
    assert list(stream) == []
    with pytest.raises(PolycallError, match="the stream was closed before it ended"):
        _ = stream.result


async def test_an_async_stream_closed_before_its_end_has_no_result(
    fake: FakeProvider, aclient: Any
) -> None:
    fake.push(chat_stream(SEED_CALLS), chat_stream(SEED_CALLS))
    stream = aclient.create_iterable(**kwargs())
    async with stream:
        await stream.__anext__()
    assert [value async for value in stream] == []
    with pytest.raises(PolycallError, match="the stream was closed before it ended"):
        _ = stream.result
    whole = aclient.create_iterable(**kwargs())
    async with whole:  # read to its end, then closed: the result stands
        assert [value async for value in whole] == SEED_VALUES
    assert list(whole.result) == SEED_VALUES


def test_stream_kwarg_is_the_methods_choice(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS), chat_stream(SEED_CALLS))
    calls, raw = client.create_with_completion(**kwargs(stream=False))
    assert list(calls) == SEED_VALUES and raw is calls.raw
    assert "stream" not in fake.last.json
    assert list(client.create_iterable(**kwargs(stream=True))) == SEED_VALUES
    assert fake.last.json["stream"] is True


def test_a_call_named_after_its_arguments_closed_is_out_when_named(fake: FakeProvider) -> None:
    """A server that sends a call's arguments before its name: the call waits for its name
    (a nameless call could only be an unknown tool), and is out as soon as the name comes,
    before the call after it."""
    toronto = '{"location": "Toronto", "units": "metric"}'
    fake.push(chat_sse([
        chat_chunk({"tool_calls": [{"index": 0, "id": "call_0", "function": {"arguments": toronto}}]}),
        chat_chunk({"tool_calls": [{"index": 0, "function": {"name": "Weather"}}]}),
        chat_chunk({"tool_calls": [{"index": 1, "id": "call_1", "function": {
            "name": "GoogleSearch", "arguments": '{"query": "who won the super bowl"}'}}]}),
        chat_chunk(finish_reason="tool_calls"),
    ]))
    stream = openai_client(fake).create_iterable(**kwargs())
    assert list(stream) == [SEED_VALUES[0], SEED_VALUES[2]]
    assert [call.id for call in stream.result.calls] == ["call_0", "call_1"]
