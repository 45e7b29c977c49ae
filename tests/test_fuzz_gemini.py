"""Fuzzing Gemini: a scenario as a `generateContent` body and stream (whole calls, or Vertex's
streamed argument pieces), and the harnesses over the real `google-genai` SDK, for the
property tests of test_fuzz.py; the Vertex AI SDK, which shares the parsing
(`gemini_common`), fuzzed over HTTP to the fake; and what the fuzzing found, kept as
regression tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from google import genai
from google.genai.types import HttpOptions
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import polycall
from fuzzing import (
    Call,
    Frame,
    Fuzzed,
    Harness,
    Scenario,
    Transport,
    Wire,
    budget,
    dumps,
    frames_of,
    hostile_scenarios,
    mutated_frames,
    mutated_tree,
    pieces,
    run,
    valid_scenarios,
)
from helpers import vertexai_at
from polycall.testing import FakeProvider, Response
from polycall.testing.gemini import (
    gemini_stream,
    genai_client,
    json_array_stream,
    response_body,
    stream_chunks,
)

#: google-genai warns about each finish reason it has no name for; the fuzzing sends many.
pytestmark = pytest.mark.filterwarnings("ignore:.* is not a valid FinishReason:UserWarning")

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


def _calls(scenario: Scenario) -> list[tuple[str, Any]]:
    return [(call.name, call.arguments) for call in scenario.calls]


def body(scenario: Scenario) -> Any:
    return response_body(
        _calls(scenario), text=scenario.text, finish_reason=scenario.finish or "STOP"
    )


def frames(scenario: Scenario, piece: int, *, streamed_args: bool = False) -> list[Frame]:
    """The stream: whole calls a chunk each, or (`streamed_args`) Vertex's argument pieces."""
    return frames_of(
        gemini_stream(
            _calls(scenario),
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


def _genai(transport: Transport) -> genai.Client:
    options = HttpOptions(
        base_url="http://fuzz.invalid",
        httpx_client=transport.client(httpx),
        httpx_async_client=transport.client(httpx, is_async=True),
    )
    return genai.Client(api_key="AIza-fuzz", http_options=options)


TRANSPORT = Transport()
MODEL = {"model": "gemini-2.5-flash"}
GEMINI = Harness(
    Wire(body, frames, terminal),
    TRANSPORT,
    polycall.from_genai(_genai(TRANSPORT)),
    polycall.from_genai(_genai(TRANSPORT), use_async=True),
    MODEL,
)
PARTIAL_ARGS = Harness(
    Wire(body, streamed_args_frames, terminal), TRANSPORT, GEMINI.sync, GEMINI.async_, MODEL
)
HOSTILE = hostile_scenarios(
    text_arguments=False, objects=True, finishes=FINISHES, ids=False
).filter(
    lambda scenario: all(call.name or call.arguments for call in scenario.calls)
)  # a part `functionCall: {}` is a known disagreement: see test_an_empty_function_call_part
VALID = valid_scenarios(ids=False)
FUZZED = Fuzzed(
    "gemini",
    GEMINI,
    VALID,
    HOSTILE,
    error_statuses=(400, 403, 500),
    over_http=lambda url: polycall.from_genai(genai_client(url), model=MODEL["model"]),
    streamed_args=PARTIAL_ARGS,
    cut_phases=(Phase.explicit, Phase.generate),  # no shrinking while it fails
)


# Vertex AI SDK: its own transport (requests) and protobuf types, the same Gemini parsing.


@pytest.fixture
def vertex(fake: FakeProvider) -> Iterator[Any]:
    """A `from_vertexai` client on the fake (skipped without the vertexai extra)."""
    with vertexai_at(fake):
        from vertexai.generative_models import GenerativeModel

        yield polycall.from_vertexai(GenerativeModel("gemini-2.5-flash"))


@pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")
@settings(budget(0.1), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), st.booleans(), pieces, st.booleans())
def test_vertex_ai_gives_calls_or_a_polycall_error(
    fake: FakeProvider,
    vertex: Any,
    data: st.DataObject,
    mutate: bool,
    piece: int,
    streamed_args: bool,
) -> None:
    """Valid responses give exactly their calls; mutated ones, calls or a PolycallError."""
    scenario = data.draw(VALID if not mutate else VALID | HOSTILE)
    whole = body(scenario)
    chunks = stream_chunks(
        _calls(scenario),
        text=scenario.text,
        finish_reason=scenario.finish or "STOP",
        piece=piece,
        streamed_args=streamed_args,
    )
    if mutate:
        whole = data.draw(mutated_tree(whole))
        chunks = [frame.data for frame in data.draw(mutated_frames([Frame(c) for c in chunks]))]
    fake.push(Response(body=dumps(whole)), json_array_stream(dumps(c) for c in chunks))
    outcomes = [run(vertex, stream=streamed) for streamed in (False, True)]
    if not mutate:
        assert [o.calls() for o in outcomes] == [scenario.expected()] * 2


# What the fuzzing found (see also fuzzing.KNOWN_CRASHES).


def test_an_empty_function_call_part_reads_the_same_whole_and_streamed() -> None:
    GEMINI.check_agree(Scenario((Call("", {}),)), piece=10, max_retries=0)


def test_a_stream_cut_between_two_calls_is_an_error() -> None:
    scenario = Scenario(
        (
            Call("Weather", {"location": "A", "units": "metric"}),
            Call("GoogleSearch", {"query": "q"}),
        )
    )
    stream = GEMINI.frames(scenario, 100)
    outcome = GEMINI.run_frames(stream[:1])  # the connection drops after the first call
    assert isinstance(outcome.error, polycall.ProviderError), outcome.calls()
