"""Anthropic Messages, whole responses: the real SDK against the fake provider."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel

import polycall
from helpers import anthropic_client
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import Mode
from polycall.providers.anthropic import DEFAULT_MAX_TOKENS
from polycall.testing import FakeProvider
from polycall.testing.anthropic import error, message, message_stream

USER = [
    {
        "role": "user",
        "content": "What is the weather in toronto and dallas and who won the super bowl?",
    }
]
IDS = ["toolu_fake_0", "toolu_fake_1", "toolu_fake_2"]


class Ping(BaseModel):
    """A tool without arguments."""


def test_seed_scenario_returns_the_seed_values(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    calls = anthropic_client(fake).create(
        model="claude-sonnet-4-6", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == IDS
    assert [c.arguments for c in calls.calls] == [args for _, args in SEED_CALLS]
    assert fake.last.path.endswith("/messages")


async def test_seed_scenario_async(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    calls = await anthropic_client(fake, is_async=True).create(
        model="claude-sonnet-4-6", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(calls) == SEED_VALUES
    assert calls.usage == polycall.Usage(10, 20)


def test_request_lifts_system_sets_defaults_and_tools(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    anthropic_client(fake).create(
        model="claude-sonnet-4-6", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    body = fake.last.json
    assert body["system"] == "You must always use tools"
    assert body["messages"] == USER
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS == 4096
    assert body["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in body["tools"]] == ["Weather", "GoogleSearch"]
    assert set(body["tools"][0]) == {"name", "description", "input_schema"}
    assert body["tools"][0]["input_schema"]["properties"]["units"]["enum"] == ["imperial", "metric"]
    assert "disable_parallel_tool_use" not in str(body)


def test_tools_are_built_once_per_response_model(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS), message(SEED_CALLS))
    client = anthropic_client(fake)
    first = client.adapter.prepare(
        polycall.toolset.tool_set(SEED_MODEL), {"model": "m", "messages": USER}
    )
    second = client.adapter.prepare(
        polycall.toolset.tool_set(SEED_MODEL), {"model": "m", "messages": USER}
    )
    assert first["tools"] is second["tools"]


def test_user_settings_are_forwarded_untouched(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    anthropic_client(fake).create(
        model="claude-sonnet-4-6",
        messages=USER,
        response_model=SEED_MODEL,
        max_tokens=123,
        tool_choice={"type": "auto"},
        service_tier="standard_only",
        stop_sequences=["END"],
        metadata={"user_id": "u-1"},
    )
    body = fake.last.json
    assert body["max_tokens"] == 123
    assert body["tool_choice"] == {"type": "auto"}
    assert body["service_tier"] == "standard_only"
    assert (body["stop_sequences"], body["metadata"]) == (["END"], {"user_id": "u-1"})
    assert "system" not in body


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, {"type": "auto"}),
        ({"type": "disabled"}, {"type": "any"}),
    ],
)
def test_extended_thinking_gets_auto_tool_choice(
    fake: FakeProvider, thinking: dict[str, Any], expected: dict[str, str]
) -> None:
    fake.push(message(SEED_CALLS))
    anthropic_client(fake).create(
        model="claude-sonnet-4-6", messages=USER, response_model=SEED_MODEL, thinking=thinking
    )
    assert fake.last.json["tool_choice"] == expected
    assert fake.last.json["thinking"] == thinking


def test_system_kwarg_comes_first_then_system_messages(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    messages = [
        {"role": "system", "content": "Be brief."},
        *USER,
        {"role": "developer", "content": "Use tools."},
    ]
    anthropic_client(fake).create(
        model="m", messages=messages, response_model=SEED_MODEL, system="You are a router."
    )
    assert fake.last.json["system"] == "You are a router.\n\nBe brief.\n\nUse tools."
    assert fake.last.json["messages"] == USER


def test_system_blocks_keep_their_cache_control(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    cached = [
        {"type": "text", "text": "Long instructions.", "cache_control": {"type": "ephemeral"}}
    ]
    anthropic_client(fake).create(
        model="m",
        messages=[{"role": "system", "content": "Be brief."}, *USER],
        response_model=SEED_MODEL,
        system=cached,
    )
    assert fake.last.json["system"] == [*cached, {"type": "text", "text": "Be brief."}]


def test_system_kwarg_as_one_block_joins_the_system_messages(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    block = {"type": "text", "text": "You are a router."}
    anthropic_client(fake).create(
        model="m", messages=[{"role": "system", "content": "Be brief."}, *USER],
        response_model=SEED_MODEL, system=block,
    )
    assert fake.last.json["system"] == [block, {"type": "text", "text": "Be brief."}]


def test_system_kwarg_as_an_iterable_of_blocks_joins_the_system_messages(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    block = {"type": "text", "text": "You are a router."}
    anthropic_client(fake).create(
        model="m", messages=[{"role": "system", "content": "Be brief."}, *USER],
        response_model=SEED_MODEL, system=(b for b in [block]),
    )
    assert fake.last.json["system"] == [block, {"type": "text", "text": "Be brief."}]


def test_a_system_kwarg_that_cannot_join_the_system_messages_is_refused(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="system= takes a string or a list of text blocks, got int"):
        anthropic_client(fake).create(
            model="m", messages=[{"role": "system", "content": "Be brief."}, *USER],
            response_model=SEED_MODEL, system=123,
        )
    assert fake.requests == []


def test_system_kwarg_alone_is_untouched(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    cached = [{"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}}]
    anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL, system=cached)
    assert fake.last.json["system"] == cached


def test_native_messages_pass_through(fake: FakeProvider) -> None:
    native = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            ],
        },
        {"role": "assistant", "content": "Which city?"},
        {"role": "user", "content": "Toronto"},
    ]
    fake.push(message(SEED_CALLS[:1]))
    anthropic_client(fake).create(model="m", messages=native, response_model=SEED_MODEL)
    assert fake.last.json["messages"] == native


@pytest.mark.parametrize("sdk_message", [False, True], ids=["dicts", "sdk message"])
def test_chat_style_history_becomes_anthropic_messages(fake: FakeProvider, sdk_message: bool) -> None:
    """What a conversation begun on OpenAI Chat holds: tool calls (`content: None`), tool
    messages, image parts; the assistant turn as a dict or as the Chat SDK's object."""
    from openai.types.chat import ChatCompletionMessage

    assistant: Any = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "Weather", "arguments": '{"location": "Oslo", "units": "metric"}'}},
            {"id": "c2", "type": "function", "function": {"name": "GoogleSearch", "arguments": "{}"}},
        ],
    }
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "Weather here?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        ]},
        ChatCompletionMessage.model_validate(assistant) if sdk_message else assistant,
        {"role": "tool", "tool_call_id": "c1", "content": "3°C"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "KC"}]},
        {"role": "user", "content": "And Toronto?"},
    ]
    fake.push(message(SEED_CALLS[:1]))
    anthropic_client(fake).create(model="m", messages=history, response_model=SEED_MODEL)
    sent = fake.last.json
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [
        {"role": "user", "content": [
            {"type": "text", "text": "Weather here?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "c1", "name": "Weather", "input": {"location": "Oslo", "units": "metric"}},
            {"type": "tool_use", "id": "c2", "name": "GoogleSearch", "input": {}},
        ]},
        {"role": "user", "content": [  # both results in the user message after the calls
            {"type": "tool_result", "tool_use_id": "c1", "content": "3°C"},
            {"type": "tool_result", "tool_use_id": "c2", "content": [{"type": "text", "text": "KC"}]},
        ]},
        {"role": "user", "content": "And Toronto?"},
    ]


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        (None, "messages must be a list of messages, got NoneType"),
        ([{"role": "assistant", "tool_calls": [{"id": "c1"}]}], r"messages\[0\].tool_calls\[0\] is not a tool call"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "image_url content part without a url"),
    ],
    ids=["no messages", "call without function", "image without url"],
)
def test_messages_it_cannot_read_are_clear_errors(fake: FakeProvider, messages: Any, match: str) -> None:
    with pytest.raises(polycall.ConfigurationError, match=match):
        anthropic_client(fake).create(model="m", messages=messages, response_model=SEED_MODEL)
    assert fake.requests == []


@pytest.mark.parametrize("method", ["create", "messages.create", "chat.completions.create"])
def test_every_alias_makes_the_same_request(fake: FakeProvider, method: str) -> None:
    fake.push(message(SEED_CALLS))
    target: Any = anthropic_client(fake)
    for part in method.split("."):
        target = getattr(target, part)
    calls = target(model="m", messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(calls) == SEED_VALUES
    body = fake.last.json
    assert (body["system"], body["messages"], body["tool_choice"]) == (
        "You must always use tools",
        USER,
        {"type": "any"},
    )


def test_model_bound_in_from_anthropic(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    anthropic_client(fake, model="claude-haiku-4-5").create(messages=USER, response_model=SEED_MODEL)
    assert fake.last.json["model"] == "claude-haiku-4-5"


def test_missing_model_is_a_configuration_error_before_any_request(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="model="):
        anthropic_client(fake).create(messages=USER, response_model=SEED_MODEL)
    assert fake.requests == []


def test_tools_kwarg_is_refused(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="tools"):
        anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL, tools=[])
    assert fake.requests == []


def test_calls_after_a_leading_text_block_keep_their_order(fake: FakeProvider) -> None:
    fake.push(
        message(SEED_CALLS, text="Let me look that up.", ids=["toolu_c", "toolu_a", "toolu_b"])
    )
    calls = anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL)
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["toolu_c", "toolu_a", "toolu_b"]
    assert calls.text == "Let me look that up."


def test_empty_input_is_an_empty_object(fake: FakeProvider) -> None:
    fake.push(message([("Ping", {}), ("Weather", SEED_CALLS[0][1])]))
    calls = anthropic_client(fake).create(
        model="m", messages=USER, response_model=Iterable[Ping | Weather]
    )
    assert calls == [Ping(), SEED_VALUES[0]]
    assert calls.calls[0].arguments == {}


def test_max_tokens_stop_is_incomplete_output(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS[:1], stop_reason="max_tokens"))
    with pytest.raises(polycall.IncompleteOutputError) as caught:
        anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL)
    assert caught.value.reason == "max_tokens"
    assert caught.value.raw.stop_reason == "max_tokens"


def test_refusal_stop_is_a_refusal_error_with_its_details(fake: FakeProvider) -> None:
    details = {"type": "refusal", "category": "cyber", "explanation": "Exploit development."}
    fake.push(message(text="I can't help with that.", stop_reason="refusal", stop_details=details))
    with pytest.raises(polycall.RefusalError) as caught:
        anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL)
    assert caught.value.reason == "refusal (cyber): Exploit development."


def test_refusal_without_details(fake: FakeProvider) -> None:
    fake.push(message(stop_reason="refusal"))
    with pytest.raises(polycall.RefusalError) as caught:
        anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL)
    assert caught.value.reason == "refusal"


def test_text_only_answer_is_no_tool_calls(fake: FakeProvider) -> None:
    fake.push(message(text="It is sunny in Toronto."))
    with pytest.raises(polycall.NoToolCallsError) as caught:
        anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL)
    assert caught.value.text == "It is sunny in Toronto."
    assert caught.value.raw.stop_reason == "end_turn"


def test_usage_counts_cache_reads_and_writes_as_input(fake: FakeProvider) -> None:
    response = message(SEED_CALLS)
    response.body["usage"] = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 3000,
        "output_tokens": 40,
    }
    fake.push(response)
    calls = anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL)
    assert calls.usage == polycall.Usage(3210, 40)


def test_create_with_completion_returns_the_sdk_message(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    calls, raw = anthropic_client(fake).create_with_completion(
        model="m", messages=USER, response_model=SEED_MODEL
    )
    assert isinstance(raw, anthropic.types.Message)
    assert raw is calls.raw
    assert [b.id for b in raw.content] == IDS


def test_follow_up_messages_answer_every_call(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS, text="Checking."))
    client = anthropic_client(fake)
    calls = client.create(model="m", messages=SEED_MESSAGES, response_model=SEED_MODEL)
    failed = polycall.ToolResult(calls.calls[2], error=TimeoutError("search timed out"))
    results = calls.tool_results(["-3 C", {"temp_f": 88}, failed])
    assert results == [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_fake_0", "content": "-3 C"},
                {"type": "tool_result", "tool_use_id": "toolu_fake_1", "content": '{"temp_f": 88}'},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_fake_2",
                    "content": "Error: TimeoutError: search timed out",
                    "is_error": True,
                },
            ],
        }
    ]
    assistant = calls.assistant_message()
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            *(
                {"type": "tool_use", "id": i, "name": n, "input": a}
                for i, (n, a) in zip(IDS, SEED_CALLS)
            ),
        ],
    }
    fake.push(message([("GoogleSearch", {"query": "super bowl winner"})]))
    client.create(
        model="m", messages=[*SEED_MESSAGES, assistant, *results], response_model=SEED_MODEL
    )
    assert fake.last.json["messages"] == [*USER, assistant, *results]
    assert fake.last.json["system"] == "You must always use tools"


def test_tool_results_needs_one_output_per_call(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    calls = anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL)
    with pytest.raises(polycall.ConfigurationError, match="3 call"):
        calls.tool_results(["only one"])


BAD = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
RETRY_TEXT = (
    "Validation failed for call toolu_fake_1 (Weather): units: Input should be 'imperial' or "
    "'metric' (got 'kelvin'). Call Weather again with corrected arguments."
)


def test_retry_re_asks_only_the_failed_call(fake: FakeProvider) -> None:
    fake.push(
        message(BAD, text="On it.", usage=(100, 30)),
        message([SEED_CALLS[1]], ids=["toolu_retry_0"], usage=(150, 10)),
    )
    calls = anthropic_client(fake).create(
        model="m", messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1
    )
    assert len(fake.requests) == 2
    first, second = (r.json for r in fake.requests)
    assert second["messages"][: len(first["messages"])] == first["messages"] == USER
    assert second["messages"][len(first["messages"]) :] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "On it."},
                *(
                    {"type": "tool_use", "id": i, "name": n, "input": a}
                    for i, (n, a) in zip(IDS, BAD)
                ),
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_fake_0", "content": "ok"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_fake_1",
                    "content": RETRY_TEXT,
                    "is_error": True,
                },
                {"type": "tool_result", "tool_use_id": "toolu_fake_2", "content": "ok"},
            ],
        },
    ]
    assert {k: v for k, v in second.items() if k != "messages"} == {
        k: v for k, v in first.items() if k != "messages"
    }
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == IDS
    assert calls.usage == polycall.Usage(250, 40)


async def test_retry_async(fake: FakeProvider) -> None:
    fake.push(message(BAD), message([SEED_CALLS[1]]))
    calls = await anthropic_client(fake, is_async=True).create(
        model="m", messages=USER, response_model=SEED_MODEL, max_retries=1
    )
    assert list(calls) == SEED_VALUES
    assert len(fake.requests) == 2
    assert fake.last.json["messages"][-1]["content"][1]["is_error"] is True


def test_retries_exhausted_is_validation_failed(fake: FakeProvider) -> None:
    fake.push(message(BAD), message([BAD[1]], ids=["toolu_retry_0"]))
    with pytest.raises(polycall.ValidationFailed) as caught:
        anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL, max_retries=1)
    assert len(fake.requests) == 2
    assert list(caught.value.errors) == ["toolu_fake_1"]
    assert caught.value.errors["toolu_fake_1"][0]["loc"] == ("units",)
    assert caught.value.valid == [SEED_VALUES[0], SEED_VALUES[2]]
    assert "call toolu_fake_1 (Weather): units" in str(caught.value)


def test_unknown_tool_is_named(fake: FakeProvider) -> None:
    fake.push(message([("Calendar", {"day": "monday"})]))
    with pytest.raises(polycall.UnknownToolError, match="Calendar"):
        anthropic_client(fake).create(
            model="m", messages=USER, response_model=Iterable[Weather | GoogleSearch]
        )


def test_sdk_http_error_is_a_provider_error_without_the_key(fake: FakeProvider) -> None:
    secret = "sk-ant-secret-value-123"
    fake.push(error(400, "messages: field required"))
    client = polycall.from_anthropic(anthropic.Anthropic(base_url=fake.url, api_key=secret))
    with pytest.raises(polycall.ProviderError) as caught:
        client.create(model="m", messages=USER, response_model=SEED_MODEL)
    assert isinstance(caught.value.__cause__, anthropic.BadRequestError)
    assert "messages: field required" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret in str(fake.last.headers)  # the key was sent, yet is in no message


async def test_sdk_http_error_async(fake: FakeProvider) -> None:
    fake.push(error(401, "invalid x-api-key", "authentication_error"))
    with pytest.raises(polycall.ProviderError) as caught:
        await anthropic_client(fake, is_async=True).create(
            model="m", messages=USER, response_model=SEED_MODEL
        )
    assert isinstance(caught.value.__cause__, anthropic.AuthenticationError)


def test_wrong_mode_is_a_configuration_error() -> None:
    with pytest.raises(polycall.ConfigurationError, match="from_anthropic"):
        polycall.from_anthropic(anthropic.Anthropic(api_key="test"), mode=Mode.PARALLEL_TOOLS)


@pytest.mark.parametrize("wrong", [openai.OpenAI(api_key="test"), object()])
def test_wrong_client_is_a_configuration_error(wrong: object) -> None:
    with pytest.raises(polycall.ConfigurationError, match="anthropic.Anthropic"):
        polycall.from_anthropic(wrong)


def test_async_sdk_client_gives_an_async_client() -> None:
    client = polycall.from_anthropic(anthropic.AsyncAnthropic(api_key="test"))
    assert isinstance(client, polycall.AsyncClient)
    assert client.mode is Mode.ANTHROPIC_PARALLEL_TOOLS



THINKING = {"type": "thinking", "thinking": "Two cities, one search.", "signature": "c2lnbmVk"}
THINK = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
KELVIN = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]


def _assert_thinking_leads(turn: dict[str, Any]) -> None:
    assert turn["role"] == "assistant"
    assert turn["content"][0] == THINKING
    assert [block["type"] for block in turn["content"]] == ["thinking", *["tool_use"] * 3]


def test_thinking_block_leads_the_retry_and_follow_up_turns(fake: FakeProvider) -> None:
    """Extended thinking: the signed thinking block is sent back first, as the API demands."""
    fake.push(message(KELVIN, thinking=(THINKING["thinking"], THINKING["signature"])))
    fake.push(message([SEED_CALLS[1]], ids=["toolu_fix"]))
    calls = anthropic_client(fake).create(
        model="m", messages=USER, response_model=SEED_MODEL, max_retries=1, **THINK
    )
    assert list(calls) == SEED_VALUES
    _assert_thinking_leads(fake.requests[1].json["messages"][1])
    _assert_thinking_leads(calls.assistant_message())


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_thinking_stays_when_the_call_it_came_with_is_corrected(fake: FakeProvider, streamed: bool) -> None:
    """The thinking block comes with the first call; when that call fails and the retry (which
    thinks no more) corrects it, the final turn still leads with the block, or the API would
    refuse the conversation it continues."""
    build = message_stream if streamed else message
    first_bad = [("Weather", {"location": "Toronto", "units": "kelvin"}), *SEED_CALLS[1:]]
    fake.push(build(first_bad, thinking=(THINKING["thinking"], THINKING["signature"])))
    fake.push(build([SEED_CALLS[0]], ids=["toolu_fix"]))
    client = anthropic_client(fake)
    ask = client.create_iterable if streamed else client.create
    calls = ask(model="m", messages=USER, response_model=SEED_MODEL, max_retries=1, **THINK)
    if streamed:
        list(calls)
        calls = calls.result
    assert list(calls) == SEED_VALUES
    _assert_thinking_leads(calls.assistant_message())


def test_interleaved_thinking_is_sent_back_in_the_order_it_came(fake: FakeProvider) -> None:
    """Thinking between the calls (interleaved thinking) stays between them in the replayed
    turn: the API wants a turn's thinking blocks back as the model wrote them."""
    response = message(SEED_CALLS[:2], text="Checking both.")
    tool_0, tool_1 = (b for b in response.body["content"] if b["type"] == "tool_use")
    text = {"type": "text", "text": "Checking both."}
    second = {"type": "thinking", "thinking": "Now Dallas.", "signature": "sig-2"}
    hidden = {"type": "redacted_thinking", "data": "ENCRYPTED"}
    response.body["content"] = [THINKING, text, tool_0, second, hidden, tool_1]
    fake.push(response)
    calls = anthropic_client(fake).create(model="m", messages=USER, response_model=SEED_MODEL, **THINK)
    assert calls.assistant_message()["content"] == response.body["content"]


def test_the_sdks_not_given_is_an_argument_not_given(fake: FakeProvider) -> None:
    """anthropic.NOT_GIVEN / omit, as wrappers forward them: polycall's defaults apply."""
    fake.push(message(SEED_CALLS), message(SEED_CALLS))
    client = anthropic_client(fake)
    for marker in (anthropic.NOT_GIVEN, getattr(anthropic, "omit", anthropic.NOT_GIVEN)):
        client.create(model="m", messages=USER, response_model=SEED_MODEL,
                      max_tokens=marker, tool_choice=marker, thinking=marker)
        body = fake.last.json
        assert (body["max_tokens"], body["tool_choice"]) == (4096, {"type": "any"})
        assert "thinking" not in body


@pytest.mark.parametrize(("budget", "expected"), [(1024, 4096), (4096, 8192), (8000, 12096)])
def test_the_default_max_tokens_is_above_the_thinking_budget(
    fake: FakeProvider, budget: int, expected: int
) -> None:
    fake.push(message(SEED_CALLS))
    anthropic_client(fake).create(
        model="m", messages=USER, response_model=SEED_MODEL,
        thinking={"type": "enabled", "budget_tokens": budget},
    )
    assert fake.last.json["max_tokens"] == expected


def test_streamed_thinking_block_leads_the_retry_turn(fake: FakeProvider) -> None:
    fake.push(message_stream(KELVIN, thinking=(THINKING["thinking"], THINKING["signature"])))
    fake.push(message_stream([SEED_CALLS[1]], ids=["toolu_fix"]))
    stream = anthropic_client(fake).create_iterable(
        model="m", messages=USER, response_model=SEED_MODEL, max_retries=1, **THINK
    )
    assert list(stream) == [SEED_VALUES[0], SEED_VALUES[2], SEED_VALUES[1]]
    _assert_thinking_leads(fake.requests[1].json["messages"][1])
    assert list(stream.result) == SEED_VALUES
