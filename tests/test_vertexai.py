"""Vertex AI SDK (`from_vertexai`) through the real SDK's REST transport against the fake."""

from __future__ import annotations

import importlib.util
import runpy
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud.aiplatform_v1beta1.types import openapi, tool
from pydantic import BaseModel
from vertexai.generative_models import (
    Content,
    GenerationResponse,
    GenerativeModel,
    Part,
    ToolConfig,
)

import polycall
from helpers import (
    agated_values,
    function_calls,
    function_responses,
    gated_each,
    sent_texts,
    two_candidates,
    vertexai_at,
)
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import (
    ConfigurationError,
    IncompleteOutputError,
    MalformedOutputError,
    Mode,
    NoToolCallsError,
    ProviderError,
    RefusalError,
    ValidationFailed,
)
from polycall.testing import FakeProvider, Gate, json_response
from polycall.testing.gemini import (
    generate_content,
    json_array_stream,
    response_body,
    stream_chunks,
    vertex_stream,
)

pytestmark = pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")

ROOT = Path(__file__).resolve().parents[1]
SEED_MODEL_NAME = "gemini-1.5-pro-preview-0409"
PATH = "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-1.5-pro"
BAD_CALLS = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
USER = [SEED_MESSAGES[1]]


@pytest.fixture
def vertex(fake: FakeProvider) -> Iterator[FakeProvider]:
    """vertexai initialised against the fake; its global settings are restored afterwards."""
    with vertexai_at(fake):
        yield fake


@pytest.fixture
def client(vertex: FakeProvider) -> Any:
    return polycall.from_vertexai(GenerativeModel("gemini-1.5-pro"))


def ask(client: Any, **kwargs: Any) -> Any:
    return client.create(**{"messages": USER, "response_model": SEED_MODEL, **kwargs})


# --- the seed's example, verbatim ----------------------------------------------------------


def test_seed_example_file_is_the_seed_verbatim() -> None:
    seed = ROOT.parent / "shared" / "seed" / "parallel_tools.md"
    if not seed.is_file():
        pytest.skip("seed page not present")
    example = (ROOT / "examples" / "seed_vertexai.py").read_text()
    assert example.count("import polycall as instructor") == 1
    original = example.replace("import polycall as instructor", "import instructor")
    indented = "\n".join("    " + line if line else line for line in original.splitlines())
    assert indented in seed.read_text()


def test_seed_example_prints_its_three_lines(vertex: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    vertex.push(generate_content(SEED_CALLS))
    runpy.run_path(str(ROOT / "examples" / "seed_vertexai.py"), run_name="__main__")
    assert capsys.readouterr().out.splitlines() == [
        "location='Toronto' units='metric'",
        "location='Dallas' units='imperial'",
        "query='who won the super bowl'",
    ]
    # the seed's own bare `vertexai.init()` kept the project, location and endpoint
    assert vertex.last.path == PATH.replace("gemini-1.5-pro", SEED_MODEL_NAME) + ":generateContent"


# --- the request -----------------------------------------------------------------------------


def test_request_offers_declarations_with_mode_any(vertex: FakeProvider, client: Any) -> None:
    vertex.push(generate_content(SEED_CALLS, usage=(12, 34)))
    calls = ask(client)
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["call_1_0", "call_1_1", "call_1_2"]
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (12, 34)
    assert isinstance(calls.raw, GenerationResponse)
    body = vertex.last.json
    assert vertex.last.path == PATH + ":generateContent"
    assert body["contents"] == [{"role": "user", "parts": [{"text": USER[0]["content"]}]}]
    (declared,) = body["tools"]
    weather = declared["functionDeclarations"][0]
    assert weather["name"] == "Weather"
    assert openapi.Type(weather["parameters"]["type"]).name == "OBJECT"  # enums go as numbers
    assert weather["parameters"]["properties"]["units"]["enum"] == ["imperial", "metric"]
    calling = body["toolConfig"]["functionCallingConfig"]
    assert tool.FunctionCallingConfig.Mode(calling["mode"]).name == "ANY"
    assert calling["allowedFunctionNames"] == ["Weather", "GoogleSearch"]
    assert "systemInstruction" not in body


def test_system_message_becomes_the_system_instruction(vertex: FakeProvider, client: Any) -> None:
    vertex.push(*(generate_content(SEED_CALLS) for _ in range(3)))
    ask(client, messages=SEED_MESSAGES)
    assert vertex.last.json["systemInstruction"]["parts"] == [{"text": "You must always use tools"}]
    ask(client)  # the bound model itself was not changed
    assert "systemInstruction" not in vertex.last.json
    own = polycall.from_vertexai(GenerativeModel("gemini-1.5-pro", system_instruction="Be brief."))
    ask(own)
    assert vertex.last.json["systemInstruction"]["parts"] == [{"text": "Be brief."}]


def test_user_tool_config_and_generation_config_are_forwarded(vertex: FakeProvider, client: Any) -> None:
    vertex.push(generate_content(SEED_CALLS))
    auto = ToolConfig(
        function_calling_config=ToolConfig.FunctionCallingConfig(mode=ToolConfig.FunctionCallingConfig.Mode.AUTO)
    )
    ask(client, tool_config=auto, generation_config={"temperature": 0.5}, labels={"team": "x"})
    body = vertex.last.json
    assert tool.FunctionCallingConfig.Mode(body["toolConfig"]["functionCallingConfig"]["mode"]).name == "AUTO"
    assert body["generationConfig"] == {"temperature": 0.5}
    assert body["labels"] == {"team": "x"}
    own = polycall.from_vertexai(GenerativeModel("gemini-1.5-pro", tool_config=auto))
    vertex.push(generate_content(SEED_CALLS))
    ask(own)  # the model's own tool_config counts as the user's
    assert tool.FunctionCallingConfig.Mode(vertex.last.json["toolConfig"]["functionCallingConfig"]["mode"]).name == "AUTO"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "gemini-2.0"}, "take no model="),
        ({"tools": []}, "tools come from response_model"),
        ({"temperature": 0.1}, r"unexpected argument\(s\) 'temperature'"),
        ({"messages": [{"role": "system", "content": "x"}]}, "no user message"),
        ({"messages": ["hi"]}, r"messages\[0\]: expected a dict or vertexai.generative_models.Content, got builtins.str"),
        ({"messages": [{"role": "user", "parts": [{"nope": 1}]}]}, r"messages\[0\] is not a valid Vertex AI Content"),
        ({"messages": SEED_MESSAGES, "system_instruction": "x"}, "system prompt once"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    vertex: FakeProvider, client: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ask(client, **kwargs)
    assert vertex.requests == []


def test_native_contents_are_accepted(vertex: FakeProvider, client: Any) -> None:
    messages = [
        Content(role="user", parts=[Part.from_text("weather?")]),
        {"role": "model", "parts": [{"text": "Where?"}]},
        {"role": "user", "content": "Toronto"},
    ]
    assert sent_texts(vertex, client, messages) == [
        ("user", "weather?"), ("model", "Where?"), ("user", "Toronto"),
    ]


def test_a_content_list_gives_a_part_per_item(vertex: FakeProvider, client: Any) -> None:
    """Strings, OpenAI text parts and the SDK's own `Part`s, as instructor's Vertex client
    takes them: each its own part, an image kept as it is."""
    content = ["What is in", {"type": "text", "text": "this picture?"}, Part.from_text("Be brief."),
               Part.from_data(b"\x89PNG", mime_type="image/png")]
    vertex.push(generate_content(SEED_CALLS))
    client.create(messages=[{"role": "user", "content": content}], response_model=SEED_MODEL)
    (sent,) = vertex.last.json["contents"]
    assert sent["parts"] == [
        {"text": "What is in"}, {"text": "this picture?"}, {"text": "Be brief."},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}},
    ]


def test_one_content_is_a_conversation_of_one(vertex: FakeProvider, client: Any) -> None:
    """`contents=<a Content>`, as `GenerativeModel.generate_content` takes it."""
    content = Content(role="user", parts=[Part.from_text("weather?")])
    assert sent_texts(vertex, client, content) == [("user", "weather?")]


# --- continuing the conversation -------------------------------------------------------------


def test_follow_up_is_accepted_by_the_sdk_without_ids(vertex: FakeProvider, client: Any) -> None:
    vertex.push(generate_content(SEED_CALLS, thought_signature="c2ln"), generate_content(text="Done."))
    calls = ask(client)
    assistant = calls.assistant_message()
    (results,) = calls.tool_results(["18C", {"f": 75}, "Chiefs"])
    assert isinstance(assistant, Content) and assistant.role == "model"
    assert isinstance(results, Content) and results.role == "user"
    with pytest.raises(NoToolCallsError, match="Done"):
        ask(client, messages=[*USER, assistant, results])
    model_turn, answers = vertex.last.json["contents"][1:]
    assert function_calls(model_turn) == [{"name": name, "args": args} for name, args in SEED_CALLS]
    assert model_turn["parts"][0]["thoughtSignature"] == "c2ln"
    assert function_responses(answers) == [
        {"name": "Weather", "response": {"output": "18C"}},
        {"name": "Weather", "response": {"output": '{"f": 75}'}},
        {"name": "GoogleSearch", "response": {"output": "Chiefs"}},
    ]


class Order(BaseModel):
    item: str
    quantity: int
    sizes: list[float] = []


def test_numbers_keep_their_json_form(vertex: FakeProvider, client: Any) -> None:
    vertex.push(generate_content([("Order", {"item": "tea", "quantity": 3, "sizes": [1, 2.5]})]))
    calls = client.create(messages=USER, response_model=Iterable[Order])
    assert calls.calls[0].arguments == {"item": "tea", "quantity": 3, "sizes": [1, 2.5]}
    assert type(calls.calls[0].arguments["quantity"]) is int  # not protobuf's 3.0
    assert calls == [Order(item="tea", quantity=3, sizes=[1.0, 2.5])]


# --- failures and retries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error", "text"),
    [
        (response_body(SEED_CALLS[:1], finish_reason="MAX_TOKENS"), IncompleteOutputError, "MAX_TOKENS"),
        (response_body(finish_reason="SAFETY", finish_message="unsafe"), RefusalError, "SAFETY: unsafe"),
        (response_body(block_reason="SAFETY"), RefusalError, "prompt blocked: SAFETY"),
        (response_body(finish_reason="MALFORMED_FUNCTION_CALL"), MalformedOutputError, "MALFORMED_FUNCTION_CALL"),
        (response_body(text="No tools today."), NoToolCallsError, "No tools today"),
        (response_body(BAD_CALLS), ValidationFailed, r"call_1_1 \(Weather\): units"),
    ],
)
def test_failures(vertex: FakeProvider, client: Any, body: dict[str, Any], error: type, text: str) -> None:
    vertex.push(json_response(body))
    with pytest.raises(error, match=text):
        ask(client)


def test_http_error_is_a_provider_error(vertex: FakeProvider, client: Any) -> None:
    vertex.push(json_response({"error": {"code": 400, "message": "bad request", "status": "INVALID_ARGUMENT"}}, 400))
    with pytest.raises(ProviderError, match="bad request"):
        ask(client)


def test_retry_re_asks_only_the_failed_call(vertex: FakeProvider, client: Any) -> None:
    vertex.push(generate_content(BAD_CALLS, usage=(10, 20)), generate_content([SEED_CALLS[1]], usage=(30, 5)))
    calls = ask(client, max_retries=1)
    assert len(vertex.requests) == 2
    assert list(calls) == SEED_VALUES
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (40, 25)
    model_turn, results = vertex.last.json["contents"][1:]
    assert model_turn["role"] == "model" and results["role"] == "user"
    assert [c["args"] for c in function_calls(model_turn)] == [args for _, args in BAD_CALLS]
    answers = [r["response"] for r in function_responses(results)]
    assert answers[0] == answers[2] == {"output": "ok"}
    assert list(answers[1]) == ["error"] and "kelvin" in answers[1]["error"]


def test_malformed_function_call_then_success(vertex: FakeProvider, client: Any) -> None:
    malformed = response_body(finish_reason="MALFORMED_FUNCTION_CALL")
    del malformed["candidates"][0]["content"]
    vertex.push(json_response(malformed), generate_content(SEED_CALLS))
    assert list(ask(client, max_retries=1)) == SEED_VALUES
    assert len(vertex.requests) == 2


# --- streaming -----------------------------------------------------------------------------


@pytest.mark.parametrize("streamed_args", [False, True])
def test_stream_yields_each_call_before_the_stream_ends(
    vertex: FakeProvider, client: Any, streamed_args: bool
) -> None:
    gates = {0: Gate(), 1: Gate()}
    vertex.push(vertex_stream(SEED_CALLS, gates=gates, streamed_args=streamed_args, usage=(3, 4)))
    stream = client.create_iterable(messages=USER, response_model=SEED_MODEL)
    assert gated_each(stream, gates) == SEED_VALUES
    assert not any(g.timed_out for g in gates.values())
    assert vertex.last.path == PATH + ":streamGenerateContent"
    assert (stream.result.usage.input_tokens, stream.result.usage.output_tokens) == (3, 4)


@pytest.mark.parametrize(
    ("reason", "error"), [("MAX_TOKENS", IncompleteOutputError), ("SAFETY", RefusalError)]
)
def test_stream_errors_match_create(vertex: FakeProvider, client: Any, reason: str, error: type) -> None:
    vertex.push(vertex_stream(SEED_CALLS[:1], finish_reason=reason))
    with pytest.raises(error):
        list(client.create_iterable(messages=USER, response_model=SEED_MODEL))


def test_stream_retry(vertex: FakeProvider, client: Any) -> None:
    vertex.push(vertex_stream(BAD_CALLS, streamed_args=True), vertex_stream([SEED_CALLS[1]]))
    stream = client.create_iterable(messages=USER, response_model=SEED_MODEL, max_retries=1)
    assert sorted(map(repr, stream)) == sorted(map(repr, SEED_VALUES))
    assert list(stream.result) == SEED_VALUES and len(vertex.requests) == 2


def test_from_vertexai_checks_client_and_mode(vertex: FakeProvider) -> None:
    with pytest.raises(ConfigurationError, match="from_vertexai"):
        polycall.from_vertexai(object())
    with pytest.raises(ConfigurationError, match="does not support mode"):
        polycall.from_vertexai(GenerativeModel("gemini-1.5-pro"), mode=Mode.GENAI_PARALLEL_TOOLS)
    assert polycall.from_vertexai(GenerativeModel("gemini-1.5-pro")).mode is Mode.VERTEXAI_PARALLEL_TOOLS


# --- async (the SDK's async REST transport needs aiohttp) -----------------------------------

needs_aiohttp = pytest.mark.skipif(
    importlib.util.find_spec("aiohttp") is None, reason="async REST in the Vertex AI SDK needs aiohttp"
)


@needs_aiohttp
async def test_async_create_stream_and_retry(vertex: FakeProvider) -> None:
    model = GenerativeModel("gemini-1.5-pro")
    aclient = polycall.from_vertexai(model, use_async=True)
    assert isinstance(aclient, polycall.AsyncClient)
    assert isinstance(polycall.from_vertexai(model, _async=True), polycall.AsyncClient)  # instructor's
    vertex.push(generate_content(SEED_CALLS), generate_content(BAD_CALLS), generate_content([SEED_CALLS[1]]))
    assert list(await ask(aclient, messages=SEED_MESSAGES)) == SEED_VALUES
    assert vertex.last.json["systemInstruction"]["parts"] == [{"text": "You must always use tools"}]
    assert list(await ask(aclient, max_retries=1)) == SEED_VALUES
    gate = Gate()
    vertex.push(vertex_stream(SEED_CALLS, gates={0: gate}))
    seen = await agated_values(aclient.create_iterable(messages=USER, response_model=SEED_MODEL), gate)
    assert seen == SEED_VALUES and not gate.timed_out
    assert Weather in {type(v) for v in seen}
    await aclient.aclose()  # closes the model's aiohttp session


def test_stopping_a_stream_early_closes_it(vertex: FakeProvider, client: Any) -> None:
    gate = Gate()
    vertex.push(vertex_stream(SEED_CALLS, gates={0: gate}), generate_content(SEED_CALLS))
    with client.create_iterable(messages=USER, response_model=SEED_MODEL) as stream:
        assert next(stream) == SEED_VALUES[0]
    gate.open()
    with pytest.raises(StopIteration):
        next(stream)
    assert list(ask(client)) == SEED_VALUES


@pytest.fixture
def cancelled(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The async response iterators whose `cancel()` was called (it closes the response)."""
    from google.api_core.rest_streaming_async import AsyncResponseIterator

    seen: list[Any] = []
    cancel = AsyncResponseIterator.cancel

    async def spy(self: AsyncResponseIterator) -> None:
        seen.append(self)
        await cancel(self)

    monkeypatch.setattr(AsyncResponseIterator, "cancel", spy)
    return seen


@needs_aiohttp
async def test_stopping_an_async_stream_early_closes_its_http_response(
    vertex: FakeProvider, cancelled: list[Any]
) -> None:
    """The SDK's async generator never closes the response it reads; polycall does."""
    aclient = polycall.from_vertexai(GenerativeModel("gemini-1.5-pro"), use_async=True)
    gate = Gate()
    vertex.push(vertex_stream(SEED_CALLS, gates={0: gate}))
    async with aclient.create_iterable(messages=USER, response_model=SEED_MODEL) as stream:
        assert await stream.__anext__() == SEED_VALUES[0]
    gate.open()
    assert len(cancelled) == 1
    await aclient.aclose()


@needs_aiohttp
async def test_leaving_a_tool_loop_with_a_read_pending_closes_its_http_response(
    vertex: FakeProvider, cancelled: list[Any]
) -> None:
    """The pending read is cancelled first, which ends the SDK's generator: its response is
    found before the stream is read, not at the end."""
    aclient = polycall.from_vertexai(GenerativeModel("gemini-1.5-pro"), use_async=True)
    gate = Gate()
    vertex.push(vertex_stream(SEED_CALLS, gates={0: gate}))
    handlers = {Weather: lambda w: "18C", GoogleSearch: lambda s: "The Chiefs"}
    events = aclient.iter_tools(messages=USER, response_model=SEED_MODEL, handlers=handlers)
    while not isinstance(await anext(events), polycall.ToolResult):  # the server is silent
        pass
    await events.aclose()
    gate.open()
    assert len(cancelled) == 1
    await aclient.aclose()


def test_a_cut_stream_with_prompt_feedback_that_blocks_nothing_is_a_cut_stream(
    vertex: FakeProvider, client: Any
) -> None:
    """Only a block reason ends a stream; safety ratings alone are no finish."""
    ratings = {"safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]}
    *chunks, _ = stream_chunks(SEED_CALLS)  # the last, with the finish reason, never comes
    vertex.push(json_array_stream([{**chunks[0], "promptFeedback": ratings}, *chunks[1:]]))
    with pytest.raises(ProviderError, match="the stream ended before a finish reason"):
        list(client.create_iterable(messages=USER, response_model=SEED_MODEL))


def test_a_stream_of_several_candidates_reads_the_first_as_create_does(vertex: FakeProvider, client: Any) -> None:
    weather, search = ({"functionCall": {"name": n, "args": a}} for n, a in (SEED_CALLS[0], SEED_CALLS[2]))
    whole, streamed = two_candidates(weather, search)
    vertex.push(json_response(whole), json_array_stream(streamed))
    generation_config = {"candidate_count": 2}
    calls = ask(client, generation_config=generation_config)
    stream = client.create_iterable(messages=USER, response_model=SEED_MODEL, generation_config=generation_config)
    assert list(stream) == list(calls) == [SEED_VALUES[0]]
    assert stream.result == calls


def test_the_preview_model_is_refused_by_its_full_name(vertex: FakeProvider) -> None:
    """Two classes named GenerativeModel: the message tells them apart."""
    from vertexai.preview.generative_models import GenerativeModel as PreviewModel

    with pytest.raises(ConfigurationError) as caught:
        polycall.from_vertexai(PreviewModel("gemini-1.5-pro"))
    assert str(caught.value) == (
        "from_vertexai() takes vertexai.generative_models.GenerativeModel, "
        "got vertexai.preview.generative_models.GenerativeModel"
    )
