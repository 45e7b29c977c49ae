"""Anthropic Messages wire format for the fake provider: `/v1/messages` bodies and SSE streams.

Point the SDK at the fake: `anthropic.Anthropic(base_url=fake.url, api_key="test")`. Claude
on a cloud speaks the same bodies in the cloud's envelope, which `messages_request` reads and
`checked` enforces: Vertex AI (`AnthropicVertex(base_url=fake.url + "/v1", region=...,
project_id=..., access_token=...)`: `.../publishers/anthropic/models/{model}:rawPredict` and
`:streamRawPredict`, `anthropic_version` in the body) and Foundry (`AnthropicFoundry(
base_url=fake.url + "/anthropic/", api_key=...)`: `/anthropic/v1/messages`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .server import (
    Gate,
    Request,
    Responder,
    Response,
    check_script,
    json_response,
    sse_response,
    text_pieces,
)

Call = tuple[str, Any]  # (tool name, input as a dict or JSON text)

_MESSAGE_ID = "msg_fake"


def _input_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _input_object(arguments: Any) -> Any:
    return json.loads(arguments) if isinstance(arguments, str) else arguments


def _ids(calls: Sequence[Call], ids: Sequence[str] | None) -> list[str]:
    return list(ids) if ids is not None else [f"toolu_fake_{i}" for i in range(len(calls))]


def message(
    calls: Sequence[Call] = (),
    *,
    text: str | None = None,
    stop_reason: str | None = None,
    stop_details: dict[str, Any] | None = None,
    usage: tuple[int, int] = (10, 20),
    ids: Sequence[str] | None = None,
    thinking: tuple[str, str] | None = None,
    model: str = "claude-sonnet-4-6",
) -> Response:
    """A whole `message` body: an optional thinking block (`(thinking, signature)`), an
    optional text block, then one `tool_use` block per call."""
    check_script(calls, ids)
    content: list[dict[str, Any]] = []
    if thinking:
        content.append({"type": "thinking", "thinking": thinking[0], "signature": thinking[1]})
    if text:
        content.append({"type": "text", "text": text})
    content += [
        {"type": "tool_use", "id": call_id, "name": name, "input": _input_object(args)}
        for call_id, (name, args) in zip(_ids(calls, ids), calls)
    ]
    body: dict[str, Any] = {
        "id": _MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if calls else "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }
    if stop_details is not None:
        body["stop_details"] = stop_details
    return json_response(body)


def message_stream(
    calls: Sequence[Call] = (),
    *,
    text: str | Sequence[str | Gate] | None = None,
    stop_reason: str | None = None,
    piece: int = 8,
    usage: tuple[int, int] = (10, 20),
    ids: Sequence[str] | None = None,
    gates: dict[int, Gate] | None = None,
    thinking: tuple[str, str] | None = None,
    model: str = "claude-sonnet-4-6",
) -> Response:
    """A streamed message: `message_start`, an optional thinking block (`(thinking,
    signature)`: `thinking_delta`s then one `signature_delta`), an optional text block (a
    `text_delta` per piece of a sequence, a `Gate` in it holding the stream), one `tool_use` block per
    call (its input split into `piece`-character `input_json_delta`s after a leading empty
    one), `message_delta` with the stop reason and output usage, `message_stop`.

    A call's input may be JSON text, even cut-off text for a `max_tokens` stop.
    `gates[k]` holds the stream right after call `k`'s `content_block_stop`.
    """
    check_script(calls, ids, gates)
    gates = gates or {}
    start: dict[str, Any] = {
        "id": _MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": 1},
    }
    events: list[Any] = [("message_start", {"type": "message_start", "message": start})]
    index = 0
    if thinking:
        start = {"type": "thinking", "thinking": "", "signature": ""}
        events += _block(index, start, "thinking_delta", "thinking", [thinking[0]])
        events.insert(-1, _delta(index, "signature_delta", "signature", thinking[1]))
        index += 1
    if text:
        pieces = text_pieces(text)[1]
        events += _block(index, {"type": "text", "text": ""}, "text_delta", "text", pieces)
        index += 1
    for k, (call_id, (name, args)) in enumerate(zip(_ids(calls, ids), calls)):
        head: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        source = _input_text(args)
        pieces = ["", *(source[i : i + piece] for i in range(0, len(source), piece))]
        events += _block(index, head, "input_json_delta", "partial_json", pieces)
        if k in gates:
            events.append(gates[k])
        index += 1
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": stop_reason or ("tool_use" if calls else "end_turn"),
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": usage[1]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return sse_response(events)


def _block(
    index: int, head: dict[str, Any], delta_type: str, field: str, pieces: Sequence[str | Gate]
) -> list[Any]:
    events: list[Any] = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": head},
        )
    ]
    events += [p if isinstance(p, Gate) else _delta(index, delta_type, field, p) for p in pieces]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def _delta(index: int, delta_type: str, field: str, piece: str) -> tuple[str, dict[str, Any]]:
    delta = {"type": delta_type, field: piece}
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def error(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    """An Anthropic error body, e.g. `error(529, "Overloaded", "overloaded_error")`."""
    return json_response(
        {"type": "error", "error": {"type": kind, "message": message}}, status=status
    )


_VERTEX = re.compile(
    r"(?:/v1)?/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/anthropic/models/(?P<model>[^/:]+):(?P<method>rawPredict|streamRawPredict)"
)

#: What each cloud refuses in a Messages body, as the fake's `checked` enforces it: a
#: top-level field, or `tool_choice.<key>`.
REJECTED: dict[str, tuple[str, ...]] = {
    "vertex": ("model", "tool_choice.disable_parallel_tool_use"),
    "foundry": (),
    "anthropic": (),
}


class EnvelopeError(Exception):
    """A Messages request its cloud would refuse: the message says why."""


@dataclass
class MessagesRequest:
    """A Messages API request, read out of its cloud's envelope."""

    cloud: str  # "anthropic", "vertex" or "foundry"
    model: Any  # from the body, or Vertex's URL
    stream: bool
    body: dict[str, Any]  # the body as sent
    envelope: dict[str, str]  # Vertex: project, location, method


def messages_request(request: Request) -> MessagesRequest:
    """Read a Messages request in any envelope; an `EnvelopeError` says what is not well formed."""
    body = request.json
    if not isinstance(body, dict):
        raise EnvelopeError("the body is not a JSON object")
    vertex = _VERTEX.fullmatch(request.path)
    if vertex:
        if not body.get("anthropic_version"):
            raise EnvelopeError("Vertex AI needs anthropic_version in the body")
        stream = vertex["method"] == "streamRawPredict"
        if bool(body.get("stream")) != stream:
            raise EnvelopeError(f"{vertex['method']} with stream={body.get('stream')!r}")
        return MessagesRequest("vertex", vertex["model"], stream, body, vertex.groupdict())
    if not request.path.endswith("/v1/messages"):
        raise EnvelopeError(f"not a Messages endpoint: {request.path}")
    cloud = "foundry" if request.path.startswith("/anthropic/") else "anthropic"
    return MessagesRequest(cloud, body.get("model"), bool(body.get("stream")), body, {})


def checked(response: Response) -> Responder:
    """`response`, served to a well-formed Messages request that sends nothing its cloud
    refuses; anything else gets the 400 `invalid_request_error` the cloud would send."""

    def serve(request: Request) -> Response:
        try:
            sent = messages_request(request)
        except EnvelopeError as problem:
            return error(400, str(problem))
        for name in REJECTED[sent.cloud]:
            parent, _, key = name.rpartition(".")
            holder = sent.body.get(parent) if parent else sent.body
            if isinstance(holder, dict) and key in holder:
                return error(400, f"{name}: Extra inputs are not permitted")
        return response

    return serve
