"""Bedrock Converse, whole responses: the real boto3 (and aiobotocore) client against the fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import pytest

boto3 = pytest.importorskip("boto3")

import polycall
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import Mode
from polycall.testing import FakeProvider
from polycall.testing.bedrock import aio_bedrock_client, bedrock_client, converse, error

MODEL = "anthropic.claude-sonnet-4-6-v1:0"
BAD = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]


def client(fake: FakeProvider, **options: Any) -> polycall.Client:
    return polycall.from_bedrock(bedrock_client(fake), model=MODEL, **options)


@pytest.fixture
async def aio_client(fake: FakeProvider) -> AsyncIterator[polycall.AsyncClient]:
    """`from_bedrock` over an entered aiobotocore `bedrock-runtime` client."""
    pytest.importorskip("aiobotocore")
    async with aio_bedrock_client(fake) as sdk:
        yield polycall.from_bedrock(sdk, model=MODEL)


def test_seed_scenario(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS, text="On it."))
    calls = client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["tooluse_fake_0", "tooluse_fake_1", "tooluse_fake_2"]
    assert calls.calls[1].arguments == {"location": "Dallas", "units": "imperial"}
    assert (calls.text, calls.usage) == ("On it.", polycall.Usage(10, 20))
    assert calls.raw["stopReason"] == "tool_use"
    sent = fake.last
    assert unquote(sent.path) == f"/model/{MODEL}/converse"
    assert sent.json["system"] == [{"text": "You must always use tools"}]
    assert sent.json["messages"] == [{"role": "user", "content": [{"text": SEED_MESSAGES[1]["content"]}]}]
    tools = sent.json["toolConfig"]["tools"]
    assert [t["toolSpec"]["name"] for t in tools] == ["Weather", "GoogleSearch"]
    assert tools[0]["toolSpec"]["inputSchema"]["json"]["properties"]["units"]["enum"] == [
        "imperial", "metric"
    ]
    assert sent.json["toolConfig"]["toolChoice"] == {"any": {}}


async def test_seed_scenario_async_aiobotocore(
    fake: FakeProvider, aio_client: polycall.AsyncClient
) -> None:
    fake.push(converse(SEED_CALLS))
    assert isinstance(aio_client, polycall.AsyncClient)
    calls = await aio_client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(calls) == SEED_VALUES
    assert unquote(fake.last.path) == f"/model/{MODEL}/converse"


async def test_seed_scenario_async_over_boto3_in_a_thread(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS))
    async_client = polycall.from_bedrock(bedrock_client(fake), model=MODEL, use_async=True)
    assert isinstance(async_client, polycall.AsyncClient)
    calls = await async_client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(calls) == SEED_VALUES


def test_instructor_spelling(fake: FakeProvider) -> None:
    import polycall as instructor

    fake.push(converse(SEED_CALLS))
    wrapped = instructor.from_bedrock(bedrock_client(fake), mode=instructor.Mode.BEDROCK_TOOLS)
    assert wrapped.mode is Mode.BEDROCK_PARALLEL_TOOLS
    calls = wrapped.chat.completions.create(
        modelId=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert list(calls) == SEED_VALUES
    assert unquote(fake.last.path) == f"/model/{MODEL}/converse"


async def test_instructor_async_spelling(fake: FakeProvider) -> None:
    import polycall as instructor

    fake.push(converse(SEED_CALLS))
    wrapped = instructor.from_bedrock(bedrock_client(fake), async_client=True)
    assert isinstance(wrapped, polycall.AsyncClient)
    calls = await wrapped.create(modelId=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(calls) == SEED_VALUES


def test_model_is_required_and_not_given_twice(fake: FakeProvider) -> None:
    bare = polycall.from_bedrock(bedrock_client(fake))
    with pytest.raises(polycall.ConfigurationError, match="model="):
        bare.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    with pytest.raises(polycall.ConfigurationError, match="differ"):
        bare.create(model="a", modelId="b", messages=SEED_MESSAGES, response_model=SEED_MODEL)
    with pytest.raises(polycall.ConfigurationError, match="toolConfig.tools"):
        bare.create(model="a", messages=SEED_MESSAGES, response_model=SEED_MODEL,
                    toolConfig={"tools": []})
    assert fake.requests == []


def test_other_clients_are_refused(fake: FakeProvider) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    with pytest.raises(polycall.ConfigurationError, match="bedrock-runtime"):
        polycall.from_bedrock(s3)
    with pytest.raises(polycall.ConfigurationError, match="from_bedrock"):
        polycall.from_bedrock(object())
    with pytest.raises(polycall.ConfigurationError, match="mode"):
        polycall.from_bedrock(bedrock_client(fake), mode=Mode.PARALLEL_TOOLS)


def test_settings_are_forwarded_untouched(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS), converse(SEED_CALLS))
    bedrock = client(fake)
    extra = {"anthropic_beta": ["x"], "top_k": 5}
    bedrock.create(
        messages=SEED_MESSAGES, response_model=SEED_MODEL,
        inferenceConfig={"maxTokens": 512, "temperature": 0.1},
        additionalModelRequestFields=extra,
        toolConfig={"toolChoice": {"auto": {}}},
    )
    assert fake.last.json["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.1}
    assert fake.last.json["additionalModelRequestFields"] == extra
    assert fake.last.json["toolConfig"]["toolChoice"] == {"auto": {}}
    bedrock.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_tokens=64, stop="END")
    assert fake.last.json["inferenceConfig"] == {"maxTokens": 64, "stopSequences": ["END"]}
    with pytest.raises(polycall.ConfigurationError, match="maxTokens"):
        bedrock.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_tokens=1,
                       inferenceConfig={"maxTokens": 2})


def test_openai_style_history_becomes_converse_messages(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS))
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "Weather",
             "arguments": '{"location": "Oslo", "units": "metric"}'}},
            {"id": "c2", "type": "function", "function": {"name": "GoogleSearch", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "3°C"},
        {"role": "tool", "tool_call_id": "c2", "content": '{"hits": 2}'},
        {"role": "user", "content": "And Toronto?"},
    ]
    client(fake).create(messages=history, response_model=SEED_MODEL)
    sent = fake.last.json
    assert sent["system"] == [{"text": "Be brief."}]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "c1", "name": "Weather",
                     "input": {"location": "Oslo", "units": "metric"}}},
        {"toolUse": {"toolUseId": "c2", "name": "GoogleSearch", "input": {}}},
    ]
    assert sent["messages"][2]["content"] == [  # both results and the text: ONE user message
        {"toolResult": {"toolUseId": "c1", "content": [{"text": "3°C"}]}},
        {"toolResult": {"toolUseId": "c2", "content": [{"json": {"hits": 2}}]}},
        {"text": "And Toronto?"},
    ]


def test_a_result_object_with_nan_goes_as_text_so_the_request_stays_json(fake: FakeProvider) -> None:
    """NaN and Infinity are not JSON: such an output goes as a text block, not a `json`
    document the request could not carry."""
    fake.push(converse(SEED_CALLS))
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "GoogleSearch", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": NaN, "feels": Infinity}'},
    ]
    client(fake).create(messages=history, response_model=SEED_MODEL)

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    sent = json.loads(fake.last.body, parse_constant=strict)
    assert sent["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "c1", "content": [{"text": '{"temp": NaN, "feels": Infinity}'}]}},
    ]


def test_a_content_part_converse_cannot_take_is_a_clear_error(fake: FakeProvider) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    with pytest.raises(polycall.ConfigurationError, match=r"messages\[0\].*image_url"):
        client(fake).create(messages=[{"role": "user", "content": [image]}], response_model=SEED_MODEL)


def test_sdk_message_objects_text_parts_of_results_and_a_system_string_keep_their_meaning(
    fake: FakeProvider,
) -> None:
    chat = pytest.importorskip("openai.types.chat")

    fake.push(converse(SEED_CALLS))
    assistant = chat.ChatCompletionMessage.model_validate({
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "GoogleSearch", "arguments": "{}"}}
        ],
    })
    history = [
        {"role": "user", "content": "Search?"},
        assistant,
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "18C"}]},
    ]
    client(fake).create(messages=history, response_model=SEED_MODEL, system="Be terse.")
    sent = fake.last.json
    assert sent["system"] == [{"text": "Be terse."}]
    assert sent["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "c1", "name": "GoogleSearch", "input": {}}}
    ]
    assert sent["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "c1", "content": [{"text": "18C"}]}}
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"messages": None}, "messages must be a list of messages, got NoneType"),
        ({"messages": [{"role": "user", "content": 42}]}, r"messages\[0\]: content must be a string or a list"),
        ({"messages": [{"role": "user", "content": {"text": "hi"}}]}, r"messages\[0\]: content .* got dict"),
        ({"messages": SEED_MESSAGES, "toolConfig": "auto"}, "toolConfig must be a dict, got str"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "c1"}]}]},
            r"messages\[0\].tool_calls\[0\] is not a tool call with a function name",
        ),
    ],
    ids=["no messages", "content a number", "content one block", "toolConfig a string", "call without function"],
)
def test_request_arguments_converse_cannot_take_are_clear_errors(
    fake: FakeProvider, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(polycall.ConfigurationError, match=message):
        client(fake).create(response_model=SEED_MODEL, **kwargs)
    assert fake.requests == []


def test_extended_thinking_is_sent_the_tool_choice_it_accepts(fake: FakeProvider) -> None:
    """Claude's extended thinking refuses a forced tool choice: "auto" goes instead, as on
    the Anthropic API; a tool choice the user gives is kept."""
    fake.push(converse(SEED_CALLS), converse(SEED_CALLS))
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    bedrock = client(fake)
    bedrock.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, additionalModelRequestFields=thinking)
    assert fake.last.json["toolConfig"]["toolChoice"] == {"auto": {}}
    bedrock.create(
        messages=SEED_MESSAGES, response_model=SEED_MODEL,
        additionalModelRequestFields={"thinking": {"type": "disabled"}},
    )
    assert fake.last.json["toolConfig"]["toolChoice"] == {"any": {}}


def test_tool_results_and_assistant_message_continue_the_conversation(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS, text="Looking.", reasoning=("Three lookups.", "sig-1")),
              converse(text="Done."))
    sdk = bedrock_client(fake)
    calls = polycall.from_bedrock(sdk, model=MODEL).create(
        messages=SEED_MESSAGES[1:], response_model=SEED_MODEL
    )
    turn = calls.assistant_message()
    assert turn["content"][:2] == [
        {"reasoningContent": {"reasoningText": {"text": "Three lookups.", "signature": "sig-1"}}},
        {"text": "Looking."},
    ]
    results = calls.tool_results(["18°C", {"temp": 75}, polycall.ToolResult(calls.calls[2], error=KeyError("x"))])
    assert len(results) == 1 and results[0]["role"] == "user"
    assert results[0]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_fake_0", "content": [{"text": "18°C"}]}},
        {"toolResult": {"toolUseId": "tooluse_fake_1", "content": [{"json": {"temp": 75}}]}},
        {"toolResult": {"toolUseId": "tooluse_fake_2", "status": "error",
                        "content": [{"text": "Error: KeyError: 'x'"}]}},
    ]
    messages = [{"role": "user", "content": [{"text": "q"}]}, turn, *results]
    reply = sdk.converse(modelId=MODEL, messages=messages)  # the SDK itself accepts them
    assert reply["output"]["message"]["content"] == [{"text": "Done."}]
    assert fake.last.json["messages"][1]["content"][2]["toolUse"]["input"] == {
        "location": "Toronto", "units": "metric"
    }


def test_retry_sends_one_result_per_call_in_one_user_message(fake: FakeProvider) -> None:
    fake.push(converse(BAD, ids=["a", "b", "c"]), converse([SEED_CALLS[1]], ids=["d"]))
    calls = client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1)
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["a", "b", "c"]
    retry = fake.last.json["messages"]
    assert [m["role"] for m in retry] == ["user", "assistant", "user"]
    assert [b["toolUse"]["toolUseId"] for b in retry[1]["content"]] == ["a", "b", "c"]
    results = [block["toolResult"] for block in retry[2]["content"]]
    assert [r["toolUseId"] for r in results] == ["a", "b", "c"]
    assert [r.get("status") for r in results] == [None, "error", None]
    assert results[0]["content"] == [{"text": "ok"}]
    assert "units" in results[1]["content"][0]["text"] and "kelvin" in results[1]["content"][0]["text"]


def test_validation_failure_without_retries(fake: FakeProvider) -> None:
    fake.push(converse(BAD, ids=["a", "b", "c"]))
    with pytest.raises(polycall.ValidationFailed) as caught:
        client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert set(caught.value.errors) == {"b"}
    assert caught.value.valid == [SEED_VALUES[0], SEED_VALUES[2]]


def test_unknown_tool(fake: FakeProvider) -> None:
    fake.push(converse([("Calendar", {"day": "mon"})]))
    with pytest.raises(polycall.UnknownToolError, match="Calendar"):
        client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)


def test_no_tool_calls(fake: FakeProvider) -> None:
    fake.push(converse(text="It is sunny."))
    with pytest.raises(polycall.NoToolCallsError) as caught:
        client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert caught.value.text == "It is sunny."


def test_max_tokens_is_incomplete(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS[:1], stop_reason="max_tokens"))
    with pytest.raises(polycall.IncompleteOutputError) as caught:
        client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert caught.value.reason == "max_tokens"


@pytest.mark.parametrize("stop", ["guardrail_intervened", "content_filtered"])
def test_guardrail_and_content_filter_are_refusals(fake: FakeProvider, stop: str) -> None:
    fake.push(converse(text="Sorry, the model cannot answer this.", stop_reason=stop))
    with pytest.raises(polycall.RefusalError) as caught:
        client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert caught.value.reason == f"{stop}: Sorry, the model cannot answer this."


def test_malformed_tool_use_is_retried(fake: FakeProvider) -> None:
    fake.push(converse(stop_reason="malformed_tool_use"), converse(SEED_CALLS))
    calls = client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1)
    assert list(calls) == SEED_VALUES


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "ValidationException"), (403, "AccessDeniedException"),
     (429, "ThrottlingException"), (500, "InternalServerException")],
)
def test_http_errors_are_provider_errors_with_their_status(
    fake: FakeProvider, status: int, kind: str
) -> None:
    fake.push(error(status, kind, "something went wrong"))
    with pytest.raises(polycall.ProviderError) as caught:
        client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert kind in str(caught.value) and "something went wrong" in str(caught.value)
    assert type(caught.value.__cause__).__name__ == kind


async def test_http_error_async(fake: FakeProvider, aio_client: polycall.AsyncClient) -> None:
    fake.push(error(429, "ThrottlingException", "slow down"))
    with pytest.raises(polycall.ProviderError, match="ThrottlingException") as caught:
        await aio_client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert caught.value.status_code == 429  # type: ignore[attr-defined]


def test_usage_counts_the_cache(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS, usage=(10, 20), cache=(100, 5)))
    calls = client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert calls.usage == polycall.Usage(115, 20)


def test_run_the_calls(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS))
    calls = client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    results = calls.run({Weather: lambda w: f"sunny in {w.location}", GoogleSearch: lambda g: 1 / 0})
    assert [r.value for r in results[:2]] == ["sunny in Toronto", "sunny in Dallas"]
    assert isinstance(results[2].error, ZeroDivisionError)
    blocks = calls.tool_results(results)[0]["content"]
    assert [b["toolResult"].get("status") for b in blocks] == [None, None, "error"]


def test_batch_is_not_supported(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="[Bb]atch"):
        client(fake).batch.submit([{"custom_id": "a", "messages": SEED_MESSAGES}], response_model=SEED_MODEL)


@pytest.fixture
def aws_environment(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard AWS environment, pointing at the fake; no file or instance metadata read."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.mark.usefixtures("aws_environment")
def test_from_provider_builds_boto3_from_the_environment(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS))
    built = polycall.from_provider(f"bedrock/{MODEL}", endpoint_url=fake.url)
    assert isinstance(built, polycall.Client) and built.mode is Mode.BEDROCK_PARALLEL_TOOLS
    assert built.adapter.client.meta.region_name == "eu-west-3"
    assert list(built.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)) == SEED_VALUES
    assert unquote(fake.last.path) == f"/model/{MODEL}/converse"
    assert "AKIDENV/" in fake.last.headers["Authorization"]  # signed with the environment's key


@pytest.mark.usefixtures("aws_environment")
async def test_from_provider_async(fake: FakeProvider) -> None:
    fake.push(converse(SEED_CALLS))
    built = polycall.from_provider(f"bedrock/{MODEL}", async_client=True, endpoint_url=fake.url)
    assert isinstance(built, polycall.AsyncClient)
    assert list(await built.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)) == SEED_VALUES


def test_from_provider_needs_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(polycall.ConfigurationError, match="AWS_REGION"):
        polycall.from_provider(f"bedrock/{MODEL}")


def test_tool_schemas_are_built_once(fake: FakeProvider) -> None:
    adapter = client(fake).adapter
    first, second = (
        adapter.prepare(polycall.toolset.tool_set(SEED_MODEL), {"messages": SEED_MESSAGES})
        for _ in range(2)
    )
    assert first["toolConfig"]["tools"] is second["toolConfig"]["tools"]
