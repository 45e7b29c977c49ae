"""OpenAI Chat Completions (and every OpenAI-compatible server): `Mode.PARALLEL_TOOLS`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..calls import RawCall, Reply, Stop, Turn, Usage
from ..modes import Mode
from ..toolset import ToolSet
from .base import Adapter, Assembler
from .openai_common import arguments_text, arequired_fallback, prepare_common, required_fallback, unwrap_parallel

_STOPS = {"length": Stop.LENGTH, "content_filter": Stop.REFUSAL}


class OpenAIChat(Adapter):
    """`client.chat.completions.create` with one function tool per response_model member."""

    mode = Mode.PARALLEL_TOOLS

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        return prepare_common(self, tools, kwargs, "messages", _tool_params)

    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        return {**request, "messages": [*request["messages"], *messages]}

    def send(self, request: dict[str, Any]) -> Any:
        return required_fallback(self, self.client.chat.completions.create, request)

    async def asend(self, request: dict[str, Any]) -> Any:
        return await arequired_fallback(self, self.client.chat.completions.create, request)

    @contextmanager
    def stream(self, request: dict[str, Any]) -> Iterator[Any]:
        chunks = self.send(_streaming(request))
        try:
            yield chunks
        finally:
            chunks.close()

    @asynccontextmanager
    async def astream(self, request: dict[str, Any]) -> AsyncIterator[Any]:
        chunks = await self.asend(_streaming(request))
        try:
            yield chunks
        finally:
            await chunks.close()

    def parse(self, raw: Any) -> Turn:
        choices = getattr(raw, "choices", None) or []
        usage = _usage(getattr(raw, "usage", None))
        if not choices:
            return Turn(calls=[], usage=usage, raw=raw)
        choice = choices[0]
        message = choice.message
        calls = [
            RawCall(getattr(tc, "id", None), _function(tc).get("name") or "", _function(tc).get("arguments"))
            for tc in (getattr(message, "tool_calls", None) or [])
        ]
        stop, reason = _stop(getattr(choice, "finish_reason", None), getattr(message, "refusal", None))
        return Turn(
            calls=unwrap_parallel(calls),
            stop=stop,
            reason=reason,
            text=getattr(message, "content", None),
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

    def raw(self) -> RawCall:
        return RawCall(self.id, self.name, self.obj if self.obj is not None else "".join(self.parts))


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
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) not in (0, None):
                continue
            delta = getattr(choice, "delta", None)
            if delta is not None:
                self._delta(delta)
            if getattr(choice, "finish_reason", None):
                self.finish_reason = choice.finish_reason
        done = len(self.building) if self.finish_reason else len(self.building) - 1
        if self.finish_reason and _stop(self.finish_reason, None)[0] is not Stop.DONE:
            done = self.emitted  # a cut-off call is not complete
        return self._emit(done)

    def finish(self) -> Turn:
        stop, reason = _stop(self.finish_reason, "".join(self.refusal) or None)
        calls = [b.raw() for b in self.building]
        if stop is Stop.DONE:
            self._emit(len(self.building))
        return Turn(
            calls=unwrap_parallel(calls),
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
        ready = [b.raw() for b in self.building[self.emitted : upto]]
        self.emitted = max(self.emitted, upto)
        return unwrap_parallel(ready)

    def _delta(self, delta: Any) -> None:
        if getattr(delta, "content", None):
            self.text.append(delta.content)
        if getattr(delta, "refusal", None):
            self.refusal.append(delta.refusal)
        for tc in getattr(delta, "tool_calls", None) or []:
            building = self._locate(getattr(tc, "index", None), getattr(tc, "id", None) or None)
            function = _function(tc)
            name = function.get("name")
            if name and not building.name:
                building.name = name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                building.parts.append(arguments)
            elif arguments is not None:
                building.obj = arguments

    def _locate(self, index: int | None, call_id: str | None) -> _Building:
        """The call a delta continues, or a new one (new index, or a new id at a known index)."""
        current = self.building[-1] if self.building else None
        for building in reversed(self.building[self.emitted :]):
            if index is not None and building.index == index:
                current = building
                break
        else:
            if index is not None:
                current = None
        if current is None or (call_id and current.id and call_id != current.id):
            current = _Building(index=index, id=call_id)
            self.building.append(current)
        elif call_id and not current.id:
            current.id = call_id
        return current


def _function(tool_call: Any) -> dict[str, Any]:
    function = getattr(tool_call, "function", None)
    if function is None:
        return {}
    if isinstance(function, dict):
        return function
    return {"name": getattr(function, "name", None), "arguments": getattr(function, "arguments", None)}


def _stop(finish_reason: str | None, refusal: str | None) -> tuple[Stop, str]:
    if refusal:
        return Stop.REFUSAL, refusal
    return _STOPS.get(finish_reason or "", Stop.DONE), finish_reason or ""


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return Usage(getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)


def _tool_params(tools: ToolSet) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.schema},
        }
        for t in tools.tools
    ]


def _streaming(request: dict[str, Any]) -> dict[str, Any]:
    return {"stream_options": {"include_usage": True}, **request, "stream": True}

