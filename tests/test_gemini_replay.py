"""Recorded Gemini API and Vertex AI responses, replayed through both Google SDKs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from vertexai.generative_models import GenerativeModel

import polycall
from helpers import gated_values, vertexai_at
from polycall import IncompleteOutputError, MalformedOutputError, NoToolCallsError, UnknownToolError
from polycall.testing import FakeProvider, Gate, json_response
from polycall.testing.gemini import (
    genai_client,
    generate_content,
    json_array_stream,
    replay_jsonl,
    replay_sse,
    vertex_stream,
)
from polycall.testing.server import sse_response

pytestmark = pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")

MESSAGES = [{"role": "user", "content": "go"}]


class SecretRetrievalTool(BaseModel):
    """A tool that requires a password to retrieve a secret."""

    model_config = ConfigDict(title="secret_retrieval_tool")
    password: str


class GenerateTopic(BaseModel):
    model_config = ConfigDict(title="generate_topic")


class FinalResult(BaseModel):
    model_config = ConfigDict(title="final_result")
    response: list[str]


class GetWeather(BaseModel):
    model_config = ConfigDict(title="getWeather")
    location: str


class ReadTheme(BaseModel):
    model_config = ConfigDict(title="read_theme")


class ReadScreen(BaseModel):
    model_config = ConfigDict(title="read_screen")
    id: str


class GetFile(BaseModel):
    model_config = ConfigDict(title="get_file")


SECRETS = [SecretRetrievalTool(password="mellon"), SecretRetrievalTool(password="radiance")]


@pytest.fixture
def gemini(fake: FakeProvider) -> Any:
    return polycall.from_genai(genai_client(fake), model="gemini-2.5-flash")


@pytest.fixture
def genai_vertex(fake: FakeProvider) -> Any:
    return polycall.from_genai(genai_client(fake, vertexai=True), model="gemini-3-flash-preview")


@pytest.fixture
def vertex(fake: FakeProvider) -> Iterator[Any]:
    with vertexai_at(fake):
        yield polycall.from_vertexai(GenerativeModel("gemini-3-flash-preview"))


def recorded_json(recorded: Path, name: str) -> Any:
    return json_response((recorded / name).read_bytes())


def lines(recorded: Path, name: str) -> list[str]:
    return [line for line in (recorded / name).read_text().splitlines() if line.strip()]


# --- Gemini API, whole responses ----------------------------------------------------------


@pytest.mark.parametrize("sdk", ["gemini", "vertex"])
def test_two_secret_calls(request: pytest.FixtureRequest, fake: FakeProvider, recorded: Path, sdk: str) -> None:
    client = request.getfixturevalue(sdk)
    fake.push(recorded_json(recorded, "gemini_generatecontent_json_two_secret_retrieval_calls.json"))
    calls = client.create(messages=MESSAGES, response_model=Iterable[SecretRetrievalTool])
    assert list(calls) == SECRETS
    assert [c.id for c in calls.calls] == ["call_1_0", "call_1_1"]
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (70, 40 + 76)  # thinking counts
    assert calls.text is None


def test_thought_signature_goes_back_on_the_first_call_only(
    fake: FakeProvider, gemini: Any, recorded: Path
) -> None:
    fake.push(recorded_json(recorded, "gemini_generatecontent_json_two_secret_retrieval_calls.json"))
    calls = gemini.create(messages=MESSAGES, response_model=Iterable[SecretRetrievalTool])
    fake.push(generate_content(text="The secrets are in."))
    with pytest.raises(NoToolCallsError):
        gemini.create(messages=[*MESSAGES, calls.assistant_message(), *calls.tool_results(["s1", "s2"])],
                      response_model=Iterable[SecretRetrievalTool])
    first, second = fake.last.json["contents"][1]["parts"]
    assert first["thoughtSignature"].startswith("CtICAdHtim9BiyFrJTR8wDY7")
    assert "thoughtSignature" not in second
    assert [p["functionCall"]["args"] for p in (first, second)] == [{"password": "mellon"}, {"password": "radiance"}]


def test_three_calls_without_arguments(fake: FakeProvider, gemini: Any, recorded: Path) -> None:
    fake.push(recorded_json(recorded, "gemini_generatecontent_json_three_noarg_calls.json"))
    calls = gemini.create(messages=MESSAGES, response_model=Iterable[GenerateTopic | FinalResult])
    assert list(calls) == [GenerateTopic(), GenerateTopic(), GenerateTopic()]
    assert [c.arguments for c in calls.calls] == [{}, {}, {}]
    assert len({c.id for c in calls.calls}) == 3
    declared = fake.last.json["tools"][0]["functionDeclarations"]
    assert declared[0] == {"name": "generate_topic"}  # no parameters for a tool without fields
    model_turn = calls.assistant_message()
    assert [bool(p.thought_signature) for p in model_turn.parts] == [True, False, False]


def test_max_tokens_on_a_text_answer(fake: FakeProvider, gemini: Any, recorded: Path) -> None:
    fake.push(recorded_json(recorded, "gemini_generatecontent_json_finish_max_tokens_text.json"))
    with pytest.raises(IncompleteOutputError) as caught:
        gemini.create(messages=MESSAGES, response_model=Iterable[SecretRetrievalTool])
    assert caught.value.reason == "MAX_TOKENS"


# --- Gemini API, streams --------------------------------------------------------------------


def test_sse_stream_with_both_calls_in_one_event(fake: FakeProvider, gemini: Any, recorded: Path) -> None:
    fake.push(replay_sse(recorded / "gemini_streamgeneratecontent_stream_two_secret_retrieval_calls.sse"))
    stream = gemini.create_iterable(messages=MESSAGES, response_model=Iterable[SecretRetrievalTool])
    assert list(stream) == SECRETS
    assert (stream.result.usage.input_tokens, stream.result.usage.output_tokens) == (70, 40 + 61)


async def test_async_sse_stream(fake: FakeProvider, recorded: Path) -> None:
    sdk = genai_client(fake)
    client = polycall.from_genai(sdk.aio, model="gemini-2.5-flash")
    fake.push(replay_sse(recorded / "gemini_streamgeneratecontent_stream_two_secret_retrieval_calls.sse"))
    seen = [v async for v in client.create_iterable(messages=MESSAGES, response_model=Iterable[SecretRetrievalTool])]
    await sdk.aio.aclose()
    assert seen == SECRETS


def malformed_stream(recorded: Path, sse: bool) -> Any:
    """The recorded MALFORMED_FUNCTION_CALL stream, without the placeholder the source put in
    place of the real thought signature (it is not valid base64, so no SDK would parse it)."""
    chunks = lines(recorded, "gemini_streamgeneratecontent_jsonl_malformed_function_call.jsonl")
    chunks = [re.sub(r',"thoughtSignature":"FIXTURE_PLACEHOLDER[^"]*"', "", c) for c in chunks]
    return sse_response(f"data: {c}" for c in chunks) if sse else json_array_stream(chunks)


# google-genai drops `finishMessage` on the Gemini API; the Vertex AI SDK keeps it
@pytest.mark.parametrize(("sdk", "message"), [
    ("gemini", r"\(MALFORMED_FUNCTION_CALL\)"),
    ("vertex", r"MALFORMED_FUNCTION_CALL: Malformed function call: call:default_api:exec"),
])
def test_malformed_function_call_stream_is_retried(
    request: pytest.FixtureRequest, fake: FakeProvider, recorded: Path, sdk: str, message: str
) -> None:
    client = request.getfixturevalue(sdk)
    fake.push(malformed_stream(recorded, sse=sdk == "gemini"))
    with pytest.raises(MalformedOutputError, match=message):
        list(client.create_iterable(messages=MESSAGES, response_model=Iterable[SecretRetrievalTool]))
    good = "gemini_streamgeneratecontent_stream_two_secret_retrieval_calls.sse"
    fake.push(malformed_stream(recorded, sse=sdk == "gemini"),
              replay_sse(recorded / good) if sdk == "gemini" else vertex_stream([
                  ("secret_retrieval_tool", {"password": "mellon"}),
                  ("secret_retrieval_tool", {"password": "radiance"})]))
    stream = client.create_iterable(messages=MESSAGES, response_model=Iterable[SecretRetrievalTool], max_retries=1)
    assert list(stream) == SECRETS
    assert len(fake.requests) == 3


# --- Vertex AI ------------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", ["vertex", "genai_vertex"])
def test_unexpected_tool_call_names_the_undeclared_tool(
    request: pytest.FixtureRequest, fake: FakeProvider, recorded: Path, sdk: str
) -> None:
    client = request.getfixturevalue(sdk)
    fake.push(recorded_json(recorded, "vertex_generatecontent_json_unexpected_tool_call.json"))
    with pytest.raises(UnknownToolError, match="unknown tool 'list_files'; the tools are get_file"):
        client.create(messages=MESSAGES, response_model=Iterable[GetFile])


def with_gate(chunks: list[str], after: int, gate: Gate) -> list[str | Gate]:
    return [*chunks[: after + 1], gate, *chunks[after + 1 :]]


@pytest.mark.parametrize("sdk", ["vertex", "genai_vertex"])
def test_partial_args_stream_yields_each_call_when_it_completes(
    request: pytest.FixtureRequest, fake: FakeProvider, recorded: Path, sdk: str
) -> None:
    client = request.getfixturevalue(sdk)
    chunks = lines(recorded, "vertex_streamgeneratecontent_jsonl_two_getweather_partialargs.jsonl")
    gate = Gate()
    gated = with_gate(chunks, 3, gate)  # line 4 is the empty functionCall that ends the first call
    fake.push(json_array_stream(gated) if sdk == "vertex" else sse_response(
        c if isinstance(c, Gate) else f"data: {c}" for c in gated))
    stream = client.create_iterable(messages=MESSAGES, response_model=Iterable[GetWeather])
    seen = gated_values(stream, gate)
    assert seen == [GetWeather(location="Boston"), GetWeather(location="San Francisco")]
    assert not gate.timed_out


@pytest.mark.parametrize("sdk", ["vertex", "genai_vertex"])
def test_no_argument_call_then_partial_args_calls(
    request: pytest.FixtureRequest, fake: FakeProvider, recorded: Path, sdk: str
) -> None:
    client = request.getfixturevalue(sdk)
    name = "vertex_streamgeneratecontent_jsonl_four_calls_noargs_and_partialargs.jsonl"
    fake.push(replay_jsonl(recorded / name, sse=sdk != "vertex"))
    stream = client.create_partial(messages=MESSAGES, response_model=Iterable[ReadTheme | ReadScreen])
    events = list(stream)
    finished = [e for e in events if not isinstance(e, polycall.Partial)]
    assert finished == [ReadTheme(), ReadScreen(id="A"), ReadScreen(id="B"), ReadScreen(id="C")]
    assert stream.result.text is None  # the thought summary is not the answer
    assert (stream.result.usage.input_tokens, stream.result.usage.output_tokens) == (249, 58 + 183)
    partial_ids = [e.value.id for e in events if isinstance(e, polycall.Partial) and e.name == "read_screen"]
    assert "A" in partial_ids  # the argument was seen while still streaming


def test_vertex_async_partial_args(fake: FakeProvider, recorded: Path) -> None:
    sdk = genai_client(fake, vertexai=True)
    client = polycall.from_genai(sdk.aio, model="gemini-3.1-pro-preview")
    fake.push(replay_jsonl(recorded / "vertex_streamgeneratecontent_jsonl_two_getweather_partialargs.jsonl", sse=True))

    async def run() -> list[Any]:
        async with sdk.aio:  # closes its aiohttp session on this loop
            return [v async for v in client.create_iterable(messages=MESSAGES, response_model=Iterable[GetWeather])]

    assert asyncio.run(run()) == [GetWeather(location="Boston"), GetWeather(location="San Francisco")]
