"""OpenAI Chat Completions through the real `openai` SDK and the fake provider (whole bodies)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel, field_validator

import polycall
from helpers import openai_client, seed_request
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import (
    ConfigurationError,
    IncompleteOutputError,
    Mode,
    NoToolCallsError,
    ProviderError,
    RefusalError,
    UnknownToolError,
    ValidationFailed,
)
from polycall.testing import FakeProvider, json_response
from polycall.testing.openai import chat_completion, chat_error

MODEL = "gpt-4o-mini"


def ask(client: Any, **kwargs: Any) -> Any:
    """`chat.completions.create` with the seed's model, messages and response_model by default."""
    return client.chat.completions.create(**seed_request(**kwargs))


# --- the seed scenario -------------------------------------------------------------------


def test_seed_scenario_returns_the_seed_values_in_order(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls = client.chat.completions.create(
        model=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(calls) == SEED_VALUES
    assert [str(fc) for fc in calls] == [
        "location='Toronto' units='metric'",
        "location='Dallas' units='imperial'",
        "query='who won the super bowl'",
    ]
    assert fake.last.path.endswith("/chat/completions")


def test_client_create_is_the_same_call(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls = client.create(model=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert isinstance(calls, polycall.ToolCalls)
    assert list(calls) == SEED_VALUES


def test_calls_carry_ids_names_arguments_raw_and_usage(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS, ids=["call_a", "call_b", "call_c"], usage=(11, 7)))
    calls = ask(client)
    assert [(c.id, c.name, c.arguments) for c in calls.calls] == [
        ("call_a", "Weather", {"location": "Toronto", "units": "metric"}),
        ("call_b", "Weather", {"location": "Dallas", "units": "imperial"}),
        ("call_c", "GoogleSearch", {"query": "who won the super bowl"}),
    ]
    assert [c.value for c in calls.calls] == SEED_VALUES
    assert isinstance(calls.raw, openai.types.chat.ChatCompletion)
    assert calls.raw.id == "chatcmpl-fake"
    assert (calls.usage.input_tokens, calls.usage.output_tokens, calls.usage.total_tokens) == (
        11,
        7,
        18,
    )


def test_create_with_completion_returns_calls_and_the_raw_completion(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls, raw = client.create_with_completion(
        model=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(calls) == SEED_VALUES
    assert raw is calls.raw
    assert raw.choices[0].finish_reason == "tool_calls"


async def test_async_client_gives_the_same_result(fake: FakeProvider, aclient: Any) -> None:
    assert isinstance(aclient, polycall.AsyncClient)
    fake.push(chat_completion(SEED_CALLS), chat_completion(SEED_CALLS))
    calls = await aclient.chat.completions.create(
        model=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(calls) == SEED_VALUES
    again, raw = await aclient.create_with_completion(
        model=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(again) == SEED_VALUES and raw is again.raw
    assert fake.last.json["tool_choice"] == "required"


# --- follow-ups ---------------------------------------------------------------------------


def test_tool_results_answer_each_call_by_id(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls = ask(client)
    results = calls.tool_results(["sunny", {"temp": 31}, GoogleSearch(query="x")])
    assert results == [
        {"role": "tool", "tool_call_id": "call_0", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 31}'},
        {"role": "tool", "tool_call_id": "call_2", "content": '{"query":"x"}'},
    ]
    with pytest.raises(ConfigurationError, match="2 output"):
        calls.tool_results(["a", "b"])


def test_follow_up_conversation_is_accepted_by_the_sdk(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS, text="Looking these up."))
    calls = ask(client)
    assert calls.assistant_message() == {
        "role": "assistant",
        "content": "Looking these up.",
        "tool_calls": [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(SEED_CALLS)
        ],
    }
    fake.push(chat_completion([("GoogleSearch", {"query": "weather records"})]))
    outputs = ["-3C", "25C", "the Chiefs"]
    more = ask(
        client, messages=[*SEED_MESSAGES, calls.assistant_message(), *calls.tool_results(outputs)]
    )
    assert list(more) == [GoogleSearch(query="weather records")]
    sent = fake.last.json["messages"]
    assert sent[:2] == SEED_MESSAGES
    assert sent[2]["role"] == "assistant"
    assert [tc["id"] for tc in sent[2]["tool_calls"]] == ["call_0", "call_1", "call_2"]
    assert sent[3:] == [
        {"role": "tool", "tool_call_id": f"call_{i}", "content": out}
        for i, out in enumerate(outputs)
    ]


def test_native_sdk_message_objects_are_accepted(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS), chat_completion([("GoogleSearch", {"query": "more"})]))
    calls = ask(client)
    native = calls.raw.choices[0].message
    more = ask(client, messages=[*SEED_MESSAGES, native, *calls.tool_results(["a", "b", "c"])])
    assert list(more) == [GoogleSearch(query="more")]
    sent = fake.last.json["messages"][2]
    assert sent["role"] == "assistant"
    assert [tc["function"]["name"] for tc in sent["tool_calls"]] == [
        "Weather",
        "Weather",
        "GoogleSearch",
    ]


def headers(fake: FakeProvider) -> dict[str, str]:
    """The last request's headers, with lower-cased names."""
    return {name.lower(): value for name, value in fake.last.headers.items()}


# --- the request --------------------------------------------------------------------------


def test_request_offers_one_function_tool_per_member(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS))
    ask(client)
    body = fake.last.json
    assert body["model"] == MODEL
    assert body["messages"] == SEED_MESSAGES
    assert body["tool_choice"] == "required"
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Weather",
                "description": "",
                "parameters": {
                    "properties": {
                        "location": {"title": "Location", "type": "string"},
                        "units": {
                            "enum": ["imperial", "metric"],
                            "title": "Units",
                            "type": "string",
                        },
                    },
                    "required": ["location", "units"],
                    "title": "Weather",
                    "type": "object",
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "GoogleSearch",
                "description": "",
                "parameters": {
                    "properties": {"query": {"title": "Query", "type": "string"}},
                    "required": ["query"],
                    "title": "GoogleSearch",
                    "type": "object",
                },
            },
        },
    ]
    assert "stream" not in body


def test_docstring_and_title_shape_the_tool(fake: FakeProvider, client: Any) -> None:
    from pydantic import ConfigDict

    class Lookup(BaseModel):
        """Look a word up."""

        model_config = ConfigDict(title="dictionary_lookup")
        word: str

    fake.push(chat_completion([("dictionary_lookup", {"word": "parallel"})]))
    calls = ask(client, response_model=Iterable[Lookup])
    assert calls == [Lookup(word="parallel")]
    assert calls.calls[0].name == "dictionary_lookup"
    function = fake.last.json["tools"][0]["function"]
    assert (function["name"], function["description"]) == ("dictionary_lookup", "Look a word up.")


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": 0.2, "max_tokens": 300, "seed": 7},
        {"tool_choice": "auto"},
        {"tool_choice": "required"},
        {"tool_choice": {"type": "function", "function": {"name": "Weather"}}},
        {"parallel_tool_calls": False},
        {"user": "u-1", "metadata": {"k": "v"}, "store": False},
    ],
    ids=["sampling", "auto", "user-required", "named", "parallel_tool_calls", "misc"],
)
def test_other_kwargs_are_forwarded_untouched(
    fake: FakeProvider, client: Any, extra: dict[str, Any]
) -> None:
    fake.push(chat_completion(SEED_CALLS))
    ask(client, **extra)
    body = fake.last.json
    for key, value in extra.items():
        assert body[key] == value
    if "tool_choice" not in extra:
        assert body["tool_choice"] == "required"


def test_sdk_options_extra_body_headers_and_query_are_forwarded(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_completion(SEED_CALLS))
    ask(client, extra_body={"top_k": 3}, extra_headers={"X-Trace": "t-1"}, extra_query={"q": "1"})
    assert fake.last.json["top_k"] == 3
    assert headers(fake)["x-trace"] == "t-1"
    assert fake.last.query == {"q": ["1"]}


def test_from_openai_model_is_the_default_model(fake: FakeProvider) -> None:
    client = openai_client(fake, model="gpt-4.1")
    fake.push(chat_completion(SEED_CALLS), chat_completion(SEED_CALLS))
    client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert fake.last.json["model"] == "gpt-4.1"
    client.create(model="o3", messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert fake.last.json["model"] == "o3"


def test_passing_tools_is_a_configuration_error(fake: FakeProvider, client: Any) -> None:
    with pytest.raises(ConfigurationError, match="tools come from response_model"):
        ask(client, tools=[{"type": "function", "function": {"name": "x"}}])
    assert fake.requests == []


def test_missing_model_is_a_configuration_error(fake: FakeProvider, client: Any) -> None:
    with pytest.raises(ConfigurationError, match="model="):
        client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert fake.requests == []


def test_bad_response_model_fails_before_any_request(fake: FakeProvider, client: Any) -> None:
    with pytest.raises(ConfigurationError, match="response_model"):
        ask(client, response_model=Weather)
    assert fake.requests == []


@pytest.mark.parametrize(
    "mode",
    [
        Mode.ANTHROPIC_PARALLEL_TOOLS,
        Mode.GENAI_PARALLEL_TOOLS,
        Mode.VERTEXAI_PARALLEL_TOOLS,
        "tools",
    ],
)
def test_from_openai_rejects_other_modes(mode: Any) -> None:
    with pytest.raises(ConfigurationError, match="from_openai"):
        polycall.from_openai(openai.OpenAI(api_key="test"), mode=mode)


@pytest.mark.parametrize(
    "sdk",
    [object(), "openai", anthropic.Anthropic(api_key="test")],
    ids=["object", "str", "anthropic"],
)
def test_from_openai_rejects_other_clients(sdk: Any) -> None:
    with pytest.raises(ConfigurationError, match="from_openai"):
        polycall.from_openai(sdk)


def test_from_openai_picks_sync_or_async_and_the_mode() -> None:
    sync = polycall.from_openai(openai.OpenAI(api_key="test"))
    assert isinstance(sync, polycall.Client) and sync.mode is Mode.PARALLEL_TOOLS
    assert isinstance(
        polycall.from_openai(openai.AsyncOpenAI(api_key="test")), polycall.AsyncClient
    )


# --- failures -----------------------------------------------------------------------------


def test_text_answer_raises_no_tool_calls_with_text_and_raw(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_completion(text="It is sunny in Toronto."))
    with pytest.raises(NoToolCallsError, match="without calling a tool") as info:
        ask(client)
    assert info.value.text == "It is sunny in Toronto."
    assert info.value.raw.choices[0].message.content == "It is sunny in Toronto."


def test_unknown_tool_is_reported_with_its_call(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion([SEED_CALLS[0], ("BingSearch", {"query": "q"})]))
    with pytest.raises(UnknownToolError, match="BingSearch") as info:
        ask(client)
    assert isinstance(info.value, ValidationFailed)
    assert list(info.value.errors) == ["call_1"]
    assert info.value.valid == [SEED_VALUES[0]]
    assert "call call_1 (BingSearch)" in str(info.value)


def test_finish_length_raises_incomplete_output(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion([("Weather", '{"location": "Tor')], finish_reason="length"))
    with pytest.raises(IncompleteOutputError, match="cut off") as info:
        ask(client)
    assert info.value.reason == "length"
    assert info.value.raw.choices[0].finish_reason == "length"


def test_message_refusal_raises_refusal_error(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(refusal="I can't help with that."))
    with pytest.raises(RefusalError, match="can't help") as info:
        ask(client)
    assert info.value.reason == "I can't help with that."


def test_content_filter_raises_refusal_error(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS[:1], finish_reason="content_filter"))
    with pytest.raises(RefusalError) as info:
        ask(client)
    assert info.value.reason == "content_filter"


def test_invalid_calls_raise_validation_failed_per_call_id(fake: FakeProvider, client: Any) -> None:
    bad = [
        SEED_CALLS[0],
        ("Weather", {"location": "Dallas", "units": "kelvin"}),
        ("GoogleSearch", {}),
    ]
    fake.push(chat_completion(bad))
    with pytest.raises(ValidationFailed) as info:
        ask(client)
    error = info.value
    assert type(error) is ValidationFailed
    assert set(error.errors) == {"call_1", "call_2"}
    assert error.errors["call_1"][0]["loc"] == ("units",)
    assert error.errors["call_2"][0]["type"] == "missing"
    assert error.valid == [SEED_VALUES[0]]
    assert error.attempts == 1
    assert error.raw.id == "chatcmpl-fake"
    assert "call call_1 (Weather): units" in str(error)
    assert "'kelvin'" in str(error)


def test_malformed_json_arguments_name_the_call_and_tool(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion([SEED_CALLS[0], ("GoogleSearch", '{"query": "who won')]))
    with pytest.raises(
        ValidationFailed, match=r"call call_1 \(GoogleSearch\).*not valid JSON"
    ) as info:
        ask(client)
    assert info.value.errors["call_1"][0]["type"] == "json_invalid"
    assert info.value.valid == [SEED_VALUES[0]]


def test_arguments_that_are_not_an_object_fail_validation(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion([("GoogleSearch", '["q"]')]))
    with pytest.raises(ValidationFailed, match="must be a JSON object"):
        ask(client)


@pytest.mark.parametrize("status", [500, 503, 429, 404])
def test_sdk_http_errors_become_provider_errors(
    fake: FakeProvider, client: Any, status: int
) -> None:
    fake.push(chat_error(status, "upstream trouble", type="server_error"))
    with pytest.raises(ProviderError, match="upstream trouble") as info:
        ask(client)
    assert isinstance(info.value.__cause__, openai.APIStatusError)
    assert info.value.__cause__.status_code == status
    assert info.value.status_code == status  # type: ignore[attr-defined]


def test_connection_refused_is_a_provider_error() -> None:
    with FakeProvider() as gone:
        url = gone.url
    client = polycall.from_openai(
        openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0)
    )
    with pytest.raises(ProviderError) as info:
        ask(client)
    assert isinstance(info.value.__cause__, openai.APIConnectionError)


def test_a_body_without_choices_is_a_provider_error(fake: FakeProvider, client: Any) -> None:
    fake.push(json_response({"error": {"message": "model overloaded"}}))
    with pytest.raises(ProviderError, match="model overloaded"):
        ask(client)


def test_a_non_json_body_is_a_provider_error(fake: FakeProvider, client: Any) -> None:
    fake.push(json_response("<html>bad gateway</html>"))
    with pytest.raises(ProviderError):
        ask(client)


async def test_async_failures_are_the_same(fake: FakeProvider, aclient: Any) -> None:
    fake.push(chat_completion(text="no tools today"))
    with pytest.raises(NoToolCallsError):
        await ask(aclient)
    fake.push(chat_error(500, "boom"))
    with pytest.raises(ProviderError, match="boom") as info:
        await ask(aclient)
    assert isinstance(info.value.__cause__, openai.InternalServerError)
    fake.push(chat_completion([("Weather", {"location": "X", "units": "kelvin"})]))
    with pytest.raises(ValidationFailed) as failed:
        await ask(aclient)
    assert list(failed.value.errors) == ["call_0"]


def test_validators_run_on_each_call(fake: FakeProvider, client: Any) -> None:
    class City(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def capitalised(cls, value: str) -> str:
            if not value[:1].isupper():
                raise ValueError("city names start with a capital letter")
            return value

    fake.push(chat_completion([("City", {"name": "Paris"}), ("City", {"name": "lyon"})]))
    with pytest.raises(ValidationFailed, match="capital letter") as info:
        ask(client, response_model=Iterable[City])
    assert info.value.valid == [City(name="Paris")]


# --- Azure --------------------------------------------------------------------------------


def test_the_sdks_not_given_tool_choice_is_not_given(fake: FakeProvider) -> None:
    """openai.NOT_GIVEN (or omit), as wrappers forward it: polycall's "required" applies."""
    fake.push(chat_completion(SEED_CALLS))
    openai_client(fake).create(**seed_request(tool_choice=openai.NOT_GIVEN))
    assert fake.last.json["tool_choice"] == "required"
