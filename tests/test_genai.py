"""google-genai (`from_genai`) through the real SDK against the fake: Gemini API and Vertex AI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from google.genai import types
from pydantic import BaseModel

import polycall
from helpers import (
    agated_values,
    endpoint,
    function_calls,
    function_responses,
    gated_each,
    gated_values,
    gemini_candidate,
    sent_texts,
    two_candidates,
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
    UnknownToolError,
    ValidationFailed,
)
from polycall.testing import FakeProvider, Gate, json_response, sse_response
from polycall.testing.gemini import (
    gemini_stream,
    genai_client,
    generate_content,
    response_body,
    stream_chunks,
)

MODEL = "gemini-2.5-flash"
BAD_CALLS = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]


@pytest.fixture
def client(fake: FakeProvider) -> Any:
    return polycall.from_genai(genai_client(fake), model=MODEL)


@pytest.fixture
async def aclient(fake: FakeProvider) -> AsyncIterator[Any]:
    async with genai_client(fake).aio as aio:  # closes its aiohttp session
        yield polycall.from_genai(aio, model=MODEL)


def ask(client: Any, **kwargs: Any) -> Any:
    return client.create(**{"messages": SEED_MESSAGES, "response_model": SEED_MODEL, **kwargs})


# --- the seed scenario and the request ---------------------------------------------------


def test_seed_scenario_returns_the_calls_in_order(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS, usage=(31, 17)))
    calls = ask(client)
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["call_1_0", "call_1_1", "call_1_2"]
    assert [c.arguments for c in calls.calls] == [args for _, args in SEED_CALLS]
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (31, 17)
    assert isinstance(calls.raw, types.GenerateContentResponse)
    assert endpoint(fake.last.path) == f"/models/{MODEL}:generateContent"


def test_request_has_system_instruction_declarations_and_mode_any(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS))
    ask(client)
    body = fake.last.json
    assert body["systemInstruction"]["parts"] == [{"text": "You must always use tools"}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": SEED_MESSAGES[1]["content"]}]}]
    (tool,) = body["tools"]
    assert [d["name"] for d in tool["functionDeclarations"]] == ["Weather", "GoogleSearch"]
    assert tool["functionDeclarations"][0]["parameters"]["properties"]["units"] == {
        "type": "STRING", "enum": ["imperial", "metric"],
    }
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Weather", "GoogleSearch"]}
    }


def test_user_tool_config_and_config_fields_are_forwarded(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS), generate_content(SEED_CALLS))
    auto = types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="AUTO"))
    ask(client, config=types.GenerateContentConfig(temperature=0.25, tool_config=auto), max_output_tokens=99)
    body = fake.last.json
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["generationConfig"] == {"temperature": 0.25, "maxOutputTokens": 99}
    ask(client, generation_config={"top_k": 3}, config={"seed": 7})
    assert fake.last.json["generationConfig"] == {"topK": 3, "seed": 7}


def test_model_per_call_overrides_the_default(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS))
    ask(client, model="gemini-2.0-flash")
    assert endpoint(fake.last.path) == "/models/gemini-2.0-flash:generateContent"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": None}, "need model="),
        ({"tools": [1]}, "tools come from response_model"),
        ({"tools": []}, "tools come from response_model"),
        ({"config": {"tools": [types.Tool()]}}, "tools come from response_model"),
        ({"stream_options": {}}, "unexpected argument.*'stream_options'"),
        ({"config": {"system_instruction": "x"}}, "system prompt once"),
        ({"messages": [{"role": "tool", "content": "x"}]}, r"messages\[0\]: role 'tool'"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, r"messages\[0\].content\[0\]"),
        ({"messages": [42]}, r"messages\[0\]: expected a dict or google.genai.types.Content, got int"),
        ({"response_model": Weather}, "response_model must be Iterable"),
        ({"temperature": "hot"}, "GenerateContentConfig fields given are not valid.*temperature"),
        ({"config": {"temprature": 0.2}}, "GenerateContentConfig fields given are not valid.*temprature"),
    ],
)
def test_bad_arguments_fail_before_any_request(fake: FakeProvider, kwargs: dict[str, Any], message: str) -> None:
    client = polycall.from_genai(genai_client(fake), model=None if "model" in kwargs else MODEL)
    kwargs = {k: v for k, v in kwargs.items() if k != "model"}
    with pytest.raises(ConfigurationError, match=message):
        ask(client, **kwargs)
    assert fake.requests == []


def test_native_contents_and_content_dicts_are_accepted(fake: FakeProvider, client: Any) -> None:
    messages = [
        types.Content(role="user", parts=[types.Part(text="weather in toronto?")]),
        {"role": "model", "parts": [{"text": "Which units?"}]},
        {"role": "user", "content": [{"type": "text", "text": "metric"}]},
    ]
    assert sent_texts(fake, client, messages) == [
        ("user", "weather in toronto?"), ("model", "Which units?"), ("user", "metric"),
    ]


def test_a_content_list_gives_a_part_per_item(fake: FakeProvider, client: Any) -> None:
    """As the SDK sends the same parts in a `Content` of its own."""
    image = types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")
    content = ["What is in", {"type": "text", "text": "this picture?"}, image]
    native = types.Content(
        role="user", parts=[types.Part(text="What is in"), types.Part(text="this picture?"), image]
    )
    fake.push(generate_content(SEED_CALLS), generate_content(SEED_CALLS))
    client.create(messages=[{"role": "user", "content": content}], response_model=SEED_MODEL)
    client.create(messages=[native], response_model=SEED_MODEL)
    converted, sent = (request.json["contents"] for request in fake.requests)
    assert converted == sent and len(sent[0]["parts"]) == 3
    with pytest.raises(ConfigurationError, match=r"messages\[0\]\.content\[0\]: only text parts"):
        client.create(
            messages=[{"role": "system", "content": [content[2]]}, SEED_MESSAGES[1]],
            response_model=SEED_MODEL,
        )


def test_one_content_is_a_conversation_of_one(fake: FakeProvider, client: Any) -> None:
    """`contents=<a Content>`, as the SDK's own `generate_content` takes it."""
    content = types.Content(role="user", parts=[types.Part(text="weather in toronto?")])
    assert sent_texts(fake, client, content) == [("user", "weather in toronto?")]


# --- continuing the conversation ---------------------------------------------------------


def test_tool_results_answer_every_call_in_order(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS))
    calls = ask(client)
    (reply,) = calls.tool_results(["18C", {"temp": 75}, "Chiefs"])
    assert isinstance(reply, types.Content) and reply.role == "user"
    responses = [part.function_response for part in reply.parts]
    assert [(r.id, r.name, r.response) for r in responses] == [
        ("call_1_0", "Weather", {"output": "18C"}),
        ("call_1_1", "Weather", {"output": '{"temp": 75}'}),
        ("call_1_2", "GoogleSearch", {"output": "Chiefs"}),
    ]
    with pytest.raises(ConfigurationError, match="got 2 output"):
        calls.tool_results(["a", "b"])


def test_follow_up_carries_model_turn_and_results_with_signature(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS, thought_signature="c2lnbmF0dXJl"), generate_content(text="Done."))
    calls = ask(client)
    messages = [*SEED_MESSAGES, calls.assistant_message(), *calls.tool_results(["a", "b", "c"])]
    with pytest.raises(NoToolCallsError, match="Done"):
        ask(client, messages=messages)
    model_turn, results = fake.last.json["contents"][1:]
    assert model_turn["role"] == "model"
    assert function_calls(model_turn) == [
        {"id": f"call_1_{i}", "name": name, "args": args} for i, (name, args) in enumerate(SEED_CALLS)
    ]
    assert model_turn["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"
    assert "thoughtSignature" not in model_turn["parts"][1]
    assert results["role"] == "user"
    assert [(r["id"], r["response"]) for r in function_responses(results)] == [
        ("call_1_0", {"output": "a"}), ("call_1_1", {"output": "b"}), ("call_1_2", {"output": "c"}),
    ]


def test_provider_ids_are_kept(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS, ids=["a1", None, "a1"]))
    calls = ask(client)
    assert [c.id for c in calls.calls] == ["a1", "call_1_1", "a1_1"]


# --- failures ----------------------------------------------------------------------------


def test_text_only_answer_raises_no_tool_calls(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(text="It is sunny."))
    with pytest.raises(NoToolCallsError) as caught:
        ask(client)
    assert caught.value.text == "It is sunny."
    assert isinstance(caught.value.raw, types.GenerateContentResponse)


def test_max_tokens_raises_incomplete_output(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(SEED_CALLS[:1], finish_reason="MAX_TOKENS"))
    with pytest.raises(IncompleteOutputError, match="MAX_TOKENS") as caught:
        ask(client)
    assert caught.value.reason == "MAX_TOKENS"


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"])
def test_safety_finish_reasons_raise_refusal(fake: FakeProvider, client: Any, reason: str) -> None:
    fake.push(generate_content(finish_reason=reason))
    with pytest.raises(RefusalError) as caught:
        ask(client)
    assert caught.value.reason == reason


def test_blocked_prompt_raises_refusal(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(block_reason="PROHIBITED_CONTENT"))
    with pytest.raises(RefusalError, match="prompt blocked: PROHIBITED_CONTENT"):
        ask(client)


def test_malformed_function_call_is_retried(fake: FakeProvider, client: Any) -> None:
    malformed = response_body(finish_reason="MALFORMED_FUNCTION_CALL")
    del malformed["candidates"][0]["content"]
    fake.push(json_response(malformed))
    with pytest.raises(MalformedOutputError, match="MALFORMED_FUNCTION_CALL"):
        ask(client)
    fake.push(json_response(malformed), generate_content(SEED_CALLS, usage=(5, 6)))
    calls = ask(client, max_retries=1)
    assert list(calls) == SEED_VALUES
    assert fake.requests[-1].json["contents"] == fake.requests[-2].json["contents"]
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (15, 26)


def test_unexpected_tool_call_names_the_tool(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content([("list_files", {})], finish_reason="UNEXPECTED_TOOL_CALL"))
    with pytest.raises(UnknownToolError, match="unknown tool 'list_files'"):
        ask(client)
    fake.push(generate_content(finish_reason="UNEXPECTED_TOOL_CALL"))
    with pytest.raises(MalformedOutputError, match="UNEXPECTED_TOOL_CALL"):
        ask(client)


def test_invalid_call_raises_validation_failed_with_the_valid_ones(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(BAD_CALLS))
    with pytest.raises(ValidationFailed) as caught:
        ask(client)
    assert list(caught.value.errors) == ["call_1_1"]
    assert caught.value.valid == [SEED_VALUES[0], SEED_VALUES[2]]
    assert "call_1_1 (Weather): units" in str(caught.value)


def test_http_errors_become_provider_errors_without_the_key(fake: FakeProvider) -> None:
    client = polycall.from_genai(genai_client(fake, api_key="secret-key-123"), model=MODEL)
    fake.push(json_response({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}, 400))
    with pytest.raises(ProviderError, match="INVALID_ARGUMENT") as caught:
        ask(client)
    assert "secret-key-123" not in str(caught.value)


# --- retries ---------------------------------------------------------------------------


def test_retry_re_asks_only_the_failed_call(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content(BAD_CALLS, usage=(10, 20), thought_signature="c2ln"),
              generate_content([SEED_CALLS[1]], usage=(30, 5)))
    calls = ask(client, max_retries=1)
    assert len(fake.requests) == 2
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["call_1_0", "call_1_1", "call_1_2"]
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (40, 25)
    contents = fake.last.json["contents"]
    assert len(contents) == 3
    model_turn, results = contents[1:]
    assert model_turn["role"] == "model"
    assert [c["args"] for c in function_calls(model_turn)] == [args for _, args in BAD_CALLS]
    assert [p.get("thoughtSignature") for p in model_turn["parts"]] == ["c2ln", None, None]
    assert results["role"] == "user"
    answers = [r["response"] for r in function_responses(results)]
    assert answers[0] == {"output": "ok"} and answers[2] == {"output": "ok"}
    assert list(answers[1]) == ["error"] and "units" in answers[1]["error"] and "kelvin" in answers[1]["error"]


# --- Vertex AI through google-genai --------------------------------------------------------


def test_vertex_mode_reaches_the_vertex_path_and_sends_no_ids(fake: FakeProvider) -> None:
    client = polycall.from_genai(genai_client(fake, vertexai=True), model=MODEL)
    fake.push(generate_content(BAD_CALLS), generate_content([SEED_CALLS[1]]))
    calls = ask(client, max_retries=1)
    assert list(calls) == SEED_VALUES
    assert endpoint(fake.last.path) == (
        f"/projects/test-project/locations/us-central1/publishers/google/models/{MODEL}:generateContent"
    )
    model_turn, results = fake.last.json["contents"][1:]
    assert [c["name"] for c in function_calls(model_turn)] == ["Weather", "Weather", "GoogleSearch"]
    assert all("id" not in c for c in function_calls(model_turn))
    assert all("id" not in r for r in function_responses(results))
    assert all("id" not in r.function_response.model_dump(exclude_none=True)
               for r in calls.tool_results([1, 2, 3])[0].parts)


# --- async -------------------------------------------------------------------------------


async def test_async_client_from_aio_and_use_async(fake: FakeProvider, aclient: Any) -> None:
    fake.push(generate_content(SEED_CALLS), generate_content(SEED_CALLS))
    assert list(await ask(aclient)) == SEED_VALUES
    sdk = genai_client(fake)
    other = polycall.from_genai(sdk, model=MODEL, use_async=True)
    assert isinstance(other, polycall.AsyncClient) and other.mode is Mode.GENAI_PARALLEL_TOOLS
    calls, raw = await other.create_with_completion(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    await sdk.aio.aclose()
    assert list(calls) == SEED_VALUES and raw is calls.raw


async def test_async_retry_and_failures(fake: FakeProvider, aclient: Any) -> None:
    fake.push(generate_content(BAD_CALLS), generate_content([SEED_CALLS[1]]))
    assert list(await ask(aclient, max_retries=1)) == SEED_VALUES
    fake.push(generate_content(finish_reason="SAFETY"))
    with pytest.raises(RefusalError):
        await ask(aclient)


# --- streaming ---------------------------------------------------------------------------


def test_stream_yields_each_call_before_the_stream_ends(fake: FakeProvider, client: Any) -> None:
    gates = {0: Gate(), 1: Gate()}
    fake.push(gemini_stream(SEED_CALLS, gates=gates, usage=(7, 8)))
    stream = client.create_iterable(model=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert gated_each(stream, gates) == SEED_VALUES
    assert not any(g.timed_out for g in gates.values())
    assert endpoint(fake.last.path) == f"/models/{MODEL}:streamGenerateContent"
    assert fake.last.query == {"alt": ["sse"]}
    assert (stream.result.usage.input_tokens, stream.result.usage.output_tokens) == (7, 8)


async def test_async_stream_yields_each_call_before_the_stream_ends(fake: FakeProvider, aclient: Any) -> None:
    gate = Gate()
    fake.push(gemini_stream(SEED_CALLS, gates={0: gate}))
    stream = aclient.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert await agated_values(stream, gate) == SEED_VALUES and not gate.timed_out


def test_stream_with_streamed_arguments_on_vertex(fake: FakeProvider) -> None:
    client = polycall.from_genai(genai_client(fake, vertexai=True), model=MODEL)
    gate = Gate()
    fake.push(gemini_stream(SEED_CALLS, streamed_args=True, piece=3, gates={0: gate}))
    stream = client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, stream=True)
    assert gated_values(stream, gate) == SEED_VALUES and not gate.timed_out


def test_stream_partial_shows_arguments_in_progress(fake: FakeProvider) -> None:
    client = polycall.from_genai(genai_client(fake, vertexai=True), model=MODEL)
    fake.push(gemini_stream(SEED_CALLS[2:], streamed_args=True, piece=5))
    events = list(client.create_partial(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    progress = [e.value.query for e in events if isinstance(e, polycall.Partial)]
    assert progress[0] is None  # the name arrives before any argument
    query = SEED_CALLS[2][1]["query"]
    assert sorted({p for p in progress if p}, key=len) == [query[:n] for n in range(5, len(query) + 5, 5)]
    assert events[-1] == SEED_VALUES[2]


@pytest.mark.parametrize(
    ("reason", "error"),
    [("MAX_TOKENS", IncompleteOutputError), ("SAFETY", RefusalError), ("MALFORMED_FUNCTION_CALL", MalformedOutputError)],
)
def test_stream_errors_match_create(fake: FakeProvider, client: Any, reason: str, error: type) -> None:
    fake.push(gemini_stream(SEED_CALLS[:1], finish_reason=reason))
    stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    with pytest.raises(error):
        list(stream)


def test_stream_text_only_raises_no_tool_calls(fake: FakeProvider, client: Any) -> None:
    fake.push(gemini_stream(text="Just text."))
    with pytest.raises(NoToolCallsError) as caught:
        list(client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    assert caught.value.text == "Just text."


def test_stream_retry_sends_two_requests(fake: FakeProvider, client: Any) -> None:
    fake.push(gemini_stream(BAD_CALLS), gemini_stream([SEED_CALLS[1]]))
    stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1)
    assert list(stream) == [SEED_VALUES[0], SEED_VALUES[2], SEED_VALUES[1]]
    assert list(stream.result) == SEED_VALUES
    assert len(fake.requests) == 2


def test_from_genai_checks_client_and_mode(fake: FakeProvider) -> None:
    with pytest.raises(ConfigurationError, match="from_genai"):
        polycall.from_genai(object())
    with pytest.raises(ConfigurationError, match="does not support mode"):
        polycall.from_genai(genai_client(fake), mode=Mode.PARALLEL_TOOLS)


class Order(BaseModel):
    """Place an order."""

    item: str
    quantity: int


def test_nested_and_numeric_arguments_validate(fake: FakeProvider, client: Any) -> None:
    fake.push(generate_content([("Order", {"item": "tea", "quantity": 3}), ("Weather", SEED_CALLS[0][1])]))
    calls = client.create(messages=SEED_MESSAGES, response_model=Iterable[Order | Weather])
    assert calls == [Order(item="tea", quantity=3), SEED_VALUES[0]]
    assert calls.calls[0].arguments == {"item": "tea", "quantity": 3}
    assert GoogleSearch not in [type(v) for v in calls]


def test_from_provider_builds_the_client_from_the_environment(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
    monkeypatch.setenv("GOOGLE_API_KEY", "test")
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    fake.push(generate_content(SEED_CALLS))
    client = polycall.from_provider("google/gemini-2.0-flash")
    assert list(client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)) == SEED_VALUES
    assert endpoint(fake.last.path) == "/models/gemini-2.0-flash:generateContent"


def test_stopping_a_stream_early_closes_it(fake: FakeProvider, client: Any) -> None:
    gate = Gate()
    fake.push(gemini_stream(SEED_CALLS, gates={0: gate}), generate_content(SEED_CALLS))
    stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[0]
    stream.close()
    gate.open()
    with pytest.raises(StopIteration):
        next(stream)
    assert list(ask(client)) == SEED_VALUES  # the client goes on working


@pytest.mark.parametrize(
    ("config", "extra", "sent"),
    [
        ({"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}}, {},
         lambda body: body["toolConfig"]["functionCallingConfig"]["mode"] == "AUTO"),
        ({"topP": 0.5}, {}, lambda body: body["generationConfig"]["topP"] == 0.5),
        ({"maxOutputTokens": 5}, {"max_output_tokens": 9},
         lambda body: body["generationConfig"]["maxOutputTokens"] == 9),
    ],
)
def test_a_config_dict_may_use_the_sdks_camel_case_keys(
    fake: FakeProvider, client: Any, config: dict[str, Any], extra: dict[str, Any], sent: Any
) -> None:
    """As the SDK takes them: the user's own tool config is used, not refused next to
    polycall's default, and a keyword overrides the same field given in camelCase."""
    fake.push(generate_content(SEED_CALLS))
    assert list(ask(client, config=config, **extra)) == SEED_VALUES
    assert sent(fake.last.json)


def test_generation_config_of_another_type_is_named(fake: FakeProvider, client: Any) -> None:
    with pytest.raises(ConfigurationError, match="generation_config= must be a GenerateContentConfig or a dict"):
        ask(client, generation_config=types.GenerationConfig(temperature=0.2))
    assert fake.requests == []



def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": args}}


WEATHER, SEARCH = (_call(name, args) for name, args in (SEED_CALLS[0], SEED_CALLS[2]))
#: Prompt feedback that blocks nothing: safety ratings alone, or an unspecified block reason.
NO_BLOCK = [
    {"safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]},
    {"blockReason": "BLOCKED_REASON_UNSPECIFIED"},
]


@pytest.mark.parametrize("feedback", NO_BLOCK, ids=["safety-ratings", "unspecified"])
def test_a_cut_stream_with_prompt_feedback_that_blocks_nothing_is_a_cut_stream(
    fake: FakeProvider, client: Any, feedback: dict[str, Any]
) -> None:
    """Only a block reason ends a stream; feedback without one is no finish."""
    fake.push(sse_response([
        {"candidates": [gemini_candidate([WEATHER])], "promptFeedback": feedback},
        {"candidates": [gemini_candidate([SEARCH])]},
    ]))
    stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    with pytest.raises(ProviderError, match="the stream ended before a finish reason"):
        list(stream)


def test_a_stream_of_several_candidates_reads_the_first_as_create_does(fake: FakeProvider, client: Any) -> None:
    whole, streamed = two_candidates(WEATHER, SEARCH)
    fake.push(json_response(whole), sse_response(streamed))
    calls = ask(client, candidate_count=2)
    stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL, candidate_count=2)
    assert list(stream) == list(calls) == [SEED_VALUES[0]]
    assert stream.result == calls and stream.result.usage == calls.usage


def test_streamed_arguments_after_a_calls_end_begin_a_nameless_call(fake: FakeProvider) -> None:
    """As a nameless call in a whole response: with no index or id, such pieces cannot be
    told from a new call whose name is missing (streaming.md)."""
    client = polycall.from_genai(genai_client(fake, vertexai=True), model=MODEL)
    more = {"functionCall": {"partialArgs": [{"jsonPath": "$.units", "stringValue": "imperial"}]}}
    *chunks, last = stream_chunks(SEED_CALLS[:1], streamed_args=True)
    fake.push(sse_response([*chunks, {"candidates": [gemini_candidate([more])]}, last]))
    stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[0]
    with pytest.raises(UnknownToolError, match="unknown tool ''"):
        next(stream)


@pytest.mark.parametrize(("vertexai", "reason"), [(True, "SAFETY: unsafe"), (False, "SAFETY")])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_the_finish_message_is_in_the_reason_where_the_sdk_keeps_it(
    fake: FakeProvider, vertexai: bool, reason: str, streamed: bool
) -> None:
    """As genai.md says: on Vertex AI; google-genai drops it on the Gemini API."""
    client = polycall.from_genai(genai_client(fake, vertexai=vertexai), model=MODEL)
    fake.push((gemini_stream if streamed else generate_content)(finish_reason="SAFETY", finish_message="unsafe"))
    with pytest.raises(RefusalError) as caught:
        if streamed:
            list(client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
        else:
            ask(client)
    assert caught.value.reason == reason


@pytest.fixture
def closed_responses(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The aiohttp responses (google-genai's async transport) whose `close()` was called."""
    aiohttp = pytest.importorskip("aiohttp")
    seen: list[Any] = []
    close = aiohttp.ClientResponse.close

    def spy(self: Any) -> None:
        seen.append(self)
        close(self)

    monkeypatch.setattr(aiohttp.ClientResponse, "close", spy)
    return seen


async def test_stopping_an_async_stream_early_closes_its_http_response(
    fake: FakeProvider, aclient: Any, closed_responses: list[Any]
) -> None:
    """Closing the SDK's async stream leaves the generators inside it, and the response they
    read, open; polycall closes the response."""
    gate = Gate()
    fake.push(gemini_stream(SEED_CALLS, gates={0: gate}))
    async with aclient.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL) as stream:
        assert await stream.__anext__() == SEED_VALUES[0]
    gate.open()
    assert len(closed_responses) == 1 and closed_responses[0].connection is None
