"""Fuzzing OpenAI Chat Completions: a scenario as a body and an SSE stream, and the harness
over the real `openai` SDK, for the property tests of test_fuzz.py; and what the fuzzing
found, kept as regression tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import openai
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
    nested_text,
    sdk_httpx,
    sse_bytes,
    valid_scenarios,
)
from polycall import UnknownToolError, ValidationFailed
from polycall.testing.openai import chat_chunk, chat_completion, chat_stream

FINISHES = ["stop", "tool_calls", "length", "content_filter", "function_call", "error", "eos"]


def _arguments(call: Call) -> str:
    return call.arguments if isinstance(call.arguments, str) else dumps(call.arguments)


def body(scenario: Scenario) -> Any:
    tool_calls = [
        {
            **({"id": call.id} if call.id is not None else {}),
            "type": "function",
            "function": {"name": call.name, "arguments": _arguments(call)},
        }
        for call in scenario.calls
    ]
    return chat_completion(
        tool_calls=tool_calls, text=scenario.text, finish_reason=scenario.finish
    ).body


def frames(scenario: Scenario, piece: int) -> list[Frame]:
    calls = [(call.name, _arguments(call)) for call in scenario.calls]
    ids = [call.id for call in scenario.calls]
    return frames_of(
        chat_stream(calls, ids=ids, text=scenario.text, finish_reason=scenario.finish, piece=piece)
    )


def shaped(shape: str) -> Callable[[Scenario, int], list[Frame]]:
    """The stream in another shape servers send: `interleaved` (every call started, then
    their fragments in turn), `index 0` (every call at index 0, told apart by its id) or
    `no index` (no index at all, the id only on each call's first delta). A scenario these
    cannot tell apart (ids missing or repeated, for the last two) streams as usual."""

    def shaped_frames(scenario: Scenario, piece: int) -> list[Frame]:
        ids = [call.id for call in scenario.calls]
        if shape != "interleaved" and not (all(ids) and len(set(ids)) == len(ids)):
            return frames(scenario, piece)
        events = [chat_chunk({"role": "assistant", "content": None})]
        if scenario.text:
            events.append(chat_chunk({"content": scenario.text}))
        heads, pieces = [], []
        for k, call in enumerate(scenario.calls):
            index = {"interleaved": k, "index 0": 0}.get(shape)
            at = {} if index is None else {"index": index}
            head = {**at, "type": "function", "function": {"name": call.name, "arguments": ""}}
            heads.append(chat_chunk({"tool_calls": [{**head, **_id(call)}]}))
            text = _arguments(call)
            pieces.append(
                [
                    chat_chunk({"tool_calls": [{**at, "function": {"arguments": text[i : i + piece]}}]})
                    for i in range(0, len(text), piece)
                ]
            )
        if shape == "interleaved":
            events += heads
            events += [p for turn in itertools.zip_longest(*pieces) for p in turn if p]
        else:
            for head, fragments in zip(heads, pieces):
                events += [head, *fragments]
        finish = scenario.finish or ("tool_calls" if scenario.calls else "stop")
        events += [chat_chunk({}, finish), chat_chunk(usage=(10, 20))]
        return [*map(Frame, events), Frame("[DONE]")]

    return shaped_frames


def _id(call: Call) -> dict[str, Any]:
    return {} if call.id is None else {"id": call.id}


def terminal(frames: Sequence[Frame]) -> int:
    return next(
        i
        for i, f in enumerate(frames)
        if isinstance(f.data, dict) and any(c.get("finish_reason") for c in f.data["choices"])
    )


TRANSPORT = Transport()
HTTPX = sdk_httpx("openai")
SDK = {"api_key": "sk-fuzz", "base_url": "http://fuzz.invalid/v1", "max_retries": 0}
CHAT = Harness(
    Wire(body, frames, terminal),
    TRANSPORT,
    polycall.from_openai(openai.OpenAI(**SDK, http_client=TRANSPORT.client(HTTPX))),
    polycall.from_openai(
        openai.AsyncOpenAI(**SDK, http_client=TRANSPORT.client(HTTPX, is_async=True))
    ),
    {"model": "gpt-4o-mini"},
)
SHAPES = tuple(
    Harness(
        Wire(body, shaped(shape), terminal),
        TRANSPORT,
        CHAT.sync,
        CHAT.async_,
        CHAT.kwargs,
        ordered=shape != "interleaved",
    )
    for shape in ("interleaved", "index 0", "no index")
)
FUZZED = Fuzzed(
    "openai",
    CHAT,
    valid_scenarios(),
    hostile_scenarios(text_arguments=True, finishes=FINISHES),
    error_statuses=(400, 401, 500),
    over_http=lambda url: polycall.from_openai(openai.OpenAI(**{**SDK, "base_url": url + "/v1"})),
    http_kwargs=CHAT.kwargs,
    shapes=SHAPES,
)


# What the fuzzing found, in its smallest form: fixed ones kept as regression tests, open
# ones marked xfail (and their crash listed in fuzzing.KNOWN_CRASHES) until fixed.


def test_deep_arguments_fail_their_call_only() -> None:
    deep = Scenario(
        (
            Call("Weather", nested_text(5000), "call_deep"),
            Call("GoogleSearch", {"query": "q"}, "call_ok"),
        )
    )
    outcome = CHAT.run_body(body(deep), known=())
    assert isinstance(outcome.error, ValidationFailed)
    assert list(outcome.error.errors) == ["call_deep"]


def test_tool_name_not_text_is_an_unknown_tool() -> None:
    tool_calls = [
        {"id": "call_x", "type": "function", "function": {"name": {"a": 1}, "arguments": "{}"}}
    ]
    outcome = CHAT.run_body(chat_completion(tool_calls=tool_calls).body, known=())
    assert isinstance(outcome.error, UnknownToolError)
    assert list(outcome.error.errors) == ["call_x"]


@pytest.mark.parametrize("call_id", [{"a": 1}, 7])
def test_call_id_not_text_gets_a_text_id(call_id: Any) -> None:
    tool_calls = [
        {
            "id": call_id,
            "type": "function",
            "function": {"name": "GoogleSearch", "arguments": '{"query": "q"}'},
        }
    ]
    outcome = CHAT.run_body(chat_completion(tool_calls=tool_calls).body, known=())
    assert outcome.result is not None and isinstance(outcome.result.calls[0].id, str)


def _body_with(path: tuple[Any, ...], value: Any) -> Any:
    data = body(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)))
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return data


def _chunks_with(chunk: dict[str, Any]) -> list[bytes]:
    frames = CHAT.frames(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)), 40)
    return sse_bytes([*frames[:2], Frame(chunk), *frames[2:]])


@pytest.mark.parametrize(
    "wrong",
    [
        ("body", ("choices", 0, "finish_reason"), 7),
        ("body", ("choices", 0, "message", "tool_calls"), 7),
        (
            "stream",
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": 7,
            },
            None,
        ),
        (
            "stream",
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": {"tool_calls": 7}}],
            },
            None,
        ),
    ],
    ids=["finish_reason", "tool_calls", "chunk_choices", "delta_tool_calls"],
)
def test_fields_of_the_wrong_type_are_no_crash(wrong: tuple[str, Any, Any]) -> None:
    where, path, value = wrong
    if where == "body":
        CHAT.run_body(_body_with(path, value), known=())
    else:
        CHAT.run_frames((), chunks=_chunks_with(path), known=())


def test_message_content_not_text_is_no_crash() -> None:
    CHAT.run_body(
        _body_with(("choices", 0, "message"), {"role": "assistant", "content": True}), known=()
    )


@pytest.mark.parametrize("field", ["content", "refusal"])
def test_delta_text_not_text_is_no_crash(field: str) -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {field: 7}}],
    }
    CHAT.run_frames((), chunks=_chunks_with(chunk), known=())
