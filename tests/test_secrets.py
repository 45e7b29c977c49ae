"""No API key (or bearer token) ever shows in an error, a log line, a hook payload or a repr.

Each provider's client is built with a sentinel key, sent to the fake (so the key is on the
wire: the test could see it leak), and driven down its error paths - 401, 500, a dropped
stream, calls that fail validation, no calls - and its success path, with every log record
at DEBUG and every hook payload kept.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import anthropic
import openai
import pytest
from google.oauth2.credentials import Credentials

import polycall
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, GoogleSearch, Weather
from polycall import Mode, PolycallError
from polycall.hooks import EVENTS
from polycall.testing import FakeProvider, Request, Response, json_response, sse_response
from polycall.testing import anthropic as anthropic_wire
from polycall.testing import gemini as gemini_wire
from polycall.testing.openai import Hangup, chat_completion, chat_error, chat_sse, chat_stream
from providers import MATRIX

SECRET = "sk-SENTINEL-7f3a9c1e5b2d"
SECRET_CORE = "SENTINEL-7f3a9c1e5b2d"  # also caught when a prefix is cut or masked off
BAD_CALLS = [("Weather", {"location": "Dallas", "units": "kelvin"})]

pytestmark = pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")


@dataclass(frozen=True)
class Provider:
    """A client on the fake with the sentinel key, and this provider's wire format."""

    client: Callable[[FakeProvider], Any]
    whole: Callable[..., Response]  # calls -> a whole response
    streamed: Callable[..., Response]  # calls -> a streamed response
    error: Callable[[int], Response]  # status -> an error response
    #: the SDK's own loggers (a name prefix) that log the credentials at DEBUG themselves
    #: (botocore logs each signed request's headers, AnthropicFoundry the request options with
    #: its key): their records are left out of the check
    sdk_log: str | None = None


def _google_error(status: int) -> Response:
    kind = {401: "UNAUTHENTICATED", 500: "INTERNAL"}[status]
    return json_response(
        {"error": {"code": status, "message": "no", "status": kind}}, status=status
    )


@pytest.fixture
def vertex_sdk(fake: FakeProvider) -> Iterator[None]:
    """The Vertex AI SDK on the fake, with the sentinel as its bearer token."""
    import vertexai
    from google.cloud.aiplatform import initializer

    saved = dict(vars(initializer.global_config))
    vertexai.init(
        project="test-project",
        location="us-central1",
        api_endpoint=fake.url,
        api_transport="rest",
        credentials=Credentials(token=SECRET),
    )
    try:
        yield
    finally:
        vars(initializer.global_config).clear()
        vars(initializer.global_config).update(saved)


def _sdk(module: Any, name: str) -> Any:
    """A client class that only newer SDK releases have; the test is skipped without it."""
    if not hasattr(module, name):
        pytest.skip(f"{module.__name__} {module.__version__} has no {name}")
    return getattr(module, name)


def _bedrock_error(status: int) -> Response:
    from polycall.testing.bedrock import error

    kind = {401: "UnrecognizedClientException", 500: "InternalServerException"}[status]
    return error(status, kind, "no")


def _anthropic_bedrock(fake: FakeProvider) -> Any:
    sdk = anthropic.AnthropicBedrock(
        aws_access_key="AKIDTEST", aws_secret_key=SECRET, aws_session_token=SECRET,
        aws_region="us-east-1", base_url=fake.url, max_retries=0,
    )
    return polycall.from_anthropic(sdk, model="anthropic.claude-sonnet-4-6-v1:0")


def _invoke_stream(*args: Any, **kwargs: Any) -> Response:
    from polycall.testing.bedrock import invoke_stream

    return invoke_stream(anthropic_wire.message_stream(*args, **kwargs))


_BEDROCK = importlib.util.find_spec("boto3") is not None


def _chat_error(status: int) -> Response:
    return chat_error(status, "no")


def _anthropic_error(status: int) -> Response:
    return anthropic_wire.error(status, "no")


#: Each wire's error response, by its module under polycall.testing.
ERRORS = {
    "openai": _chat_error,
    "openai_responses": _chat_error,
    "anthropic": _anthropic_error,
    "gemini": _google_error,
    "bedrock": _bedrock_error,
}
#: Each mode of the provider matrix, with the sentinel as its key (Vertex AI's is set up by
#: the `vertex_sdk` fixture); then the cloud clients of each SDK, which the registry's modes
#: do not tell apart, by hand.
PROVIDERS = {
    name: Provider(
        partial(cell.client, key=SECRET),
        cell.whole,
        cell.streamed,
        ERRORS[cell.wire],
        sdk_log="botocore" if cell.mode is Mode.BEDROCK_PARALLEL_TOOLS else None,
    )
    for name, cell in MATRIX.items()
}
PROVIDERS.update({
    "anthropic-vertex": Provider(
        lambda fake: polycall.from_anthropic(
            anthropic.AnthropicVertex(
                base_url=fake.url + "/v1", region="us-east5", project_id="p", access_token=SECRET,
                max_retries=0,
            ),
            model="claude-sonnet-4-6",
        ),
        anthropic_wire.message,
        anthropic_wire.message_stream,
        lambda status: anthropic_wire.error(status, "no"),
    ),
    "anthropic-foundry": Provider(
        lambda fake: polycall.from_anthropic(
            _sdk(anthropic, "AnthropicFoundry")(
                base_url=fake.url + "/anthropic/", api_key=SECRET, max_retries=0
            ),
            model="claude-sonnet-4-6",
        ),
        anthropic_wire.message,
        anthropic_wire.message_stream,
        lambda status: anthropic_wire.error(status, "no"),
        sdk_log="anthropic._base_client",
    ),
    "azure": Provider(
        lambda fake: polycall.from_openai(
            openai.AzureOpenAI(
                azure_endpoint=fake.url, api_key=SECRET, api_version="2024-10-21", max_retries=0
            ),
            model="gpt-4o-mini",
        ),
        chat_completion,
        chat_stream,
        lambda status: chat_error(status, "no"),
    ),
    "openai-bedrock": Provider(
        lambda fake: polycall.from_openai(
            _sdk(openai, "BedrockOpenAI")(
                base_url=fake.url + "/v1", api_key=SECRET, aws_region="us-east-1", max_retries=0
            ),
            model="gpt-4o-mini",
        ),
        chat_completion,
        chat_stream,
        lambda status: chat_error(status, "no"),
    ),
    "genai-vertex": Provider(
        lambda fake: polycall.from_genai(
            gemini_wire.genai_client(fake, vertexai=True, credentials=Credentials(token=SECRET)),
            model="gemini-2.5-flash",
        ),
        gemini_wire.generate_content,
        gemini_wire.gemini_stream,
        _google_error,
    ),
})
if _BEDROCK:
    PROVIDERS["anthropic-bedrock"] = Provider(
        _anthropic_bedrock, anthropic_wire.message, _invoke_stream,
        lambda status: anthropic_wire.error(status, "no"), sdk_log="botocore",
    )


def dropped(response: Response) -> Response:
    """`response` with the connection dropped after its first two chunks."""
    assert response.chunks is not None
    return Response(chunks=[*response.chunks[:2], Hangup()], content_type=response.content_type)


def scripts(provider: Provider) -> list[tuple[str, bool, Response]]:
    """(what, streamed, response) for each path the key must not leak on."""
    return [
        ("401", False, provider.error(401)),
        ("500", False, provider.error(500)),
        ("401 streamed", True, provider.error(401)),
        ("dropped stream", True, dropped(provider.streamed(SEED_CALLS))),
        ("validation failed", False, provider.whole(BAD_CALLS)),
        ("validation failed, streamed", True, provider.streamed(BAD_CALLS)),
        ("no tool calls", False, provider.whole([], text="It is sunny.")),
        ("success", False, provider.whole(SEED_CALLS)),
        ("success, streamed", True, provider.streamed(SEED_CALLS)),
    ]


def seen(value: Any) -> Iterator[str]:
    """What a person could read from `value`: its str and repr, and its cause's."""
    yield str(value)
    yield repr(value)
    if isinstance(value, BaseException):
        for linked in (value.__cause__, value.__context__, getattr(value, "original", None)):
            if linked is not None:
                yield str(linked)
                yield repr(linked)


@pytest.mark.parametrize("name", PROVIDERS)
def test_the_key_never_shows(
    request: pytest.FixtureRequest, fake: FakeProvider, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    if name == "vertexai":
        request.getfixturevalue("vertex_sdk")
    provider = PROVIDERS[name]
    client = provider.client(fake)
    payloads: list[tuple[str, dict[str, Any]]] = []
    for event in EVENTS:
        client.on(event, lambda event=event, **payload: payloads.append((event, payload)))
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    outcomes: dict[str, str] = {}
    for what, streamed, response in scripts(provider):
        fake.push(response)
        try:
            if streamed:
                stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
                values = list(stream)
                result = stream.result
            else:
                result = client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
                values = list(result)
        except PolycallError as error:
            outcomes[what] = type(error).__name__
            texts += seen(error)
            continue
        outcomes[what] = "ok"
        texts += [*seen(result), *map(repr, values), *map(repr, result.calls), repr(result.raw)]
        texts += map(repr, result.tool_results(["done"] * len(result)))
        texts += map(repr, result.run({Weather: lambda call: "done", GoogleSearch: str}))

    assert outcomes == {
        "401": "ProviderError",
        "500": "ProviderError",
        "401 streamed": "ProviderError",
        "dropped stream": "ProviderError",
        "validation failed": "ValidationFailed",
        "validation failed, streamed": "ValidationFailed",
        "no tool calls": "NoToolCallsError",
        "success": "ok",
        "success, streamed": "ok",
    }
    assert all(any(SECRET in value for value in r.headers.values()) for r in fake.requests), (
        "the sentinel key never reached the wire"
    )
    assert payloads and {event for event, _ in payloads} >= {"request", "response", "error"}
    texts += [
        f"{event}: {value!r} {value}" for event, payload in payloads for value in payload.values()
    ]
    sdk_log = provider.sdk_log
    records = [r for r in caplog.records if not (sdk_log and r.name.startswith(sdk_log))]
    texts += [record.getMessage() for record in records]
    formatter = logging.Formatter()
    texts += [formatter.format(record) for record in records]  # with the tracebacks logged
    leaks = [text for text in texts if SECRET_CORE in text]
    assert not leaks, f"the key shows in: {leaks[0][:500]}"


def test_the_check_sees_a_key_that_does_show() -> None:
    """The check can fail: a key in an error's cause is seen."""
    error = polycall.ProviderError("AuthenticationError: Error code: 401")
    error.__cause__ = RuntimeError(f"Incorrect API key provided: {SECRET}")
    assert any(SECRET_CORE in text for text in seen(error))
    assert not any(SECRET_CORE in text for text in seen(polycall.ProviderError("no key here")))


def _echoing() -> Response:
    """An error whose message quotes the key back, as some servers do."""
    error = {
        "message": f"Incorrect API key provided: {SECRET}",
        "type": "invalid_request_error",
        "code": 403,
        "status": "PERMISSION_DENIED",
        # (Google's errors print their details too)
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "metadata": {"key": SECRET}}],
    }
    # (`message` at the top too, where AWS JSON errors have it)
    return json_response({"error": error, "message": error["message"]}, status=403)  # (a 401 makes Vertex refresh instead)


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_key_the_server_echoes_is_redacted(
    request: pytest.FixtureRequest, fake: FakeProvider, name: str
) -> None:
    """polycall's message and repr drop the key, and so does the SDK's exception kept as the
    cause: a logged or printed traceback shows it too."""
    if name == "vertexai":
        request.getfixturevalue("vertex_sdk")
    provider = PROVIDERS[name]
    fake.push(_echoing())
    with pytest.raises(polycall.ProviderError) as caught:
        provider.client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert "Incorrect API key provided" in str(caught.value)
    assert caught.value.__cause__ is not None
    printed = "".join(traceback.format_exception(caught.value))
    assert [text for text in [*seen(caught.value), printed] if SECRET_CORE in text] == []


_ERROR_BODY = {"error": {"message": f"upstream rejected key {SECRET}"}}
_COMPLETION = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", **_ERROR_BODY}


@pytest.mark.parametrize(
    "choices",
    [[], [{"index": 0, "message": {"role": "assistant"}, "finish_reason": "error"}]],
    ids=["no-choices", "finish-error"],
)
def test_a_key_quoted_in_a_body_polycall_reads_as_an_error_is_redacted(
    fake: FakeProvider, choices: list[Any]
) -> None:
    """An HTTP 200 body the adapter itself turns into an error (no choices, a finish reason
    of "error"), quoting the key in its own `error`: the message polycall builds from it is
    redacted as the SDK's errors are."""
    fake.push(json_response({**_COMPLETION, "choices": choices}))
    with pytest.raises(polycall.ProviderError) as caught:
        PROVIDERS["openai"].client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert "upstream rejected key [redacted]" in str(caught.value)
    assert SECRET_CORE not in str(caught.value) and SECRET_CORE not in repr(caught.value)


TOKEN = f"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{SECRET_CORE}"  # an Azure AD (Entra ID) token


def _bearer_echo(error: Callable[[int, str], Response]) -> Callable[[Request], Response]:
    """A 401 (built by `error`) whose message quotes the request's `Authorization` back."""

    def respond(request: Request) -> Response:
        sent = {name.lower(): value for name, value in request.headers.items()}
        return error(401, f"Invalid bearer token: {sent.get('authorization')}")

    return respond


def _azure(fake: FakeProvider, **auth: Any) -> Any:
    return polycall.from_openai(
        openai.AzureOpenAI(
            azure_endpoint=fake.url, api_version="2024-10-21", max_retries=0, **auth
        ),
        model="gpt-4o-mini",
    )


#: Clients that authenticate with a bearer token rather than their API key, and their wire's
#: error: a fixed token, and a token provider's (which the client keeps nowhere).
BEARERS: dict[str, tuple[Callable[[FakeProvider], Any], Callable[[int, str], Response]]] = {
    "azure-ad-token": (lambda fake: _azure(fake, azure_ad_token=TOKEN), chat_error),
    "azure-ad-token-provider": (
        lambda fake: _azure(fake, azure_ad_token_provider=lambda: TOKEN),
        chat_error,
    ),
    "anthropic-foundry-token-provider": (
        lambda fake: polycall.from_anthropic(
            _sdk(anthropic, "AnthropicFoundry")(
                base_url=fake.url + "/anthropic/", azure_ad_token_provider=lambda: TOKEN,
                max_retries=0,
            ),
            model="claude-sonnet-4-6",
        ),
        anthropic_wire.error,
    ),
}


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", BEARERS)
def test_a_bearer_token_the_server_echoes_is_redacted(
    fake: FakeProvider, name: str, streamed: bool
) -> None:
    """The token the request carried is dropped from polycall's message and repr."""
    client, error = BEARERS[name]
    fake.respond_with(_bearer_echo(error))
    with pytest.raises(polycall.ProviderError) as caught:
        if streamed:
            list(client(fake).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
        else:
            client(fake).create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert "Invalid bearer token: [redacted]" in str(caught.value)
    assert SECRET_CORE not in str(caught.value) and SECRET_CORE not in repr(caught.value)


def _foundry(fake: FakeProvider, *, async_client: bool = False) -> Any:
    name = "AsyncAnthropicFoundry" if async_client else "AnthropicFoundry"
    return polycall.from_anthropic(
        _sdk(anthropic, name)(
            base_url=fake.url + "/anthropic/", azure_ad_token_provider=lambda: TOKEN,
            max_retries=0,
        ),
        model="claude-sonnet-4-6",
    )


def _azure_async(fake: FakeProvider, **auth: Any) -> Any:
    return polycall.from_openai(
        openai.AsyncAzureOpenAI(
            azure_endpoint=fake.url, api_version="2024-10-21", max_retries=0, **auth
        ),
        model="gpt-4o-mini",
    )


_ECHO = f"Invalid bearer token: Bearer {TOKEN}"
_CHAT_ERROR_EVENT = [{"error": {"message": _ECHO}}]
_ANTHROPIC_ERROR_EVENT = [("error", {"type": "error", "error": {"type": "invalid_request_error", "message": _ECHO}})]

#: Clients that send a bearer token, and an error event quoting it back mid-stream: a
#: fixed token (which the client keeps), and a token provider's (which it keeps nowhere,
#: while the SDK's error drops the request's headers).
STREAM_ECHOES: dict[str, tuple[Callable[..., Any], Callable[[], Response]]] = {
    "azure-ad-token": (
        lambda fake, async_client: (_azure_async if async_client else _azure)(fake, azure_ad_token=TOKEN),
        lambda: chat_sse(_CHAT_ERROR_EVENT),
    ),
    "azure-ad-token-provider": (
        lambda fake, async_client: (_azure_async if async_client else _azure)(
            fake, azure_ad_token_provider=lambda: TOKEN
        ),
        lambda: chat_sse(_CHAT_ERROR_EVENT),
    ),
    "anthropic-foundry-token-provider": (
        lambda fake, async_client: _foundry(fake, async_client=async_client),
        lambda: sse_response(_ANTHROPIC_ERROR_EVENT),
    ),
}


def _handler(value: Any) -> str:
    return "ok"


@pytest.mark.parametrize("way", ["create_iterable", "run_tools"])
@pytest.mark.parametrize("async_client", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("name", STREAM_ECHOES)
async def test_a_bearer_token_echoed_in_a_stream_error_event_is_redacted(
    fake: FakeProvider, name: str, async_client: bool, way: str
) -> None:
    """The token is redacted from an error event mid-stream, whether the SDK's error holds
    the request's headers or not: the headers the stream was opened with are read. The tool
    loop, which streams each step, reads them too."""
    client, event = STREAM_ECHOES[name]
    fake.push(event())
    polycall_client = client(fake, async_client)
    with pytest.raises(polycall.ProviderError) as caught:
        if way == "run_tools":
            run = polycall_client.run_tools(
                messages=SEED_MESSAGES, response_model=SEED_MODEL,
                handlers={Weather: _handler, GoogleSearch: _handler},
            )
            if async_client:
                await run
        elif async_client:
            async for _ in polycall_client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL):
                pass
        else:
            list(polycall_client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
    assert re.search(r"Invalid bearer token: (Bearer )?\[redacted\]", str(caught.value))
    assert SECRET_CORE not in str(caught.value) and SECRET_CORE not in repr(caught.value)


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_a_bedrock_api_key_the_server_echoes_is_redacted(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """A Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`, sent as a bearer token instead of a
    signature), echoed in an error response or in a stream's exception event."""
    pytest.importorskip("boto3")
    from polycall.testing.aws import error, event_stream, exception
    from polycall.testing.bedrock import bedrock_client

    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", SECRET)
    client = polycall.from_bedrock(bedrock_client(fake), model="anthropic.claude-sonnet-4-6-v1:0")
    if streamed:
        fake.push(event_stream([exception("validationException", f"Invalid API key: {SECRET}")]))
    else:
        fake.push(error(403, "AccessDeniedException", f"Invalid API key: {SECRET}"))
    with pytest.raises(polycall.ProviderError) as caught:
        if streamed:
            list(client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
        else:
            client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    if not any(SECRET in value for value in fake.last.headers.values()):
        pytest.skip("this botocore signs instead of sending AWS_BEARER_TOKEN_BEDROCK")
    assert "Invalid API key: [redacted]" in str(caught.value)
    assert SECRET_CORE not in str(caught.value) and SECRET_CORE not in repr(caught.value)


class _SendsTheSecret(Credentials):
    """Credentials whose `.token` is another than the token they send: one the client keeps
    nowhere, as a token provider's."""

    def apply(self, headers: Any, token: Any = None) -> None:
        super().apply(headers, token=SECRET)


def _vertex_credentials(async_client: bool, kept: bool) -> tuple[Any, Any]:
    """The Vertex AI SDK's sync credentials and its async REST transport's; those of the
    client under test send the sentinel as their bearer token, kept as their `.token` or
    only sent."""
    from google.auth.aio.credentials import StaticCredentials

    class SendsTheSecretAsync(StaticCredentials):  # type: ignore[misc]
        async def apply(self, headers: Any, token: Any = None) -> None:
            await super().apply(headers, token=SECRET)

    if async_client:
        used = StaticCredentials(token=SECRET) if kept else SendsTheSecretAsync(token="other-token")
        return Credentials(token="other-token"), used  # type: ignore[no-untyped-call]
    used = Credentials(token=SECRET) if kept else _SendsTheSecret(token="other-token")  # type: ignore[no-untyped-call]
    return used, StaticCredentials(token="other-token")


@pytest.mark.parametrize("kept", [True, False], ids=["kept", "only-sent"])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("async_client", [False, True], ids=["sync", "async"])
async def test_a_vertex_ai_token_the_server_echoes_is_redacted(
    fake: FakeProvider, async_client: bool, streamed: bool, kept: bool
) -> None:
    """The OAuth token of the Vertex AI SDK, sync (`vertexai.init(credentials=...)`) and on
    its async REST transport (credentials of their own), kept by the credentials or only
    sent (read from the failed request's headers, which the SDK's error keeps)."""
    if async_client and importlib.util.find_spec("aiohttp") is None:
        pytest.skip("async REST in the Vertex AI SDK needs aiohttp")
    import vertexai
    from google.cloud.aiplatform import initializer
    from vertexai.generative_models import GenerativeModel

    saved = dict(vars(initializer.global_config))
    credentials, async_credentials = _vertex_credentials(async_client, kept)
    vertexai.init(
        project="test-project", location="us-central1", api_endpoint=fake.url,
        api_transport="rest", credentials=credentials,
    )
    initializer._set_async_rest_credentials(async_credentials)
    client = polycall.from_vertexai(GenerativeModel("gemini-2.5-flash"), use_async=async_client)
    fake.push(_echoing())
    try:
        with pytest.raises(polycall.ProviderError) as caught:
            if streamed and async_client:
                async for _ in client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL):
                    pass
            elif streamed:
                list(client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL))
            elif async_client:
                await client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
            else:
                client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    finally:
        if async_client:
            await client.aclose()
        vars(initializer.global_config).clear()
        vars(initializer.global_config).update(saved)
    assert f"Bearer {SECRET}" in fake.last.headers.values()
    assert "Incorrect API key provided: [redacted]" in str(caught.value)
    printed = "".join(traceback.format_exception(caught.value))
    assert [text for text in [*seen(caught.value), printed] if SECRET_CORE in text] == []
