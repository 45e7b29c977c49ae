"""OpenAI Chat Completions wire format for the fake provider: whole bodies and SSE streams.

Point the SDK at the fake: `openai.OpenAI(base_url=fake.url + "/v1", api_key="test")`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .server import Gate, Response, check_script, json_response, sse_response, text_pieces

Call = tuple[str, Any]  # (tool name, arguments as a dict or JSON text)


class Hangup(Gate):
    """A point in a scripted stream where the server drops the connection mid-body."""

    def wait(self) -> None:
        self.reached.set()
        raise ConnectionResetError("polycall FakeProvider: connection dropped by the script")


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}


def tool_call(name: str, arguments: Any = None, *, id: str = "call_0") -> dict[str, Any]:
    """One `tool_calls` entry; a dict `arguments` is sent as JSON text, None as `"{}"`."""
    return {
        "id": id,
        "type": "function",
        "function": {
            "name": name,
            "arguments": _arguments(arguments if arguments is not None else {}),
        },
    }


def parallel_call(
    calls: Sequence[Call], *, id: str = "call_parallel", name: str = "multi_tool_use.parallel"
) -> dict[str, Any]:
    """The `multi_tool_use.parallel` wrapper some models emit instead of separate calls."""
    uses = [{"recipient_name": f"functions.{tool}", "parameters": args} for tool, args in calls]
    return tool_call(name, {"tool_uses": uses}, id=id)


def chat_completion(
    calls: Sequence[Call] = (),
    *,
    text: str | None = None,
    finish_reason: str | None = None,
    refusal: str | None = None,
    usage: tuple[int, int] = (10, 20),
    ids: Sequence[str | None] | None = None,
    tool_calls: Sequence[dict[str, Any]] | None = None,
    model: str = "gpt-4o-mini",
) -> Response:
    """A whole `chat.completion` body calling `calls` in order.

    `tool_calls` gives the raw `tool_calls` entries instead (to script a server's quirks).
    """
    check_script(calls, ids)
    if tool_calls is None:
        tool_calls = [
            {
                "id": ids[i] if ids else f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": _arguments(args)},
            }
            for i, (name, args) in enumerate(calls)
        ]
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    return json_response(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
                }
            ],
            "usage": _usage(usage),
        }
    )


def chat_error(
    status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None
) -> Response:
    """An error body in OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`)."""
    error = {"message": message, "type": type, "param": param, "code": None}
    return json_response({"error": error}, status=status)


def chat_chunk(
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    *,
    usage: tuple[int, int] | None = None,
    model: str = "gpt-4o-mini",
) -> dict[str, Any]:
    """One `chat.completion.chunk`; with `delta=None` and no finish reason it has no choices
    (like a trailing usage chunk, or Azure's leading chunk)."""
    choices = []
    if delta is not None or finish_reason is not None:
        choices.append({"index": 0, "delta": delta or {}, "finish_reason": finish_reason})
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = _usage(usage)
    return chunk


def chat_sse(events: Iterable[dict[str, Any] | Gate | str], *, done: bool = True) -> Response:
    """A stream of chunks (and `Gate`s), ended by `data: [DONE]` unless `done=False`."""
    return sse_response([*events, *(["data: [DONE]"] if done else [])])


def chat_stream(
    calls: Sequence[Call] = (),
    *,
    text: str | Sequence[str | Gate] | None = None,
    finish_reason: str | None = None,
    piece: int = 8,
    usage: tuple[int, int] | None = (10, 20),
    gates: dict[int, Gate] | None = None,
    ids: Sequence[str | None] | None = None,
    model: str = "gpt-4o-mini",
) -> Response:
    """A streamed chat completion: the text (one chunk, or one per piece of a sequence, a
    `Gate` in it holding the stream there), then each call's arguments split into
    `piece`-character deltas.

    `gates[k]` holds the stream right after the chunk that completes call `k` (the first
    delta of call `k + 1`, or the finish chunk for the last call).
    """
    check_script(calls, ids, gates)
    gates = gates or {}
    events: list[Any] = [chat_chunk({"role": "assistant", "content": None}, model=model)]
    for text_piece in text_pieces(text)[1]:
        events.append(
            text_piece
            if isinstance(text_piece, Gate)
            else chat_chunk({"content": text_piece}, model=model)
        )
    for i, (name, args) in enumerate(calls):
        head: dict[str, Any] = {
            "index": i,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        call_id = ids[i] if ids else f"call_{i}"
        if call_id is not None:
            head["id"] = call_id
        events.append(chat_chunk({"tool_calls": [head]}, model=model))
        if i - 1 in gates:
            events.append(gates[i - 1])
        text_args = _arguments(args)
        for start in range(0, len(text_args), piece):
            fragment = text_args[start : start + piece]
            events.append(
                chat_chunk(
                    {"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}, model=model
                )
            )
    events.append(chat_chunk({}, finish_reason or ("tool_calls" if calls else "stop"), model=model))
    if len(calls) - 1 in gates:
        events.append(gates[len(calls) - 1])
    if usage is not None:
        events.append(chat_chunk(usage=usage, model=model))
    return chat_sse(events)
