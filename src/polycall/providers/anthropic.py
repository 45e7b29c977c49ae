"""Anthropic Messages: `Mode.ANTHROPIC_PARALLEL_TOOLS`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
    omitted,
    plain,
    text_piece,
)
from .bedrock import bedrock_model, event_status
from .registry import construct, require

#: `max_tokens` sent when the caller gives none (the Messages API requires one).
DEFAULT_MAX_TOKENS = 4096

_STOPS = {
    "max_tokens": Stop.LENGTH,
    "model_context_window_exceeded": Stop.LENGTH,
    "refusal": Stop.REFUSAL,
}
_SYSTEM_ROLES = ("system", "developer")
_THINKING = ("thinking", "redacted_thinking")
_INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


#: The anthropic SDK's clients for Claude on a cloud (by class name, sync and async), and
#: that cloud. Other clients (`Anthropic`, `AsyncAnthropic`) talk to Anthropic's own API.
CLOUD_CLIENTS = {
    "AnthropicBedrock": "Bedrock",
    "AsyncAnthropicBedrock": "Bedrock",
    "AnthropicVertex": "Vertex AI",
    "AsyncAnthropicVertex": "Vertex AI",
    "AnthropicFoundry": "Foundry",
    "AsyncAnthropicFoundry": "Foundry",
}

#: The request fields each cloud refuses: a top-level field, or `tool_choice.<key>`. The SDK
#: itself moves what the envelope needs (Bedrock, Vertex: `model` into the URL,
#: `anthropic_version`).
CLOUD_REJECTS: dict[str, tuple[str, ...]] = {
    "Bedrock": ("tool_choice.disable_parallel_tool_use",),  # "extraneous key ... not permitted"
    "Vertex AI": ("tool_choice.disable_parallel_tool_use",),
    "Foundry": (),
}


def cloud(client: Any) -> str | None:
    """The cloud `client` reaches Claude through (e.g. "Vertex AI"); None for Anthropic's API."""
    for kind in type(client).__mro__:
        if kind.__name__ in CLOUD_CLIENTS and kind.__module__.startswith("anthropic"):
            return CLOUD_CLIENTS[kind.__name__]
    return None


def fit_cloud(request: dict[str, Any], where: str | None) -> None:
    """Leave out of `request` what the cloud refuses when it is the default (None, False),
    which changes nothing; any other value is a ConfigurationError naming the field."""
    for name in CLOUD_REJECTS.get(where or "", ()):
        parent, _, key = name.rpartition(".")
        holder = request.get(parent) if parent else request
        if not isinstance(holder, dict) or key not in holder:
            continue
        if holder[key] not in (None, False):
            raise ConfigurationError(
                f"Claude on {where} does not take {name}={holder[key]!r}: leave it out"
            )
        if parent:
            request[parent] = {k: v for k, v in holder.items() if k != key}
        else:
            del request[key]


class _DefaultChoice(dict[str, Any]):
    """A `tool_choice` polycall set itself (the user gave none)."""


class AnthropicMessages(Adapter):
    """`client.messages.create` with one custom tool per response_model member."""

    mode = Mode.ANTHROPIC_PARALLEL_TOOLS
    method = "messages.create"

    def secrets(self) -> list[Any]:
        # The API key or bearer token; Bedrock: the AWS secret key and session token; Vertex:
        # the Google access token, or its credentials' token
        names = ("api_key", "auth_token", "access_token", "aws_secret_key", "aws_session_token")
        token = getattr(getattr(self.client, "credentials", None), "token", None)
        return [*(getattr(self.client, name, None) for name in names), token]

    def status(self, exc: Exception) -> int | None:
        """On Bedrock, an exception event in a stream (which the SDK raises as an error event
        with the stream's 200) has the status Bedrock's API gives its kind, as on `from_bedrock`."""
        status = http_status(exc)
        if status is None and cloud(self.client) == "Bedrock":
            body = getattr(exc, "body", None)
            error = body.get("error") if isinstance(body, Mapping) else None
            if isinstance(error, Mapping):
                status = event_status(bedrock_model(), "ResponseStream", error.get("type"))
        return status

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "tools" in kwargs:
            raise ConfigurationError("tools come from response_model; do not pass tools= as well")
        self.check(kwargs, "from_anthropic() create()")
        # The SDK's NOT_GIVEN / omit is an argument not given: polycall's defaults apply.
        request = {key: value for key, value in kwargs.items() if not omitted(value)}
        if self.model is not None:
            request.setdefault("model", self.model)
        if request.get("model") is None:
            raise ConfigurationError("Anthropic needs model=..., per call or in from_anthropic()")
        if "messages" not in request:
            raise ConfigurationError("Anthropic needs messages=[...]")
        system, request["messages"] = _split_system(request["messages"])
        if system:
            given = request.get("system")
            request["system"] = _join_system([given, *system] if given else system)
        thinking = request.get("thinking")
        if thinking is not None and not isinstance(thinking, Mapping):
            raise ConfigurationError(
                "thinking= takes a dict such as {'type': 'enabled', 'budget_tokens': 2048}, "
                f"got {thinking!r:.40}"
            )
        if request.get("max_tokens") is None:
            request["max_tokens"] = _max_tokens(thinking)
        request["tools"] = tools.dialect(_tool_params)
        if "tool_choice" not in request:
            # Extended thinking refuses a forced tool choice; "auto" is the one it accepts.
            forced = (thinking or {}).get("type") in (None, "disabled")
            request["tool_choice"] = _DefaultChoice(type="any" if forced else "auto")
        fit_cloud(request, cloud(self.client))
        return request

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        if isinstance(request.get("tool_choice"), _DefaultChoice):
            return {key: value for key, value in request.items() if key != "tool_choice"}
        return request

    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        return {**request, "messages": [*request["messages"], *messages]}

    def send(self, request: dict[str, Any]) -> Any:
        return self.client.messages.create(**request)

    async def asend(self, request: dict[str, Any]) -> Any:
        return await self.client.messages.create(**request)

    def parse(self, raw: Any) -> Turn:
        calls: list[RawCall] = []
        texts: list[str] = []
        thinking: list[dict[str, Any]] = []
        for block in getattr(raw, "content", None) or []:
            kind = getattr(block, "type", None)
            if kind == "tool_use":
                calls.append(_raw_call(block, thinking))
                thinking = []
            elif kind == "text":
                texts.append(text_piece(getattr(block, "text", "")))
            elif kind in _THINKING:
                thinking.append(_block_dict(block))
        stop, reason = _stop(getattr(raw, "stop_reason", None), getattr(raw, "stop_details", None))
        tokens = _tokens(getattr(raw, "usage", None), {})
        return Turn(
            calls=calls,
            stop=stop,
            reason=reason,
            text=join_texts(texts),
            usage=_usage(tokens),
            raw=raw,
            response_id=getattr(raw, "id", None),
            response_model=getattr(raw, "model", None),
            finish_reason=getattr(raw, "stop_reason", None),
        )

    def assembler(self) -> Assembler:
        return MessagesAssembler()

    def assistant_message(self, calls: Sequence[RawCall], text: str | None) -> Any:
        return block_turn(
            calls,
            text,
            lambda text: {"type": "text", "text": text},
            lambda call, arguments: {
                "type": "tool_use", "id": call.id, "name": call.name, "input": arguments
            },
        )

    def reply_messages(self, replies: Sequence[Reply]) -> list[Any]:
        if not replies:
            return []
        blocks = []
        for reply in replies:
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": reply.call_id,
                "content": reply.content,
            }
            if reply.is_error:
                block["is_error"] = True
            blocks.append(block)
        return [{"role": "user", "content": blocks}]


class MessagesAssembler(CallsAssembler):
    """Raw stream events: a `tool_use` block is a complete call once its input JSON closes,
    or at its `content_block_stop`, whichever comes first.

    Block indexes count text (and other) blocks too; an event without an index continues
    the block started last. `message_start` carries the input usage, `message_delta` the stop
    reason and the cumulative output usage.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = Calls()
        self.tools: dict[int | None, Call] = {}
        self.thinking: dict[int | None, dict[str, Any]] = {}  # streamed thinking blocks
        self.unclaimed: list[dict[str, Any]] = []  # thinking blocks before the next tool_use
        self.current: int | None = None
        self.stop_reason: str | None = None
        self.stop_details: Any = None
        self.tokens: dict[str, int] = {}
        self.start: Any = None  # the message_start event's message
        self.last: Any = None  # the latest event: a stream's `.raw`

    def feed(self, chunk: Any) -> Sequence[RawCall]:
        self.last = chunk
        kind = getattr(chunk, "type", None)
        if kind == "content_block_delta":
            self._delta(self._index(chunk), getattr(chunk, "delta", None))
        elif kind == "content_block_start":
            self._start(_int(getattr(chunk, "index", None)), getattr(chunk, "content_block", None))
        elif kind == "content_block_stop":
            index = self._index(chunk)
            call = self.tools.get(index)
            if call is not None:
                self.calls.end(call)
        elif kind == "message_start":
            self.start = getattr(chunk, "message", None)
            self.tokens = _tokens(getattr(self.start, "usage", None), self.tokens)
        elif kind == "message_delta":
            delta = getattr(chunk, "delta", None)
            self.stop_reason = getattr(delta, "stop_reason", None) or self.stop_reason
            self.stop_details = getattr(delta, "stop_details", None) or self.stop_details
            self.tokens = _tokens(getattr(chunk, "usage", None), self.tokens)
        return self.calls.take()

    def finish(self) -> Turn:
        if self.stop_reason is None:
            raise ProviderError(
                "the stream ended before its message_delta: the connection dropped, and the "
                f"{len(self.calls.all)} call(s) before the cut may not be all of them"
            )
        stop, reason = _stop(self.stop_reason, self.stop_details)
        start = self.start
        return Turn(
            calls=self.calls.final(),
            stop=stop,
            reason=reason,
            text=self.said(),
            usage=_usage(self.tokens),
            raw=self.last,
            response_id=getattr(start, "id", None),
            response_model=getattr(start, "model", None),
            finish_reason=self.stop_reason,
        )

    def partial(self) -> tuple[object, str, str] | None:
        return None if self.stop_reason is not None else self.calls.partial()

    def _index(self, event: Any) -> int | None:
        index = getattr(event, "index", None)
        return self.current if not isinstance(index, int) else index  # malformed: the last block

    def _start(self, index: int | None, block: Any) -> None:
        if index is None:
            index = 0 if self.current is None else self.current + 1
        self.current = index
        kind = getattr(block, "type", None)
        if kind == "tool_use":
            start = _raw_call(block, self.unclaimed)
            self.unclaimed = []
            call = self.calls.start(None, start.id, start.name, start.extra)
            call.obj = start.arguments  # the input when no input_json_delta follows
            self.tools[index] = call
        elif kind == "text":
            self.say(text_piece(getattr(block, "text", "")), index)
        elif kind in _THINKING:
            self.thinking[index] = _block_dict(block)
            self.unclaimed.append(self.thinking[index])

    def _delta(self, index: int | None, delta: Any) -> None:
        kind = getattr(delta, "type", None)
        if kind == "input_json_delta":
            call = self.tools.get(index)
            if call is not None:
                fragment = text_piece(getattr(delta, "partial_json", ""))
                if fragment:
                    self.calls.add(call, fragment)
        elif kind == "text_delta":
            self.say(text_piece(getattr(delta, "text", "")), index)
        elif kind in ("thinking_delta", "signature_delta") and index in self.thinking:
            field_name = kind.removesuffix("_delta")
            block = self.thinking[index]
            block[field_name] = (block.get(field_name) or "") + (getattr(delta, field_name, "") or "")


def _max_tokens(thinking: Mapping[str, Any] | None) -> int:
    """`max_tokens` when none is given: `DEFAULT_MAX_TOKENS`, or that much above a thinking
    budget, which the API wants below `max_tokens`."""
    budget = (thinking or {}).get("budget_tokens")
    if isinstance(budget, int) and not isinstance(budget, bool) and budget >= DEFAULT_MAX_TOKENS:
        return budget + DEFAULT_MAX_TOKENS
    return DEFAULT_MAX_TOKENS


def _split_system(messages: Any) -> tuple[list[Any], list[Any]]:
    """The contents of the OpenAI-style system (and developer) messages; the other messages,
    in Anthropic's form: a `role: tool` message as a `tool_result` block (consecutive ones in
    one user message), an assistant's `tool_calls` as `tool_use` blocks, an `image_url` part
    as an image block, the OpenAI SDK's message objects as the dicts they stand for.
    Anthropic's own messages go as they are."""
    system: list[Any] = []
    rest: list[Any] = []
    results: list[Any] | None = None  # the content of the user message of tool results last made
    for position, message in enumerate(message_list(messages)):
        message = plain(message)
        role = message.get("role") if isinstance(message, dict) else None
        where = f"messages[{position}]"
        if role in _SYSTEM_ROLES:
            if message.get("content"):
                content = message["content"]
                system.append(_parts([content] if isinstance(content, dict) else content, where))
            continue
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id"),
                     "content": _parts(message.get("content"), where) or ""}
            if results is None:
                results = [block]
                rest.append({"role": "user", "content": results})
            else:
                results.append(block)
            continue
        results = None
        if role == "assistant" and message.get("tool_calls"):
            content = _parts(message.get("content"), where)
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            blocks = [b for b in blocks if not (isinstance(b, dict) and _blank_text(b))]
            calls = message["tool_calls"]
            if not isinstance(calls, (list, tuple)):
                raise ConfigurationError(
                    f"{where}.tool_calls must be a list of tool calls, got {type(calls).__name__}"
                )
            for number, call in enumerate(calls):
                call_id, name, arguments = chat_call(call, f"messages[{position}].tool_calls[{number}]")
                blocks.append({"type": "tool_use", "id": call_id, "name": name,
                               "input": arguments_object(arguments)})
            message = {"role": "assistant", "content": blocks}
        elif role and isinstance(message.get("content"), list):
            message = {**message, "content": _parts(message["content"], where)}
        rest.append(message)
    return system, rest


def _parts(content: Any, where: str) -> Any:
    """Message content with OpenAI `image_url` parts as Anthropic image blocks (a `data:` URL
    as base64 data); a string as it is, no content as an empty list; anything else is the
    `ConfigurationError` of the message at `where`."""
    if content is None:
        return []
    if isinstance(content, str):
        return content
    if isinstance(content, (bytes, Mapping)) or not isinstance(content, Iterable):
        raise ConfigurationError(
            f"{where}.content must be a string or a list of content blocks, "
            f"got {type(content).__name__}"
        )
    return [_image(part) if isinstance(part, dict) and part.get("type") == "image_url" else part
            for part in content]


def _blank_text(block: dict[str, Any]) -> bool:
    """A text block the API would refuse (empty or whitespace)."""
    return block.get("type") == "text" and not str(block.get("text") or "").strip()


def _image(part: dict[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"an image_url content part without a url: {part!r:.80}")
    if url.startswith("data:"):
        kind, _, data = url[len("data:"):].partition(",")
        media_type = kind.removesuffix(";base64")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _join_system(parts: list[Any]) -> Any:
    """One `system` value: strings joined by a blank line; text blocks if any part is blocks."""
    if all(isinstance(part, str) for part in parts):
        return "\n\n".join(part for part in parts if part)
    blocks: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            if part:
                blocks.append({"type": "text", "text": part})
        elif isinstance(part, Mapping):  # one block
            blocks.append(part)
        elif isinstance(part, Iterable) and not isinstance(part, bytes):  # blocks (the SDK
            blocks.extend(part)  # takes any iterable of them)
        else:
            raise ConfigurationError(
                f"system= takes a string or a list of text blocks, got {type(part).__name__}"
            )
    return blocks


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _tool_params(tools: ToolSet) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description, "input_schema": t.schema}
        for t in tools.tools
    ]


def _raw_call(block: Any, thinking: list[dict[str, Any]] | None = None) -> RawCall:
    """A `tool_use` block as a call: its id, its tool name, its `input` object, and the
    thinking blocks that came before it (sent back with it)."""
    return RawCall(
        getattr(block, "id", None),
        getattr(block, "name", "") or "",
        getattr(block, "input", None),
        thinking or None,
    )


def _block_dict(block: Any) -> dict[str, Any]:
    """A thinking block as the dict the API accepts back."""
    if isinstance(block, dict):
        return dict(block)
    dump = getattr(block, "model_dump", None)
    if dump is not None:
        return dict(dump(exclude_none=True))
    return {k: getattr(block, k) for k in ("type", "thinking", "signature", "data") if hasattr(block, k)}


def _stop(stop_reason: Any, details: Any) -> tuple[Stop, str]:
    if not isinstance(stop_reason, str):
        stop_reason = None  # a malformed stop reason: the stream's end decides
    stop = _STOPS.get(stop_reason or "", Stop.DONE)
    reason = stop_reason or ""
    if stop is Stop.REFUSAL and details is not None:
        category = _get(details, "category")
        explanation = _get(details, "explanation")
        reason += f" ({category})" if category else ""
        reason += f": {explanation}" if explanation else ""
    return stop, reason


def _tokens(usage: Any, known: dict[str, int]) -> dict[str, int]:
    """`known` updated with the counts `usage` reports (message_delta's are cumulative)."""
    if usage is None:
        return known
    updated = dict(known)
    for name in (*_INPUT_FIELDS, "output_tokens"):
        value = _get(usage, name)
        if isinstance(value, int):
            updated[name] = value
    return updated


def _usage(tokens: dict[str, int]) -> Usage:
    """Input counts cache writes and reads too: the whole prompt, as Anthropic bills it."""
    return Usage(sum(tokens.get(name, 0) for name in _INPUT_FIELDS), tokens.get("output_tokens", 0))


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def build_client(
    spec: str, name: str, model: str, async_client: bool, client_kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """`from_provider`: the Anthropic SDK client, its key from the SDK's own environment
    (which the SDK only finds missing at the first request)."""
    given = client_kwargs.get("api_key") or client_kwargs.get("auth_token")
    if not (given or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        raise ConfigurationError(
            f"from_provider({spec!r}) needs an API key: set ANTHROPIC_API_KEY (or "
            "ANTHROPIC_AUTH_TOKEN) or pass api_key="
        )
    kind = "AsyncAnthropic" if async_client else "Anthropic"
    return construct(spec, require("anthropic"), kind, client_kwargs), {"model": model}
