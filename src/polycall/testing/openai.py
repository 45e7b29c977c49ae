"""OpenAI Chat Completions wire format for the fake provider: whole bodies and SSE streams.

Point the SDK at the fake: `openai.OpenAI(base_url=fake.url + "/v1", api_key="test")`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .server import Gate, Response, json_response, sse_response

Call = tuple[str, Any]  # (tool name, arguments as a dict or JSON text)


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def chat_completion(
    calls: Sequence[Call] = (),
    *,
    text: str | None = None,
    finish_reason: str | None = None,
    refusal: str | None = None,
    usage: tuple[int, int] = (10, 20),
    ids: Sequence[str | None] | None = None,
    model: str = "gpt-4o-mini",
) -> Response:
    """A whole `chat.completion` body calling `calls` in order."""
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
        message["tool_calls"] = tool_calls
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
                    "finish_reason": finish_reason or ("tool_calls" if calls else "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": usage[0],
                "completion_tokens": usage[1],
                "total_tokens": sum(usage),
            },
        }
    )


def chat_stream(
    calls: Sequence[Call] = (),
    *,
    text: str | None = None,
    finish_reason: str | None = None,
    piece: int = 8,
    usage: tuple[int, int] | None = (10, 20),
    gates: dict[int, Gate] | None = None,
    model: str = "gpt-4o-mini",
) -> Response:
    """A streamed chat completion: each call's arguments split into `piece`-character deltas.

    `gates[k]` holds the stream right after the chunk that completes call `k` (the first
    delta of call `k + 1`, or the finish chunk for the last call).
    """
    gates = gates or {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events: list[Any] = [chunk({"role": "assistant", "content": None})]
    if text:
        events.append(chunk({"content": text}))
    for i, (name, args) in enumerate(calls):
        head = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": ""}}
        events.append(chunk({"tool_calls": [head]}))
        if i - 1 in gates:
            events.append(gates[i - 1])
        text_args = _arguments(args)
        for start in range(0, len(text_args), piece):
            fragment = text_args[start : start + piece]
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}))
    events.append(chunk({}, finish_reason or ("tool_calls" if calls else "stop")))
    if len(calls) - 1 in gates:
        events.append(gates[len(calls) - 1])
    if usage is not None:
        events.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
            }
        )
    events.append("data: [DONE]")
    return sse_response(events)
