"""OpenAI Chat Completions (and every OpenAI-compatible server): `Mode.PARALLEL_TOOLS`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from ..calls import RawCall, Reply, Stop, Turn, Usage
from ..errors import ConfigurationError, PolycallError, ProviderError
from ..modes import Mode
from ..toolset import ToolSet
from ._assembly import _NONE, Call, Calls, CallsAssembler
from .base import Adapter, Assembler, aclosing_stream, closing_stream, message_list
from .openai_common import (
    INCLUDE_USAGE,
    WRAPPERS,
    arequired_fallback,
    arguments_text,
    classify_error,
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
_LEGACY = (
    "the server answered with the legacy `function_call` (finish_reason 'function_call'), "
    "not `tool_calls`: polycall sends `tools` and reads `tool_calls`, which this server "
    "does not support"
)


class OpenAIChat(Adapter):
    """`client.chat.completions.create` with one function tool per response_model member."""

    mode = Mode.PARALLEL_TOOLS
    method = "chat.completions.create"

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        request = prepare_common(self, tools, kwargs, "messages", _tool_params)
        if "model" not in request or "messages" not in request:
            missing = [key for key in ("model", "messages") if key not in request]
            raise ConfigurationError(
                f"chat.completions.create needs {' and '.join(f'{k}=' for k in missing)}"
                + (" (or from_openai(..., model=...) for the model)" if "model" in missing else "")
            )
        if type(request["messages"]) is not list:
            message_list(request["messages"])  # (None, a string, one message: refused)
        return request

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        return relax_choice(request)

    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        return {**request, "messages": [*request["messages"], *messages]}

    def send(self, request: dict[str, Any]) -> Any:
        return required_fallback(self, self.client.chat.completions.create, request)

    async def asend(self, request: dict[str, Any]) -> Any:
        return await arequired_fallback(self, self.client.chat.completions.create, request)

    def classify(self, exc: Exception) -> PolycallError | None:
        return classify_error(exc)

    def stream(self, request: dict[str, Any]) -> AbstractContextManager[Iterator[Any]]:
        return closing_stream(lambda: self.send(_streaming(request)))

    def astream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        return aclosing_stream(lambda: self.asend(_streaming(request)))

    def parse(self, raw: Any) -> Turn:
        try:  # the SDK's completion model has every field; a loose object may lack some
            choices, usage, response_id, model = raw.choices, raw.usage, raw.id, raw.model
        except AttributeError:
            choices, usage, response_id, model = _fields(raw, "choices", "usage", "id", "model")
        if not choices or not isinstance(choices, list):
            raise ProviderError(f"the response holds no choices: {_describe(raw)}")
        choice = choices[0]
        try:
            message, finish_reason = choice.message, choice.finish_reason
            tool_calls, refusal, content = message.tool_calls, message.refusal, message.content
        except AttributeError:
            message, finish_reason = _fields(choice, "message", "finish_reason")
            tool_calls, refusal, content = _fields(message, "tool_calls", "refusal", "content")
        calls = [_raw_call(tc) for tc in tool_calls] if isinstance(tool_calls, list) else []
        if not calls and (finish_reason == "function_call" or getattr(message, "function_call", None)):
            raise ProviderError(_LEGACY)  # (looked at only when no call came)
        stop, reason = _stop(finish_reason, refusal and _content_text(refusal) or None, raw)
        return Turn(
            calls=unwrap_parallel(calls),
            stop=stop,
            reason=reason,
            text=content and _content_text(content) or None,
            usage=_usage(usage),
            raw=raw,
            response_id=response_id,
            response_model=model,
            finish_reason=finish_reason,
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


def _fields(obj: Any, *names: str) -> tuple[Any, ...]:
    """The fields of a loose chunk object (the SDK's models have them all), None if missing."""
    return tuple(getattr(obj, name, None) for name in names)


def _name_and_arguments(function: Any) -> tuple[Any, Any]:
    """A tool call's `function`: the SDK's object, or a dict as some servers send it."""
    if isinstance(function, dict):
        return function.get("name"), function.get("arguments")
    return _fields(function, "name", "arguments")


class ChatAssembler(CallsAssembler):
    """Tool-call deltas keyed by `index` and id (see `_delta`); a call is complete once its
    arguments close, or when the provider ends it (a new call at its index, the finish).
    Tolerates missing, shared, sparse or interleaved indexes, ids only on the first delta,
    whole calls in one chunk, and chunks with no choices (usage, Azure's first chunk)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = Calls(WRAPPERS)
        self.by_index: dict[Any, Call] = {}  # the latest call at each index
        self.by_id: dict[str, Call] = {}
        self.finish_reason: str | None = None
        self.ending = (Stop.DONE, "")  # what the finish reason means (`_stop`)
        self.stopped = False
        self.refusal: list[str] = []
        self.usage = Usage()
        self.last: Any = None  # the latest chunk: a stream's `.raw`

    def feed(self, chunk: Any) -> Sequence[RawCall]:
        # Fields are read from each object's `__dict__`, where the SDK's models keep them:
        # one attribute lookup per object, not one per field (a pydantic model's are slow).
        # A loose object may lack some: `_fields` reads it.
        self.last = chunk
        stopped = self.stopped  # (calls closed in the chunk that stops the response are out)
        try:
            fields = chunk.__dict__
            usage, choices = fields["usage"], fields["choices"]
        except (AttributeError, KeyError):
            usage, choices = _fields(chunk, "usage", "choices")
        if usage:
            self.usage = _usage(usage)
        if not isinstance(choices, list):
            return _NONE
        calls = self.calls
        for choice in choices:
            try:
                fields = choice.__dict__
                number, delta, finish_reason = fields["index"], fields["delta"], fields["finish_reason"]
                fields = delta.__dict__
                content, refusal, tool_calls = fields["content"], fields["refusal"], fields["tool_calls"]
            except (AttributeError, KeyError):
                number, delta, finish_reason = _fields(choice, "index", "delta", "finish_reason")
                content, refusal, tool_calls = _fields(delta, "content", "refusal", "tool_calls")
            if number:
                continue  # another choice than the first (index 0, or none given)
            if content or refusal:
                self._text(content, refusal)
            if tool_calls and isinstance(tool_calls, list):
                for tc in tool_calls:
                    try:  # the SDK's delta model; else a loose object, or a dict as `function`
                        fields = tc.__dict__
                        function, index, call_id = fields["function"], fields["index"], fields["id"]
                        fields = function.__dict__
                        name, arguments = fields["name"], fields["arguments"]
                    except (AttributeError, KeyError):
                        function, index, call_id = _fields(tc, "function", "index", "id")
                        name, arguments = _name_and_arguments(function)
                    # The usual delta: more arguments text for the call at its index.
                    if (
                        name
                        or call_id
                        or type(index) is not int
                        or type(arguments) is not str
                        or (call := self.by_index.get(index)) is None
                    ):
                        self._delta(index, call_id, name, arguments)
                    elif arguments:
                        calls.add(call, arguments)
            if finish_reason:
                self._finish(finish_reason, chunk)
        return calls.take() if calls.ready and not stopped else _NONE

    def finish(self) -> Turn:
        reason = self.finish_reason
        if reason == "function_call" and not self.calls.all:
            raise ProviderError(_LEGACY)
        if reason is None and (self.calls.all or not "".join(self.text + self.refusal)):
            raise ProviderError(
                "the stream ended before the provider finished the response (no "
                "finish_reason); the connection may have dropped",
            )
        # A text answer that ends without a finish reason (as some servers send it) is whole.
        stop, reason = _stop(reason, "".join(self.refusal)) if self.refusal else self.ending
        last = self.last
        return Turn(
            calls=self.calls.final(),
            stop=stop,
            reason=reason,
            text=self.said(),
            usage=self.usage,
            raw=last,
            response_id=getattr(last, "id", None),
            response_model=getattr(last, "model", None),
            finish_reason=self.finish_reason,
        )

    def _text(self, content: Any, refusal: Any) -> None:
        if content:
            self.say(_content_text(content))
        if refusal:
            self.refusal.append(_content_text(refusal))

    def _finish(self, finish_reason: str, chunk: Any) -> None:
        self.finish_reason = finish_reason
        self.ending = _stop(finish_reason, None, chunk)
        if self.ending[0] is Stop.DONE:
            self.calls.end_all()
        else:
            self.stopped = True  # a cut-off or blocked response: nothing more is out
            self.calls.last = None

    def _delta(self, index: Any, call_id: Any, name: Any, arguments: Any) -> None:
        """A delta that starts a call, names it, or comes in an unusual shape: its arguments
        go to the call it belongs to, or to a new one.

        A delta continues the call with its id (at its index, if it gives one), else the
        latest call at its index, else (with no index) the call written last; see
        `_starts_call` for when it starts a new one instead.
        """
        call_id, name = call_id or None, name or None
        if not isinstance(index, int):
            index = None  # missing, or malformed: continues by id or the call written last
        call = self.by_id.get(call_id) if isinstance(call_id, str) else None
        if call is None or (index is not None and call.index != index):
            previous = self.by_index.get(index) if index is not None else self.calls.last
            if previous is not None and not _starts_call(previous, call_id, name):
                call = previous
            else:
                if previous is not None and previous.index == index and previous.id is None:
                    # A new call at the same index ends the one there when nothing can reach
                    # it any more: with an id, a later delta may still continue it by that id.
                    self.calls.end(previous)
                call = self.calls.start(index, call_id, name or "")
                if index is not None:
                    self.by_index[index] = call
                if isinstance(call_id, str):
                    self.by_id.setdefault(call_id, call)
        if call_id is not None and call.id is None:
            call.id = call_id
            if isinstance(call_id, str):
                self.by_id.setdefault(call_id, call)
        if name is not None and not call.name:
            self.calls.named(call, name)
        if isinstance(arguments, str):
            if arguments:
                self.calls.add(call, arguments)
        elif arguments is not None:
            call.obj = arguments  # arguments given as an object are whole
            self.calls.end(call)


def _starts_call(call: Call, call_id: Any, name: Any) -> bool:
    """Whether a delta that `call` would otherwise take starts a new call: it carries
    another id, or names a tool other than `call`'s, or names `call`'s tool again once
    `call` is complete (a server may repeat the name on every delta of a call)."""
    if call_id is not None and call.id is not None and call_id != call.id:
        return True
    if name is None or not call.name or call_id is not None and call_id == call.id:
        return False
    return name != call.name or call.done


def _content_text(content: Any) -> str:
    """Message text: a string, or text parts (some servers send a list); else nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _raw_call(tool_call: Any) -> RawCall:
    try:  # the SDK's model; else a loose object, or a dict as `function`
        function = tool_call.function
        return RawCall(tool_call.id, function.name or "", function.arguments)
    except AttributeError:
        name, arguments = _name_and_arguments(getattr(tool_call, "function", None))
        return RawCall(getattr(tool_call, "id", None), name or "", arguments)


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
