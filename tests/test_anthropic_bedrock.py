"""Claude on Bedrock: `from_anthropic(anthropic.AnthropicBedrock(...))`, through the real SDK
against the fake's InvokeModel envelope (`/model/{id}/invoke`, `invoke-with-response-stream`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

anthropic = pytest.importorskip("anthropic")
pytest.importorskip("boto3")  # the SDK signs Bedrock requests with botocore

import polycall
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall.testing import FakeProvider, Gate
from polycall.testing.anthropic import error, message, message_stream
from polycall.testing.bedrock import events, exception, invoke_stream

MODEL = "us.anthropic.claude-sonnet-4-6-v1:0"
BAD = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]

if not hasattr(anthropic, "AnthropicBedrock"):
    pytest.skip(f"anthropic {anthropic.__version__} has no AnthropicBedrock", allow_module_level=True)


def sdk(fake: FakeProvider, *, is_async: bool = False, **options: Any) -> Any:
    kind = anthropic.AsyncAnthropicBedrock if is_async else anthropic.AnthropicBedrock
    settings = {"aws_access_key": "AKIDTEST", "aws_secret_key": "test-secret",
                "aws_region": "us-east-1", "base_url": fake.url, "max_retries": 0, **options}
    return kind(**settings)


def client(fake: FakeProvider, *, is_async: bool = False, **options: Any) -> Any:
    return polycall.from_anthropic(sdk(fake, is_async=is_async, **options), model=MODEL)


def test_seed_scenario(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS, text="On it."))
    calls = client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert list(calls) == SEED_VALUES and calls.text == "On it."
    assert unquote(fake.last.path) == f"/model/{MODEL}/invoke"
    body = fake.last.json
    assert "model" not in body and "stream" not in body  # the model goes in the URL
    assert "anthropic_version" in body  # the envelope the SDK adds
    assert body["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in body["tools"]] == ["Weather", "GoogleSearch"]
    assert "Authorization" in fake.last.headers  # signed


async def test_seed_scenario_async(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    async_client = client(fake, is_async=True)
    assert isinstance(async_client, polycall.AsyncClient)
    assert list(await async_client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)) == SEED_VALUES


def test_seed_scenario_streamed(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(invoke_stream(message_stream(SEED_CALLS, text="On it.", gates={0: gate})))
    stream = client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[0]  # while the rest is held at the server
    assert not gate.timed_out
    gate.open()
    assert list(stream) == SEED_VALUES[1:]
    assert unquote(fake.last.path) == f"/model/{MODEL}/invoke-with-response-stream"
    assert (stream.result.text, stream.result.usage) == ("On it.", polycall.Usage(10, 20))


async def test_seed_scenario_streamed_async(fake: FakeProvider) -> None:
    fake.push(invoke_stream(message_stream(SEED_CALLS)))
    stream = client(fake, is_async=True).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert [value async for value in stream] == SEED_VALUES


def test_retry_and_tool_results(fake: FakeProvider) -> None:
    fake.push(message(BAD, ids=["a", "b", "c"]), message([SEED_CALLS[1]], ids=["d"]))
    calls = client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1)
    assert list(calls) == SEED_VALUES
    results = fake.last.json["messages"][-1]["content"]
    assert [(r["tool_use_id"], r.get("is_error", False)) for r in results] == [
        ("a", False), ("b", True), ("c", False)
    ]
    replies = calls.tool_results(["18°C", "75°F", "Chiefs"])
    assert [block["tool_use_id"] for block in replies[0]["content"]] == ["a", "b", "c"]


def test_the_parallel_switch_bedrock_refuses_is_left_out(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    choice = {"type": "any", "disable_parallel_tool_use": False}
    client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL, tool_choice=choice)
    assert fake.last.json["tool_choice"] == {"type": "any"}
    with pytest.raises(polycall.ConfigurationError, match="disable_parallel_tool_use"):
        client(fake).create(
            messages=SEED_MESSAGES, response_model=SEED_MODEL,
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )


def test_the_first_party_api_keeps_it(fake: FakeProvider) -> None:
    fake.push(message(SEED_CALLS))
    first_party = polycall.from_anthropic(
        anthropic.Anthropic(base_url=fake.url, api_key="test"), model="claude-sonnet-4-6"
    )
    choice = {"type": "any", "disable_parallel_tool_use": False}
    first_party.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, tool_choice=choice)
    assert fake.last.json["tool_choice"] == choice


def test_http_error(fake: FakeProvider) -> None:
    fake.push(error(400, "Malformed input request"))
    with pytest.raises(polycall.ProviderError, match="Malformed input request") as caught:
        client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert caught.value.status_code == 400  # type: ignore[attr-defined]


def test_stream_exception_event(fake: FakeProvider) -> None:
    fake.push(events([exception("modelStreamErrorException", "the model failed")]))
    with pytest.raises(polycall.ProviderError, match="modelStreamErrorException"):
        list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("kind", "status"),
    [("throttlingException", 429), ("modelStreamErrorException", 424), ("serviceUnavailableException", 503)],
)
async def test_stream_exception_event_has_its_status(
    fake: FakeProvider, kind: str, status: int, is_async: bool
) -> None:
    # as from_bedrock() gives it: the stream began with a 200, the event's kind has a status
    fake.push(events([exception(kind, "slow down")]))
    stream = client(fake, is_async=is_async).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    with pytest.raises(polycall.ProviderError, match=kind) as caught:
        await anext(stream) if is_async else next(stream)
    assert caught.value.status_code == status
