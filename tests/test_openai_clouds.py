"""The OpenAI SDK's other client kinds through `from_openai`: `AzureOpenAI` /
`AsyncAzureOpenAI` (Chat Completions and Responses), `BedrockOpenAI`, and `OpenAI(provider=...)`
(`openai.providers.vertex` / `bedrock`) where the installed SDK has them."""

from __future__ import annotations

from typing import Any

import openai
import pytest

import polycall
from helpers import gated_values
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall import Mode
from polycall.testing import FakeProvider, Gate, json_response
from polycall.testing.openai import chat_completion, chat_stream
from polycall.testing.openai_responses import response_body, response_stream

API_VERSION = "2024-10-21"
TOKEN = "cloud-token"
DEPLOYMENT = "my-gpt"
MODES = {"chat": (Mode.PARALLEL_TOOLS, chat_completion), "responses": (
    Mode.RESPONSES_PARALLEL_TOOLS, response_body
)}


def azure(fake: FakeProvider, *, is_async: bool = False) -> Any:
    sdk = openai.AsyncAzureOpenAI if is_async else openai.AzureOpenAI
    return sdk(azure_endpoint=fake.url, api_key="azure-key", api_version=API_VERSION, max_retries=0)


def ask(client: Any) -> Any:
    return client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_azure_clients_are_wrapped_as_openai_ones(fake: FakeProvider, is_async: bool) -> None:
    client = polycall.from_openai(azure(fake, is_async=is_async))
    assert isinstance(client, polycall.AsyncClient if is_async else polycall.Client)
    assert client.mode is Mode.PARALLEL_TOOLS


def test_azure_chat_goes_to_the_deployment(fake: FakeProvider) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls = ask(polycall.from_openai(azure(fake), model=DEPLOYMENT))
    assert list(calls) == SEED_VALUES
    assert fake.last.path.endswith("/chat/completions") and DEPLOYMENT in fake.last.path
    assert fake.last.query["api-version"] == [API_VERSION]
    assert fake.last.headers["api-key"] == "azure-key"
    assert fake.last.json["tool_choice"] == "required"


def test_azure_responses(fake: FakeProvider) -> None:
    fake.push(response_body(SEED_CALLS))
    client = polycall.from_openai(azure(fake), Mode.RESPONSES_PARALLEL_TOOLS, model=DEPLOYMENT)
    assert list(ask(client)) == SEED_VALUES
    assert fake.last.path.endswith("/responses")
    assert fake.last.query["api-version"] == [API_VERSION]
    assert fake.last.json["model"] == DEPLOYMENT


@pytest.mark.parametrize("mode", MODES)
async def test_azure_async(fake: FakeProvider, mode: str) -> None:
    polycall_mode, body = MODES[mode]
    fake.push(body(SEED_CALLS))
    client = polycall.from_openai(azure(fake, is_async=True), polycall_mode, model=DEPLOYMENT)
    assert list(await ask(client)) == SEED_VALUES
    assert fake.last.headers["api-key"] == "azure-key"


@pytest.mark.parametrize("stream", [chat_stream, response_stream], ids=["chat", "responses"])
def test_azure_stream(fake: FakeProvider, stream: Any) -> None:
    gate = Gate()
    fake.push(stream(SEED_CALLS, gates={0: gate}))
    mode = Mode.PARALLEL_TOOLS if stream is chat_stream else Mode.RESPONSES_PARALLEL_TOOLS
    client = polycall.from_openai(azure(fake), mode, model=DEPLOYMENT)
    values = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert gated_values(values, gate) == SEED_VALUES
    assert not gate.timed_out


def test_azure_retry_re_asks_the_deployment(fake: FakeProvider) -> None:
    bad = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
    fake.push(chat_completion(bad), chat_completion([SEED_CALLS[1]]))
    client = polycall.from_openai(azure(fake), model=DEPLOYMENT)
    calls = client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1)
    assert list(calls) == SEED_VALUES
    assert [r.path for r in fake.requests] == [f"/openai/deployments/{DEPLOYMENT}/chat/completions"] * 2
    assert [m["role"] for m in fake.last.json["messages"]][-3:] == ["tool", "tool", "tool"]


#: Azure OpenAI's answer to a prompt its content filter blocks.
PROMPT_FILTERED = {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
    "content management policy.",
    "type": None,
    "param": "prompt",
    "code": "content_filter",
    "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {}},
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("mode", MODES)
def test_azure_prompt_filter_is_a_refusal(fake: FakeProvider, mode: str, stream: bool) -> None:
    """A prompt the content filter blocks (an HTTP 400 of code `content_filter`) is a
    `RefusalError`, as a filtered answer is, with the SDK's error as its cause."""
    fake.push(json_response({"error": PROMPT_FILTERED}, status=400))
    client = polycall.from_openai(azure(fake), MODES[mode][0], model=DEPLOYMENT)
    with pytest.raises(polycall.RefusalError) as caught:
        if stream:
            list(client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
        else:
            ask(client)
    assert caught.value.reason == "content_filter"
    assert "content management policy" in str(caught.value)
    assert caught.value.raw["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert isinstance(caught.value.__cause__, openai.BadRequestError)


def _built(name: str, fake: FakeProvider) -> Any:
    """An OpenAI client of another kind, for the fake; skipped when the SDK has none."""
    if name == "bedrock-client":
        if not hasattr(openai, "BedrockOpenAI"):
            pytest.skip(f"openai {openai.__version__} has no BedrockOpenAI")
        return openai.BedrockOpenAI(
            base_url=fake.url + "/v1", api_key=TOKEN, aws_region="us-east-1", max_retries=0
        )
    providers = pytest.importorskip("openai.providers", reason="openai has no provider= yet")
    if name == "vertex-provider":
        url = fake.url + "/v1/projects/p/locations/us-central1/publishers/openai/v1"
        provider = providers.vertex(base_url=url, token_provider=lambda: TOKEN)
    else:
        provider = providers.bedrock(base_url=fake.url + "/v1", api_key=TOKEN)
    return openai.OpenAI(provider=provider, max_retries=0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["bedrock-client", "bedrock-provider", "vertex-provider"])
def test_other_client_kinds(fake: FakeProvider, kind: str, mode: str) -> None:
    polycall_mode, body = MODES[mode]
    fake.push(body(SEED_CALLS))
    client = polycall.from_openai(_built(kind, fake), polycall_mode, model="openai.gpt-oss-120b")
    assert list(ask(client)) == SEED_VALUES
    endpoint = "/chat/completions" if mode == "chat" else "/responses"
    assert fake.last.path.endswith(endpoint)
    assert fake.last.headers["Authorization"] == f"Bearer {TOKEN}"
    assert fake.last.json["model"] == "openai.gpt-oss-120b"
