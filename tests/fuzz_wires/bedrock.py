"""Fuzzing AWS Bedrock Converse: a scenario as a `converse` body and a `converse-stream` AWS
event stream, and the harness over the real botocore client, whose HTTP sending is replaced
in-process through botocore's own `before-send` event (botocore is not built on httpx); the
async client runs that botocore client in worker threads."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer

import polycall
from fuzzing import Encoding, Frame, Scenario, Transport, Wire, fuzzed
from polycall.testing.aws import CONTENT_TYPE, message
from polycall.testing.bedrock import converse, converse_stream

FINISHES = [
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
]
MODEL = "anthropic.claude-sonnet-4-6-v1:0"


def body(scenario: Scenario) -> Any:
    return converse(
        scenario.json_calls(), text=scenario.text, stop_reason=scenario.finish, ids=scenario.ids()
    ).body


def frames(scenario: Scenario, piece: int) -> list[Frame]:
    """The stream's events, each a frame named by its `:event-type`."""
    stream = converse_stream(
        scenario.json_calls(),
        text=scenario.text,
        stop_reason=scenario.finish,
        piece=piece,
        ids=scenario.ids(),
    )
    decoder = EventStreamBuffer()
    for chunk in stream.chunks or []:
        if isinstance(chunk, bytes):
            decoder.add_data(chunk)
    return [
        Frame(json.loads(event.payload), event.headers[":event-type"]) for event in decoder
    ]


def stream_bytes(frames: Sequence[Frame], encoding: Encoding) -> list[bytes]:
    """One event-stream message a frame; its payload's JSON written in `encoding`'s style."""
    return [
        message(
            {
                ":event-type": frame.event or "",
                ":content-type": "application/json",
                ":message-type": "event",
            },
            encoding.payload(frame).encode("utf-8", "surrogatepass"),
        )
        for frame in frames
    ]


def terminal(frames: Sequence[Frame]) -> int:
    return next(i for i, f in enumerate(frames) if f.event == "messageStop")


class _Body:
    """The raw body botocore reads a response from (`stream()`), from the scripted chunks."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = chunks

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        pass


def _sdk(endpoint_url: str) -> Any:
    return botocore.session.get_session().create_client(
        "bedrock-runtime",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDFUZZ",
        aws_secret_access_key="fuzz-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _client(transport: Transport, is_async: bool) -> Any:
    def send(request: Any, **_: Any) -> AWSResponse:
        transport.requests += 1
        script = transport.script
        headers = {"content-type": script.content_type}
        return AWSResponse(request.url, script.status, headers, _Body(script.chunks))

    sdk = _sdk("http://fuzz.invalid")
    sdk.meta.events.register("before-send.bedrock-runtime", send)
    return polycall.from_bedrock(sdk, model=MODEL, use_async=is_async)


FUZZED = fuzzed(
    "bedrock",
    Wire(body, frames, terminal, stream_bytes=stream_bytes, stream_type=CONTENT_TYPE),
    _client,
    {},
    finishes=FINISHES,
    text_arguments=False,
    error_statuses=(400, 429, 500),
    over_http=lambda url: polycall.from_bedrock(_sdk(url), model=MODEL),
)
CONVERSE = FUZZED.harness
