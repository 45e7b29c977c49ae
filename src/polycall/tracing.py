"""OpenTelemetry tracing and metrics, with the GenAI semantic conventions.

`instrument()` sets `ACTIVE`; the engine and the runner read it once per request or run, and
do nothing more while it is None. Spans are started with an explicit parent, never made
current across a generator's `yield`: a sync generator resumes in its caller's context, an
async one in its task's. This module imports OpenTelemetry only in `instrument()`.
"""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from .calls import ToolCall, Turn, Usage, text_of, to_text
from .errors import ConfigurationError
from .modes import Mode
from .providers.registry import for_mode

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from .providers.base import Adapter
    from .session import Session

Redact = Callable[[str, "Adapter | None"], str]
Outcome = tuple[Any, "BaseException | None"]  # a handler's value and error
Attributes = dict[str, Any]

#: The live instrumentation, or None: then polycall creates no span and makes no extra call.
ACTIVE: Telemetry | None = None

# Bucket boundaries the GenAI conventions advise for the two histograms.
_SECONDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKENS = [4.0**n for n in range(14)]

#: The modes whose SDKs take a Google resource name for the model (google-genai, Vertex AI).
_RESOURCE_NAMED = frozenset({Mode.GENAI_PARALLEL_TOOLS, Mode.VERTEXAI_PARALLEL_TOOLS})

#: A Google resource name of a model: `models/M`, `publishers/P/models/M`,
#: `projects/X/locations/L/publishers/P/models/M`. Other names (`tunedModels/...`, endpoints)
#: are no model name to strip down to.
_RESOURCE = re.compile(r"(?:(?:projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/)?models/([^/]+)")


def instrument(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    capture_content: bool = False,
) -> None:
    """Trace every request and tool run of every polycall client from now on.

    Spans go to `tracer_provider`, metrics to `meter_provider` (OpenTelemetry's global ones
    by default). Messages, tool arguments and results are recorded only with
    `capture_content=True`; credentials never. Calling it again replaces the settings.
    """
    global ACTIVE
    try:
        from opentelemetry import context, metrics, trace
    except ImportError as exc:
        raise ConfigurationError(
            "polycall.instrument() needs the opentelemetry-api package: "
            'pip install "polycall[otel]"'
        ) from exc
    if not isinstance(capture_content, bool):  # ("false" from a setting would be true)
        raise ConfigurationError(
            f"capture_content= takes True or False, got {type(capture_content).__name__}"
        )
    for name, given, method in (
        ("tracer_provider", tracer_provider, "get_tracer"),
        ("meter_provider", meter_provider, "get_meter"),
    ):
        kind = name.title().replace("_", "")
        if isinstance(given, type):  # the class itself, not one made of it
            raise ConfigurationError(
                f"{name}= takes an OpenTelemetry {kind} instance, got the class {given.__name__}"
            )
        if given is not None and not callable(getattr(given, method, None)):
            raise ConfigurationError(
                f"{name}= takes an OpenTelemetry {kind}, got {type(given).__name__}"
            )
    ACTIVE = Telemetry(trace, context, metrics, tracer_provider, meter_provider, capture_content)


def uninstrument() -> None:
    """Stop tracing: requests and tool runs started afterwards create no span, no metric."""
    global ACTIVE
    ACTIVE = None


class Telemetry:
    """One `instrument()` call: the tracer, the two histograms, whether to record content."""

    def __init__(
        self,
        trace: Any,
        context: Any,
        metrics: Any,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        capture_content: bool,
    ) -> None:
        from . import __version__

        self.trace = trace
        self.context = context
        self.tracer = trace.get_tracer("polycall", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("polycall", __version__, meter_provider=meter_provider)
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_SECONDS,
        )
        self.tokens: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKENS,
        )
        self.capture = capture_content
        self._static: weakref.WeakKeyDictionary[Adapter, Attributes] = weakref.WeakKeyDictionary()

    def create(self, session: Session, redact: Redact) -> Create:
        """The spans of one `create()`, under the span current now."""
        return Create(self, session, redact)

    def tools(self, redact: Redact, adapter: Adapter | None, parent: Context | None = None) -> Tools:
        """The spans of one run of handlers, under `parent` (else the span current now); the
        credentials of `adapter` (the calls' client) redacted from what they record."""
        context = parent if parent is not None else self.context.get_current()
        return Tools(self, context, _scrubbing(redact, adapter))

    def run_tools(self, session: Session, redact: Redact) -> RunTools:
        """The span of one `run_tools()`, under the span current now."""
        return RunTools(self, session, redact)

    def static(self, adapter: Adapter, request: Mapping[str, Any]) -> Attributes:
        """What every span and metric of `adapter` carries: provider, model, server."""
        known = self._static.get(adapter)
        if known is None:
            known = {"gen_ai.provider.name": for_mode(adapter.mode).otel_name(adapter.client)}
            client = adapter.client
            url = getattr(client, "base_url", None)  # the OpenAI and Anthropic SDKs
            if url is None:  # botocore
                url = getattr(getattr(client, "meta", None), "endpoint_url", None)
            known.update(_server(url))
            self._static[adapter] = known
        model = request.get("model") or request.get("modelId") or adapter.model
        if model is None:  # Vertex AI: the model is the GenerativeModel's own
            model = getattr(adapter.client, "_model_name", None)
        if isinstance(model, str) and model:
            return {**known, "gen_ai.request.model": _model_name(adapter.mode, model)}
        return dict(known)


class Create:
    """A `create()`: its parent span, and one `chat {model}` span per attempt."""

    __slots__ = (
        "attempt",
        "common",
        "error",
        "parent",
        "redact",
        "sent",
        "session",
        "span",
        "started",
        "telemetry",
        "turn",
    )

    def __init__(self, telemetry: Telemetry, session: Session, redact: Redact) -> None:
        self.telemetry = telemetry
        self.session = session
        self.redact = redact
        self.common = telemetry.static(session.adapter, session.request)
        trace = telemetry.trace
        self.span: Span = telemetry.tracer.start_span(
            "polycall.create", context=session.trace_parent, attributes=self.common
        )
        self.parent: Context = trace.set_span_in_context(self.span)
        self.sent = 0  # requests sent (`begin`); an attempt a hook stopped sent none
        self.attempt: Span | None = None
        self.turn: Turn | None = None
        self.error: BaseException | None = None
        self.started = 0.0

    def begin(self, request: Mapping[str, Any]) -> None:
        """An attempt sends `request`."""
        telemetry = self.telemetry
        model = self.common.get("gen_ai.request.model")
        self.attempt = span = telemetry.tracer.start_span(
            f"chat {model}" if model else "chat",
            context=self.parent,
            kind=telemetry.trace.SpanKind.CLIENT,
            attributes={"gen_ai.operation.name": "chat", **self.common},
        )
        if telemetry.capture and span.is_recording():  # no content work for a span sampled out
            span.set_attributes(self._input(request))
        self.sent += 1
        self.turn = None
        self.started = time.perf_counter()

    def read(self, turn: Turn) -> None:
        """The attempt's response arrived."""
        span, self.turn = self.attempt, turn
        if span is None:
            return
        for key, value in (
            ("gen_ai.response.id", turn.response_id),
            ("gen_ai.response.model", turn.response_model),
        ):
            if isinstance(value, str) and value:
                span.set_attribute(key, value)
        if isinstance(turn.finish_reason, str) and turn.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [turn.finish_reason])
        if _counted(turn.usage):
            span.set_attribute("gen_ai.usage.input_tokens", turn.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", turn.usage.output_tokens)
        if self.telemetry.capture and span.is_recording():
            span.set_attribute("gen_ai.output.messages", self._scrub(_json([_output(turn)])))

    def end(self, error: BaseException | None) -> None:
        """The attempt is over; `error` is what failed it (a retry may still mend it)."""
        span, self.attempt = self.attempt, None
        if span is None:
            return
        metric = {"gen_ai.operation.name": "chat", **self.common}
        response_model = self.turn.response_model if self.turn is not None else None
        if isinstance(response_model, str) and response_model:
            metric["gen_ai.response.model"] = response_model
        if _failure(error):
            metric["error.type"] = _failed(self.telemetry, span, error, self._scrub)
        telemetry = self.telemetry
        telemetry.duration.record(time.perf_counter() - self.started, metric)
        if self.turn is not None and _counted(self.turn.usage):
            usage = self.turn.usage
            telemetry.tokens.record(usage.input_tokens, {**metric, "gen_ai.token.type": "input"})
            telemetry.tokens.record(usage.output_tokens, {**metric, "gen_ai.token.type": "output"})
        span.end()

    def fail(self, error: BaseException) -> None:
        """The `create()` stops with `error` (GeneratorExit: its stream was closed early)."""
        self.end(error)
        self.error = error

    def close(self) -> None:
        """The `create()` is over: end its span."""
        self.end(None)
        if _failure(self.error):
            _failed(self.telemetry, self.span, self.error, self._scrub)
        self.span.set_attribute("polycall.attempts", self.sent)
        self.span.end()

    def _input(self, request: Mapping[str, Any]) -> Attributes:
        conversation: Any = next(
            (request[k] for k in ("messages", "input", "contents") if k in request), []
        )
        attributes = {"gen_ai.input.messages": self._scrub(_json(conversation))}
        system = self.session.adapter.system_prompt(request)
        if system:
            attributes["gen_ai.system_instructions"] = self._scrub(_json(system))
        return attributes

    def _scrub(self, text: str) -> str:
        return self.redact(text, self.session.adapter)


class RunTools:
    """A `run_tools()`: one span over its steps' `polycall.create` and `execute_tool` spans."""

    __slots__ = ("parent", "scrub", "span", "telemetry")

    def __init__(self, telemetry: Telemetry, session: Session, redact: Redact) -> None:
        self.telemetry = telemetry
        self.scrub = _scrubbing(redact, session.adapter)
        attributes = telemetry.static(session.adapter, session.request)
        self.span: Span = telemetry.tracer.start_span("polycall.run_tools", attributes=attributes)
        self.parent: Context = telemetry.trace.set_span_in_context(self.span)

    def end(self, steps: int, error: BaseException | None) -> None:
        """The run is over after `steps` steps; `error` is what stopped it, if anything."""
        self.span.set_attribute("polycall.steps", steps)
        if _failure(error):
            _failed(self.telemetry, self.span, error, self.scrub)
        self.span.end()


class Tools:
    """A run of handlers: one `execute_tool {tool}` span per handler, all under one parent."""

    __slots__ = ("parent", "scrub", "telemetry")

    def __init__(self, telemetry: Telemetry, parent: Context, scrub: Callable[[str], str]) -> None:
        self.telemetry = telemetry
        self.parent = parent
        self.scrub = scrub  # content may quote a credential: redacted like the `chat` span's

    async def run(self, call: ToolCall[Any], work: Awaitable[Outcome]) -> Outcome:
        """`await work` (the handler run of `call`, in a task of its own: its value and its
        error) inside its span, current meanwhile, so that spans the handler starts are its
        children. A timeout raises through."""
        telemetry, trace = self.telemetry, self.telemetry.trace
        attributes: Attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": "function",
        }
        span = telemetry.tracer.start_span(
            f"execute_tool {call.name}", context=self.parent, attributes=attributes
        )
        capture = telemetry.capture and span.is_recording()  # no content for a span sampled out
        if capture:
            span.set_attribute("gen_ai.tool.call.arguments", self.scrub(_json(call.arguments)))
        try:
            with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                value, error = await work
        except BaseException as exc:  # timed out, or cancelled (the run failed, or was cancelled)
            _failed(telemetry, span, exc, None)
            raise
        else:
            if error is not None:
                _failed(telemetry, span, error, self.scrub)
            elif capture:
                span.set_attribute("gen_ai.tool.call.result", self.scrub(to_text(value)))
            return value, error
        finally:
            span.end()


def _model_name(mode: Mode, model: str) -> str:
    """`gen_ai.request.model`: the name as given, but the model's own name for a Google
    resource name (`models/gemini-2.5-flash` -> `gemini-2.5-flash`)."""
    if mode in _RESOURCE_NAMED and (found := _RESOURCE.fullmatch(model)):
        return found[1]
    return model


def _counted(usage: Usage) -> bool:
    """Whether the provider reported token usage: 0 input and 0 output tokens means it did
    not (e.g. a stream from a server that ignores `stream_options`)."""
    return bool(usage.input_tokens or usage.output_tokens)


def _server(base_url: Any) -> Attributes:
    """`server.address` / `server.port` of an SDK client's base URL (never its user or query)."""
    if base_url is None:
        return {}
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(base_url))
        host, port = parts.hostname, parts.port
    except ValueError:
        return {}
    found: Attributes = {"server.address": host} if host else {}
    if host and port is not None:
        found["server.port"] = port
    return found


def _output(turn: Turn) -> dict[str, Any]:
    """The model's turn in the conventions' message shape."""
    parts: list[dict[str, Any]] = [{"type": "text", "content": turn.text}] if turn.text else []
    parts += [
        {"type": "tool_call", "id": call.id, "name": call.name, "arguments": _value(call.arguments)}
        for call in turn.calls
    ]
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if isinstance(turn.finish_reason, str):
        message["finish_reason"] = turn.finish_reason
    return message


def _value(arguments: Any) -> Any:
    """Arguments sent as JSON text, as their value (as the text itself if it is no JSON)."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _json(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    """`value` as JSON-able data: SDK objects (pydantic, protobuf) as their dicts."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):  # pydantic: google-genai's types
        return _plain(value.model_dump(mode="json", exclude_none=True))
    to_dict = getattr(type(value), "to_dict", None)  # proto-plus: the Vertex AI SDK's types
    if callable(to_dict):
        return _plain(to_dict(value))
    return value


def _failure(error: BaseException | None) -> TypeGuard[BaseException]:
    """Whether `error` failed what it stopped: anything but a consumer closing a stream early
    (GeneratorExit), a cancellation and an interrupt included."""
    return error is not None and not isinstance(error, GeneratorExit)


def _failed(
    telemetry: Telemetry, span: Span, error: BaseException, scrub: Callable[[str], str] | None
) -> str:
    """Mark `span` failed by `error` (its class is `error.type`); return that class name. The
    description is the class, or with content capture (and `scrub`) the error's message,
    credentials redacted: it may quote the model's output, so it is content."""
    kind = type(error).__name__
    description = kind
    if scrub is not None and telemetry.capture and span.is_recording():
        description = scrub(f"{kind}: {text_of(error)}")
    span.set_attribute("error.type", kind)
    span.set_status(telemetry.trace.Status(telemetry.trace.StatusCode.ERROR, description))
    return kind


def _scrubbing(redact: Redact, adapter: Adapter | None) -> Callable[[str], str]:
    """`redact` with the credentials of `adapter` (the client whose content it is)."""
    return lambda text: redact(text, adapter)
