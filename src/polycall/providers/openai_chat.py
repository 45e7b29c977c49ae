"""OpenAI Chat Completions (and every OpenAI-compatible server): `Mode.PARALLEL_TOOLS`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ..calls import RawCall, Reply, Stop, Turn, Usage
from ..errors import ConfigurationError, MalformedOutputError, ProviderError
from ..modes import Mode
from ..toolset import ToolSet
from .base import Adapter, Assembler, aclosing_stream, closing_stream
from .openai_common import (
    INCLUDE_USAGE,
    arequired_fallback,
    arguments_text,
    malformed_call,
    prepare_common,
    relax_choice,
    required_fallback,
    unwrap_parallel,
)

#: Finish reasons that are not a normal end (compared lower-cased); any other reason,
#: standard or not ("tool_calls", "stop", "tool_call", "eos", ...), is a normal end.
_STOPS = {
    "length": Stop.LENGTH,
    "max_tokens": Stop.LENGTH,
    "max_output_tokens": Stop.LENGTH,
    "content_filter": Stop.REFUSAL,
    "safety": Stop.REFUSAL,
    "refusal": Stop.REFUSAL,
}
#: A finish reason some gateways (e.g. OpenRouter) send when the upstream provider failed.
_ERROR_FINISH = "error"


class OpenAIChat(Adapter):
    """`client.chat.completions.create` with one function tool per response_model member."""

    mode = Mode.PARALLEL_TOOLS

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        # Whether to stream is the method's choice (create_iterable, create(stream=True)).
        if "stream" in kwargs:
            kwargs = {key: value for key, value in kwargs.items() if key != "stream"}
        request = prepare_common(self, tools, kwargs, "messages", _tool_params)
        missing = [key for key in ("model", "messages") if key not in request]
        if missing:
            raise ConfigurationError(
                f"chat.completions.create needs {' and '.join(f'{k}=' for k in missing)} "
                "(or from_openai(..., model=...) for the model)"
            )
        return request

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        return relax_choice(request)

    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        return {**request, "messages": [*request["messages"], *messages]}

    def send(self, request: dict[str, Any]) -> Any:
        return required_fallback(self, self.client.chat.completions.create, request)

    async def asend(self, request: dict[str, Any]) -> Any:
        return await arequired_fallback(self, self.client.chat.completions.create, request)

    def classify(self, exc: Exception) -> MalformedOutputError | None:
        return malformed_call(exc)

    def stream(self, request: dict[str, Any]) -> AbstractContextManager[Iterator[Any]]:
        return closing_stream(lambda: self.send(_streaming(request)))

    def astream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        return aclosing_stream(lambda: self.asend(_streaming(request)))

    def parse(self, raw: Any) -> Turn:
        choices = _items(getattr(raw, "choices", None))
        if not choices:
            raise ProviderError(f"the response holds no choices: {_describe(raw)}")
        usage = _usage(getattr(raw, "usage", None))
        choice = choices[0]
        message = getattr(choice, "message", None)
        calls = [_raw_call(tc) for tc in _items(getattr(message, "tool_calls", None))]
        stop, reason = _stop(
            getattr(choice, "finish_reason", None),
            _content_text(getattr(message, "refusal", None)) or None,
            raw,
        )
        return Turn(
            calls=unwrap_parallel(calls),
            stop=stop,
            reason=reason,
            text=_content_text(getattr(message, "content", None)) or None,
            usage=usage,
            raw=raw,
        )

    def assembler(self) -> Assembler:
        return ChatAssembler()

    def assistant_message(self, calls: Sequence[RawCall], text: str | None) -> Any:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments_text(call.arguments)},
                }
                for call in calls
            ]
        return message

    def reply_messages(self, replies: Sequence[Reply]) -> list[Any]:
        return [
            {"role": "tool", "tool_call_id": reply.call_id, "content": reply.content}
            for reply in replies
        ]


@dataclass
class _Building:
    """One call being assembled from deltas."""

    index: int | None
    id: str | None = None
    name: str = ""
    parts: list[str] = field(default_factory=list)
    obj: Any = None  # arguments sent as an object instead of text

    @property
    def has_arguments(self) -> bool:
        return self.obj is not None or any(self.parts)

    def raw(self) -> RawCall:
        return RawCall(
            self.id, self.name, self.obj if self.obj is not None else "".join(self.parts)
        )


class ChatAssembler(Assembler):
    """Tool-call deltas keyed by `index`; a call is complete when the next one starts or the
    choice finishes. Tolerates missing, sparse or repeated indexes, ids only on the first
    delta, whole calls in one chunk, and chunks with no choices (usage, Azure's first chunk)."""

    def __init__(self) -> None:
        self.building: list[_Building] = []
        self.emitted = 0
        self.finish_reason: str | None = None
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.usage = Usage()
        self.chunks: list[Any] = []

    def feed(self, chunk: Any) -> list[RawCall]:
        self.chunks.append(chunk)
        if getattr(chunk, "usage", None):
            self.usage = _usage(chunk.usage)
        for choice in _items(getattr(chunk, "choices", None)):
            if getattr(choice, "index", 0) not in (0, None):
                continue
            delta = getattr(choice, "delta", None)
            if delta is not None:
                self._delta(delta)
            if getattr(choice, "finish_reason", None):
                self.finish_reason = choice.finish_reason
        if self.finish_reason is None:
            return self._emit(len(self.building) - 1)
        if _stop(self.finish_reason, None, chunk)[0] is Stop.DONE:
            return self._emit(len(self.building))
        return []  # a cut-off or blocked call is not complete

    def finish(self) -> Turn:
        if self.finish_reason is None:
            raise ProviderError(
                "the stream ended before the provider finished the response (no finish_reason "
                f"after {len(self.chunks)} chunk(s)); the connection may have dropped",
            )
        stop, reason = _stop(self.finish_reason, "".join(self.refusal) or None)
        return Turn(
            calls=unwrap_parallel([b.raw() for b in self.building]),
            stop=stop,
            reason=reason,
            text="".join(self.text) or None,
            usage=self.usage,
            raw=self.chunks,
        )

    def partial(self) -> tuple[str, str] | None:
        if self.emitted >= len(self.building) or self.finish_reason:
            return None
        current = self.building[-1]
        return (current.name, "".join(current.parts)) if current.obj is None else None

    def _emit(self, upto: int) -> list[RawCall]:
        if upto <= self.emitted:
            return []
        ready = [b.raw() for b in self.building[self.emitted : upto]]
        self.emitted = max(self.emitted, upto)
        return unwrap_parallel(ready)

    def _delta(self, delta: Any) -> None:
        if getattr(delta, "content", None):
            self.text.append(_content_text(delta.content))
        if getattr(delta, "refusal", None):
            self.refusal.append(_content_text(delta.refusal))
        for tc in _items(getattr(delta, "tool_calls", None)):
            function = _function(tc)
            name = function.get("name") or None
            building = self._locate(
                getattr(tc, "index", None), getattr(tc, "id", None) or None, name
            )
            if name and not building.name:
                building.name = name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                building.parts.append(arguments)
            elif arguments is not None:
                building.obj = arguments

    def _locate(self, index: int | None, call_id: str | None, name: str | None) -> _Building:
        """The call a delta continues, or a new one.

        A delta continues the open call with its `index` (or, without an index, the last
        call), unless it starts another call: it names a tool and carries a different id,
        or, without index and id, it names a tool after the current call's arguments began.
        """
        open_calls = self.building[self.emitted :]
        if index is None:
            current = open_calls[-1] if open_calls else None
        else:
            current = next((b for b in reversed(open_calls) if b.index == index), None)
        if current is not None and name and current.name and _starts_call(current, index, call_id):
            current = None
        if current is None:
            current = _Building(index=index, id=call_id)
            self.building.append(current)
        elif call_id and not current.id:
            current.id = call_id
        return current


def _starts_call(current: _Building, index: int | None, call_id: str | None) -> bool:
    """Whether a delta naming a tool starts a new call rather than continuing `current`."""
    if call_id and current.id:
        return call_id != current.id
    return index is None and call_id is None and current.has_arguments


def _content_text(content: Any) -> str:
    """Message text: a string, or text parts (some servers send a list); else nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _items(value: Any) -> list[Any]:
    """A list field of the response; anything else there (a malformed body) holds nothing."""
    return value if isinstance(value, list) else []


def _raw_call(tool_call: Any) -> RawCall:
    function = getattr(tool_call, "function", None)
    if isinstance(function, dict):
        name, arguments = function.get("name"), function.get("arguments")
    else:
        name, arguments = getattr(function, "name", None), getattr(function, "arguments", None)
    return RawCall(getattr(tool_call, "id", None), name or "", arguments)


def _function(tool_call: Any) -> dict[str, Any]:
    function = getattr(tool_call, "function", None)
    if function is None:
        return {}
    if isinstance(function, dict):
        return function
    return {
        "name": getattr(function, "name", None),
        "arguments": getattr(function, "arguments", None),
    }


def _stop(finish_reason: str | None, refusal: str | None, raw: Any = None) -> tuple[Stop, str]:
    if refusal:
        return Stop.REFUSAL, refusal
    reason = finish_reason if isinstance(finish_reason, str) else ""
    if reason.lower() == _ERROR_FINISH:
        raise ProviderError(
            f"the provider ended the response with finish_reason {reason!r}: {_describe(raw)}"
        )
    return _STOPS.get(reason.lower(), Stop.DONE), reason


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return Usage(
        getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0
    )


def _describe(raw: Any) -> str:
    """A short account of an unexpected response, with the server's error message if any."""
    error = getattr(raw, "error", None)
    if error is None and isinstance(getattr(raw, "model_extra", None), dict):
        error = raw.model_extra.get("error")
    if isinstance(error, dict):
        error = error.get("message", error)
    if error is not None:
        return f"error {str(error)[:300]!r}"
    text = repr(raw)
    return f"{type(raw).__name__} {text[:200]}{'...' if len(text) > 200 else ''}"


def _tool_params(tools: ToolSet) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.schema},
        }
        for t in tools.tools
    ]


def _streaming(request: dict[str, Any]) -> dict[str, Any]:
    return {"stream_options": INCLUDE_USAGE, **request, "stream": True}
