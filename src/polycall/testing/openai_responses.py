"""OpenAI Responses API wire format for the fake provider: `/v1/responses` bodies and streams.

Point the SDK at the fake: `openai.OpenAI(base_url=fake.url + "/v1", api_key="test")`.
Call `k` gets the item id `fc_k` and the call id `call_k` (the id polycall reports).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .server import Gate, Response, check_script, json_response, sse_response, text_pieces

Call = tuple[str, Any]  # (tool name, arguments as a dict or JSON text)


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def function_call_item(
    index: int, name: str, arguments: Any, *, call_id: str | None = None, status: str = "completed"
) -> dict[str, Any]:
    """One `function_call` output item."""
    return {
        "id": f"fc_{index}",
        "type": "function_call",
        "status": status,
        "arguments": _arguments(arguments),
        "call_id": call_id if call_id is not None else f"call_{index}",
        "name": name,
    }


def message_item(
    text: str | None = None, *, refusal: str | None = None, index: int = 0
) -> dict[str, Any]:
    """An assistant `message` output item with output text and/or a refusal."""
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "output_text", "text": text, "annotations": []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {
        "id": f"msg_{index}",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": content,
    }


def reasoning_item(index: int = 0) -> dict[str, Any]:
    """A `reasoning` output item (what reasoning models emit before their calls)."""
    return {"id": f"rs_{index}", "type": "reasoning", "summary": []}


def response_object(
    output: Sequence[dict[str, Any]],
    *,
    status: str = "completed",
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
    usage: tuple[int, int] | None = (10, 20),
    model: str = "gpt-4o-mini",
) -> dict[str, Any]:
    """A `response` object around `output` items."""
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 0,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": None,
        "model": model,
        "output": list(output),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None
        if usage is None
        else {
            "input_tokens": usage[0],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage[1],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": sum(usage),
        },
    }


def response_body(
    calls: Sequence[Call] = (),
    *,
    text: str | None = None,
    refusal: str | None = None,
    reasoning: bool = False,
    status: str = "completed",
    incomplete_reason: str | None = None,
    usage: tuple[int, int] | None = (10, 20),
    call_ids: Sequence[str] | None = None,
    model: str = "gpt-4o-mini",
) -> Response:
    """A whole `/v1/responses` body: a reasoning item and a message if asked, then `calls`."""
    check_script(calls, call_ids)
    return json_response(
        response_object(
            _output(calls, text, refusal, reasoning, call_ids),
            status=status,
            incomplete_reason=incomplete_reason,
            usage=usage,
            model=model,
        )
    )


def response_stream(
    calls: Sequence[Call] = (),
    *,
    text: str | Sequence[str | Gate] | None = None,
    reasoning: bool = False,
    status: str = "completed",
    incomplete_reason: str | None = None,
    piece: int = 8,
    usage: tuple[int, int] | None = (10, 20),
    call_ids: Sequence[str] | None = None,
    gates: dict[int, Gate] | None = None,
    model: str = "gpt-4o-mini",
) -> Response:
    """A streamed response (`event: <type>` SSE): per call `response.output_item.added`, the
    arguments in `piece`-character `response.function_call_arguments.delta` events,
    `response.function_call_arguments.done` and `response.output_item.done`; then
    `response.completed` (or `response.incomplete` when `status="incomplete"`).

    `gates[k]` holds the stream right after the `response.output_item.done` of call `k`.
    With `status="incomplete"` the last call is cut off: its arguments stop halfway and it
    never gets its `.done` events.
    """
    check_script(calls, call_ids, gates)
    gates = gates or {}
    whole, pieces = text_pieces(text)
    output = _output(calls, whole, None, reasoning, call_ids)
    if status == "incomplete" and calls:
        last = output[-1]
        output[-1] = {
            **last,
            "status": "incomplete",
            "arguments": last["arguments"][: len(last["arguments"]) // 2],
        }
    final = response_object(
        output, status=status, incomplete_reason=incomplete_reason, usage=usage, model=model
    )
    events = _Events()
    events.send(
        "response.created", response={**final, "status": "in_progress", "output": [], "usage": None}
    )
    first_call = len(output) - len(calls)
    for index, item in enumerate(output):
        if item["type"] == "function_call":
            events.function_call(index, item, piece)
            if index - first_call in gates:
                events.items.append(gates[index - first_call])
        elif item["type"] == "message":
            events.message(index, item, pieces)
        else:
            events.send("response.output_item.added", output_index=index, item=item)
            events.send("response.output_item.done", output_index=index, item=item)
    terminal = "response.incomplete" if status == "incomplete" else "response.completed"
    events.send(terminal, response=final)
    return sse_response(events.items)


def stream_error(message: str = "The server had an error", code: str = "server_error") -> Response:
    """A stream that starts and then reports an `error` event."""
    events = _Events()
    events.send("response.created", response=response_object([], status="in_progress", usage=None))
    events.send("error", code=code, message=message, param=None)
    return sse_response(events.items)


class _Events:
    """SSE events as `(type, data)` pairs, numbered in order, with gates in between."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]] | Gate] = []
        self.count = 0

    def send(self, kind: str, **data: Any) -> None:
        self.items.append((kind, {"type": kind, "sequence_number": self.count, **data}))
        self.count += 1

    def function_call(self, index: int, item: dict[str, Any], piece: int) -> None:
        """A call's events; one cut off (status incomplete) gets no `.done` events."""
        arguments = item["arguments"]
        self.send(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        for start in range(0, len(arguments), piece):
            self.send(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=arguments[start : start + piece],
            )
        if item["status"] == "incomplete":
            return
        self.send(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=index,
            arguments=arguments,
        )
        self.send("response.output_item.done", output_index=index, item=item)

    def message(
        self, index: int, item: dict[str, Any], pieces: Sequence[str | Gate] = ()
    ) -> None:
        """A message item's events, its text in one `response.output_text.delta` (or one per
        piece of `pieces`, with their gates)."""
        self.send("response.output_item.added", output_index=index, item={**item, "content": []})
        for part, content in enumerate(item["content"]):
            if content["type"] == "output_text":
                where = {"item_id": item["id"], "output_index": index, "content_index": part}
                for piece in pieces or [content["text"]]:
                    if isinstance(piece, Gate):
                        self.items.append(piece)
                    else:
                        self.send("response.output_text.delta", **where, delta=piece, logprobs=[])
                self.send("response.output_text.done", **where, text=content["text"], logprobs=[])
        self.send("response.output_item.done", output_index=index, item=item)


def _output(
    calls: Sequence[Call],
    text: str | None,
    refusal: str | None,
    reasoning: bool,
    call_ids: Sequence[str] | None,
) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = [reasoning_item()] if reasoning else []
    if text or refusal:
        output.append(message_item(text, refusal=refusal))
    output += [
        function_call_item(i, name, args, call_id=call_ids[i] if call_ids else None)
        for i, (name, args) in enumerate(calls)
    ]
    return output
