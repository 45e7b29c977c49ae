"""OpenAI Responses API (`Mode.RESPONSES_PARALLEL_TOOLS`), whole responses, through the real SDK."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import openai
import pytest
from pydantic import BaseModel

import models
import polycall
from helpers import openai_client
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import Mode
from polycall.providers.openai_responses import OpenAIResponses
from polycall.testing import FakeProvider, json_response
from polycall.testing.openai_responses import function_call_item, response_body, response_object
from polycall.toolset import tool_set

responses_client = functools.partial(openai_client, mode=Mode.RESPONSES_PARALLEL_TOOLS)


def create(client: Any, **kwargs: Any) -> Any:
    return client.create(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL, **kwargs
    )


def test_seed_scenario_sync(fake: FakeProvider) -> None:
    fake.push(response_body(SEED_CALLS, usage=(36, 54)))
    client = responses_client(fake)

    calls = client.chat.completions.create(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )

    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["call_0", "call_1", "call_2"]  # call_id, not fc_ item id
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (36, 54)
    assert fake.last.path.endswith("/responses")
    body = fake.last.json
    assert body["input"] == SEED_MESSAGES  # system message kept as an input item
    assert "messages" not in body and "instructions" not in body
    assert body["tool_choice"] == "required"
    assert body["model"] == "gpt-4o-mini"


async def test_seed_scenario_async(fake: FakeProvider) -> None:
    fake.push(response_body(SEED_CALLS))

    calls = await create(responses_client(fake, is_async=True))

    assert list(calls) == SEED_VALUES
    assert [c.name for c in calls.calls] == ["Weather", "Weather", "GoogleSearch"]
    assert fake.last.json["input"] == SEED_MESSAGES


def test_function_tools_are_flat_and_not_strict(fake: FakeProvider) -> None:
    class Lookup(BaseModel):
        """Look a key up."""

        key: str
        limit: int | None = None

    fake.push(response_body([("Lookup", {"key": "a"})]))
    responses_client(fake).create(
        model="m", messages=[{"role": "user", "content": "x"}], response_model=Iterable[Lookup]
    )

    (tool,) = fake.last.json["tools"]
    assert tool == {
        "type": "function",
        "name": "Lookup",
        "description": "Look a key up.",
        "parameters": Lookup.model_json_schema(),
        "strict": False,
    }


def test_tool_list_is_built_once_per_response_model(fake: FakeProvider) -> None:
    adapter = OpenAIResponses(openai.OpenAI(base_url=fake.url, api_key="test"))
    tools = tool_set(SEED_MODEL)
    first = adapter.prepare(tools, {"model": "m", "messages": []})
    second = adapter.prepare(tools, {"model": "m", "messages": []})
    assert first["tools"] is second["tools"]


def test_user_kwargs_are_forwarded_untouched(fake: FakeProvider) -> None:
    fake.push(response_body(SEED_CALLS))
    create(
        responses_client(fake),
        tool_choice="auto",
        temperature=0.2,
        instructions="Be brief.",
        parallel_tool_calls=True,
        max_output_tokens=300,
    )
    body = fake.last.json
    assert body["tool_choice"] == "auto"
    assert (body["temperature"], body["instructions"]) == (0.2, "Be brief.")
    assert (body["parallel_tool_calls"], body["max_output_tokens"]) == (True, 300)
    assert "previous_response_id" not in body


def test_input_string_and_bound_model(fake: FakeProvider) -> None:
    sdk = openai.OpenAI(base_url=fake.url + "/v1", api_key="test")
    client = polycall.from_openai(sdk, mode=Mode.RESPONSES_PARALLEL_TOOLS, model="gpt-4.1")
    fake.push(response_body(SEED_CALLS))
    client.create(input="weather in Toronto?", response_model=SEED_MODEL)
    assert fake.last.json["input"] == [{"role": "user", "content": "weather in Toronto?"}]
    assert fake.last.json["model"] == "gpt-4.1"


def test_reasoning_and_message_before_calls(fake: FakeProvider) -> None:
    fake.push(response_body(SEED_CALLS, reasoning=True, text="Calling the tools now."))
    calls = create(responses_client(fake))
    assert list(calls) == SEED_VALUES
    assert calls.text == "Calling the tools now."


def test_raw_response_is_the_sdk_response(fake: FakeProvider) -> None:
    fake.push(response_body(SEED_CALLS))
    calls, raw = responses_client(fake).create_with_completion(
        model="m", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert raw is calls.raw
    assert raw.id == "resp_fake"
    assert [item.call_id for item in raw.output] == [c.id for c in calls.calls]


@pytest.mark.parametrize(
    ("body", "error", "field", "value"),
    [
        pytest.param(
            {"text": "I cannot use tools today."}, polycall.NoToolCallsError, "text",
            "I cannot use tools today.", id="text_only_answer_raises_no_tool_calls",
        ),
        pytest.param(
            {"status": "incomplete", "incomplete_reason": "content_filter"}, polycall.RefusalError,
            "reason", "content_filter", id="content_filter_raises_refusal",
        ),
        pytest.param(
            {"refusal": "I can't help with that."}, polycall.RefusalError, "reason",
            "I can't help with that.", id="refusal_content_raises_refusal",
        ),
    ],
)
def test_a_response_without_calls_raises(
    fake: FakeProvider, body: dict[str, Any], error: type[Exception], field: str, value: str
) -> None:
    fake.push(response_body(**body))
    with pytest.raises(error) as info:
        create(responses_client(fake))
    assert getattr(info.value, field) == value


def test_max_output_tokens_raises_incomplete(fake: FakeProvider) -> None:
    fake.push(
        response_body(SEED_CALLS[:1], status="incomplete", incomplete_reason="max_output_tokens")
    )
    with pytest.raises(polycall.IncompleteOutputError) as info:
        create(responses_client(fake))
    assert info.value.reason == "max_output_tokens"
    assert "max_output_tokens" in str(info.value)


def test_failed_response_raises_provider_error(fake: FakeProvider) -> None:
    body = response_object([], status="failed", error={"code": "server_error", "message": "boom"})
    fake.push(json_response(body))
    with pytest.raises(polycall.ProviderError, match="server_error: boom"):
        create(responses_client(fake))


@pytest.mark.parametrize("status", ["queued", "in_progress", "cancelled"])
def test_an_unfinished_response_is_not_an_answer(fake: FakeProvider, status: str) -> None:
    # e.g. background=True answers `queued`, no output; a cancelled one may hold a cut call
    fake.push(response_body([SEED_CALLS[0]], status=status))
    with pytest.raises(polycall.ProviderError, match=f"the response is {status}, not completed"):
        create(responses_client(fake), background=True)


def test_http_error_is_a_provider_error(fake: FakeProvider) -> None:
    fake.push(json_response({"error": {"message": "bad key", "type": "auth"}}, status=401))
    with pytest.raises(polycall.ProviderError) as info:
        create(responses_client(fake))
    assert getattr(info.value, "status_code", None) == 401


def test_unknown_tool(fake: FakeProvider) -> None:
    fake.push(response_body([SEED_CALLS[0], ("get_time", {"tz": "UTC"})]))
    with pytest.raises(polycall.UnknownToolError) as info:
        create(responses_client(fake))
    assert "call_1" in info.value.errors
    assert "get_time" in str(info.value)
    assert info.value.valid == SEED_VALUES[:1]


def test_multi_tool_use_parallel_is_unwrapped(fake: FakeProvider) -> None:
    wrapped = {
        "tool_uses": [
            {
                "recipient_name": "functions.Weather",
                "parameters": {"location": "Toronto", "units": "metric"},
            },
            {
                "recipient_name": "functions.GoogleSearch",
                "parameters": {"query": "who won the super bowl"},
            },
        ]
    }
    fake.push(response_body([("multi_tool_use.parallel", wrapped)], call_ids=["call_p"]))
    calls = create(responses_client(fake))
    assert list(calls) == [SEED_VALUES[0], SEED_VALUES[2]]
    assert [c.id for c in calls.calls] == ["call_p_0", "call_p_1"]


def test_empty_arguments_mean_no_arguments(fake: FakeProvider) -> None:
    class Ping(BaseModel):
        pass

    fake.push(response_body([("Ping", "")]))
    calls = responses_client(fake).create(model="m", input="ping", response_model=Iterable[Ping])
    assert calls.calls[0].arguments == {}


def test_required_tool_choice_falls_back_to_auto(fake: FakeProvider) -> None:
    rejected = json_response(
        {
            "error": {
                "message": "tool_choice 'required' is not supported",
                "type": "invalid_request_error",
                "param": "tool_choice",
            }
        },
        status=400,
    )
    fake.push(rejected, response_body(SEED_CALLS), response_body(SEED_CALLS))
    client = responses_client(fake)
    assert list(create(client)) == SEED_VALUES
    assert [r.json["tool_choice"] for r in fake.requests] == ["required", "auto"]
    create(client)
    assert fake.last.json["tool_choice"] == "auto"


def test_tool_results_and_assistant_message(fake: FakeProvider) -> None:
    fake.push(response_body(SEED_CALLS, text="On it."))
    calls = create(responses_client(fake))

    assert calls.assistant_message() == [
        {"role": "assistant", "content": "On it."},
        *(
            {
                "type": "function_call",
                "call_id": f"call_{i}",
                "name": name,
                "arguments": function_call_item(i, name, args)["arguments"],
            }
            for i, (name, args) in enumerate(SEED_CALLS)
        ),
    ]
    assert calls.tool_results(["12C", {"temp": 30}, "the Eagles"]) == [
        {"type": "function_call_output", "call_id": "call_0", "output": "12C"},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 30}'},
        {"type": "function_call_output", "call_id": "call_2", "output": "the Eagles"},
    ]
    with pytest.raises(polycall.ConfigurationError):
        calls.tool_results(["one"])


def test_conversation_goes_on_with_our_own_messages(fake: FakeProvider) -> None:
    client = responses_client(fake)
    fake.push(response_body(SEED_CALLS))
    calls = create(client)
    outputs = ["12C", "30F", "the Eagles"]
    fake.push(response_body([("GoogleSearch", {"query": "super bowl MVP"})]))

    # the assistant turn is a list of items: nested (as DESIGN shows) or spread, both work
    for turn in ([calls.assistant_message()], [*calls.assistant_message()]):
        messages = [*SEED_MESSAGES, *turn, *calls.tool_results(outputs)]
        fake.push(response_body([("GoogleSearch", {"query": "super bowl MVP"})]))
        follow = client.create(model="m", messages=messages, response_model=SEED_MODEL)
        assert list(follow) == [GoogleSearch(query="super bowl MVP")]
        sent = fake.last.json["input"]
        assert sent[:2] == SEED_MESSAGES
        assert [item["type"] for item in sent[2:]] == ["function_call"] * 3 + [
            "function_call_output"
        ] * 3
        assert [item["call_id"] for item in sent[2:]] == ["call_0", "call_1", "call_2"] * 2
        assert [item["output"] for item in sent[5:]] == outputs


def _as_sdk_message(message: dict[str, Any]) -> Any:
    from openai.types.chat import ChatCompletionMessage

    return ChatCompletionMessage.model_validate(message)


def _with_sdk_calls(message: dict[str, Any]) -> dict[str, Any]:
    calls = _as_sdk_message(message).tool_calls
    return {**message, "tool_calls": calls}


@pytest.mark.parametrize(
    "assistant", [dict, _as_sdk_message, _with_sdk_calls], ids=["dicts", "sdk message", "sdk calls"]
)
def test_chat_style_history_is_rewritten_as_items(fake: FakeProvider, assistant: Any) -> None:
    """Chat history, as dicts or as the Chat SDK's objects (a completion's `.message`)."""
    history: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Toronto?"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {
                        "name": "Weather",
                        "arguments": '{"location":"Toronto","units":"metric"}',
                    },
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "12C"},
        {"role": "user", "content": "And Dallas?"},
    ]
    history[1] = assistant(history[1])
    fake.push(response_body(SEED_CALLS[1:2]))
    responses_client(fake).create(model="m", messages=history, response_model=Iterable[Weather])
    assert fake.last.json["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather in Toronto?"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
            ],
        },
        {
            "type": "function_call",
            "call_id": "call_a",
            "name": "Weather",
            "arguments": '{"location":"Toronto","units":"metric"}',
        },
        {"type": "function_call_output", "call_id": "call_a", "output": "12C"},
        {"role": "user", "content": "And Dallas?"},
    ]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (None, "messages must be a list of messages, got NoneType"),
        (
            [{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function"}]}],
            r"tool_calls\[0\] is not a tool call with a function name",
        ),
    ],
    ids=["no messages", "call without function"],
)
def test_messages_it_cannot_read_are_clear_errors(fake: FakeProvider, messages: Any, message: str) -> None:
    with pytest.raises(polycall.ConfigurationError, match=message):
        responses_client(fake).create(model="m", messages=messages, response_model=SEED_MODEL)
    assert fake.requests == []


@pytest.mark.parametrize("key", ["messages", "input"])
def test_a_string_is_one_user_message(fake: FakeProvider, key: str) -> None:
    """As the Responses API takes `input`."""
    fake.push(response_body(SEED_CALLS))
    responses_client(fake).create(model="m", response_model=SEED_MODEL, **{key: "Weather?"})
    assert fake.last.json["input"] == [{"role": "user", "content": "Weather?"}]


def test_sdk_output_items_are_accepted_back(fake: FakeProvider) -> None:
    client = responses_client(fake)
    fake.push(response_body(SEED_CALLS))
    calls = create(client)
    fake.push(response_body(SEED_CALLS[:1]))
    client.create(
        model="m",
        messages=[*SEED_MESSAGES, *calls.raw.output, *calls.tool_results(["a", "b", "c"])],
        response_model=SEED_MODEL,
    )
    sent = fake.last.json["input"]
    assert [item.get("id") for item in sent[2:5]] == ["fc_0", "fc_1", "fc_2"]
    assert [item["call_id"] for item in sent[2:]] == ["call_0", "call_1", "call_2"] * 2


def test_retry_reasks_only_the_failed_call(fake: FakeProvider) -> None:
    fake.push(
        response_body(models.BAD_CALLS, usage=(100, 30)),
        response_body([SEED_CALLS[1]], call_ids=["call_new"], usage=(150, 10)),
    )
    calls = create(responses_client(fake), max_retries=1)

    assert len(fake.requests) == 2
    first, second = (r.json for r in fake.requests)
    assert first["input"] == SEED_MESSAGES
    assert second["input"][:2] == SEED_MESSAGES
    appended = second["input"][2:]
    assert appended[:3] == [
        {
            "type": "function_call",
            "call_id": f"call_{i}",
            "name": name,
            "arguments": function_call_item(i, name, args)["arguments"],
        }
        for i, (name, args) in enumerate(models.BAD_CALLS)
    ]
    outputs = appended[3:]
    assert [o["type"] for o in outputs] == ["function_call_output"] * 3
    assert [o["call_id"] for o in outputs] == ["call_0", "call_1", "call_2"]
    assert outputs[0]["output"] == outputs[2]["output"] == "ok"
    assert "call_1" in outputs[1]["output"] and "units" in outputs[1]["output"]
    assert "kelvin" in outputs[1]["output"]
    assert second["tools"] == first["tools"] and second["tool_choice"] == "required"

    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["call_0", "call_1", "call_2"]
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (250, 40)


async def test_retry_async_then_gives_up(fake: FakeProvider) -> None:
    bad = [SEED_CALLS[0], ("Weather", {"location": "Dallas"})]
    fake.push(response_body(bad), response_body([("Weather", {"units": "metric"})]))
    with pytest.raises(polycall.ValidationFailed) as info:
        await create(responses_client(fake, is_async=True), max_retries=1)
    assert len(fake.requests) == 2
    assert list(info.value.errors) == ["call_1"]
    assert info.value.valid == SEED_VALUES[:1]
    assert info.value.attempts == 2


def test_adapter_needs_the_responses_api() -> None:
    class OldClient:
        chat = None

    with pytest.raises(polycall.ConfigurationError, match="Responses API"):
        OpenAIResponses(OldClient())


def test_messages_and_input_together_are_refused(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="messages= or input="):
        responses_client(fake).create(
            model="m", messages=SEED_MESSAGES, input="x", response_model=SEED_MODEL
        )
    assert fake.requests == []
