"""Every OpenAI-style stream shape real servers send streams to exactly what the whole
response gives, each call out at the chunk that completes it: `create_iterable`,
`create(stream=True)`, `create_partial` and `run_stream`, sync and async; and on the other
providers, each call is out before the event after its closing signal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import polycall
from helpers import agated_values, anthropic_client, gated_values, openai_client
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import Mode, NoToolCallsError, Partial, ProviderError
from polycall.testing import FakeProvider, Gate, Response
from polycall.testing.anthropic import message_stream
from polycall.testing.openai import chat_chunk, chat_completion, chat_sse, parallel_call
from polycall.testing.openai_responses import response_stream

IDS = ["call_a", "call_b", "call_c"]
GATE = "gate"  # where a shape holds the stream: right after the first call completes
Shape = Callable[[], list[Any]]


def _text(k: int) -> str:
    return json.dumps(SEED_CALLS[k][1])


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _calls(*tool_calls: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return chat_chunk({"tool_calls": list(tool_calls)}, finish)


def _head(k: int, index: int | None = None, **extra: Any) -> dict[str, Any]:
    head: dict[str, Any] = {"id": IDS[k], "type": "function"}
    head["function"] = {"name": SEED_CALLS[k][0], "arguments": ""}
    if index is not None:
        head["index"] = index
    return {**head, **extra}


def _fragment(piece: str, index: int | None = None, name: str | None = None) -> dict[str, Any]:
    function = {"arguments": piece} if name is None else {"name": name, "arguments": piece}
    fragment: dict[str, Any] = {"function": function}
    if index is not None:
        fragment["index"] = index
    return fragment


def _sequential(index: Callable[[int], int | None], name: str | None = None) -> list[Any]:
    """The calls one after the other, `index(k)` the index of call k (its fragments naming
    `name`, if given); a gate after call 0."""
    events: list[Any] = [chat_chunk({"role": "assistant", "content": None})]
    for k in range(3):
        events.append(_calls(_head(k, index(k))))
        events += [_calls(_fragment(p, index(k), name)) for p in _pieces(_text(k))]
        if k == 0:
            events.append(GATE)
    return [*events, chat_chunk({}, "tool_calls")]


def interleaved(*, ids: bool = True) -> list[Any]:
    """Every call started, then their fragments in turn (index 0, 1, 2, 0, 1, 2, ...): the
    shortest (call 2) closes first."""
    heads = [_head(k, k) for k in range(3)]
    if not ids:
        for head in heads:
            del head["id"]
    events: list[Any] = [_calls(head) for head in heads]
    pieces = [_pieces(_text(k)) for k in range(3)]
    first = True
    for i in range(max(map(len, pieces))):
        for k in range(3):
            if i < len(pieces[k]):
                events.append(_calls(_fragment(pieces[k][i], k)))
                if first and i == len(pieces[k]) - 1:
                    events.append(GATE)
                    first = False
    return [*events, chat_chunk({}, "tool_calls")]


def whole_calls(*, finish_with_last: bool = True) -> list[Any]:
    """A whole call per chunk (id, name and all arguments), the finish in the last one."""
    events: list[Any] = []
    for k in range(3):
        finish = "tool_calls" if finish_with_last and k == 2 else None
        events.append(_calls({**_head(k, k), "function": {
            "name": SEED_CALLS[k][0], "arguments": _text(k)}}, finish=finish))
        if k == 0:
            events.append(GATE)
    return events


def text_after() -> list[Any]:
    events = _sequential(lambda k: k)
    return [*events[:-1], chat_chunk({"content": "Looking "}), chat_chunk({"content": "it up."}),
            events[-1]]


SHAPES: dict[str, Shape] = {
    "interleaved": interleaved,
    "interleaved, no ids": lambda: interleaved(ids=False),
    "all index 0, distinct ids": lambda: _sequential(lambda k: 0),
    "no index": lambda: _sequential(lambda k: None),
    "id only on the first fragment": lambda: _sequential(lambda k: k, name=""),
    "whole call per chunk": whole_calls,
    "first index 1": lambda: _sequential(lambda k: k + 1),
    "text after the calls": text_after,
    "pause after a closed call": lambda: _sequential(lambda k: k),
}
#: What the whole response holds for each shape (ids; text).
WHOLE: dict[str, Callable[[], Response]] = {
    name: lambda: chat_completion(SEED_CALLS, ids=IDS) for name in SHAPES
}
WHOLE["interleaved, no ids"] = lambda: chat_completion(SEED_CALLS, ids=[None, None, None])
WHOLE["text after the calls"] = lambda: chat_completion(SEED_CALLS, ids=IDS, text="Looking it up.")


def _stream(shape: str) -> tuple[Response, Gate]:
    gate = Gate()
    events = [gate if event == GATE else event for event in SHAPES[shape]()]
    return chat_sse(events), gate


def kwargs() -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": SEED_MESSAGES, "response_model": SEED_MODEL}


def summary(result: polycall.ToolCalls[Any]) -> Any:
    return ([(c.id, c.name, c.arguments) for c in result.calls], list(result), result.text)


def expected_order(shape: str) -> list[Any]:
    """The order calls are yielded in: completion order."""
    if shape.startswith("interleaved"):
        return [SEED_VALUES[2], SEED_VALUES[0], SEED_VALUES[1]]
    return SEED_VALUES


METHODS = ["create_iterable", "create(stream=True)", "create_partial"]


def _open(client: Any, method: str) -> Any:
    if method == "create(stream=True)":
        return client.create(stream=True, **kwargs())
    return getattr(client, method)(**kwargs())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_shape_streams_to_the_whole_response(fake: FakeProvider, shape: str, method: str) -> None:
    client = openai_client(fake)
    stream, gate = _stream(shape)
    fake.push(WHOLE[shape](), stream)
    whole = client.create(**kwargs())
    calls = _open(client, method)
    values = [v for v in gated_values(_calls_only(calls), gate)]
    assert values == expected_order(shape)
    assert not gate.timed_out  # the first call was out while the server held the rest
    assert summary(calls.result) == summary(whole)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_async_shape_streams_to_the_whole_response(
    fake: FakeProvider, shape: str, method: str
) -> None:
    client = openai_client(fake, is_async=True)
    stream, gate = _stream(shape)
    fake.push(WHOLE[shape](), stream)
    whole = await client.create(**kwargs())
    calls = await client.create(stream=True, **kwargs()) if method == "create(stream=True)" else (
        getattr(client, method)(**kwargs())
    )
    values = await agated_values(_acalls_only(calls), gate)
    assert values == expected_order(shape)
    assert not gate.timed_out
    assert summary(calls.result) == summary(whole)


def _calls_only(stream: Any) -> Any:
    return (item for item in stream if not isinstance(item, Partial))


async def _acalls_only(stream: Any) -> Any:
    async for item in stream:
        if not isinstance(item, Partial):
            yield item


def test_generated_ids_are_fixed_when_handed_out_and_follow_where_calls_started(
    fake: FakeProvider,
) -> None:
    fake.push(chat_sse([event for event in SHAPES["interleaved, no ids"]() if event != GATE]))
    stream = openai_client(fake).create_iterable(**kwargs())
    handed_out = [(call, call.id) for call in stream.calls()]

    # the search completes first, yet is numbered where it started: third, as in `create`
    assert [(call.name, call_id) for call, call_id in handed_out] == [
        ("GoogleSearch", "call_1_2"), ("Weather", "call_1_0"), ("Weather", "call_1_1"),
    ]
    assert [call.id for call, _ in handed_out] == [call_id for _, call_id in handed_out]
    assert [c.id for c in stream.result.calls] == ["call_1_0", "call_1_1", "call_1_2"]
    replies = stream.result.tool_results([f"answer to {v}" for v in stream.result])
    assert [(m["tool_call_id"], m["content"]) for m in replies] == [
        (call.id, f"answer to {call.value}") for call in stream.result.calls
    ]


def _handlers(gate: Gate, seen: list[Any]) -> dict[Any, Any]:
    def handle(value: Any) -> str:
        if not seen:  # the first handler starts before the server goes past the gate
            assert not gate.timed_out
            gate.open()
        seen.append(value)
        return f"done {value!r}"

    return {Weather: handle, GoogleSearch: handle}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_run_stream_over_each_shape(fake: FakeProvider, shape: str) -> None:
    client = openai_client(fake)
    stream, gate = _stream(shape)
    fake.push(WHOLE[shape](), stream)
    whole = client.create(**kwargs())
    seen: list[Any] = []
    calls = client.create_iterable(**kwargs())
    results = polycall.run_stream(calls, _handlers(gate, seen), max_concurrency=1)
    assert not gate.timed_out and seen[0] == expected_order(shape)[0]
    assert summary(calls.result) == summary(whole)
    assert [r.call for r in results] == calls.result.calls  # results in the model's order
    assert [r.value for r in results] == [f"done {v!r}" for v in SEED_VALUES]


@pytest.mark.parametrize("shape", ["interleaved", "no index", "whole call per chunk"])
async def test_arun_stream_over_each_shape(fake: FakeProvider, shape: str) -> None:
    client = openai_client(fake, is_async=True)
    stream, gate = _stream(shape)
    fake.push(WHOLE[shape](), stream)
    whole = await client.create(**kwargs())
    seen: list[Any] = []
    handle = _handlers(gate, seen)[Weather]

    async def ahandle(value: Any) -> str:
        return await asyncio.to_thread(handle, value)

    calls = client.create_iterable(**kwargs())
    results = await polycall.arun_stream(calls, {Weather: ahandle, GoogleSearch: ahandle})
    assert not gate.timed_out and seen[0] == expected_order(shape)[0]
    assert summary(calls.result) == summary(whole)
    assert [r.value for r in results] == [f"done {v!r}" for v in SEED_VALUES]


# --- the completeness rule's edges -----------------------------------------------------------


def _collect(stream: Any) -> tuple[list[Any], Exception | None]:
    values: list[Any] = []
    try:
        values.extend(stream)
    except polycall.PolycallError as exc:
        return values, exc
    return values, None


def test_a_call_whose_first_fragment_closes_is_out_at_once(fake: FakeProvider) -> None:
    gate = Gate()
    events = [
        _calls({"index": 0, "id": "p", "function": {"name": "GoogleSearch",
                "arguments": '{"query": "x"}'}}),
        gate,
        _calls(_head(1, 1)),
        *[_calls(_fragment(p, 1)) for p in _pieces(_text(1))],
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_sse(events))
    values = gated_values(openai_client(fake).create_iterable(**kwargs()), gate)
    assert values == [GoogleSearch(query="x"), SEED_VALUES[1]]


def test_escapes_and_brackets_inside_strings_do_not_close_a_call(fake: FakeProvider) -> None:
    events = [
        _calls({"index": 0, "id": "n", "function": {"name": "GoogleSearch", "arguments": ""}}),
        _calls({"index": 0, "function": {"arguments": " "}}),
        _calls({"index": 0, "function": {"arguments": '{"query"'}}),
        _calls({"index": 0, "function": {"arguments": ': "a \\"}\\" b"}'}}),
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_sse(events))
    assert list(openai_client(fake).create_iterable(**kwargs())) == [GoogleSearch(query='a "}" b')]


def test_the_parallel_wrapper_is_unwrapped_once_it_closes(fake: FakeProvider) -> None:
    gate = Gate()
    wrapper = parallel_call(SEED_CALLS[:2], id="call_w")
    text = wrapper["function"]["arguments"]
    events = [
        _calls({"index": 0, "id": "call_w", "function": {"name": wrapper["function"]["name"],
                "arguments": ""}}),
        *[_calls(_fragment(p, 0)) for p in _pieces(text, 11)],
        gate,
        _calls(_head(2, 1)),
        *[_calls(_fragment(p, 1)) for p in _pieces(_text(2))],
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_completion(tool_calls=[wrapper, _head(2) | {"function": {
        "name": "GoogleSearch", "arguments": _text(2)}}]), chat_sse(events))
    client = openai_client(fake)
    whole = client.create(**kwargs())
    stream = client.create_iterable(**kwargs())
    assert gated_values(stream, gate) == SEED_VALUES
    assert summary(stream.result) == summary(whole)
    assert [c.id for c in whole.calls] == ["call_w_0", "call_w_1", "call_c"]


def test_arguments_sent_as_an_object_are_complete_when_given(fake: FakeProvider) -> None:
    gate = Gate()
    events = [
        _calls({"index": 0, "id": "o", "function": {"name": "GoogleSearch",
                "arguments": {"query": "obj"}}}),
        gate,
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_sse(events))
    assert gated_values(openai_client(fake).create_iterable(**kwargs()), gate) == [
        GoogleSearch(query="obj")
    ]


def test_arguments_that_never_close_complete_at_the_finish_and_fail(fake: FakeProvider) -> None:
    events = [
        _calls(_head(2, 0)),
        _calls(_fragment('{"query": "x"', 0)),
        _calls(_head(0, 1)),
        *[_calls(_fragment(p, 1)) for p in _pieces(_text(0))],
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_completion(tool_calls=[
        _head(2) | {"function": {"name": "GoogleSearch", "arguments": '{"query": "x"'}},
        _head(0) | {"function": {"name": "Weather", "arguments": _text(0)}},
    ]), chat_sse(events))
    client = openai_client(fake)
    with pytest.raises(polycall.ValidationFailed) as whole:
        client.create(**kwargs())
    values, error = _collect(client.create_iterable(**kwargs()))
    assert values == [SEED_VALUES[0]]
    assert isinstance(error, polycall.ValidationFailed)
    assert list(error.errors) == list(whole.value.errors) == ["call_c"]


def test_more_arguments_after_a_complete_value_are_a_provider_error(fake: FakeProvider) -> None:
    events = [
        _calls(_head(2, 0)),
        _calls(_fragment('{"query": "x"}', 0)),
        _calls(_fragment(' {"query": "y"}', 0)),
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_sse(events))
    values, error = _collect(openai_client(fake).create_iterable(**kwargs()))
    assert values == [GoogleSearch(query="x")]
    assert isinstance(error, ProviderError) and "call_c" in str(error)
    assert "after they formed a complete JSON value" in str(error)


# --- streams that end without a finish reason ------------------------------------------------


def test_text_stream_without_finish_reason_is_a_text_answer(fake: FakeProvider) -> None:
    events = [
        chat_chunk({"role": "assistant", "content": ""}),
        chat_chunk({"content": "I would rather "}),
        chat_chunk({"content": "chat."}),
    ]
    whole = chat_completion(text="I would rather chat.")
    whole.body["choices"][0]["finish_reason"] = None
    fake.push(whole, chat_sse(events))
    client = openai_client(fake)
    with pytest.raises(NoToolCallsError) as created:
        client.create(**kwargs())
    values, error = _collect(client.create_iterable(**kwargs()))
    assert values == []
    assert isinstance(error, NoToolCallsError)
    assert error.text == created.value.text == "I would rather chat."


async def test_async_text_stream_without_finish_reason(fake: FakeProvider) -> None:
    fake.push(chat_sse([chat_chunk({"content": "Sunny."})]))
    with pytest.raises(NoToolCallsError) as error:
        async for _ in openai_client(fake, is_async=True).create_iterable(**kwargs()):
            pass
    assert error.value.text == "Sunny."


def test_stream_cut_while_a_call_is_written_stays_a_provider_error(fake: FakeProvider) -> None:
    events = [
        chat_chunk({"content": "Let me look."}),
        _calls(_head(2, 0)),
        _calls(_fragment('{"query": "wh', 0)),
    ]
    fake.push(chat_sse(events))
    values, error = _collect(openai_client(fake).create_iterable(**kwargs()))
    assert values == []
    assert isinstance(error, ProviderError) and "no finish_reason" in str(error)


# --- the other providers: out before the event after the closing signal ----------------------


def _gate_before(response: Response, marker: bytes) -> Gate:
    """A gate right before the first chunk holding `marker`."""
    gate = Gate()
    chunks = response.chunks or []
    at = next(i for i, c in enumerate(chunks) if isinstance(c, bytes) and marker in c)
    chunks.insert(at, gate)
    return gate


def test_anthropic_call_is_out_when_its_json_closes(fake: FakeProvider) -> None:
    response = message_stream(SEED_CALLS)
    gate = _gate_before(response, b"content_block_stop")  # call 0's stop: not sent yet
    fake.push(response)
    client = anthropic_client(fake, model="claude-sonnet-4-6")
    stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert gated_values(stream, gate) == SEED_VALUES
    assert not gate.timed_out


def test_anthropic_block_stop_completes_a_call_whose_json_never_closed(
    fake: FakeProvider,
) -> None:
    response = message_stream([("GoogleSearch", '{"query": "x"} ')], piece=100)
    fake.push(response)
    stream = anthropic_client(fake, model="claude-sonnet-4-6").create_iterable(
        messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(stream) == [GoogleSearch(query="x")]


def test_responses_call_is_out_when_its_json_closes(fake: FakeProvider) -> None:
    response = response_stream(SEED_CALLS)
    gate = _gate_before(response, b"response.function_call_arguments.done")
    fake.push(response)
    client = openai_client(fake, mode=Mode.RESPONSES_PARALLEL_TOOLS)
    stream = client.create_iterable(**kwargs())
    assert gated_values(stream, gate) == SEED_VALUES
    assert not gate.timed_out


def test_responses_arguments_done_completes_an_unclosed_call(fake: FakeProvider) -> None:
    """Deltas that never close: `function_call_arguments.done` ends the call, with its text."""
    response = response_stream(SEED_CALLS[2:], piece=5)
    chunks = response.chunks or []
    last_delta = max(
        i for i, c in enumerate(chunks) if isinstance(c, bytes) and b"arguments.delta" in c
    )
    del chunks[last_delta]  # the closing brace never comes as a delta
    gate = _gate_before(response, b"response.output_item.done")
    fake.push(response)
    stream = openai_client(fake, mode=Mode.RESPONSES_PARALLEL_TOOLS).create_iterable(**kwargs())
    assert gated_values(stream, gate) == SEED_VALUES[2:]


def test_gemini_streamed_args_keys_with_escaped_characters_are_the_keys_sent(fake: FakeProvider) -> None:
    """A `jsonPath` quotes a key that is no plain name (`$.notes["q\\"k"]`): the key is
    read back without the escapes, as the whole response gives it."""
    pytest.importorskip("google.genai")
    from pydantic import BaseModel

    from polycall.testing.gemini import gemini_stream, genai_client

    class Notes(BaseModel):
        notes: dict[str, str]

    arguments = {"notes": {'q"k': "one", "a\\b": "two", "it's": "three"}}
    fake.push(gemini_stream([("Notes", arguments)], streamed_args=True))
    client = polycall.from_genai(genai_client(fake), model="gemini-2.5-flash")
    (call,) = client.create_iterable(messages=SEED_MESSAGES[1:], response_model=Iterable[Notes])
    assert call.notes == arguments["notes"]


@pytest.mark.parametrize("streamed_args", [False, True], ids=["whole parts", "partialArgs"])
def test_gemini_call_is_out_before_the_next_chunk(fake: FakeProvider, streamed_args: bool) -> None:
    pytest.importorskip("google.genai")
    from polycall.testing.gemini import gemini_stream, genai_client

    gate = Gate()
    fake.push(gemini_stream(SEED_CALLS, streamed_args=streamed_args, gates={0: gate}))
    client = polycall.from_genai(genai_client(fake), model="gemini-2.5-flash")
    stream = client.create_iterable(messages=SEED_MESSAGES[1:], response_model=SEED_MODEL)
    assert gated_values(stream, gate) == SEED_VALUES
    assert not gate.timed_out
