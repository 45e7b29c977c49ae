"""Fuzzing the OpenAI Responses API: a scenario as a body and an SSE event stream, and the
harness over the real `openai` SDK, for the property tests of test_fuzz.py; and what the
fuzzing found, kept as regression tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai
import pytest

import polycall
from fuzzing import (
    Call,
    Frame,
    Fuzzed,
    Harness,
    Scenario,
    Transport,
    Wire,
    dumps,
    frames_of,
    hostile_scenarios,
    sdk_httpx,
    valid_scenarios,
)
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


TRANSPORT = Transport()
HTTPX = sdk_httpx("openai")
SDK = {"api_key": "sk-fuzz", "base_url": "http://fuzz.invalid/v1", "max_retries": 0}
RESPONSES = Harness(
    Wire(body, frames, terminal),
    TRANSPORT,
    polycall.from_openai(
        openai.OpenAI(**SDK, http_client=TRANSPORT.client(HTTPX)), Mode.RESPONSES_PARALLEL_TOOLS
    ),
    polycall.from_openai(
        openai.AsyncOpenAI(**SDK, http_client=TRANSPORT.client(HTTPX, is_async=True)),
        Mode.RESPONSES_PARALLEL_TOOLS,
    ),
    {"model": "gpt-4o-mini"},
)
FUZZED = Fuzzed(
    "responses",
    RESPONSES,
    valid_scenarios(),
    hostile_scenarios(text_arguments=True, finishes=FINISHES),
    error_statuses=(400, 401, 500),
    over_http=lambda url: polycall.from_openai(
        openai.OpenAI(**{**SDK, "base_url": url + "/v1"}), Mode.RESPONSES_PARALLEL_TOOLS
    ),
    http_kwargs=RESPONSES.kwargs,
)


# What the fuzzing found, in its smallest form: fixed ones kept as regression tests, open
# ones marked xfail (and their crash listed in fuzzing.KNOWN_CRASHES) until fixed.


def test_usage_not_a_number_is_no_crash() -> None:
    data = body(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)))
    data["usage"]["input_tokens"] = "many"
    RESPONSES.run_body(data, known=())


@pytest.mark.parametrize("where", ["output", "content", "text", "delta"])
def test_fields_of_the_wrong_type_are_no_crash(where: str) -> None:
    scenario = Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),), text="Searching.")
    if where == "delta":
        stream = RESPONSES.frames(scenario, 4)
        at = next(i for i, f in enumerate(stream) if "arguments.delta" in (f.event or ""))
        wrong = Frame({**stream[at].data, "delta": True}, stream[at].event)
        RESPONSES.run_frames([*stream[:at], wrong, *stream[at + 1 :]], known=())
        return
    data = body(scenario)
    if where == "output":
        data["output"] = True
    else:
        message = next(item for item in data["output"] if item["type"] == "message")
        if where == "content":
            message["content"] = True
        else:
            message["content"][0]["text"] = True
    RESPONSES.run_body(data, known=())


def test_incomplete_reason_not_text_is_no_crash() -> None:
    data = body(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)))
    data.update(status="incomplete", incomplete_details={"reason": ["max_output_tokens"]})
    RESPONSES.run_body(data, known=())
