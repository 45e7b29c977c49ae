"""Fuzzing OpenAI Chat Completions: a scenario as a body and an SSE stream (in each shape
servers send), and the harness over the real `openai` SDK."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import openai

import polycall
from fuzzing import (
    Call,
    Frame,
    Fuzzed,
    Scenario,
    Transport,
    Wire,
    dumps,
    frames_of,
    fuzzed,
    sdk_httpx,
)
from polycall import Mode
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
                    chat_chunk(
                        {"tool_calls": [{**at, "function": {"arguments": text[i : i + piece]}}]}
                    )
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


HTTPX = sdk_httpx("openai")
SDK = {"api_key": "sk-fuzz", "base_url": "http://fuzz.invalid/v1", "max_retries": 0}


def openai_fuzzed(name: str, wire: Wire, mode: Mode, **options: Any) -> Fuzzed:
    """An OpenAI API, Chat Completions or Responses by `mode`, over the real `openai` SDK."""

    def client(transport: Transport, is_async: bool) -> Any:
        sdk = openai.AsyncOpenAI if is_async else openai.OpenAI
        return polycall.from_openai(
            sdk(**SDK, http_client=transport.client(HTTPX, is_async=is_async)), mode
        )

    def over_http(url: str) -> Any:
        return polycall.from_openai(openai.OpenAI(**{**SDK, "base_url": url + "/v1"}), mode)

    model = {"model": "gpt-4o-mini"}
    statuses = (400, 401, 500)
    return fuzzed(
        name,
        wire,
        client,
        model,
        text_arguments=True,
        error_statuses=statuses,
        over_http=over_http,
        **options,
    )


FUZZED = openai_fuzzed(
    "openai",
    Wire(body, frames, terminal),
    Mode.PARALLEL_TOOLS,
    finishes=FINISHES,
    shapes=[
        (Wire(body, shaped(shape), terminal), shape != "interleaved")
        for shape in ("interleaved", "index 0", "no index")
    ],
)
CHAT = FUZZED.harness
