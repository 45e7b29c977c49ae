"""The neutral representation of tool calls, shared by the core and every provider adapter."""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .errors import ConfigurationError

T = TypeVar("T")


@dataclass(slots=True)
class RawCall:
    """A call as the provider sent it: `arguments` is JSON text, an object, or None.

    `extra` is provider data that must travel back with the call when the turn is replayed
    (a Gemini thought signature, the Anthropic thinking blocks before it); None elsewhere.
    `place` is where a streamed call started among the response's calls (None in a whole
    response, where its place in the list says it).
    """

    id: str | None
    name: str
    arguments: Any = None
    extra: Any = None
    place: int | None = None


class ToolCall(Generic[T]):
    """A validated call: the provider's id, the tool name, its arguments and the model instance.

    `arguments` is a dict; when the provider sent JSON text, it is parsed on first read (the
    model instance was validated straight from the text). Read-only by convention.
    """

    __slots__ = ("_arguments", "extra", "id", "name", "value")
    __match_args__ = ("id", "name", "arguments", "value")

    def __init__(
        self, id: str, name: str, arguments: dict[str, Any] | str, value: T, extra: Any = None
    ) -> None:
        self.id = id
        self.name = name
        self._arguments = arguments
        self.value = value
        self.extra = extra  # see RawCall.extra

    @property
    def arguments(self) -> dict[str, Any]:
        arguments = self._arguments
        if isinstance(arguments, str):
            arguments = self._arguments = _json_object(arguments)
        return arguments

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolCall):
            return NotImplemented
        return (self.id, self.name, self.arguments, self.value) == (
            other.id, other.name, other.arguments, other.value
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return (
            f"ToolCall(id={self.id!r}, name={self.name!r}, arguments={self.arguments!r}, "
            f"value={self.value!r})"
        )


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A call that did not validate, with pydantic-style error dicts."""

    id: str
    name: str
    arguments: Any
    errors: list[dict[str, Any]]

    @dataclass(frozen=True, slots=True)
    class Error:
        """A single argument-level error, before it is tied to a call."""

        details: dict[str, Any]

    @property
    def unknown_tool(self) -> bool:
        return any(e.get("type") == "unknown_tool" for e in self.errors)

    def describe(self) -> str:
        """One line per error: call id, tool name, field path, message, bad value."""
        return f"call {self.id} ({self.name}): " + "; ".join(map(describe_error, self.errors))


def describe_error(error: Mapping[str, Any]) -> str:
    """One pydantic error as a line: field path, message, bad value."""
    loc = ".".join(str(p) for p in error.get("loc", ())) or "(arguments)"
    text = f"{loc}: {error.get('msg', error.get('type'))}"
    if "input" in error and error.get("type") != "missing":
        text += f" (got {_short(error['input'])})"
    return text


class Stop(enum.Enum):
    """Why the model stopped, in neutral terms."""

    DONE = "done"  # normal end: tool calls or plain text
    LENGTH = "length"  # output cut off
    REFUSAL = "refusal"  # refused or blocked
    MALFORMED = "malformed"  # provider-side malformed function call


@dataclass(slots=True)
class Usage:
    """Token usage, summed over every attempt."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __post_init__(self) -> None:
        # A provider's count that is not a whole number (a malformed body) counts as 0.
        given, made = self.input_tokens, self.output_tokens
        if type(given) is not int or type(made) is not int or given < 0 or made < 0:
            self.input_tokens, self.output_tokens = _count(given), _count(made)

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(slots=True)
class Turn:
    """One provider response, reduced to what the core needs."""

    calls: list[RawCall]
    stop: Stop = Stop.DONE
    reason: str = ""  # the provider's own finish/stop reason or refusal text
    text: str | None = None
    usage: Usage = field(default_factory=Usage)
    raw: Any = None
    # What tracing reports, as the provider sent it (anything but text is left out there).
    response_id: Any = None
    response_model: Any = None
    finish_reason: Any = None  # the provider's own, before any refusal text


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer to one call, before it is put in the provider's message format."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ToolResult(Generic[T]):
    """What running one call gave: its value or its error, and how long it took (seconds)."""

    call: ToolCall[T]
    value: Any = None
    error: BaseException | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


Handlers = Mapping[Any, Callable[..., Any]]


class Formats(Protocol):
    """What `ToolCalls` needs of its provider's adapter: the messages that continue a turn."""

    def assistant_message(self, calls: Sequence[RawCall], text: str | None) -> Any: ...

    def reply_messages(self, replies: Sequence[Reply]) -> list[Any]: ...


class Runner(Protocol):
    """What `ToolCalls.run` / `arun` hand the calls to (`polycall.running`)."""

    def run(
        self, calls: Sequence[ToolCall[Any]], handlers: Handlers, *,
        max_concurrency: int | None, timeout: float | None, adapter: Any,
    ) -> list[ToolResult[Any]]: ...

    def arun(
        self, calls: Sequence[ToolCall[Any]], handlers: Handlers, *,
        max_concurrency: int | None, timeout: float | None, adapter: Any,
    ) -> Awaitable[list[ToolResult[Any]]]: ...


class ToolCalls(list[T]):
    """The validated model instances, in the model's order, plus their calls and the response."""

    calls: list[ToolCall[T]]
    raw: Any
    usage: Usage
    text: str | None

    def __init__(
        self,
        calls: Sequence[ToolCall[T]],
        *,
        adapter: Formats,
        runner: Runner,
        raw: Any = None,
        usage: Usage | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__([call.value for call in calls])
        self.calls = list(calls)
        self.raw = raw
        self.usage = usage or Usage()
        self.text = text
        self._adapter = adapter
        self._runner = runner

    def assistant_message(self) -> Any:
        """The model's own turn (text and calls), in this provider's message format."""
        return self._adapter.assistant_message(
            [RawCall(c.id, c.name, c.arguments, c.extra) for c in self.calls], self.text
        )

    def tool_results(self, outputs: Iterable[Any]) -> list[Any]:
        """Messages answering every call one-for-one, in call order, in this provider's format.

        `outputs` holds one item per call: a string, any JSON-able value, a pydantic model,
        or a `ToolResult` from `run()` (whose error becomes an error result).
        """
        given: Sequence[Any] = ()
        unordered = isinstance(outputs, (str, bytes, Mapping, set, frozenset))
        if not unordered:
            try:  # a generator is read once
                given = outputs if isinstance(outputs, Sequence) else list(outputs)
            except TypeError:
                unordered = True  # not iterable at all
        if unordered:
            raise ConfigurationError(
                f"tool_results() takes a list of outputs, one per call in call order, got a "
                f"{type(outputs).__name__}" + (
                    "; from a dict by call id: [outputs[call.id] for call in calls.calls]"
                    if isinstance(outputs, Mapping) else ""
                )
            )
        if len(given) != len(self.calls):
            raise ConfigurationError(
                f"tool_results() got {len(given)} output(s) for {len(self.calls)} call(s); "
                "give exactly one output per call, in call order"
            )
        replies = [_reply(call, output) for call, output in zip(self.calls, given)]
        return self._adapter.reply_messages(replies)

    def run(
        self, handlers: Handlers, *, max_concurrency: int | None = None, timeout: float | None = None
    ) -> list[ToolResult[T]]:
        """Run each call's handler (sync or async), concurrently; results in call order."""
        return self._runner.run(
            self.calls, handlers, max_concurrency=max_concurrency, timeout=timeout, adapter=self._adapter
        )

    def arun(
        self, handlers: Handlers, *, max_concurrency: int | None = None, timeout: float | None = None
    ) -> Awaitable[list[ToolResult[T]]]:
        """Like `run`, awaited on the running event loop."""
        return self._runner.arun(
            self.calls, handlers, max_concurrency=max_concurrency, timeout=timeout, adapter=self._adapter
        )

    def __repr__(self) -> str:
        return f"ToolCalls({list.__repr__(self)})"


def _reply(call: ToolCall[Any], output: Any) -> Reply:
    if isinstance(output, ToolResult):
        if output.call is not call and output.call != call:  # not this call, nor a copy of it
            raise ConfigurationError(
                f"tool_results() got the result of call {getattr(output.call, 'id', None)} "
                f"({getattr(output.call, 'name', None)}) in the place of call {call.id} "
                f"({call.name}); give one output per call, in call order, as run() returns them"
            )
        if output.error is not None:
            message = f"Error: {type(output.error).__name__}: {text_of(output.error)}"
            return Reply(call.id, call.name, message, is_error=True)
        output = output.value
    return Reply(call.id, call.name, to_text(output))


def to_text(output: Any) -> str:
    """A tool output as the text sent back to the model: a string as it is, anything else as
    JSON (a pydantic model's own). A value JSON has no type for (a dataclass, a datetime, a
    set) is written as pydantic writes it, and so is what JSON cannot hold as it is (keys
    that are not strings); unknown values as their `str()`; a value that refers to itself,
    as its `str()`."""
    if isinstance(output, str):
        return output
    try:
        dump = getattr(output, "model_dump_json", None)  # a pydantic model
        if callable(dump):
            return str(dump())
        if not isinstance(output, _JSON):  # an unknown value is its `str()`, not quoted
            if isinstance(output, Iterator):
                return text_of(output)
            import pydantic_core  # loaded on the first such output, not on import

            try:
                output = pydantic_core.to_jsonable_python(output)
            except ValueError:  # pydantic's serialization error: a value it does not know,
                output = _jsonable(output)  # or holds
                if isinstance(output, str):  # (the value itself: its text)
                    return output
        return json.dumps(output, default=_jsonable, ensure_ascii=False)
    except (TypeError, ValueError):  # pydantic's serialization error is a ValueError
        import pydantic_core  # loaded on the first such output, not on import

        try:
            return pydantic_core.to_json(output, fallback=text_of).decode()
        except ValueError:
            return text_of(output)


#: What `json` writes itself (subclasses too: an `IntEnum` is an int).
_JSON = (dict, list, tuple, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    """A value `json` has no type for, as pydantic would write it in JSON, what it holds that
    pydantic does not know as its `str()`; else (an iterator too, which writing would spend,
    or never end) its `str()`."""
    if isinstance(value, Iterator):
        return text_of(value)
    import pydantic_core  # loaded on the first such output, not on import

    try:
        return pydantic_core.to_jsonable_python(value, fallback=text_of)
    except ValueError:  # pydantic's serialization error (a value that refers to itself)
        return text_of(value)


def text_of(value: Any) -> str:
    """`str(value)`, or a placeholder where the object's own `__str__` fails."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - the user's object: its text is all that is missing
        return f"<{type(value).__name__} object; str() failed>"


def _json_object(text: str) -> dict[str, Any]:
    """The JSON object `text` holds; only called on text that already validated as one."""
    import jiter  # loaded on the first read, not on import

    value = jiter.from_json(text.encode()) if text and not text.isspace() else {}
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
