"""Bedrock Converse, streamed: `converse_stream` through the real boto3 and aiobotocore clients,
the fake serving AWS event-stream frames; and the fake's frames against botocore's decoder."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

pytest.importorskip("boto3")

from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

import polycall
import test_bedrock
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall.testing import FakeProvider, Gate
from polycall.testing.aws import message
from polycall.testing.bedrock import (
    bedrock_client,
    converse,
    converse_stream,
    error,
    events,
    exception,
    tool_delta,
    tool_start,
)
from polycall.testing.openai import Hangup

MODEL, client = test_bedrock.MODEL, test_bedrock.client
aio_client = test_bedrock.aio_client  # the fixture, shared


def test_frames_decode_with_botocore() -> None:
    frame = message({":event-type": "chunk", ":message-type": "event"}, b'{"a": 1}')
    buffer = EventStreamBuffer()
    buffer.add_data(frame[:7])  # a frame split across reads
    assert list(buffer) == []
    buffer.add_data(frame[7:] + frame)
    decoded = list(buffer)
    assert len(decoded) == 2
    assert decoded[0].headers == {":event-type": "chunk", ":message-type": "event"}
    assert decoded[0].payload == b'{"a": 1}'
    corrupt = bytearray(frame)
    corrupt[-6] ^= 0xFF  # a payload byte: the message checksum no longer matches
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(corrupt))
    with pytest.raises(ChecksumMismatch):
        list(buffer)


def test_seed_scenario_streamed(fake: FakeProvider) -> None:
    fake.push(converse_stream(SEED_CALLS, text="On it."))
    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(stream) == SEED_VALUES
    result = stream.result
    assert [c.id for c in result.calls] == ["tooluse_fake_0", "tooluse_fake_1", "tooluse_fake_2"]
    assert (result.text, result.usage) == ("On it.", polycall.Usage(10, 20))
    assert fake.last.path.endswith("/converse-stream")
    assert fake.last.json["toolConfig"]["toolChoice"] == {"any": {}}


async def test_seed_scenario_streamed_aiobotocore(
    fake: FakeProvider, aio_client: polycall.AsyncClient
) -> None:
    fake.push(converse_stream(SEED_CALLS))
    stream = aio_client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert [value async for value in stream] == SEED_VALUES
    assert stream.result.usage == polycall.Usage(10, 20)


async def test_seed_scenario_streamed_async_over_boto3(fake: FakeProvider) -> None:
    fake.push(converse_stream(SEED_CALLS))
    async_client = polycall.from_bedrock(bedrock_client(fake), model=MODEL, use_async=True)
    stream = async_client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert [value async for value in stream] == SEED_VALUES


def test_streamed_and_whole_agree(fake: FakeProvider) -> None:
    reasoning = ("Three lookups.", "sig-1")
    fake.push(converse(SEED_CALLS, text="On it.", reasoning=reasoning, cache=(3, 4)),
              converse_stream(SEED_CALLS, text="On it.", reasoning=reasoning, cache=(3, 4)))
    bedrock = client(fake)
    whole = bedrock.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    stream = bedrock.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, stream=True)
    assert list(stream) == list(whole)
    streamed = stream.result
    assert streamed.calls == whole.calls
    assert (streamed.text, streamed.usage) == (whole.text, whole.usage) == ("On it.", polycall.Usage(17, 20))
    assert streamed.assistant_message() == whole.assistant_message()
    assert streamed.assistant_message()["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": "Three lookups.", "signature": "sig-1"}}
    }


def test_each_call_is_out_at_its_block_stop(fake: FakeProvider) -> None:
    gates = {0: Gate(), 1: Gate()}
    fake.push(converse_stream(SEED_CALLS, gates=gates))
    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    for k in (0, 1):
        assert next(stream) == SEED_VALUES[k]  # while the server holds what follows the stop
        assert not gates[k].timed_out  # its JSON closed: it may be out before the stop
        gates[k].open()
    assert list(stream) == SEED_VALUES[2:]
    assert not any(gate.timed_out for gate in gates.values())


async def test_each_call_is_out_at_its_block_stop_async(
    fake: FakeProvider, aio_client: polycall.AsyncClient
) -> None:
    gates = {0: Gate(), 1: Gate()}
    fake.push(converse_stream(SEED_CALLS, gates=gates))
    stream = aio_client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    for k in (0, 1):
        assert await stream.__anext__() == SEED_VALUES[k]
        assert not gates[k].timed_out
        await asyncio.to_thread(gates[k].open)
    assert [value async for value in stream] == SEED_VALUES[2:]
    assert not any(gate.timed_out for gate in gates.values())


def test_a_call_is_out_when_its_json_closes_before_the_stop(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(events([
        ("messageStart", {"role": "assistant"}),
        tool_start(0, "t0", "Weather"),
        tool_delta(0, '{"location": "Tor'),
        tool_delta(0, 'onto {x}\\" ", "units": "metric"}'),  # braces and a quote inside the string
        gate,
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": "tool_use"}),
    ]))
    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert next(stream) == Weather(location='Toronto {x}" ', units="metric")
    assert not gate.timed_out
    gate.open()
    assert list(stream) == []


def test_interleaved_block_indexes(fake: FakeProvider) -> None:
    fake.push(events([
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"delta": {"text": "Checking."}, "contentBlockIndex": 0}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        tool_start(1, "t1", "Weather"),
        tool_start(2, "t2", "GoogleSearch"),
        tool_delta(2, '{"query": '),
        tool_delta(1, '{"location": "Toronto", '),
        tool_delta(2, '"who won the super bowl"}'),
        ("contentBlockStop", {"contentBlockIndex": 2}),
        tool_delta(1, '"units": "metric"}'),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}),
    ]))
    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(stream) == [SEED_VALUES[2], SEED_VALUES[0]]  # as they completed
    assert [c.id for c in stream.result.calls] == ["t1", "t2"]  # the model's (block) order
    assert list(stream.result) == [SEED_VALUES[0], SEED_VALUES[2]]
    assert stream.result.text == "Checking."


def test_a_call_without_input_has_empty_arguments(fake: FakeProvider) -> None:
    from pydantic import BaseModel

    class Ping(BaseModel):
        """A tool without arguments."""

    fake.push(events([
        tool_start(0, "p0", "Ping"),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": "tool_use"}),
    ]))
    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=list[Ping])
    assert list(stream) == [Ping()]
    assert stream.result.calls[0].arguments == {}


@pytest.mark.parametrize("stop", ["guardrail_intervened", "content_filtered"])
def test_refusals_streamed(fake: FakeProvider, stop: str) -> None:
    fake.push(converse_stream(text="Blocked by policy.", stop_reason=stop))
    with pytest.raises(polycall.RefusalError) as caught:
        list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    assert caught.value.reason == f"{stop}: Blocked by policy."


def test_unknown_tool_streamed(fake: FakeProvider) -> None:
    fake.push(converse_stream([("Calendar", {"day": "mon"})]))
    with pytest.raises(polycall.UnknownToolError, match="Calendar"):
        list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))


def test_retry_streamed(fake: FakeProvider) -> None:
    bad = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
    fake.push(converse_stream(bad, ids=["a", "b", "c"]), converse_stream([SEED_CALLS[1]], ids=["d"]))
    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1)
    assert list(stream) == [SEED_VALUES[0], SEED_VALUES[2], SEED_VALUES[1]]  # as each was ready
    assert list(stream.result) == SEED_VALUES  # the model's order
    retry = fake.last.json["messages"]
    results = [block["toolResult"] for block in retry[-1]["content"]]
    assert [(r["toolUseId"], r.get("status")) for r in results] == [("a", None), ("b", "error"), ("c", None)]


#: Each exception event of a Converse stream, and the HTTP status the Bedrock API gives it.
EXCEPTION_EVENTS = {
    "modelStreamErrorException": 424,
    "throttlingException": 429,
    "validationException": 400,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
}


@pytest.mark.parametrize("kind", EXCEPTION_EVENTS)
def test_stream_exception_events_are_provider_errors(fake: FakeProvider, kind: str) -> None:
    fake.push(events([
        ("messageStart", {"role": "assistant"}),
        tool_start(0, "t0", "Weather"),
        tool_delta(0, '{"location": "Toronto", "units": "metric"}'),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        exception(kind, "the model stream failed"),
    ]))
    got: list[Any] = []
    with pytest.raises(polycall.ProviderError) as caught:
        for value in client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL):
            got.append(value)  # noqa: PERF402  (what came before the error)
    assert got == SEED_VALUES[:1]  # what was complete before the exception
    assert kind in str(caught.value) and "the model stream failed" in str(caught.value)
    # The status of its kind, as an HTTP error of that kind has it: a throttle is a 429.
    assert caught.value.status_code == EXCEPTION_EVENTS[kind]


async def test_stream_exception_event_async(
    fake: FakeProvider, aio_client: polycall.AsyncClient
) -> None:
    fake.push(events([("messageStart", {"role": "assistant"}),
                      exception("throttlingException", "slow down")]))
    with pytest.raises(polycall.ProviderError, match="throttlingException") as caught:
        async for _ in aio_client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL):
            pass
    assert caught.value.status_code == 429


def test_http_error_on_a_stream(fake: FakeProvider) -> None:
    fake.push(error(400, "ValidationException", "The model doesn't support streaming tool use"))
    with pytest.raises(polycall.ProviderError, match="ValidationException") as caught:
        list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    assert caught.value.status_code == 400  # type: ignore[attr-defined]


def test_a_stream_cut_mid_call(fake: FakeProvider) -> None:
    response = converse_stream(SEED_CALLS)
    assert response.chunks is not None
    fake.push(type(response)(chunks=[*response.chunks[:9], Hangup()], content_type=response.content_type))
    got: list[Any] = []
    with pytest.raises(polycall.ProviderError):
        for value in client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL):
            got.append(value)  # noqa: PERF402  (what came before the error)
    assert got == SEED_VALUES[:1]


def test_a_stream_that_ends_without_message_stop(fake: FakeProvider) -> None:
    fake.push(events([tool_start(0, "t0", "Weather"), tool_delta(0, '{"location": "Tor')]))
    with pytest.raises(polycall.ProviderError, match="inside a toolUse block before its messageStop"):
        list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))


def test_input_for_a_block_never_started_is_a_provider_error(fake: FakeProvider) -> None:
    fake.push(events([tool_delta(3, "{}"), ("messageStop", {"stopReason": "tool_use"})]))
    with pytest.raises(polycall.ProviderError, match="content block 3"):
        list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The botocore event streams closed during the test."""
    from botocore.eventstream import EventStream

    seen: list[Any] = []
    close = EventStream.close

    def closing(stream: Any) -> None:
        seen.append(stream)
        close(stream)

    monkeypatch.setattr(EventStream, "close", closing)
    return seen


def test_stopping_early_closes_the_stream(fake: FakeProvider, closed: list[Any]) -> None:
    gate = Gate()
    fake.push(converse_stream(SEED_CALLS, gates={0: gate}), converse(SEED_CALLS))
    bedrock = client(fake)
    with bedrock.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL) as stream:
        assert next(stream) == SEED_VALUES[0]
        assert closed == []
    assert len(closed) == 1
    gate.open()
    assert list(bedrock.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)) == SEED_VALUES


async def test_a_stream_still_opening_when_cancelled_is_closed_once_open(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Async over boto3, `converse_stream` runs on a worker thread: a task cancelled while it
    waits for the server leaves the thread to finish opening, and the stream it opens is
    closed then (its connection with it), not left for the garbage collector."""
    from botocore.eventstream import EventStream

    received, release, closed = threading.Event(), threading.Event(), threading.Event()
    close = EventStream.close

    def closing(stream: Any) -> None:
        closed.set()
        close(stream)

    monkeypatch.setattr(EventStream, "close", closing)

    def slow(request: Any) -> Any:
        received.set()
        release.wait(5)
        return converse_stream(SEED_CALLS)

    fake.push(slow)
    bedrock = polycall.from_bedrock(bedrock_client(fake), model=MODEL, use_async=True)

    async def read() -> None:
        async for _ in bedrock.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL):
            pass

    task = asyncio.ensure_future(read())
    assert await asyncio.to_thread(received.wait, 5)  # the request is out, its answer held
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not closed.is_set()
    release.set()
    assert await asyncio.to_thread(closed.wait, 5)


def test_a_failing_stream_is_closed(fake: FakeProvider, closed: list[Any]) -> None:
    fake.push(events([("messageStart", {"role": "assistant"}), exception("throttlingException", "x")]),
              converse_stream(SEED_CALLS))
    with pytest.raises(polycall.ProviderError):
        list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    assert len(closed) == 1
    assert list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)) == SEED_VALUES
    assert len(closed) == 2


def test_partial_calls(fake: FakeProvider) -> None:
    fake.push(converse_stream(SEED_CALLS[:1], piece=4))
    seen = list(client(fake).create_partial(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    partials = [s for s in seen if isinstance(s, polycall.Partial)]
    assert partials and seen[-1] == SEED_VALUES[0]


def test_run_stream_starts_each_handler_as_its_call_arrives(fake: FakeProvider) -> None:
    gate = Gate()
    started: list[str] = []
    fake.push(converse_stream(SEED_CALLS, gates={0: gate}))

    def weather(call: Weather) -> str:
        started.append(call.location)
        if len(started) == 1:
            gate.open()  # the rest of the stream comes only once the first handler ran
        return "sunny"

    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    results = polycall.run_stream(stream, {Weather: weather, GoogleSearch: lambda g: "Chiefs"})
    assert [r.value for r in results] == ["sunny", "sunny", "Chiefs"]
    assert started == ["Toronto", "Dallas"] and not gate.timed_out
