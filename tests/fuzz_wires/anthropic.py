"""Fuzzing Anthropic Messages: a scenario as a body and an SSE event stream, and the harness
over the real `anthropic` SDK."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic

import polycall
from fuzzing import Frame, Scenario, Transport, Wire, frames_of, fuzzed, sdk_httpx
from polycall.testing.anthropic import message, message_stream

FINISHES = [
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "refusal",
    "pause_turn",
    "model_context_window_exceeded",
]


def body(scenario: Scenario) -> Any:
    return message(
        scenario.json_calls(), text=scenario.text, stop_reason=scenario.finish, ids=scenario.ids()
    ).body


def frames(scenario: Scenario, piece: int) -> list[Frame]:
    return frames_of(
        message_stream(
            scenario.json_calls(),
            text=scenario.text,
            stop_reason=scenario.finish,
            piece=piece,
            ids=scenario.ids(),
        )
    )


def terminal(frames: Sequence[Frame]) -> int:
    return next(i for i, f in enumerate(frames) if f.event == "message_delta")


HTTPX = sdk_httpx("anthropic")
SDK = {"api_key": "sk-ant-fuzz", "base_url": "http://fuzz.invalid", "max_retries": 0}


def _client(transport: Transport, is_async: bool) -> Any:
    sdk = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return polycall.from_anthropic(
        sdk(**SDK, http_client=transport.client(HTTPX, is_async=is_async))
    )


FUZZED = fuzzed(
    "anthropic",
    Wire(body, frames, terminal),
    _client,
    {"model": "claude-sonnet-4-6"},
    finishes=FINISHES,
    text_arguments=False,
    error_statuses=(400, 401, 529),
    over_http=lambda url: polycall.from_anthropic(anthropic.Anthropic(**{**SDK, "base_url": url})),
)
MESSAGES = FUZZED.harness
