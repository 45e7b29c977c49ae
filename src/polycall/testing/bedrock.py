"""AWS Bedrock wire format for the fake provider: the Converse API (`/model/{id}/converse`
JSON, `/model/{id}/converse-stream` AWS event stream) and Claude's InvokeModel envelope.

Point boto3 at the fake with `bedrock_client(fake)`: `boto3.client("bedrock-runtime",
endpoint_url=fake.url, region_name=..., aws_access_key_id=..., aws_secret_access_key=...)`;
`aio_bedrock_client(fake)` is the same for aiobotocore.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from .aws import error, event, event_stream, exception
from .server import FakeProvider, Gate, Response, check_script, json_response, text_pieces

__all__ = [
    "aio_bedrock_client",
    "bedrock_client",
    "converse",
    "converse_stream",
    "error",
    "events",
    "exception",
    "invoke_stream",
    "tool_delta",
    "tool_start",
]

Call = tuple[str, Any]  # (tool name, input as a dict or JSON text)
Event = tuple[str, dict[str, Any]]  # (event type, body), e.g. ("contentBlockStop", {...})


def bedrock_client(fake: FakeProvider, **options: Any) -> Any:
    """`boto3.client("bedrock-runtime")` talking to `fake` with dummy credentials, never
    retrying by itself (`options` go to `boto3.client`)."""
    import boto3

    return boto3.client("bedrock-runtime", **_settings(fake, options))


def aio_bedrock_client(fake: FakeProvider, **options: Any) -> Any:
    """The aiobotocore `bedrock-runtime` client for `fake`, to enter with `async with`."""
    from aiobotocore.session import get_session

    return get_session().create_client("bedrock-runtime", **_settings(fake, options))


def _settings(fake: FakeProvider, options: dict[str, Any]) -> dict[str, Any]:
    from botocore.config import Config

    return {
        "endpoint_url": fake.url,
        "region_name": "us-east-1",
        "aws_access_key_id": "AKIDTEST",
        "aws_secret_access_key": "test-secret",
        "config": Config(retries={"total_max_attempts": 1}),
        **options,
    }


def _ids(calls: Sequence[Call], ids: Sequence[str] | None) -> list[str]:
    return list(ids) if ids is not None else [f"tooluse_fake_{i}" for i in range(len(calls))]


def _usage(usage: tuple[int, int], cache: tuple[int, int] | None) -> dict[str, int]:
    body = {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)}
    if cache is not None:
        body["cacheReadInputTokens"], body["cacheWriteInputTokens"] = cache
    return body


def converse(
    calls: Sequence[Call] = (),
    *,
    text: str | None = None,
    stop_reason: str | None = None,
    usage: tuple[int, int] = (10, 20),
    cache: tuple[int, int] | None = None,
    ids: Sequence[str] | None = None,
    reasoning: tuple[str, str] | None = None,
) -> Response:
    """A whole Converse response: an optional reasoning block (`(text, signature)`), an
    optional text block, then one `toolUse` block per call; `cache` is (read, write) tokens."""
    check_script(calls, ids)
    content: list[dict[str, Any]] = []
    if reasoning:
        content.append(
            {"reasoningContent": {"reasoningText": {"text": reasoning[0], "signature": reasoning[1]}}}
        )
    if text:
        content.append({"text": text})
    content += [
        {"toolUse": {"toolUseId": call_id, "name": name,
                     "input": json.loads(args) if isinstance(args, str) else args}}
        for call_id, (name, args) in zip(_ids(calls, ids), calls)
    ]
    return json_response(
        {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason or ("tool_use" if calls else "end_turn"),
            "usage": _usage(usage, cache),
            "metrics": {"latencyMs": 1},
        }
    )


def converse_stream(
    calls: Sequence[Call] = (),
    *,
    text: str | Sequence[str | Gate] | None = None,
    stop_reason: str | None = None,
    piece: int = 8,
    usage: tuple[int, int] = (10, 20),
    cache: tuple[int, int] | None = None,
    ids: Sequence[str] | None = None,
    gates: dict[int, Gate] | None = None,
    reasoning: tuple[str, str] | None = None,
) -> Response:
    """A streamed Converse response: `messageStart`; an optional reasoning block (text, then
    signature deltas); an optional text block (a delta per piece of a sequence, a `Gate` in it
    holding the stream); per call `contentBlockStart` (`toolUse` id and
    name), its input in `piece`-character `contentBlockDelta`s, `contentBlockStop`;
    `messageStop` with the stop reason; `metadata` with the usage.

    A call's input may be JSON text, even cut-off text for a `max_tokens` stop.
    `gates[k]` holds the stream right after call `k`'s `contentBlockStop`.
    """
    check_script(calls, ids, gates)
    gates = gates or {}
    items: list[Event | Gate] = [("messageStart", {"role": "assistant"})]
    index = 0
    if reasoning:
        items += [
            _delta(index, {"reasoningContent": {"text": reasoning[0]}}),
            _delta(index, {"reasoningContent": {"signature": reasoning[1]}}),
            _stop(index),
        ]
        index += 1
    if text:
        for text_piece in text_pieces(text)[1]:
            items.append(
                text_piece if isinstance(text_piece, Gate) else _delta(index, {"text": text_piece})
            )
        items.append(_stop(index))
        index += 1
    for k, (call_id, (name, args)) in enumerate(zip(_ids(calls, ids), calls)):
        source = args if isinstance(args, str) else json.dumps(args)
        items.append(tool_start(index, call_id, name))
        items += [tool_delta(index, source[i : i + piece]) for i in range(0, len(source), piece)]
        items.append(_stop(index))
        if k in gates:
            items.append(gates[k])
        index += 1
    items.append(("messageStop", {"stopReason": stop_reason or ("tool_use" if calls else "end_turn")}))
    items.append(("metadata", {"usage": _usage(usage, cache), "metrics": {"latencyMs": 1}}))
    return events(items)


def tool_start(index: int, call_id: str, name: str) -> Event:
    """`contentBlockStart` of a `toolUse` block."""
    start = {"toolUse": {"toolUseId": call_id, "name": name}}
    return "contentBlockStart", {"start": start, "contentBlockIndex": index}


def tool_delta(index: int, fragment: str) -> Event:
    """`contentBlockDelta` with a fragment of a call's input JSON."""
    return _delta(index, {"toolUse": {"input": fragment}})


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return "contentBlockDelta", {"delta": delta, "contentBlockIndex": index}


def _stop(index: int) -> Event:
    return "contentBlockStop", {"contentBlockIndex": index}


def events(items: Sequence[Event | bytes | Gate]) -> Response:
    """A Converse stream of `(event type, body)` pairs, ready-made messages (e.g.
    `exception(...)`) and `Gate`s, in order."""
    return event_stream(
        item if isinstance(item, (bytes, Gate)) else event(item[0], item[1]) for item in items
    )


def invoke_stream(sse: Response) -> Response:
    """An Anthropic SSE stream (`testing.anthropic.message_stream(...)`) in Bedrock's
    `invoke-with-response-stream` envelope: one `chunk` event per SSE event, its payload
    `{"bytes": base64(the event's JSON)}`; `Gate`s stay where they are.

    A whole message needs no envelope: `testing.anthropic.message(...)` is the `invoke` body.
    """
    assert sse.chunks is not None, "invoke_stream() takes a streamed response"
    framed: list[bytes | Gate] = []
    for chunk in sse.chunks:
        if isinstance(chunk, Gate):
            framed.append(chunk)
            continue
        for line in chunk.decode().splitlines():
            if line.startswith("data: "):
                data = base64.b64encode(line[len("data: "):].encode()).decode()
                framed.append(event("chunk", {"bytes": data}))
    return event_stream(framed)
