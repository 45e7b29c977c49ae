"""AWS Bedrock Converse: `Mode.BEDROCK_PARALLEL_TOOLS`, for every model Bedrock hosts.

The SDK client is `boto3.client("bedrock-runtime")` (calls run in a worker thread on an
async polycall client) or an entered aiobotocore `bedrock-runtime` client (awaited).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    contextmanager,
)
from typing import Any

from pydantic_core import from_json

from ..calls import RawCall, Reply, Stop, Turn, Usage
from ..engine import http_status
from ..errors import ConfigurationError, ProviderError
from ..modes import Mode
from ..toolset import ToolSet
from ._assembly import Call, Calls, CallsAssembler
from .base import (
    Adapter,
    Assembler,
    arguments_object,
    block_turn,
    chat_call,
    join_texts,
    message_list,
    plain,
    shut,
    text_piece,
)
from .registry import construct

SERVICE = "bedrock-runtime"

_STOPS = {
    "max_tokens": Stop.LENGTH,
    "model_context_window_exceeded": Stop.LENGTH,
    "guardrail_intervened": Stop.REFUSAL,
    "content_filtered": Stop.REFUSAL,
    "malformed_model_output": Stop.MALFORMED,
    "malformed_tool_use": Stop.MALFORMED,
}
_SYSTEM_ROLES = ("system", "developer")
#: OpenAI-style keyword arguments and the `inferenceConfig` field each one is.
_INFERENCE = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP",
              "stop": "stopSequences"}
_INPUT_FIELDS = ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
_END = object()
#: What decides where a streamed JSON value ends: escapes, quotes, brackets.


class _DefaultChoice(dict[str, Any]):
    """A `toolChoice` polycall set itself (the user gave none)."""


class BedrockConverse(Adapter):
    """`client.converse` / `converse_stream` with one `toolSpec` per response_model member."""

    mode = Mode.BEDROCK_PARALLEL_TOOLS

    def __init__(self, client: Any, *, model: str | None = None) -> None:
        service = getattr(getattr(getattr(client, "meta", None), "service_model", None),
                          "service_name", None)
        if service != SERVICE:
            raise ConfigurationError(
                f"from_bedrock() needs a {SERVICE!r} client (boto3.client({SERVICE!r})), "
                f"got a {service!r} client"
            )
        super().__init__(client, model=model)
        self.awaitable = any(
            kind.__name__ == "AioBaseClient" and kind.__module__.startswith("aiobotocore")
            for kind in type(client).__mro__
        )

    def classify(self, exc: Exception) -> ConfigurationError | None:
        # botocore checks a request against the service's model before sending it
        from botocore.exceptions import ParamValidationError

        return ConfigurationError(str(exc)) if isinstance(exc, ParamValidationError) else None

    def secrets(self) -> list[Any]:
        """The AWS secret key and session token the client signs with (never sent as they
        are, but a server could echo the token), and the Bedrock API key it sends as a bearer
        token instead (`AWS_BEARER_TOKEN_BEDROCK`), as the signer holds them."""
        signer = getattr(self.client, "_request_signer", None)
        credentials = getattr(getattr(signer, "_credentials", None), "__dict__", {})
        names = ("secret_key", "_secret_key", "token", "_token")
        bearer = getattr(signer, "_auth_token", None)  # frozen, or one that refreshes
        bearer = getattr(bearer, "_frozen_token", bearer)
        return [*(credentials.get(name) for name in names), getattr(bearer, "token", None)]

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "tools" in kwargs:
            raise ConfigurationError("tools come from response_model; do not pass tools= as well")
        request = dict(kwargs)
        model = request.pop("model", None)
        given = request.get("modelId")
        if model is not None and given is not None and model != given:
            raise ConfigurationError(f"model={model!r} and modelId={given!r} differ; give one")
        request["modelId"] = model or given or self.model
        if not request["modelId"]:
            raise ConfigurationError("Bedrock needs model=... (or modelId=...), per call or in from_bedrock()")
        if "messages" not in request:
            raise ConfigurationError("Bedrock needs messages=[...]")
        system, request["messages"] = converse_messages(request["messages"])
        system = [*_blocks(request.get("system"), "system="), *system]
        if system:
            request["system"] = system
        _inference_config(request)
        config = request.get("toolConfig") or {}
        if not isinstance(config, Mapping):
            raise ConfigurationError(f"toolConfig must be a dict, got {type(config).__name__}")
        config = dict(config)
        if "tools" in config:
            raise ConfigurationError("tools come from response_model; do not pass toolConfig.tools")
        config["tools"] = tools.dialect(_tool_specs)
        if "toolChoice" not in config:
            # Claude's extended thinking refuses a forced tool choice; "auto" is the one it takes.
            extra = request.get("additionalModelRequestFields")
            thinking = extra.get("thinking") if isinstance(extra, Mapping) else None
            kind = thinking.get("type") if isinstance(thinking, Mapping) else None
            forced = kind in (None, "disabled")
            config["toolChoice"] = _DefaultChoice(any={}) if forced else _DefaultChoice(auto={})
        request["toolConfig"] = config
        return request

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        config = request["toolConfig"]
        if not isinstance(config.get("toolChoice"), _DefaultChoice):
            return request
        return {**request, "toolConfig": {k: v for k, v in config.items() if k != "toolChoice"}}

    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        return {**request, "messages": [*request["messages"], *messages]}

    def send(self, request: dict[str, Any]) -> Any:
        return self.client.converse(**request)

    async def asend(self, request: dict[str, Any]) -> Any:
        if self.awaitable:
            return await self.client.converse(**request)
        return await asyncio.to_thread(lambda: self.client.converse(**request))

    def stream(self, request: dict[str, Any]) -> AbstractContextManager[Iterator[Any]]:
        return self._stream(request)

    def astream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        return _AsyncEvents(self, request)

    @contextmanager
    def _stream(self, request: dict[str, Any]) -> Iterator[Iterator[Any]]:
        events = self.client.converse_stream(**request)["stream"]
        try:
            yield events  # itself, not an iterator over it: a tool loop may `shut` it
        finally:
            events.close()

    def status(self, exc: Exception) -> int | None:
        """A botocore `ClientError`'s HTTP status; for an exception event, which came in a
        stream that began with a 200, the status the service's model gives its kind
        (`throttlingException`: 429)."""
        response = getattr(exc, "response", None)
        if not (isinstance(response, Mapping) and "Error" in response):
            return http_status(exc)
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(status, int) and status >= 400:
            return status
        code = (response.get("Error") or {}).get("Code")
        return event_status(self.client.meta.service_model, "ConverseStreamOutput", code)

    def parse(self, raw: Any) -> Turn:
        content = ((raw.get("output") or {}).get("message") or {}).get("content") or []
        calls: list[RawCall] = []
        texts: list[str] = []
        reasoning: list[dict[str, Any]] = []
        for block in content:
            if "toolUse" in block:
                use = block["toolUse"]
                calls.append(RawCall(use.get("toolUseId"), use.get("name") or "",
                                     use.get("input"), reasoning or None))
                reasoning = []
            elif "text" in block:
                texts.append(block["text"])
            elif "reasoningContent" in block:
                reasoning.append({"reasoningContent": block["reasoningContent"]})
        text = join_texts(texts)
        stop, reason = _stop(raw.get("stopReason"), text)
        return Turn(calls=calls, stop=stop, reason=reason, text=text,
                    usage=_usage(raw.get("usage")), raw=raw, finish_reason=raw.get("stopReason"))

    def assembler(self) -> Assembler:
        return ConverseAssembler()

    def assistant_message(self, calls: Sequence[RawCall], text: str | None) -> Any:
        return block_turn(
            calls,
            text,
            lambda text: {"text": text},
            lambda call, arguments: {
                "toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}
            },
        )

    def reply_messages(self, replies: Sequence[Reply]) -> list[Any]:
        if not replies:
            return []
        blocks = []
        for reply in replies:
            result: dict[str, Any] = {"toolUseId": reply.call_id, "content": [_result(reply.content)]}
            if reply.is_error:
                result["status"] = "error"
            blocks.append({"toolResult": result})
        return [{"role": "user", "content": blocks}]


@functools.cache
def bedrock_model() -> Any:
    """botocore's model of the Bedrock runtime service, for a client that is not botocore's."""
    import botocore.session

    return botocore.session.get_session().get_service_model(SERVICE)


def event_status(service: Any, stream: str, code: Any) -> int | None:
    """The HTTP status botocore's model of the service (`service`) gives the exception event
    `code` of its event stream shape `stream`; None if it gives none."""
    try:
        status = service.shape_for(stream).members[code].metadata["error"]["httpStatusCode"]
    except Exception:  # noqa: BLE001 - no such event, or a model that says nothing of it
        return None
    return status if isinstance(status, int) else None


class _AsyncEvents(AbstractAsyncContextManager[AsyncIterator[Any]]):
    """A `converse_stream` request's events, opened on entry (awaited on an aiobotocore
    client, else on a worker thread) and closed on exit. A class, not a generator: asyncio,
    finalizing the generators a program left open as it shuts down, cannot close it before
    the driver reading it."""

    def __init__(self, adapter: BedrockConverse, request: dict[str, Any]) -> None:
        self.client, self.awaitable, self.request = adapter.client, adapter.awaitable, request

    async def __aenter__(self) -> AsyncIterator[Any]:
        if self.awaitable:
            self.events = (await self.client.converse_stream(**self.request))["stream"]
            return aiter(self.events)
        self.events = await _open_in_thread(lambda: self.client.converse_stream(**self.request))
        return _threaded(iter(self.events))

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None and not self.awaitable:  # a worker thread may be blocked reading
            shut(self.events)
        self.events.close()


async def _threaded(events: Iterator[Any]) -> AsyncIterator[Any]:
    """A sync boto3 event stream read in a worker thread, one event at a time."""
    while (event := await asyncio.to_thread(next, events, _END)) is not _END:
        yield event


# ---------------------------------------------------------------------------------------
# Requests: messages, inference settings, tools.


def converse_messages(messages: Sequence[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI-style (or native Converse) messages as Converse `system` blocks and `messages`;
    consecutive messages of one role (tool results and the user text after them) are one."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for position, message in enumerate(message_list(messages)):
        message = plain(message)
        if not isinstance(message, Mapping) or "role" not in message:
            raise ConfigurationError(f"messages[{position}] is not a message with a role: {message!r:.80}")
        role = message["role"]
        if role in _SYSTEM_ROLES:
            system += _blocks(message.get("content"), f"messages[{position}]")
            continue
        if role == "tool":
            role, content = "user", [_tool_result(message, position)]
        elif role in ("user", "assistant"):
            content = _blocks(message.get("content"), f"messages[{position}]")
            content += [
                _tool_use(call, f"messages[{position}].tool_calls[{number}]")
                for number, call in enumerate(message.get("tool_calls") or ())
            ]
        else:
            raise ConfigurationError(f"messages[{position}] has role {role!r}; Converse takes "
                                     "system, user, assistant and tool messages")
        if out and out[-1]["role"] == role:
            out[-1] = {**out[-1], "content": [*out[-1]["content"], *content]}
        else:
            out.append({"role": role, "content": content})
    return system, out


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Message content as Converse content blocks: text, OpenAI text parts, native blocks."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, (list, tuple)):
        raise ConfigurationError(
            f"{where}: content must be a string or a list of content blocks, got "
            f"{type(content).__name__}"
        )
    blocks = []
    for part in content:
        part = plain(part)
        if isinstance(part, str):
            blocks.append({"text": part})
        elif isinstance(part, Mapping) and part.get("type") == "text":
            blocks.append({"text": part.get("text", "")})
        elif isinstance(part, Mapping) and "type" not in part:
            blocks.append(dict(part))  # a native Converse block: image, document, cachePoint...
        else:
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise ConfigurationError(
                f"{where}: content part of type {kind!r} has no Converse form here; pass a "
                "native Converse content block (e.g. {'image': {...}}) instead"
            )
    return blocks


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    """An OpenAI-style `tool_calls` entry as a Converse `toolUse` block."""
    call_id, name, arguments = chat_call(call, where)
    return {"toolUse": {"toolUseId": call_id, "name": name, "input": arguments_object(arguments)}}


def _tool_result(message: Mapping[str, Any], position: int) -> dict[str, Any]:
    """An OpenAI-style `role: tool` message as a Converse `toolResult` block: its text (as
    `json` when it is a JSON object), or its content parts as blocks."""
    if not message.get("tool_call_id"):
        raise ConfigurationError(f"messages[{position}] (role tool) has no tool_call_id")
    content = message.get("content")
    blocks = [_result(content)] if isinstance(content, str) else _blocks(content, f"messages[{position}]")
    return {"toolResult": {"toolUseId": message["tool_call_id"], "content": blocks or [{"text": ""}]}}


async def _open_in_thread(open_stream: Callable[[], Any]) -> Any:
    """The event stream `open_stream()` opens on a worker thread. If the caller is
    cancelled meanwhile, the stream the thread goes on to open is closed once it has:
    by the thread, or here if it had opened by then."""
    lock = threading.Lock()
    gone = False  # the caller was cancelled
    opened: Any = None  # the stream, once the thread has opened it for a caller still there

    def open_on_thread() -> Any:
        nonlocal opened
        events = open_stream()["stream"]
        with lock:
            if not gone:
                opened = events
                return events
        events.close()  # nobody is waiting for it
        return events

    try:
        return await asyncio.to_thread(open_on_thread)
    except asyncio.CancelledError:
        with lock:
            gone = True
        if opened is not None:  # it opened, and its result came too late
            opened.close()
        raise


def _result(text: str) -> dict[str, Any]:
    """A tool output as a `toolResult` content block: `json` for a JSON object, else `text`
    (also for an object with NaN or Infinity, which the request's JSON cannot carry)."""
    if text.startswith("{"):
        try:
            parsed = from_json(text, allow_inf_nan=False)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return {"json": parsed}
    return {"text": text}


def _inference_config(request: dict[str, Any]) -> None:
    """Move OpenAI-style `max_tokens`, `temperature`, `top_p`, `stop` into `inferenceConfig`."""
    moved = {_INFERENCE[name]: request.pop(name) for name in list(request) if name in _INFERENCE}
    if not moved:
        return
    config = dict(request.get("inferenceConfig") or {})
    twice = sorted(set(moved) & set(config))
    if twice:
        raise ConfigurationError(f"inferenceConfig and keyword arguments both set {', '.join(twice)}")
    if isinstance(moved.get("stopSequences"), str):
        moved["stopSequences"] = [moved["stopSequences"]]
    request["inferenceConfig"] = {**config, **moved}


def _tool_specs(tools: ToolSet) -> list[dict[str, Any]]:
    specs = []
    for tool in tools.tools:
        spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": tool.schema}}
        if tool.description:  # Converse refuses an empty description
            spec["description"] = tool.description
        specs.append({"toolSpec": spec})
    return specs


# ---------------------------------------------------------------------------------------
# Responses and streams.


class ConverseAssembler(CallsAssembler):
    """`converse_stream` events, keyed by `contentBlockIndex`: a `toolUse` block is a complete
    call as soon as its input JSON closes, or at its `contentBlockStop`, whichever comes
    first. `messageStop` has the stop reason, `metadata` the usage."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = Calls()
        self.tools: dict[int | None, Call] = {}
        self.reasoning: dict[int | None, dict[str, Any]] = {}
        self.unclaimed: list[dict[str, Any]] = []  # reasoning blocks before the next toolUse
        self.current: int | None = None
        self.stop_reason: str | None = None
        self.usage: Any = None
        self.last: Any = None  # the latest event: a stream's `.raw`

    def feed(self, chunk: Any) -> Sequence[RawCall]:
        self.last = chunk
        if "contentBlockDelta" in chunk:
            event = chunk["contentBlockDelta"]
            self._delta(self._index(event), event.get("delta") or {})
        elif "contentBlockStart" in chunk:
            event = chunk["contentBlockStart"]
            index = self._index(event)
            self.current = index
            use = (event.get("start") or {}).get("toolUse")
            if use is not None:
                self.tools[index] = self.calls.start(
                    index, use.get("toolUseId"), use.get("name") or "", self.unclaimed or None
                )
                self.unclaimed = []
        elif "contentBlockStop" in chunk:
            stopped = self.tools.get(self._index(chunk["contentBlockStop"]))
            if stopped is not None:
                self.calls.end(stopped)
        elif "messageStop" in chunk:
            self.stop_reason = chunk["messageStop"].get("stopReason") or "end_turn"
        elif "metadata" in chunk:
            self.usage = chunk["metadata"].get("usage")
        return self.calls.take()

    def finish(self) -> Turn:
        calls = self.calls.all
        if self.stop_reason is None:
            inside = " inside a toolUse block" if any(not call.done for call in calls) else ""
            raise ProviderError(
                f"the Converse stream ended{inside} before its messageStop: the connection "
                f"dropped, and the {len(calls)} call(s) before the cut may not be all of them"
            )
        text = self.said()
        stop, reason = _stop(self.stop_reason, text)
        return Turn(calls=self.calls.final(), stop=stop, reason=reason,
                    text=text, usage=_usage(self.usage), raw=self.last,
                    finish_reason=self.stop_reason)

    def partial(self) -> tuple[object, str, str] | None:
        return None if self.stop_reason is not None else self.calls.partial()

    def _index(self, event: Mapping[str, Any]) -> int | None:
        index = event.get("contentBlockIndex")
        return index if isinstance(index, int) else self.current  # none given: the last block

    def _delta(self, index: int | None, delta: Mapping[str, Any]) -> None:
        if "toolUse" in delta:
            call = self.tools.get(index)
            if call is None:
                raise ProviderError(
                    f"the Converse stream sent toolUse input for content block {index}, "
                    "which no contentBlockStart opened"
                )
            fragment = text_piece((delta["toolUse"] or {}).get("input"))
            if fragment:
                self.calls.add(call, fragment)
        elif "text" in delta:
            self.say(text_piece(delta["text"]), index)
        elif "reasoningContent" in delta:
            self._reasoning(index, delta["reasoningContent"] or {})

    def _reasoning(self, index: int | None, delta: Mapping[str, Any]) -> None:
        if index not in self.reasoning:
            self.reasoning[index] = {"reasoningContent": {}}
            self.unclaimed.append(self.reasoning[index])
        block = self.reasoning[index]["reasoningContent"]
        if "redactedContent" in delta:
            block["redactedContent"] = block.get("redactedContent", b"") + delta["redactedContent"]
        for name in ("text", "signature"):
            if name in delta:
                reasoning = block.setdefault("reasoningText", {})
                reasoning[name] = reasoning.get(name, "") + text_piece(delta[name])


def _stop(stop_reason: Any, text: str | None) -> tuple[Stop, str]:
    reason = stop_reason if isinstance(stop_reason, str) else ""
    stop = _STOPS.get(reason, Stop.DONE)
    if stop is Stop.REFUSAL and text:  # a guardrail's own message, as the model's text
        reason += f": {text[:200]}"
    return stop, reason


def _usage(usage: Any) -> Usage:
    """Input counts cache reads and writes too: the whole prompt."""
    if not isinstance(usage, Mapping):
        return Usage()
    counts = [usage.get(name) for name in _INPUT_FIELDS]
    return Usage(sum(c for c in counts if isinstance(c, int)), usage.get("outputTokens", 0))


def build_client(
    spec: str, name: str, model: str, async_client: bool, client_kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """`from_provider`: `boto3.client("bedrock-runtime")` from the standard AWS environment
    (credentials chain, `AWS_REGION` / `AWS_DEFAULT_REGION`); async runs it in worker threads."""
    kwargs = dict(client_kwargs)
    region = kwargs.pop("region_name", None) or os.environ.get("AWS_REGION") or os.environ.get(
        "AWS_DEFAULT_REGION"
    )
    if not region:
        raise ConfigurationError(
            f"from_provider({spec!r}) needs an AWS region: set AWS_REGION or pass region_name="
        )
    try:
        import boto3
    except ImportError as exc:
        raise ConfigurationError(
            f'from_provider({spec!r}) needs boto3: pip install "polycall[bedrock]"'
        ) from exc
    client = construct(spec, boto3, "client", {"service_name": SERVICE, "region_name": region, **kwargs})
    return client, {"model": model, "use_async": async_client}
