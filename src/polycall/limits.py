"""Caps on what one response may hold, so hostile or runaway output cannot exhaust memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .calls import RawCall
from .errors import LimitExceededError

if TYPE_CHECKING:
    from .providers.base import Assembler


@dataclass(frozen=True)
class Limits:
    """At most `max_calls` calls per response, each with at most `max_argument_bytes` of
    arguments (counted as characters of their JSON text); streams are held to the same cap
    while a call is still being written."""

    max_calls: int = 128
    max_argument_bytes: int = 1_000_000

    def check_call(self, raw: RawCall, position: int) -> None:
        """Raise `LimitExceededError` if the call at `position` of a response is over a limit."""
        if position >= self.max_calls:
            raise LimitExceededError(
                f"the response holds more than {self.max_calls} tool calls ({_where(raw, position)}"
                " is over the limit); raise Limits(max_calls=...) if that many are expected"
            )
        arguments = raw.arguments
        # JSON text, the usual case, is measured exactly, by its length.
        size = len(arguments) if isinstance(arguments, str) else _size(arguments, self.max_argument_bytes)
        if size > self.max_argument_bytes:
            raise LimitExceededError(
                f"{_where(raw, position)} has more than {self.max_argument_bytes} bytes of arguments (the "
                "max_argument_bytes limit); raise Limits(max_argument_bytes=...) if that is "
                "expected"
            )

    def check_buffer(self, size: int, what: str) -> None:
        """Raise `LimitExceededError` if `what`, a call still being streamed, has buffered
        more than `max_argument_bytes`."""
        if size > self.max_argument_bytes:
            raise LimitExceededError(
                f"{what} has more than {self.max_argument_bytes} bytes of arguments in the stream "
                "(the max_argument_bytes limit); raise Limits(max_argument_bytes=...) if that is "
                "expected"
            )


class StreamGuard:
    """Holds the calls a stream is writing to `max_argument_bytes`.

    `fed()` runs after each chunk and reads the size of the largest call so far from the
    assembler's running count (`assembler.buffered()`), so it never joins or measures text.
    """

    def __init__(self, limits: Limits, assembler: Assembler) -> None:
        self.limit = limits.max_argument_bytes
        self.limits = limits
        self.buffered = assembler.buffered
        self.assembler = assembler

    def fed(self) -> None:
        if self.buffered() > self.limit:
            name, size = self.assembler.largest() or ("", self.buffered())
            self.limits.check_buffer(size, f"the call to {_name(name)} being streamed")


def _where(raw: RawCall, position: int) -> str:
    return f"call {raw.id or position} to {_name(raw.name)}"


def _name(name: Any) -> str:
    return repr(name) if isinstance(name, str) else f"a tool named by {type(name).__name__}"


def _size(arguments: Any, stop: int) -> int:
    """The size of `arguments` (bytes or an object) as JSON text, about; counting stops once
    past `stop`. Iterative, so deep nesting cannot overflow the stack."""
    if isinstance(arguments, (bytes, bytearray)):
        return len(arguments)
    size = 0
    pending = [arguments]
    while pending and size <= stop:
        value = pending.pop()
        if isinstance(value, (str, bytes, bytearray)):
            size += len(value) + 2
        elif isinstance(value, dict):
            size += 2 + 2 * len(value)
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            size += 2 + len(value)
            pending.extend(value)
        elif isinstance(value, int):
            size += value.bit_length() // 3 + 1
        else:
            size += 8
    return size
