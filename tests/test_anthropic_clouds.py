"""Claude on a cloud through `from_anthropic`: `AnthropicVertex` and `AnthropicFoundry`, sync
and async, the real SDK against the fake provider serving each cloud's envelope."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

import polycall
from helpers import agated_values, gated_values
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall.testing import FakeProvider, Gate
from polycall.testing.anthropic import checked, error, message, message_stream, messages_request

MODEL = "claude-sonnet-4-6"
TOKEN = "ya29.test-access-token"
BAD = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
CLOUDS = ["vertex", "foundry"]


def sdk_client(fake: FakeProvider, cloud: str, *, is_async: bool = False) -> Any:
    """The anthropic SDK's client for `cloud`, talking to the fake, never retrying itself."""
    if cloud == "vertex":
        vertex = anthropic.AsyncAnthropicVertex if is_async else anthropic.AnthropicVertex
        return vertex(
            base_url=fake.url + "/v1",
            region="us-east5",
            project_id="test-project",
            access_token=TOKEN,
            max_retries=0,
        )
    foundry = getattr(anthropic, "AsyncAnthropicFoundry" if is_async else "AnthropicFoundry", None)
    if foundry is None:
        pytest.skip(f"anthropic {anthropic.__version__} has no Foundry client")
    return foundry(base_url=fake.url + "/anthropic/", api_key="test-key", max_retries=0)


def client(fake: FakeProvider, cloud: str, *, is_async: bool = False) -> Any:
    return polycall.from_anthropic(sdk_client(fake, cloud, is_async=is_async), model=MODEL)


def ask(client: Any, **kwargs: Any) -> Any:
    return client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, **kwargs)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_create_sends_the_cloud_envelope(fake: FakeProvider, cloud: str) -> None:
    fake.push(checked(message(SEED_CALLS)))
    calls = ask(client(fake, cloud))
    assert list(calls) == SEED_VALUES
    sent = messages_request(fake.last)
    assert (sent.cloud, sent.model, sent.stream) == (cloud, MODEL, False)
    assert [tool["name"] for tool in sent.body["tools"]] == ["Weather", "GoogleSearch"]
    assert sent.body["tool_choice"] == {"type": "any"}


def test_vertex_takes_the_model_from_the_url_and_the_google_token(fake: FakeProvider) -> None:
    fake.push(checked(message(SEED_CALLS)))
    ask(client(fake, "vertex"), model="claude-opus-4-1")
    sent = messages_request(fake.last)
    assert sent.model == "claude-opus-4-1" and "model" not in sent.body
    assert sent.envelope["project"] == "test-project"
    assert sent.envelope["location"] == "us-east5"
    assert sent.body["anthropic_version"]
    assert fake.last.headers["Authorization"] == f"Bearer {TOKEN}"


def test_foundry_sends_its_api_key(fake: FakeProvider) -> None:
    fake.push(checked(message(SEED_CALLS)))
    ask(client(fake, "foundry"))
    assert fake.last.path.endswith("/messages")
    assert "test-key" in (fake.last.headers.get("api-key"), fake.last.headers.get("x-api-key"))


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_create_async(fake: FakeProvider, cloud: str) -> None:
    fake.push(checked(message(SEED_CALLS)))
    calls = await ask(client(fake, cloud, is_async=True))
    assert list(calls) == SEED_VALUES
    assert messages_request(fake.last).cloud == cloud


@pytest.mark.parametrize("cloud", CLOUDS)
def test_stream_yields_each_call_before_the_stream_ends(fake: FakeProvider, cloud: str) -> None:
    gate = Gate()
    fake.push(checked(message_stream(SEED_CALLS, gates={0: gate})))
    stream = client(fake, cloud).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert gated_values(stream, gate) == SEED_VALUES
    assert not gate.timed_out
    sent = messages_request(fake.last)
    assert (sent.cloud, sent.model, sent.stream) == (cloud, MODEL, True)


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_stream_async(fake: FakeProvider, cloud: str) -> None:
    gate = Gate()
    fake.push(checked(message_stream(SEED_CALLS, gates={0: gate})))
    stream = client(fake, cloud, is_async=True).create_iterable(
        messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert await agated_values(stream, gate) == SEED_VALUES
    assert not gate.timed_out
    assert messages_request(fake.last).stream


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("cloud", CLOUDS)
async def test_retry_re_asks_the_failed_call_in_the_envelope(
    fake: FakeProvider, cloud: str, is_async: bool
) -> None:
    fake.push(checked(message(BAD)), checked(message([SEED_CALLS[1]], ids=["toolu_fix"])))
    calls = ask(client(fake, cloud, is_async=is_async), max_retries=1)
    calls = await calls if is_async else calls
    assert list(calls) == SEED_VALUES
    retry = messages_request(fake.last)
    assert retry.cloud == cloud and retry.model == MODEL
    results = retry.body["messages"][-1]["content"]
    assert [r["tool_use_id"] for r in results] == ["toolu_fake_0", "toolu_fake_1", "toolu_fake_2"]
    assert results[1]["is_error"] is True


@pytest.mark.parametrize("cloud", CLOUDS)
def test_tool_results_continue_the_conversation(fake: FakeProvider, cloud: str) -> None:
    fake.push(checked(message(SEED_CALLS)), checked(message(text="Done.")))
    polycall_client = client(fake, cloud)
    calls = ask(polycall_client)
    follow_up = [*SEED_MESSAGES, calls.assistant_message(), *calls.tool_results(["a", "b", "c"])]
    sdk = polycall_client.adapter.client
    answer = sdk.messages.create(model=MODEL, max_tokens=100, messages=follow_up)
    assert answer.content[0].text == "Done."
    sent = messages_request(fake.last).body["messages"]
    assert [block["id"] for block in sent[-2]["content"]] == [c.id for c in calls.calls]
    assert [block["content"] for block in sent[-1]["content"]] == ["a", "b", "c"]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_cloud_error_is_a_provider_error(fake: FakeProvider, cloud: str) -> None:
    fake.push(error(429, "Too many requests", "rate_limit_error"))
    with pytest.raises(polycall.ProviderError) as caught:
        ask(client(fake, cloud))
    assert caught.value.status_code == 429


def test_vertex_leaves_out_the_default_parallel_flag(fake: FakeProvider) -> None:
    fake.push(checked(message(SEED_CALLS)))
    choice = {"type": "any", "disable_parallel_tool_use": False}
    ask(client(fake, "vertex"), tool_choice=choice)
    assert messages_request(fake.last).body["tool_choice"] == {"type": "any"}
    assert choice == {"type": "any", "disable_parallel_tool_use": False}  # the caller's, untouched


def test_vertex_refuses_to_send_disable_parallel_tool_use(fake: FakeProvider) -> None:
    choice = {"type": "any", "disable_parallel_tool_use": True}
    with pytest.raises(polycall.ConfigurationError, match="Vertex AI.*disable_parallel_tool_use"):
        ask(client(fake, "vertex"), tool_choice=choice)
    assert fake.requests == []


def test_anthropic_api_still_gets_disable_parallel_tool_use(fake: FakeProvider) -> None:
    fake.push(checked(message([SEED_CALLS[0]])))
    sdk = anthropic.Anthropic(base_url=fake.url, api_key="test", max_retries=0)
    choice = {"type": "any", "disable_parallel_tool_use": True}
    ask(polycall.from_anthropic(sdk, model=MODEL), tool_choice=choice)
    assert messages_request(fake.last).body["tool_choice"] == choice


def test_the_fake_refuses_what_vertex_refuses(fake: FakeProvider) -> None:
    """The fake's envelope check is real: a body with `model` gets Vertex's 400."""
    fake.push(checked(message(SEED_CALLS)))
    sdk = sdk_client(fake, "vertex")
    with pytest.raises(anthropic.BadRequestError, match="model"):
        sdk.post(
            "/projects/p/locations/l/publishers/anthropic/models/m:rawPredict",
            body={"model": "m", "anthropic_version": "v", "messages": [], "max_tokens": 1},
            cast_to=object,
        )


@pytest.mark.parametrize("cloud", CLOUDS)
def test_batch_is_refused_before_anything_is_sent(fake: FakeProvider, cloud: str) -> None:
    """The cloud clients have no Message Batches API: a PolycallError, no request."""
    prompts = [{"custom_id": "a", "messages": SEED_MESSAGES}]
    with pytest.raises(polycall.PolycallError):
        client(fake, cloud).batch.submit(prompts, response_model=SEED_MODEL)
    assert fake.requests == []
