"""Caps on what one response may hold, so hostile or runaway output cannot exhaust memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .calls import RawCall
from .errors import LimitExceededError


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

    def check_streamed(self, name: Any, size: int) -> None:
        """Raise `LimitExceededError` if a call to `name` still being streamed has buffered
        `size`, more than `max_argument_bytes` (a running count: no text is joined)."""
        if size > self.max_argument_bytes:
            raise LimitExceededError(
                f"the call to {_name(name)} being streamed has more than "
                f"{self.max_argument_bytes} bytes of arguments in the stream (the "
                "max_argument_bytes limit); raise Limits(max_argument_bytes=...) if that is "
                "expected"
            )


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
