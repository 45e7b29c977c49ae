"""OpenAI Responses API streaming (raw `responses.create(stream=True)` events), sync and async."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import polycall
from helpers import openai_client
from models import BAD_CALLS, SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, Weather
from polycall import Mode, Partial
from polycall.testing import FakeProvider, Gate, sse_response, stream_response
from polycall.testing.openai_responses import (
    function_call_item,
    message_item,
    response_body,
    response_object,
    response_stream,
    stream_error,
)
from polycall.testing.server import GATE_TIMEOUT

responses_client = functools.partial(openai_client, mode=Mode.RESPONSES_PARALLEL_TOOLS)


def iterable(client: Any, **kwargs: Any) -> Any:
    return client.create_iterable(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL, **kwargs
    )


def test_seed_scenario_streams_each_call_before_the_stream_ends(fake: FakeProvider) -> None:
    gates = {0: Gate(), 1: Gate()}
    fake.push(response_stream(SEED_CALLS, gates=gates, usage=(36, 54)))
    stream = iterable(responses_client(fake))

    seen = []
    for value in stream:
        seen.append(value)
        if len(seen) == 1:  # the server holds the stream right after call 0's output_item.done
            assert gates[0].reached.wait(GATE_TIMEOUT) and not gates[1].reached.is_set()
            gates[0].open()
        elif len(seen) == 2:
            assert gates[1].reached.wait(GATE_TIMEOUT)
            gates[1].open()

    assert seen == SEED_VALUES
    assert not any(g.timed_out for g in gates.values())
    assert fake.last.json["stream"] is True
    assert fake.last.json["tool_choice"] == "required"
    result = stream.result
    assert [c.id for c in result.calls] == ["call_0", "call_1", "call_2"]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (36, 54)
    assert result.raw.status == "completed"


async def test_seed_scenario_streams_async(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(response_stream(SEED_CALLS, gates={0: gate}))
    stream = iterable(responses_client(fake, is_async=True))

    seen = []
    async for value in stream:
        seen.append(value)
        if len(seen) == 1:  # the rest of the stream is still held at the gate
            assert gate.reached.wait(GATE_TIMEOUT)
            gate.open()

    assert seen == SEED_VALUES
    assert not gate.timed_out
    assert [c.id for c in stream.result.calls] == ["call_0", "call_1", "call_2"]


def test_create_stream_true_is_create_iterable(fake: FakeProvider) -> None:
    fake.push(response_stream(SEED_CALLS, reasoning=True, text="Looking that up."))
    stream = responses_client(fake).create(
        model="m", messages=SEED_MESSAGES, response_model=SEED_MODEL, stream=True
    )
    assert list(stream) == SEED_VALUES
    assert stream.result.text == "Looking that up."


def test_streaming_and_whole_responses_agree(fake: FakeProvider) -> None:
    client = responses_client(fake)
    fake.push(response_stream(SEED_CALLS, piece=3), response_body(SEED_CALLS))
    stream = iterable(client)
    streamed = list(stream)
    whole = client.create(model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert streamed == list(whole) == SEED_VALUES
    assert stream.result.calls == whole.calls


def test_partial_progress(fake: FakeProvider) -> None:
    fake.push(response_stream(SEED_CALLS[:1], piece=4))
    items = list(
        responses_client(fake).create_partial(
            model="m", messages=SEED_MESSAGES, response_model=SEED_MODEL
        )
    )
    partials = [i for i in items if isinstance(i, Partial)]
    assert items[-1] == SEED_VALUES[0]
    assert partials and all(p.name == "Weather" for p in partials)
    locations = [p.value.location for p in partials if p.value.location]
    assert locations[0] != "Toronto" and "Toronto".startswith(locations[0])
    assert locations[-1] == "Toronto"


def test_cut_off_stream_raises_incomplete_after_the_complete_calls(fake: FakeProvider) -> None:
    fake.push(
        response_stream(SEED_CALLS, status="incomplete", incomplete_reason="max_output_tokens")
    )
    seen = []
    with pytest.raises(polycall.IncompleteOutputError) as info:
        seen.extend(iterable(responses_client(fake)))  # keeps what was yielded before the error
    assert seen == SEED_VALUES[:2]  # the third call never completed
    assert info.value.reason == "max_output_tokens"


def test_content_filter_in_stream_raises_refusal(fake: FakeProvider) -> None:
    fake.push(response_stream(status="incomplete", incomplete_reason="content_filter"))
    with pytest.raises(polycall.RefusalError):
        list(iterable(responses_client(fake)))


def test_error_event_raises_provider_error(fake: FakeProvider) -> None:
    fake.push(stream_error("The server had an error", code="server_error"))
    with pytest.raises(polycall.ProviderError, match="server_error: The server had an error"):
        list(iterable(responses_client(fake)))


async def test_failed_event_raises_provider_error_async(fake: FakeProvider) -> None:
    failed = response_object(
        [], status="failed", error={"code": "rate_limit", "message": "slow down"}
    )
    fake.push(
        sse_response(
            [
                (
                    "response.failed",
                    {"type": "response.failed", "sequence_number": 0, "response": failed},
                )
            ]
        )
    )
    with pytest.raises(polycall.ProviderError, match="rate_limit: slow down"):
        async for _ in iterable(responses_client(fake, is_async=True)):
            pass


def test_text_only_stream_raises_no_tool_calls(fake: FakeProvider) -> None:
    fake.push(response_stream(text="No tools needed."))
    with pytest.raises(polycall.NoToolCallsError) as info:
        list(iterable(responses_client(fake)))
    assert info.value.text == "No tools needed."


@pytest.mark.parametrize("keys", [{"item_id": "msg_0"}, {"output_index": 0}, {}],
                         ids=["item_id", "output_index", "neither"])
def test_streamed_text_is_said_once_whatever_keys_its_deltas_carry(
    fake: FakeProvider, keys: dict[str, Any]
) -> None:
    """A compatible server may leave `item_id` (or both keys) out of its text deltas: the
    message's `.done` item must not add its text a second time."""
    item = message_item("Hello")

    def event(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return kind, {"type": kind, "sequence_number": 0, **fields}

    fake.push(sse_response([
        event("response.output_item.added", output_index=0, item={**item, "content": []}),
        *(event("response.output_text.delta", content_index=0, delta=piece, **keys)
          for piece in ("Hel", "lo")),
        event("response.output_item.done", output_index=0, item=item),
        event("response.completed", response=response_object([item])),
    ]))
    with pytest.raises(polycall.NoToolCallsError) as info:
        list(iterable(responses_client(fake)))
    assert info.value.text == "Hello"


def test_whole_call_in_done_events_only(fake: FakeProvider) -> None:
    """A call whose arguments come only with its `.done` events (no deltas)."""
    item = function_call_item(0, *SEED_CALLS[0])
    fake.push(
        sse_response(
            [
                (
                    "response.output_item.added",
                    {
                        "type": "response.output_item.added",
                        "sequence_number": 0,
                        "output_index": 0,
                        "item": {**item, "arguments": ""},
                    },
                ),
                (
                    "response.output_item.done",
                    {
                        "type": "response.output_item.done",
                        "sequence_number": 1,
                        "output_index": 0,
                        "item": item,
                    },
                ),
                (
                    "response.completed",
                    {
                        "type": "response.completed",
                        "sequence_number": 2,
                        "response": response_object([item]),
                    },
                ),
            ]
        )
    )
    stream = iterable(responses_client(fake))
    assert list(stream) == SEED_VALUES[:1]
    assert stream.result.calls[0].id == "call_0"


@pytest.mark.parametrize("text", [None, "Looking those up."])
def test_output_told_only_in_response_completed(fake: FakeProvider, text: str | None) -> None:
    """Some gateways send no item events: the calls and text are in `response.completed`."""
    items = [function_call_item(k, *call) for k, call in enumerate(SEED_CALLS)]
    if text:
        items.insert(0, message_item(text))
    final = response_object(items)
    fake.push(sse_response([
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": {**final, "status": "in_progress", "output": []}}),
        ("response.completed", {"type": "response.completed", "sequence_number": 1,
                                "response": final}),
    ]))
    stream = iterable(responses_client(fake))
    assert list(stream) == SEED_VALUES
    assert [c.id for c in stream.result.calls] == ["call_0", "call_1", "call_2"]
    assert stream.result.text == text


def _event(kind: str, **data: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"type": kind, "sequence_number": 0, **data}


def _created(final: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _event("response.created", response={**final, "status": "in_progress", "output": []})


def test_calls_only_response_completed_holds_whole_are_read_from_it(fake: FakeProvider) -> None:
    """A gateway that sends some item events: a call added with no arguments and never
    finished, and a call the events never name, take their arguments from the final output,
    as the whole response gives them; the text deltas are kept."""
    items = [message_item("Looking."), *(function_call_item(k, *call) for k, call in enumerate(SEED_CALLS, 1))]
    final = response_object(items)
    fake.push(sse_response([
        _created(final),
        _event("response.output_text.delta", item_id="msg_0", output_index=0, content_index=0, delta="Looking."),
        _event("response.output_item.added", output_index=1, item={**items[1], "arguments": ""}),
        _event("response.output_item.added", output_index=2, item=items[2]),
        _event("response.output_item.done", output_index=2, item=items[2]),
        _event("response.completed", response=final),
    ]))
    stream = iterable(responses_client(fake))
    assert sorted(map(repr, stream)) == sorted(map(repr, SEED_VALUES))
    assert list(stream.result) == SEED_VALUES and stream.result.text == "Looking."
    assert [c.id for c in stream.result.calls] == ["call_1", "call_2", "call_3"]


def test_a_streamed_refusal_is_its_reason_once(fake: FakeProvider) -> None:
    item = message_item(refusal="I cannot help")
    final = response_object([item])
    fake.push(sse_response([
        _created(final),
        _event("response.output_item.added", output_index=0, item={**item, "content": []}),
        _event("response.refusal.delta", item_id=item["id"], output_index=0, content_index=0, delta="I cannot help"),
        _event("response.output_item.done", output_index=0, item=item),
        _event("response.completed", response=final),
    ]))
    with pytest.raises(polycall.RefusalError) as caught:
        list(iterable(responses_client(fake)))
    assert caught.value.reason == "I cannot help"


def test_arguments_whole_when_added_then_again_in_deltas(fake: FakeProvider) -> None:
    """A server that sends a call's whole arguments as it adds it, then again in deltas:
    the call is out at once, and the deltas repeating it are not an error."""
    item = function_call_item(0, *SEED_CALLS[0])
    fake.push(sse_response([
        _created(response_object([item])),
        _event("response.output_item.added", output_index=0, item=item),
        _event("response.function_call_arguments.delta", item_id=item["id"], output_index=0, delta=item["arguments"]),
        _event("response.function_call_arguments.done", item_id=item["id"], output_index=0, arguments=item["arguments"]),
        _event("response.output_item.done", output_index=0, item=item),
        _event("response.completed", response=response_object([item])),
    ]))
    assert list(iterable(responses_client(fake))) == SEED_VALUES[:1]


@pytest.mark.parametrize("place", [{"output_index": 0}, {}], ids=["indexed", "item id only"])
def test_arguments_done_may_name_the_call(fake: FakeProvider, place: dict[str, Any]) -> None:
    """Newer servers name the call in `function_call_arguments.done`; with no item events,
    that is the only place the name comes. The final output's item is that call (by its
    item id when the events give no index), not a second one."""
    item = function_call_item(0, *SEED_CALLS[0])
    fake.push(sse_response([
        _event("response.function_call_arguments.delta", item_id=item["id"], **place, delta=item["arguments"]),
        _event("response.function_call_arguments.done", item_id=item["id"], **place,
               arguments=item["arguments"], name="Weather"),
        _event("response.completed", response=response_object([item])),
    ]))
    stream = iterable(responses_client(fake))
    assert list(stream) == SEED_VALUES[:1]
    assert len(stream.result.calls) == 1


@pytest.mark.parametrize("named_by", ["item done", "completed"])
def test_arguments_done_without_a_name_waits_for_one(fake: FakeProvider, named_by: str) -> None:
    """No `output_item.added`, and a `function_call_arguments.done` that does not name the
    call: the call is named (and its id taken) by its item's `done` or the final output,
    as the whole response gives it, not handed out nameless."""
    items = [function_call_item(k, *call) for k, call in enumerate(SEED_CALLS)]
    events = []
    for k, item in enumerate(items):
        place = {"item_id": item["id"], "output_index": k}
        events += [
            _event("response.function_call_arguments.delta", **place, delta=item["arguments"]),
            _event("response.function_call_arguments.done", **place, arguments=item["arguments"]),
        ]
        if named_by == "item done":
            events.append(_event("response.output_item.done", output_index=k, item=item))
    fake.push(sse_response([*events, _event("response.completed", response=response_object(items))]))
    stream = iterable(responses_client(fake))
    assert list(stream) == SEED_VALUES
    assert [c.id for c in stream.result.calls] == ["call_0", "call_1", "call_2"]


def test_complete_calls_the_output_cannot_be_matched_to_are_not_read_twice(
    fake: FakeProvider,
) -> None:
    """Events with no item ids nor call ids, counting `output_index` over the calls only,
    while the final output has a reasoning item first: every streamed call is complete and
    the output holds as many, so it adds none (not a second copy of a call)."""
    items = [function_call_item(k, *call) for k, call in enumerate(SEED_CALLS[1:])]
    events = []
    for k, item in enumerate(items):
        added = {"type": "function_call", "name": item["name"], "arguments": "", "status": "in_progress"}
        events += [
            _event("response.output_item.added", output_index=k, item=added),
            _event("response.function_call_arguments.delta", output_index=k, delta=item["arguments"]),
        ]
    final = response_object([{"id": "rs_0", "type": "reasoning", "summary": []}, *items])
    fake.push(sse_response([*events, _event("response.completed", response=final)]))
    stream = iterable(responses_client(fake))
    assert list(stream) == SEED_VALUES[1:]
    assert list(stream.result) == SEED_VALUES[1:]


def test_an_output_call_the_streamed_one_is_not_is_read_from_the_output(fake: FakeProvider) -> None:
    """As many calls in the output as in the events, but another one (its ids and tool say
    so): it is read from the output, not taken for the streamed call."""
    search = function_call_item(9, *SEED_CALLS[2])
    weather = function_call_item(0, *SEED_CALLS[0])
    fake.push(sse_response([
        _event("response.output_item.added", output_index=0, item={**search, "arguments": ""}),
        _event("response.function_call_arguments.delta", output_index=0, item_id=search["id"], delta=search["arguments"]),
        _event("response.output_item.done", output_index=0, item=search),
        _event("response.completed", response=response_object([weather])),
    ]))
    stream = iterable(responses_client(fake))
    assert list(stream) == [SEED_VALUES[2], SEED_VALUES[0]]
    assert [(c.id, c.name) for c in stream.result.calls] == [("call_9", "GoogleSearch"), ("call_0", "Weather")]


def test_arguments_begun_when_added_go_on_in_deltas(fake: FakeProvider) -> None:
    """The first piece of the arguments in `output_item.added`, the rest in deltas."""
    item = function_call_item(0, *SEED_CALLS[0])
    text = item["arguments"]
    fake.push(sse_response([
        _created(response_object([item])),
        _event("response.output_item.added", output_index=0, item={**item, "arguments": text[:10]}),
        _event("response.function_call_arguments.delta", item_id=item["id"], output_index=0, delta=text[10:]),
        _event("response.output_item.done", output_index=0, item=item),
        _event("response.completed", response=response_object([item])),
    ]))
    stream = iterable(responses_client(fake))
    assert list(stream) == SEED_VALUES[:1] and stream.result.calls[0].arguments == SEED_CALLS[0][1]


def test_stream_retry_reasks_the_failed_call(fake: FakeProvider) -> None:
    fake.push(
        response_stream(BAD_CALLS, usage=(10, 5)),
        response_stream([SEED_CALLS[1]], call_ids=["call_9"], usage=(20, 5)),
    )
    stream = iterable(responses_client(fake), max_retries=1)
    seen = list(stream)

    assert len(fake.requests) == 2
    appended = fake.last.json["input"][2:]
    assert [(i["type"], i["call_id"]) for i in appended] == [
        ("function_call", "call_0"),
        ("function_call", "call_1"),
        ("function_call", "call_2"),
        ("function_call_output", "call_0"),
        ("function_call_output", "call_1"),
        ("function_call_output", "call_2"),
    ]
    assert [i["output"] for i in appended[3:]][::2] == ["ok", "ok"]
    assert "kelvin" in appended[4]["output"]
    assert seen == [SEED_VALUES[0], SEED_VALUES[2], SEED_VALUES[1]]  # yielded as they validated
    assert list(stream.result) == SEED_VALUES  # the final list keeps the model's order
    assert [c.id for c in stream.result.calls] == ["call_0", "call_1", "call_2"]
    assert stream.result.usage.input_tokens == 30


def _recording_streams(client: Any) -> list[Any]:
    """Wrap the SDK's `responses.create` to keep every stream it returns."""
    opened: list[Any] = []
    sdk_create = client.adapter.client.responses.create

    def create(**kwargs: Any) -> Any:
        result = sdk_create(**kwargs)
        opened.append(result)
        return result

    client.adapter.client.responses.create = create
    return opened


def test_stopping_early_closes_the_sdk_stream(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(response_stream(SEED_CALLS, gates={0: gate}))
    client = responses_client(fake)
    opened = _recording_streams(client)
    stream = iterable(client)
    assert next(stream) == SEED_VALUES[0]
    stream.close()
    gate.open()
    assert len(opened) == 1 and opened[0].response.is_closed


def test_provider_error_mid_stream_closes_the_sdk_stream(fake: FakeProvider) -> None:
    fake.push(stream_error())
    client = responses_client(fake)
    opened = _recording_streams(client)
    with pytest.raises(polycall.ProviderError):
        list(iterable(client))
    assert opened[0].response.is_closed


def test_weather_only_model_streams(fake: FakeProvider) -> None:
    from collections.abc import Iterable

    fake.push(response_stream(SEED_CALLS[:2]))
    values = list(
        responses_client(fake).create_iterable(
            model="m", messages=SEED_MESSAGES, response_model=Iterable[Weather]
        )
    )
    assert values == SEED_VALUES[:2]


def test_stream_that_stops_before_it_completes_is_a_provider_error(fake: FakeProvider) -> None:
    whole = response_stream(SEED_CALLS)
    assert whole.chunks is not None
    cut = [c for c in whole.chunks if not (isinstance(c, bytes) and b"response.completed" in c)]
    fake.push(stream_response(cut, content_type="text/event-stream"))
    seen: list[Any] = []
    with pytest.raises(polycall.ProviderError, match="ended before response.completed"):
        seen.extend(iterable(responses_client(fake)))
    assert seen == SEED_VALUES  # every complete call was yielded, then the error


async def test_stopping_early_closes_the_sdk_stream_async(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(response_stream(SEED_CALLS, gates={0: gate}))
    client = responses_client(fake, is_async=True)
    opened: list[Any] = []
    sdk_create = client.adapter.client.responses.create

    async def create(**kwargs: Any) -> Any:
        opened.append(await sdk_create(**kwargs))
        return opened[-1]

    client.adapter.client.responses.create = create
    stream = iterable(client)
    assert await stream.__anext__() == SEED_VALUES[0]
    await stream.aclose()
    gate.open()
    assert len(opened) == 1 and opened[0].response.is_closed
