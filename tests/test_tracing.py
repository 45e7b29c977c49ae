"""OpenTelemetry tracing: spans and metrics of every provider through the real SDKs against
the fake provider, read back from the OpenTelemetry SDK's in-memory exporter and reader.

No timing asserts: spans that must overlap run handlers that wait for each other (a barrier,
an event), so the recorded start and end times can only overlap.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest

pytest.importorskip("opentelemetry.sdk", reason="the tracing tests need opentelemetry-sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import SpanKind, StatusCode

import polycall
from helpers import vertexai_at
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import (
    ConfigurationError,
    Mode,
    ProviderError,
    UserCodeError,
    ValidationFailed,
    tracing,
)
from polycall.providers import registry
from polycall.testing import FakeProvider, Gate, Response, sse_response
from polycall.testing import anthropic as anthropic_wire
from polycall.testing import bedrock as bedrock_wire
from polycall.testing import gemini as gemini_wire
from polycall.testing import openai as chat_wire
from polycall.testing import openai_responses as responses_wire

#: The Vertex AI SDK warns on every use; its protobuf warns when a Content becomes a dict.
pytestmark = [
    pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning"),
    pytest.mark.filterwarnings(
        "ignore:The argument `including_default_value_fields`:DeprecationWarning"
    ),
]

SECRET = "sk-sentinel-0123456789abcdef"  # the API key no export may hold
BAD_CALLS = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
WAIT = 5.0  # upper bound on a wait that is expected to end at once


class Exported:
    """Spans and metrics polycall exported since `instrument()`."""

    def __init__(self, capture_content: bool = False) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        polycall.instrument(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            capture_content=capture_content,
        )
        self.tracer = self.tracer_provider.get_tracer("tests")

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = self.exporter.get_finished_spans()
        return [s for s in spans if name is None or s.name == name or s.name.startswith(name + " ")]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for found in scope.metrics
            if found.name == metric
            for point in found.data.data_points
        ]

    def everything(self) -> str:
        """Every exported span (attributes, events, status) and metric, as text."""
        spans = [span.to_json() for span in self.exporter.get_finished_spans()]
        data = self.reader.get_metrics_data()
        return "\n".join([*spans, data.to_json() if data is not None else ""])


@pytest.fixture
def otel() -> Iterator[Exported]:
    exported = Exported()
    yield exported
    polycall.uninstrument()


@pytest.fixture
def otel_content() -> Iterator[Exported]:
    exported = Exported(capture_content=True)
    yield exported
    polycall.uninstrument()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


# --- every provider ------------------------------------------------------------------------


@dataclass
class Wire:
    """One provider API against the fake: its clients, responses, and what spans report."""

    name: str
    otel: str
    model: str  # gen_ai.request.model (and the span name)
    make: Callable[[FakeProvider, bool], Any]
    whole: Callable[..., Response]
    stream: Callable[..., Response]
    response_id: str | None
    stream_id: str | None
    response_model: str | None  # Bedrock's Converse responses name no model
    finish: str
    server: bool  # whether the SDK client has a base URL to report
    kwargs: dict[str, Any] = field(default_factory=dict)


def _openai(mode: Mode) -> Callable[[FakeProvider, bool], Any]:
    def make(fake: FakeProvider, is_async: bool) -> Any:
        sdk = openai.AsyncOpenAI if is_async else openai.OpenAI
        return polycall.from_openai(
            sdk(base_url=fake.url + "/v1", api_key=SECRET, max_retries=0), mode=mode
        )

    return make


def _anthropic(fake: FakeProvider, is_async: bool) -> Any:
    sdk = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return polycall.from_anthropic(sdk(base_url=fake.url, api_key=SECRET, max_retries=0))


def _genai(fake: FakeProvider, is_async: bool) -> Any:
    pytest.importorskip("google.genai", reason="google-genai is not installed")
    client = gemini_wire.genai_client(fake, api_key=SECRET)
    return polycall.from_genai(client.aio if is_async else client, model="gemini-2.5-flash")


def _genai_vertex(fake: FakeProvider, is_async: bool) -> Any:
    pytest.importorskip("google.genai", reason="google-genai is not installed")
    from google.oauth2.credentials import Credentials

    credentials = Credentials(token=SECRET)  # type: ignore[no-untyped-call]
    client = gemini_wire.genai_client(fake, vertexai=True, credentials=credentials)
    return polycall.from_genai(client.aio if is_async else client, model="gemini-2.5-flash")


def _vertexai(fake: FakeProvider, is_async: bool) -> Any:
    pytest.importorskip("vertexai", reason="google-cloud-aiplatform is not installed")
    from vertexai.generative_models import GenerativeModel

    return polycall.from_vertexai(GenerativeModel("gemini-1.5-pro"), use_async=is_async)


BEDROCK_MODEL = "anthropic.claude-sonnet-4-6-v1:0"


def _bedrock(fake: FakeProvider, is_async: bool) -> Any:
    pytest.importorskip("boto3", reason="boto3 is not installed")
    from polycall.testing.bedrock import bedrock_client

    sdk = bedrock_client(fake, aws_secret_access_key=SECRET)
    return polycall.from_bedrock(sdk, model=BEDROCK_MODEL, use_async=is_async)


def _gemini(**common: Any) -> dict[str, Any]:
    return {
        "whole": gemini_wire.generate_content,
        "response_id": "fake-response",
        "stream_id": None,  # the fake's chunks carry no responseId
        "response_model": "gemini-2.5-flash",
        "finish": "STOP",
        "server": False,
        **common,
    }


WIRES = [
    Wire(
        "openai",
        "openai",
        "gpt-4o-mini",
        _openai(Mode.PARALLEL_TOOLS),
        chat_wire.chat_completion,
        chat_wire.chat_stream,
        "chatcmpl-fake",
        "chatcmpl-fake",
        "gpt-4o-mini",
        "tool_calls",
        True,
        {"model": "gpt-4o-mini"},
    ),
    Wire(
        "responses",
        "openai",
        "gpt-4o-mini",
        _openai(Mode.RESPONSES_PARALLEL_TOOLS),
        responses_wire.response_body,
        responses_wire.response_stream,
        "resp_fake",
        "resp_fake",
        "gpt-4o-mini",
        "completed",
        True,
        {"model": "gpt-4o-mini"},
    ),
    Wire(
        "anthropic",
        "anthropic",
        "claude-sonnet-4-6",
        _anthropic,
        anthropic_wire.message,
        anthropic_wire.message_stream,
        "msg_fake",
        "msg_fake",
        "claude-sonnet-4-6",
        "tool_use",
        True,
        {"model": "claude-sonnet-4-6"},
    ),
    Wire(
        "genai",
        "gcp.gemini",
        "gemini-2.5-flash",
        _genai,
        stream=gemini_wire.gemini_stream,
        **_gemini(),
    ),
    Wire(
        "genai-vertex",
        "gcp.vertex_ai",
        "gemini-2.5-flash",
        _genai_vertex,
        stream=gemini_wire.gemini_stream,
        **_gemini(),
    ),
    Wire(
        "vertexai",
        "gcp.vertex_ai",
        "gemini-1.5-pro",
        _vertexai,
        stream=gemini_wire.vertex_stream,
        **_gemini(),
    ),
    Wire(
        "bedrock",
        "aws.bedrock",
        BEDROCK_MODEL,
        _bedrock,
        bedrock_wire.converse,
        bedrock_wire.converse_stream,
        None,
        None,
        None,
        "tool_use",
        True,
    ),
]
each_wire = pytest.mark.parametrize("wire", WIRES, ids=[w.name for w in WIRES])


@pytest.fixture
def served(fake: FakeProvider, request: pytest.FixtureRequest) -> Iterator[FakeProvider]:
    """The fake, with vertexai initialised against it for the Vertex AI SDK's tests."""
    wire = request.getfixturevalue("wire")
    if wire.name != "vertexai":
        yield fake
        return
    with vertexai_at(fake):
        yield fake


def create(
    wire: Wire, fake: FakeProvider, *, stream: bool, is_async: bool, **kwargs: Any
) -> list[Any]:
    client = wire.make(fake, is_async)
    request = {"messages": SEED_MESSAGES, **wire.kwargs, "response_model": SEED_MODEL, **kwargs}
    if not is_async:
        return list(client.create_iterable(**request) if stream else client.create(**request))

    async def go() -> list[Any]:
        try:
            if stream:
                return [value async for value in client.create_iterable(**request)]
            return list(await client.create(**request))
        finally:
            await client.aclose()  # the suite fails on an aiohttp session left open

    return asyncio.run(go())


@each_wire
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_each_provider_gives_a_create_span_over_a_chat_span(
    otel: Exported, served: FakeProvider, wire: Wire, stream: bool, is_async: bool
) -> None:
    served.push((wire.stream if stream else wire.whole)(SEED_CALLS))
    with otel.tracer.start_as_current_span("app") as app:
        assert create(wire, served, stream=stream, is_async=is_async) == SEED_VALUES

    [outer] = otel.spans("polycall.create")
    [chat] = otel.spans("chat")
    assert outer.kind is SpanKind.INTERNAL and parent_id(outer) == app.get_span_context().span_id
    assert chat.kind is SpanKind.CLIENT and parent_id(chat) == outer.context.span_id
    assert chat.context.trace_id == app.get_span_context().trace_id
    assert chat.name == f"chat {wire.model}"
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": wire.otel,
        "gen_ai.request.model": wire.model,
        "gen_ai.response.finish_reasons": (wire.finish,),
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 20,
    }
    response_id = wire.stream_id if stream else wire.response_id
    if response_id is not None:
        expected["gen_ai.response.id"] = response_id
    if wire.response_model is not None:
        expected["gen_ai.response.model"] = wire.response_model
    if wire.server:
        expected.update(
            {"server.address": "127.0.0.1", "server.port": int(served.url.rsplit(":", 1)[1])}
        )
    assert attrs(chat) == expected
    assert chat.status.status_code is StatusCode.UNSET
    assert (
        attrs(outer)["gen_ai.provider.name"] == wire.otel and attrs(outer)["polycall.attempts"] == 1
    )

    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.sum > 0
    assert duration.attributes["gen_ai.provider.name"] == wire.otel
    assert duration.attributes["gen_ai.request.model"] == wire.model
    assert duration.attributes.get("gen_ai.response.model") == wire.response_model
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": 10, "output": 20}


@each_wire
def test_no_key_and_no_content_is_exported_without_capture(
    otel: Exported, served: FakeProvider, wire: Wire
) -> None:
    served.push(wire.whole(SEED_CALLS))
    create(wire, served, stream=False, is_async=False)
    everything = otel.everything()
    assert otel.spans("chat")
    for content in ("super bowl", "Toronto", "You must always use tools"):
        assert content not in everything
    assert SECRET not in everything


@each_wire
def test_content_is_recorded_with_capture_and_the_key_never(
    otel_content: Exported, served: FakeProvider, wire: Wire
) -> None:
    served.push(wire.whole(BAD_CALLS), wire.whole(SEED_CALLS[1:2]))
    values = create(wire, served, stream=False, is_async=False, max_retries=1)
    assert values == SEED_VALUES

    first, second = sorted(otel_content.spans("chat"), key=lambda s: s.start_time or 0)
    sent = json.loads(attrs(first)["gen_ai.input.messages"])
    assert "who won the super bowl?" in json.dumps(sent)
    system = attrs(first).get("gen_ai.system_instructions", "")
    if wire.name in ("openai", "responses"):  # the system prompt is one of the messages
        assert not system and "You must always use tools" in json.dumps(sent)
    else:  # the system prompt goes apart from the messages
        assert "You must always use tools" in system
    [output] = json.loads(attrs(first)["gen_ai.output.messages"])
    assert output["role"] == "assistant"
    assert [part["name"] for part in output["parts"] if part["type"] == "tool_call"] == [
        "Weather",
        "Weather",
        "GoogleSearch",
    ]
    assert "kelvin" in json.dumps(output)
    # the retry sends the failed call's validation error back: the second input holds it
    assert "kelvin" in attrs(second)["gen_ai.input.messages"]
    assert attrs(first)["error.type"] == "ValidationFailed"
    assert "kelvin" in (first.status.description or "")
    assert SECRET not in otel_content.everything()


# --- model names and token usage ------------------------------------------------------------


BEDROCK_PROFILE = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6-v1:0"
)


def _models(otel: Exported) -> tuple[str, Any, Any]:
    """The chat span's name, its `gen_ai.request.model`, and the duration metric's."""
    [chat] = otel.spans("chat")
    [duration] = otel.points("gen_ai.client.operation.duration")
    model = duration.attributes["gen_ai.request.model"]
    return chat.name, attrs(chat)["gen_ai.request.model"], model


@pytest.mark.parametrize(
    "model", ["meta-llama/Llama-3-8B", "openai/gpt-4o", "models/Llama-3-8B"]
)
def test_an_openai_compatible_model_name_is_reported_whole(
    otel: Exported, fake: FakeProvider, model: str
) -> None:
    fake.push(chat_wire.chat_completion(SEED_CALLS, model=model))
    chat_client(fake).create(model=model, messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert _models(otel) == (f"chat {model}", model, model)


def test_a_bedrock_inference_profile_arn_is_reported_whole(
    otel: Exported, fake: FakeProvider
) -> None:
    pytest.importorskip("boto3", reason="boto3 is not installed")
    from polycall.testing.bedrock import bedrock_client

    fake.push(bedrock_wire.converse(SEED_CALLS))
    client = polycall.from_bedrock(bedrock_client(fake), model=BEDROCK_PROFILE)
    client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert _models(otel) == (f"chat {BEDROCK_PROFILE}", BEDROCK_PROFILE, BEDROCK_PROFILE)


@pytest.mark.parametrize(
    ("vertexai", "given", "reported"),
    [
        (False, "models/gemini-2.5-flash", "gemini-2.5-flash"),
        (False, "tunedModels/my-tune-123", "tunedModels/my-tune-123"),
        (True, "publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
        (
            True,
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
            "gemini-2.5-flash",
        ),
        (
            True,
            "projects/p/locations/us-central1/endpoints/1234567890",
            "projects/p/locations/us-central1/endpoints/1234567890",
        ),
        (True, "meta/llama-3.1-405b-instruct-maas", "meta/llama-3.1-405b-instruct-maas"),
    ],
)
def test_a_google_model_resource_name_is_reported_as_the_model_name(
    otel: Exported, fake: FakeProvider, vertexai: bool, given: str, reported: str
) -> None:
    pytest.importorskip("google.genai", reason="google-genai is not installed")
    fake.push(gemini_wire.generate_content(SEED_CALLS))
    client = polycall.from_genai(gemini_wire.genai_client(fake, vertexai=vertexai), model=given)
    client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    assert _models(otel) == (f"chat {reported}", reported, reported)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("wire", "stream", "response"),
    [
        (WIRES[0], True, chat_wire.chat_stream(SEED_CALLS, usage=None)),
        (WIRES[3], False, gemini_wire.generate_content(SEED_CALLS, usage=None)),
    ],
    ids=["openai-stream", "genai-whole"],
)
def test_usage_the_provider_did_not_report_is_left_out(
    otel: Exported, fake: FakeProvider, wire: Wire, stream: bool, response: Response, is_async: bool
) -> None:
    fake.push(response)
    assert create(wire, fake, stream=stream, is_async=is_async) == SEED_VALUES
    [chat] = otel.spans("chat")
    assert not {"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"} & set(attrs(chat))
    assert otel.points("gen_ai.client.token.usage") == []
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1


# --- retries and errors --------------------------------------------------------------------


def chat_client(fake: FakeProvider, *, is_async: bool = False, **options: Any) -> Any:
    kind = openai.AsyncOpenAI if is_async else openai.OpenAI
    return polycall.from_openai(kind(base_url=fake.url + "/v1", api_key=SECRET, max_retries=0), **options)


def ask(client: Any, **kwargs: Any) -> Any:
    return client.create(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL, **kwargs
    )


def test_one_chat_span_per_attempt_under_one_create_span(
    otel: Exported, fake: FakeProvider
) -> None:
    fake.push(chat_wire.chat_completion(BAD_CALLS), chat_wire.chat_completion(SEED_CALLS[1:2]))
    assert list(ask(chat_client(fake), max_retries=2)) == SEED_VALUES

    [outer] = otel.spans("polycall.create")
    chats = sorted(otel.spans("chat"), key=lambda s: s.start_time or 0)
    assert len(chats) == 2
    assert {parent_id(chat) for chat in chats} == {outer.context.span_id}
    assert attrs(chats[0])["error.type"] == "ValidationFailed"
    assert chats[0].status.status_code is StatusCode.ERROR
    assert chats[0].status.description == "ValidationFailed"  # no content without capture
    assert "error.type" not in attrs(chats[1]) and chats[1].status.status_code is StatusCode.UNSET
    assert (chats[0].end_time or 0) <= (chats[1].start_time or 0)
    assert outer.status.status_code is StatusCode.UNSET and attrs(outer)["polycall.attempts"] == 2
    failed = [
        p for p in otel.points("gen_ai.client.operation.duration") if "error.type" in p.attributes
    ]
    assert [p.attributes["error.type"] for p in failed] == ["ValidationFailed"]
    assert sum(p.count for p in otel.points("gen_ai.client.operation.duration")) == 2


def test_validation_failure_after_retries_fails_every_span(
    otel: Exported, fake: FakeProvider
) -> None:
    fake.push(chat_wire.chat_completion(BAD_CALLS), chat_wire.chat_completion(BAD_CALLS[1:2]))
    with pytest.raises(ValidationFailed):
        ask(chat_client(fake), max_retries=1)
    [outer] = otel.spans("polycall.create")
    chats = otel.spans("chat")
    assert len(chats) == 2
    for span in (outer, *chats):
        assert attrs(span)["error.type"] == "ValidationFailed"
        assert span.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_provider_error_fails_the_chat_span_without_the_key(
    otel_content: Exported, fake: FakeProvider, is_async: bool
) -> None:
    # the server echoes the key in its error message: polycall redacts it everywhere
    fake.push(chat_wire.chat_error(401, f"Incorrect API key provided: {SECRET}"))
    client = chat_client(fake, is_async=is_async)
    with pytest.raises(ProviderError):
        if is_async:
            asyncio.run(ask(client))
        else:
            ask(client)
    [outer] = otel_content.spans("polycall.create")
    [chat] = otel_content.spans("chat")
    for span in (outer, chat):
        assert attrs(span)["error.type"] == "ProviderError"
        assert span.status.status_code is StatusCode.ERROR
    assert "Incorrect API key provided" in (chat.status.description or "")
    assert SECRET not in otel_content.everything()
    [point] = otel_content.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "ProviderError"
    assert not otel_content.points("gen_ai.client.token.usage")  # no response, no usage


def test_anthropic_error_is_redacted(otel_content: Exported, fake: FakeProvider) -> None:
    fake.push(anthropic_wire.error(401, f"invalid x-api-key {SECRET}", "authentication_error"))
    client = polycall.from_anthropic(
        anthropic.Anthropic(base_url=fake.url, api_key=SECRET, max_retries=0)
    )
    with pytest.raises(ProviderError):
        client.create(model="claude-sonnet-4-6", messages=SEED_MESSAGES, response_model=SEED_MODEL)
    [chat] = otel_content.spans("chat")
    assert attrs(chat)["error.type"] == "ProviderError" and "invalid x-api-key" in str(
        chat.status.description
    )
    assert SECRET not in otel_content.everything()


def test_a_conversation_quoting_the_key_is_recorded_without_it(
    otel_content: Exported, fake: FakeProvider
) -> None:
    fake.push(chat_wire.chat_completion(SEED_CALLS))
    messages = [*SEED_MESSAGES, {"role": "user", "content": f"my key is {SECRET}"}]
    chat_client(fake).create(model="gpt-4o-mini", messages=messages, response_model=SEED_MODEL)
    [chat] = otel_content.spans("chat")
    assert "my key is [redacted]" in attrs(chat)["gen_ai.input.messages"]
    assert SECRET not in otel_content.everything()


@pytest.mark.parametrize("where", ["responses instructions", "vertexai model"])
def test_a_system_prompt_given_apart_from_the_messages_is_recorded(
    otel_content: Exported, fake: FakeProvider, where: str
) -> None:
    """The Responses API's `instructions=` and a Vertex AI `GenerativeModel`'s own
    `system_instruction` are the system prompt the request sends."""
    prompt = "You are WeatherBot"
    messages = [m for m in SEED_MESSAGES if m["role"] != "system"]
    if where == "responses instructions":
        fake.push(responses_wire.response_body(SEED_CALLS))
        _openai(Mode.RESPONSES_PARALLEL_TOOLS)(fake, False).create(
            model="gpt-4o-mini", instructions=prompt, messages=messages, response_model=SEED_MODEL
        )
    else:
        pytest.importorskip("vertexai", reason="google-cloud-aiplatform is not installed")
        from vertexai.generative_models import GenerativeModel

        fake.push(gemini_wire.generate_content(SEED_CALLS))
        with vertexai_at(fake):
            model = GenerativeModel("gemini-1.5-pro", system_instruction=prompt)
            polycall.from_vertexai(model).create(messages=messages, response_model=SEED_MODEL)
    assert prompt in json.dumps(fake.last.json)  # sent apart from the messages
    [chat] = otel_content.spans("chat")
    assert json.loads(attrs(chat)["gen_ai.system_instructions"]) == prompt
    assert prompt not in attrs(chat)["gen_ai.input.messages"]


@pytest.mark.parametrize("way", ["calls.run", "run_stream", "run_tools"])
def test_tool_spans_quoting_the_key_are_recorded_without_it(
    otel_content: Exported, fake: FakeProvider, way: str
) -> None:
    """A call's arguments, a handler's result and its error, as `execute_tool` spans record
    them with content on, never hold the client's key, however the handlers run."""
    quoting = [("GoogleSearch", {"query": f"key is {SECRET}"}), SEED_CALLS[0]]

    def fails(search: GoogleSearch) -> str:
        raise RuntimeError(search.query)

    handlers = {GoogleSearch: fails, Weather: lambda w: f"{w.location} {SECRET}"}
    client = chat_client(fake)
    if way == "calls.run":
        fake.push(chat_wire.chat_completion(quoting))
        ask(client).run(handlers)
    elif way == "run_stream":
        fake.push(chat_wire.chat_stream(quoting))
        polycall.run_stream(
            client.create_iterable(model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL),
            handlers,
        )
    else:
        fake.push(chat_wire.chat_stream(quoting), chat_wire.chat_stream(text="Done."))
        client.run_tools(model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL, handlers=handlers)
    search, weather = sorted(otel_content.spans("execute_tool"), key=lambda span: span.name)
    assert "key is [redacted]" in attrs(search)["gen_ai.tool.call.arguments"]
    assert "RuntimeError: key is [redacted]" in str(search.status.description)
    assert "[redacted]" in attrs(weather)["gen_ai.tool.call.result"]
    assert SECRET not in otel_content.everything()


async def test_a_cancelled_create_fails_its_spans(otel: Exported, fake: FakeProvider) -> None:
    """A `create` cancelled while it waits for the server (a timeout of the caller's) is a
    failure of its spans and its duration point, not a success that took long."""
    arrived, release = threading.Event(), threading.Event()

    def slow(request: Any) -> Response:
        arrived.set()
        release.wait(10)
        return chat_wire.chat_completion(SEED_CALLS)

    fake.push(slow)
    client = chat_client(fake, is_async=True)
    task = asyncio.ensure_future(ask(client))
    try:
        assert await asyncio.to_thread(arrived.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()
    for span in (*otel.spans("polycall.create"), *otel.spans("chat")):
        assert attrs(span)["error.type"] == "CancelledError"
        assert span.status.status_code is StatusCode.ERROR
    [point] = otel.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "CancelledError"


async def test_a_cancelled_handler_fails_its_span(otel: Exported, fake: FakeProvider) -> None:
    fake.push(chat_wire.chat_completion(SEED_CALLS[:1]))
    calls = await ask(chat_client(fake, is_async=True))
    started = asyncio.Event()

    async def forever(weather: Weather) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.ensure_future(calls.arun({Weather: forever}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [span] = otel.spans("execute_tool")
    assert attrs(span)["error.type"] == "CancelledError" and span.status.status_code is StatusCode.ERROR


def test_an_interrupted_create_fails_its_spans(otel: Exported, fake: FakeProvider) -> None:
    fake.push(chat_wire.chat_completion(SEED_CALLS))
    client = chat_client(fake)

    def interrupt(**payload: Any) -> None:
        raise KeyboardInterrupt

    client.on("response", interrupt)
    with pytest.raises(KeyboardInterrupt):
        ask(client)
    spans = [*otel.spans("polycall.create"), *otel.spans("chat")]
    assert len(spans) == 2
    assert {attrs(span)["error.type"] for span in spans} == {"KeyboardInterrupt"}


def test_attempts_count_the_requests_sent_not_one_a_request_hook_stopped(
    otel: Exported, fake: FakeProvider
) -> None:
    fake.push(chat_wire.chat_completion(BAD_CALLS))
    client = chat_client(fake)

    def refuse_the_retry(attempt: int, **payload: Any) -> None:
        if attempt == 2:
            raise RuntimeError("hook bug")

    client.on("request", refuse_the_retry)
    with pytest.raises(UserCodeError):
        ask(client, max_retries=1)
    [outer] = otel.spans("polycall.create")
    assert len(fake.requests) == 1 and len(otel.spans("chat")) == 1
    assert attrs(outer)["polycall.attempts"] == 1


@pytest.mark.parametrize("sampler", [ALWAYS_ON, ALWAYS_OFF], ids=["sampled", "sampled out"])
def test_content_is_serialised_only_for_spans_that_are_recorded(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, sampler: Sampler
) -> None:
    """With content capture, a span the sampler drops costs no serialising of the
    conversation, the output, a call's arguments, a result or an error's message."""
    serialised: list[Any] = []

    def spy(value: Any) -> str:
        serialised.append(value)
        return "{}"

    for name in ("_json", "to_text", "text_of"):
        monkeypatch.setattr(tracing, name, spy)
    polycall.instrument(tracer_provider=TracerProvider(sampler=sampler), capture_content=True)
    try:
        fake.push(chat_wire.chat_completion(BAD_CALLS), chat_wire.chat_completion(SEED_CALLS[1:2]))
        calls = ask(chat_client(fake), max_retries=1)  # a failed attempt, then its retry

        def fails(search: GoogleSearch) -> str:
            raise RuntimeError(search.query)

        calls.run({Weather: lambda w: w.location, GoogleSearch: fails})
    finally:
        polycall.uninstrument()
    assert bool(serialised) is (sampler is ALWAYS_ON)


# --- streams -------------------------------------------------------------------------------


def held_stream(fake: FakeProvider, client: Any, gate: Gate) -> Any:
    """`client`'s stream of the seed calls, held at the server after the first."""
    fake.push(chat_wire.chat_stream(SEED_CALLS, gates={0: gate}))
    return client.create_iterable(model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL)


def test_a_stream_closed_early_ends_its_spans(
    otel: Exported, fake: FakeProvider, short_gates: None
) -> None:
    gate = Gate()
    stream = held_stream(fake, chat_client(fake), gate)
    with closing(stream):
        assert next(iter(stream)) == SEED_VALUES[0]
        assert not gate.timed_out and not otel.spans()  # the rest is held at the server
    gate.open()
    [outer] = otel.spans("polycall.create")
    [chat] = otel.spans("chat")
    assert parent_id(chat) == outer.context.span_id
    assert chat.end_time is not None and outer.end_time is not None
    assert chat.status.status_code is StatusCode.UNSET and "error.type" not in attrs(chat)
    assert "gen_ai.response.id" not in attrs(chat)  # the response never finished


async def test_an_async_stream_closed_early_ends_its_spans(
    otel: Exported, fake: FakeProvider, short_gates: None
) -> None:
    gate = Gate()
    client = chat_client(fake, is_async=True)
    with otel.tracer.start_as_current_span("app") as app:
        stream = held_stream(fake, client, gate)
        async for value in stream:
            assert value == SEED_VALUES[0]
            break
        await stream.aclose()
        assert not otel.spans("app")
    await asyncio.to_thread(gate.open)
    [outer] = otel.spans("polycall.create")
    [chat] = otel.spans("chat")
    assert parent_id(outer) == app.get_span_context().span_id
    assert parent_id(chat) == outer.context.span_id and chat.end_time is not None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_stream_cut_by_the_server_fails_its_spans(
    otel: Exported, fake: FakeProvider, is_async: bool
) -> None:
    fake.push(chat_wire.chat_stream(SEED_CALLS, gates={0: chat_wire.Hangup()}))
    with pytest.raises(ProviderError):
        create(WIRES[0], fake, stream=True, is_async=is_async)
    [outer] = otel.spans("polycall.create")
    [chat] = otel.spans("chat")
    for span in (outer, chat):
        assert attrs(span)["error.type"] == "ProviderError"
        assert span.status.status_code is StatusCode.ERROR
    [point] = otel.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "ProviderError"


def _failed_by(otel: Exported, kind: str) -> None:
    """The `polycall.create` and `chat` spans and the duration point all failed by `kind`."""
    [outer] = otel.spans("polycall.create")
    [chat] = otel.spans("chat")
    for span in (outer, chat):
        assert attrs(span)["error.type"] == kind
        assert span.status.status_code is StatusCode.ERROR
    [point] = otel.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == kind


@pytest.mark.usefixtures("short_gates")
@pytest.mark.parametrize("is_async", [False, True], ids=["run_stream", "arun_stream"])
def test_a_handler_interrupting_run_stream_fails_the_requests_spans(
    otel: Exported, fake: FakeProvider, is_async: bool
) -> None:
    """A handler's `KeyboardInterrupt`, raised while the stream is still read, stops the
    request as an interrupt inside it would: not as a stream the consumer closed early."""
    gates = {0: Gate(), 1: Gate()}  # the stream waits after each Weather call for its handler
    fake.push(chat_wire.chat_stream(SEED_CALLS, gates=gates))

    async def weather(w: Weather) -> str:
        if w.location == "Toronto":
            gates[0].open()
            raise KeyboardInterrupt
        # Dallas's handler (on the same loop) starts after Toronto's has exited: run_stream
        # sees the exit at the latest when the stream goes on to the last call
        gates[1].open()
        return w.location

    handlers = {Weather: weather, GoogleSearch: lambda s: s.query}
    request = {"model": "gpt-4o-mini", "messages": SEED_MESSAGES, "response_model": SEED_MODEL}

    async def arun() -> None:
        client = _openai(Mode.PARALLEL_TOOLS)(fake, True)
        try:
            with pytest.raises(KeyboardInterrupt):  # raised, and caught, inside the task
                await polycall.arun_stream(client.create_iterable(**request), handlers)
        finally:
            await client.aclose()

    try:
        if is_async:
            asyncio.run(arun())
        else:
            with pytest.raises(KeyboardInterrupt):
                polycall.run_stream(chat_client(fake).create_iterable(**request), handlers)
    finally:
        gates[1].open()
    _failed_by(otel, "KeyboardInterrupt")


def test_a_stream_block_left_by_an_interrupt_fails_its_spans(
    otel: Exported, fake: FakeProvider, short_gates: None
) -> None:
    gate = Gate()
    stream = held_stream(fake, chat_client(fake), gate)
    try:
        with pytest.raises(KeyboardInterrupt) as caught, stream:
            assert next(iter(stream)) == SEED_VALUES[0]
            raise KeyboardInterrupt
    finally:
        gate.open()
    _failed_by(otel, "KeyboardInterrupt")
    # Its traceback is yours, as raised: the request it was thrown into adds no frames.
    assert {frame.filename for frame in traceback.extract_tb(caught.value.__traceback__)} == {__file__}


def test_an_interrupt_where_a_stream_hands_out_a_call_completed_at_its_end_fails_its_spans(
    otel: Exported, fake: FakeProvider
) -> None:
    """A call the stream completes only once it has ended (Gemini's last streamed call, with
    no part closing it) is handed out after the response: the attempt is still open."""
    *head, closer, last = gemini_wire.stream_chunks(SEED_CALLS, streamed_args=True)
    assert isinstance(closer, dict)
    assert closer["candidates"][0]["content"]["parts"] == [{"functionCall": {}}]
    fake.push(sse_response([*head, last]))  # the last call's closing part left out
    stream = _genai(fake, False).create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
    with pytest.raises(KeyboardInterrupt), stream:
        assert list(itertools.islice(stream, 3)) == SEED_VALUES
        raise KeyboardInterrupt
    _failed_by(otel, "KeyboardInterrupt")


async def test_an_async_stream_block_left_by_a_cancellation_fails_its_spans(
    otel: Exported, fake: FakeProvider, short_gates: None
) -> None:
    gate = Gate()
    client = chat_client(fake, is_async=True)
    stream = held_stream(fake, client, gate)
    read = asyncio.Event()

    async def consume() -> None:
        async with stream:
            async for _ in stream:
                read.set()
                await asyncio.Event().wait()  # cancelled here, between two calls

    task = asyncio.ensure_future(consume())
    try:
        await asyncio.wait_for(read.wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await asyncio.to_thread(gate.open)
        await client.aclose()
    _failed_by(otel, "CancelledError")


async def test_async_requests_in_parallel_tasks_keep_their_own_parents(
    otel: Exported, fake: FakeProvider
) -> None:
    fake.respond_with(lambda request: chat_wire.chat_completion(SEED_CALLS))
    client = chat_client(fake, is_async=True)

    async def traced(name: str) -> int:
        with otel.tracer.start_as_current_span(name) as span:
            await ask(client)
            return span.get_span_context().span_id

    ids = await asyncio.gather(traced("a"), traced("b"))
    creates = otel.spans("polycall.create")
    assert sorted(parent_id(span) or 0 for span in creates) == sorted(ids)


# --- tool runs -----------------------------------------------------------------------------


def seed_calls(fake: FakeProvider) -> Any:
    fake.push(chat_wire.chat_completion(SEED_CALLS))
    return ask(chat_client(fake))


def test_parallel_handler_spans_overlap_under_the_span_current_at_run(
    otel_content: Exported, fake: FakeProvider
) -> None:
    calls = seed_calls(fake)
    together = threading.Barrier(3, timeout=WAIT)  # no handler returns before all three run

    def weather(w: Weather) -> str:
        together.wait()
        return w.location

    def search(s: GoogleSearch) -> dict[str, str]:
        together.wait()
        return {"answer": "Kansas City"}

    with otel_content.tracer.start_as_current_span("run") as run:
        results = calls.run({Weather: weather, GoogleSearch: search})
    assert all(result.ok for result in results)

    tools = sorted(
        otel_content.spans("execute_tool"), key=lambda s: attrs(s)["gen_ai.tool.call.id"]
    )
    assert [s.name for s in tools] == [
        "execute_tool Weather",
        "execute_tool Weather",
        "execute_tool GoogleSearch",
    ]
    assert {parent_id(s) for s in tools} == {run.get_span_context().span_id}
    assert all(s.kind is SpanKind.INTERNAL for s in tools)
    assert max(s.start_time or 0 for s in tools) < min(
        s.end_time or 0 for s in tools
    )  # all overlap
    assert attrs(tools[2]) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "GoogleSearch",
        "gen_ai.tool.call.id": "call_2",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.arguments": json.dumps({"query": "who won the super bowl"}),
        "gen_ai.tool.call.result": json.dumps({"answer": "Kansas City"}),
    }


async def test_async_handler_spans_overlap_and_parent_the_handlers_own_spans(
    otel: Exported, fake: FakeProvider
) -> None:
    calls = seed_calls(fake)
    running = 0
    everyone = asyncio.Event()  # set once all three handlers run: none returns before

    async def handler(value: Any) -> str:
        nonlocal running
        running += 1
        if running == 3:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), WAIT)
        with otel.tracer.start_as_current_span("inside"):
            return "done"

    with otel.tracer.start_as_current_span("run") as run:
        results = await calls.arun({Weather: handler, GoogleSearch: handler})
    assert [r.value for r in results] == ["done"] * 3
    tools = otel.spans("execute_tool")
    assert len(tools) == 3 and {parent_id(s) for s in tools} == {run.get_span_context().span_id}
    assert max(s.start_time or 0 for s in tools) < min(s.end_time or 0 for s in tools)
    inside = otel.spans("inside")
    assert sorted(parent_id(s) or 0 for s in inside) == sorted(s.context.span_id for s in tools)
    assert not any(
        k.startswith("gen_ai.tool.call.") and k != "gen_ai.tool.call.id"
        for s in tools
        for k in attrs(s)
    )


def test_a_sync_handlers_own_spans_are_children_of_its_tool_span(
    otel: Exported, fake: FakeProvider
) -> None:
    calls = seed_calls(fake)

    def handler(value: Any) -> str:
        with otel.tracer.start_as_current_span("inside"):
            return "done"

    calls.run({Weather: handler, GoogleSearch: handler})
    tools = otel.spans("execute_tool")
    inside = otel.spans("inside")
    assert len(inside) == 3
    assert sorted(parent_id(s) or 0 for s in inside) == sorted(s.context.span_id for s in tools)


@pytest.fixture
def never() -> Iterator[threading.Event]:
    """An event no handler sees fire while the test runs; set afterwards to free threads."""
    event = threading.Event()
    yield event
    event.set()


def test_raising_and_timed_out_handlers_fail_their_spans_only(
    otel: Exported, fake: FakeProvider, never: threading.Event
) -> None:
    calls = seed_calls(fake)

    def weather(w: Weather) -> str:
        if w.location == "Dallas":
            raise ValueError("no forecast for Dallas")
        return w.location

    def search(s: GoogleSearch) -> str:
        never.wait()
        return "late"

    results = calls.run({Weather: weather, GoogleSearch: search}, timeout=0.5)
    assert [type(r.error).__name__ if r.error else None for r in results] == [
        None,
        "ValueError",
        "TimeoutError",
    ]
    spans = {attrs(s)["gen_ai.tool.call.id"]: s for s in otel.spans("execute_tool")}
    assert (
        "error.type" not in attrs(spans["call_0"])
        and spans["call_0"].status.status_code is StatusCode.UNSET
    )
    assert attrs(spans["call_1"])["error.type"] == "ValueError"
    assert attrs(spans["call_2"])["error.type"] == "TimeoutError"
    for call_id in ("call_1", "call_2"):
        assert spans[call_id].status.status_code is StatusCode.ERROR
    assert "Dallas" not in otel.everything()  # the error message is content


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_handler_error_whose_str_fails_still_fails_its_span(
    otel_content: Exported, fake: FakeProvider
) -> None:
    """With content capture the span's description is the error's text: one that cannot be
    written is named as such, and the run goes on."""
    calls = seed_calls(fake)

    def search(s: GoogleSearch) -> str:
        raise Unprintable

    results = calls.run({Weather: lambda w: w.location, GoogleSearch: search})
    assert isinstance(results[2].error, Unprintable)
    [span] = [s for s in otel_content.spans("execute_tool") if attrs(s)["gen_ai.tool.call.id"] == "call_2"]
    assert span.status.description == "Unprintable: <Unprintable object; str() failed>"


def test_run_stream_traces_the_request_and_each_handler_under_the_callers_span(
    otel: Exported, fake: FakeProvider
) -> None:
    fake.push(chat_wire.chat_stream(SEED_CALLS))
    stream = chat_client(fake).create_iterable(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    with otel.tracer.start_as_current_span("app") as app:
        results = polycall.run_stream(
            stream, {Weather: lambda w: w.location, GoogleSearch: lambda s: s.query}
        )
    assert [r.value for r in results] == ["Toronto", "Dallas", "who won the super bowl"]
    app_id = app.get_span_context().span_id
    [outer] = otel.spans("polycall.create")
    tools = otel.spans("execute_tool")
    assert parent_id(outer) == app_id and len(tools) == 3
    assert {parent_id(s) for s in tools} == {app_id}


async def test_arun_stream_traces_each_handler_under_the_callers_span(
    otel: Exported, fake: FakeProvider
) -> None:
    fake.push(chat_wire.chat_stream(SEED_CALLS))
    client = chat_client(fake, is_async=True)

    async def search(s: GoogleSearch) -> str:
        return s.query

    with otel.tracer.start_as_current_span("app") as app:
        stream = client.create_iterable(
            model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL
        )
        handlers = {Weather: lambda w: w.location, GoogleSearch: search}
        results = await polycall.arun_stream(stream, handlers)
    assert [r.value for r in results] == ["Toronto", "Dallas", "who won the super bowl"]
    app_id = app.get_span_context().span_id
    [outer] = otel.spans("polycall.create")
    tools = otel.spans("execute_tool")
    assert parent_id(outer) == app_id
    assert sorted(attrs(s)["gen_ai.tool.call.id"] for s in tools) == ["call_0", "call_1", "call_2"]
    assert {parent_id(s) for s in tools} == {app_id}


# --- instrument / uninstrument -------------------------------------------------------------


def test_uninstrument_stops_emitting(fake: FakeProvider) -> None:
    exported = Exported()
    calls = seed_calls(fake)
    calls.run({Weather: lambda w: w.location, GoogleSearch: lambda s: s.query})
    spans, points = len(exported.spans()), len(exported.points("gen_ai.client.operation.duration"))
    assert spans == 5 and points == 1
    polycall.uninstrument()
    again = seed_calls(fake)
    again.run({Weather: lambda w: w.location, GoogleSearch: lambda s: s.query})
    assert len(exported.spans()) == spans
    [point] = exported.points("gen_ai.client.operation.duration")
    assert point.count == 1


def test_instrument_without_opentelemetry_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # `import opentelemetry` now fails
    with pytest.raises(ConfigurationError, match=r'pip install "polycall\[otel\]"'):
        polycall.instrument()
    assert polycall.tracing.ACTIVE is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"capture_content": "false"}, "capture_content= takes True or False, got str"),
        ({"capture_content": 1}, "capture_content= takes True or False, got int"),
        ({"tracer_provider": MeterProvider()}, "tracer_provider= takes an OpenTelemetry TracerProvider, got MeterProvider"),
        ({"meter_provider": TracerProvider()}, "meter_provider= takes an OpenTelemetry MeterProvider, got TracerProvider"),
        ({"tracer_provider": TracerProvider}, "takes an OpenTelemetry TracerProvider instance, got the class TracerProvider"),
    ],
)
def test_instrument_refuses_settings_it_cannot_take(options: dict[str, Any], message: str) -> None:
    """Nothing half-set: a string from a setting is not taken as true, nor one provider for
    the other (which would fail at the first request, far from the mistake)."""
    with pytest.raises(ConfigurationError, match=message):
        polycall.instrument(**options)
    assert polycall.tracing.ACTIVE is None


def test_import_polycall_loads_no_opentelemetry() -> None:
    code = "import sys, polycall\nprint(any(m.startswith('opentelemetry') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


#: The `gen_ai.provider.name` values the GenAI conventions define that polycall can call.
KNOWN_NAMES = {
    "openai", "azure.ai.openai", "anthropic", "gcp.gemini", "gcp.vertex_ai", "aws.bedrock"
}


@pytest.mark.parametrize("provider", registry.PROVIDERS, ids=lambda p: p.name)
def test_each_descriptor_names_its_provider_as_the_conventions_do(
    provider: registry.Provider,
) -> None:
    assert provider.otel in KNOWN_NAMES, f"set otel= on the {provider.name!r} descriptor"
    assert set(provider.otel_clients.values()) <= KNOWN_NAMES


def test_provider_names_of_other_clouds() -> None:
    azure = openai.AzureOpenAI(
        azure_endpoint="http://127.0.0.1:1", api_key=SECRET, api_version="2024-10-21"
    )
    assert registry.provider("openai").otel_name(azure) == "azure.ai.openai"
    assert registry.provider("openai").otel_name(openai.OpenAI(api_key=SECRET)) == "openai"
    vertex = anthropic.AnthropicVertex(region="us-east5", project_id="p", access_token=SECRET)
    assert registry.provider("anthropic").otel_name(vertex) == "gcp.vertex_ai"


def test_the_gemini_api_is_named_apart_from_vertex_ai() -> None:
    pytest.importorskip("google.genai", reason="google-genai is not installed")
    assert (
        registry.provider("genai").otel_name(gemini_wire.genai_client("http://127.0.0.1:1"))
        == "gcp.gemini"
    )


# --- the tool loop ---------------------------------------------------------------------------


def _run_tools(fake: FakeProvider, **kwargs: Any) -> Any:
    return chat_client(fake).run_tools(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL,
        handlers={Weather: lambda w: w.location, GoogleSearch: lambda s: "Kansas City"}, **kwargs,
    )


def test_run_tools_is_one_span_over_its_requests_and_handlers(
    otel: Exported, fake: FakeProvider
) -> None:
    fake.push(chat_wire.chat_stream(SEED_CALLS), chat_wire.chat_stream(text="Done."))
    with otel.tracer.start_as_current_span("caller") as caller:
        run = _run_tools(fake)
    assert run.text == "Done." and len(run.steps) == 1

    [loop] = otel.spans("polycall.run_tools")
    assert parent_id(loop) == caller.get_span_context().span_id
    assert loop.kind is SpanKind.INTERNAL and loop.status.status_code is StatusCode.UNSET
    assert attrs(loop)["polycall.steps"] == 1
    assert attrs(loop)["gen_ai.provider.name"] == "openai"
    creates = otel.spans("polycall.create")
    assert len(creates) == 2  # one per step's request
    assert [attrs(span)["polycall.attempts"] for span in creates] == [1, 1]
    assert {parent_id(span) for span in creates} == {loop.context.span_id}
    assert {parent_id(span) for span in otel.spans("chat")} == {s.context.span_id for s in creates}
    tools = otel.spans("execute_tool")
    assert len(tools) == 3 and {parent_id(span) for span in tools} == {loop.context.span_id}


@pytest.mark.parametrize("content", [False, True], ids=["no content", "content"])
def test_run_tools_that_runs_out_of_steps_fails_its_span(
    request: pytest.FixtureRequest, fake: FakeProvider, content: bool
) -> None:
    """The error's message is the description only with content capture."""
    exported: Exported = request.getfixturevalue("otel_content" if content else "otel")
    fake.push(chat_wire.chat_stream(SEED_CALLS), chat_wire.chat_stream(SEED_CALLS))
    with pytest.raises(polycall.MaxStepsExceeded):
        _run_tools(fake, max_steps=1)
    [loop] = exported.spans("polycall.run_tools")
    assert attrs(loop)["error.type"] == "MaxStepsExceeded"
    assert loop.status.status_code is StatusCode.ERROR
    assert attrs(loop)["polycall.steps"] == 1
    description = str(loop.status.description)
    if content:
        assert description.startswith("MaxStepsExceeded: the model still called tools")
    else:
        assert description == "MaxStepsExceeded"


def test_a_tool_loop_step_asked_again_after_a_malformed_end_fails_its_chat_span(
    otel: Exported, fake: FakeProvider
) -> None:
    pytest.importorskip("google.genai")
    fake.push(
        gemini_wire.gemini_stream([], finish_reason="MALFORMED_FUNCTION_CALL"),
        gemini_wire.gemini_stream(SEED_CALLS[:1]),
        gemini_wire.gemini_stream(text="Done."),
    )
    client = polycall.from_genai(gemini_wire.genai_client(fake), model="gemini-2.5-flash")
    run = client.run_tools(messages=SEED_MESSAGES, response_model=SEED_MODEL, handlers={Weather: str, GoogleSearch: str})
    assert run.text == "Done."
    chats = otel.spans("chat")
    assert [attrs(span).get("error.type") for span in chats] == ["MalformedOutputError", None, None]
    assert [attrs(span)["polycall.attempts"] for span in otel.spans("polycall.create")] == [2, 1]


def test_run_tools_refused_before_it_starts_leaves_no_span_open(
    otel: Exported, fake: FakeProvider
) -> None:
    started: list[Any] = []
    otel.tracer_provider.add_span_processor(SpanRecorder(started))
    with pytest.raises(ConfigurationError, match="no handler for tool 'GoogleSearch'"):
        chat_client(fake).run_tools(
            model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL,
            handlers={Weather: lambda w: w.location},
        )
    assert started == [] and fake.requests == []


class SpanRecorder(SpanProcessor):
    """Notes each span as it starts (the exporter sees only those that end)."""

    def __init__(self, started: list[Any]) -> None:
        self.started = started

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started.append(span)


def test_iter_tools_left_early_ends_its_span(otel: Exported, fake: FakeProvider) -> None:
    fake.push(chat_wire.chat_stream(SEED_CALLS), chat_wire.chat_stream(text="Done."))
    events = chat_client(fake).iter_tools(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL,
        handlers={Weather: lambda w: w.location, GoogleSearch: lambda s: "Kansas City"},
    )
    with closing(events):
        next(iter(events))
    [loop] = otel.spans("polycall.run_tools")
    assert "error.type" not in attrs(loop)  # leaving early is no failure, as for a stream
    assert loop.status.status_code is StatusCode.UNSET and attrs(loop)["polycall.steps"] == 0
    assert all(span.end_time is not None for span in otel.spans())
