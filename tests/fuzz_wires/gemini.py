"""Fuzzing Gemini: a scenario as a `generateContent` body and stream (whole calls, or Vertex's
streamed argument pieces), and the harnesses over the real `google-genai` SDK; the Vertex AI
SDK, which shares the parsing (`gemini_common`), is fuzzed over HTTP to the fake in
test_fuzz_regressions.py with these scenarios."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from google import genai
from google.genai.types import HttpOptions
from hypothesis import Phase

import polycall
from fuzzing import (
    Frame,
    Scenario,
    Transport,
    Wire,
    frames_of,
    fuzzed,
    hostile_scenarios,
    valid_scenarios,
)
from polycall.testing.gemini import gemini_stream, genai_client, response_body

FINISHES = [
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "OTHER",
    "FINISH_REASON_UNSPECIFIED",
]


def calls(scenario: Scenario) -> list[tuple[str, Any]]:
    return [(call.name, call.arguments) for call in scenario.calls]


def body(scenario: Scenario) -> Any:
    return response_body(
        calls(scenario), text=scenario.text, finish_reason=scenario.finish or "STOP"
    )


def frames(scenario: Scenario, piece: int, *, streamed_args: bool = False) -> list[Frame]:
    """The stream: whole calls a chunk each, or (`streamed_args`) Vertex's argument pieces."""
    return frames_of(
        gemini_stream(
            calls(scenario),
            text=scenario.text,
            finish_reason=scenario.finish or "STOP",
            piece=piece,
            streamed_args=streamed_args,
        )
    )


def streamed_args_frames(scenario: Scenario, piece: int) -> list[Frame]:
    return frames(scenario, piece, streamed_args=True)


def terminal(frames: Sequence[Frame]) -> int:
    return next(
        i
        for i, f in enumerate(frames)
        if isinstance(f.data, dict) and f.data["candidates"][0].get("finishReason")
    )


def _client(transport: Transport, is_async: bool) -> Any:
    options = HttpOptions(
        base_url="http://fuzz.invalid",
        httpx_client=transport.client(httpx),
        httpx_async_client=transport.client(httpx, is_async=True),
    )
    return polycall.from_genai(
        genai.Client(api_key="AIza-fuzz", http_options=options), use_async=is_async
    )


MODEL = {"model": "gemini-2.5-flash"}
HOSTILE = hostile_scenarios(
    text_arguments=False, objects=True, finishes=FINISHES, ids=False
).filter(
    lambda scenario: all(call.name or call.arguments for call in scenario.calls)
)  # a part `functionCall: {}` is a known disagreement: see test_an_empty_function_call_part
VALID = valid_scenarios(ids=False)
FUZZED = fuzzed(
    "gemini",
    Wire(body, frames, terminal),
    _client,
    MODEL,
    finishes=FINISHES,
    text_arguments=False,
    valid=VALID,
    hostile=HOSTILE,
    error_statuses=(400, 403, 500),
    over_http=lambda url: polycall.from_genai(genai_client(url), model=MODEL["model"]),
    http_kwargs={},
    streamed_args=Wire(body, streamed_args_frames, terminal),
    cut_phases=(Phase.explicit, Phase.generate),  # no shrinking while it fails
)
GEMINI = FUZZED.harness
