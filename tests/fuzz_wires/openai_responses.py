"""Fuzzing the OpenAI Responses API: a scenario as a body and an SSE event stream, and the
harness over the real `openai` SDK."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fuzz_wires.openai import openai_fuzzed
from fuzzing import Call, Frame, Scenario, Wire, dumps, frames_of
from polycall import Mode
from polycall.testing.openai_responses import response_body, response_stream

#: Statuses a response may end with; any other `finish` is an `incomplete_details.reason`.
STATUSES = ["completed", "failed", "in_progress", "cancelled", "queued"]
FINISHES = [*STATUSES, "max_output_tokens", "content_filter"]


def _arguments(call: Call) -> str:
    return call.arguments if isinstance(call.arguments, str) else dumps(call.arguments)


def _options(scenario: Scenario) -> dict[str, Any]:
    """The builders' options for the scenario's text, call ids and status."""
    finish = scenario.finish
    options: dict[str, Any] = {
        "text": scenario.text,
        "call_ids": [call.id or "" for call in scenario.calls],  # "": no call id
    }
    if finish in STATUSES:
        options["status"] = finish
    elif finish is not None:
        options.update(status="incomplete", incomplete_reason=finish or None)
    return options


def body(scenario: Scenario) -> Any:
    calls = [(call.name, _arguments(call)) for call in scenario.calls]
    return response_body(calls, **_options(scenario)).body


def frames(scenario: Scenario, piece: int) -> list[Frame]:
    calls = [(call.name, _arguments(call)) for call in scenario.calls]
    return frames_of(response_stream(calls, piece=piece, **_options(scenario)))


def terminal(frames: Sequence[Frame]) -> int:
    ends = ("response.completed", "response.incomplete")
    return next(i for i, f in enumerate(frames) if f.event in ends)


FUZZED = openai_fuzzed(
    "responses", Wire(body, frames, terminal), Mode.RESPONSES_PARALLEL_TOOLS, finishes=FINISHES
)
RESPONSES = FUZZED.harness
