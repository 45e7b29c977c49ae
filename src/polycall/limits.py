"""Caps on what one response may hold, so hostile or runaway output cannot exhaust memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .calls import RawCall
from .errors import ConfigurationError, LimitExceededError


@dataclass(frozen=True)
class Limits:
    """At most `max_calls` calls per response, each with at most `max_argument_bytes` of
    arguments (counted as characters of their JSON text); streams are held to the same cap
    while a call is still being written."""

    max_calls: int = 128
    max_argument_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_argument_bytes"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ConfigurationError(f"Limits({name}=...) takes an int >= 0, got {value!r}")

    def check_call(self, raw: RawCall, position: int) -> None:
        """Raise `LimitExceededError` if the call at `position` of a response is over a limit."""
        self.check_started(raw.id, raw.name, position)
        arguments = raw.arguments
        # JSON text, the usual case, is measured exactly, by its length.
        size = len(arguments) if isinstance(arguments, str) else json_size(arguments, self.max_argument_bytes)
        if size > self.max_argument_bytes:
            raise LimitExceededError(
                f"{_where(raw.id, raw.name, position)} has more than {self.max_argument_bytes} "
                "characters of arguments (the max_argument_bytes limit); raise "
                "Limits(max_argument_bytes=...) if that is expected"
            )

    def check_started(self, id: Any, name: Any, position: int) -> None:
        """Raise `LimitExceededError` if a call at `position` of a response (counted from 0)
        is past `max_calls`; a stream is refused as the call starts."""
        if position >= self.max_calls:
            raise LimitExceededError(
                f"the response holds more than {self.max_calls} tool calls "
                f"({_where(id, name, position)} is over the limit); raise "
                "Limits(max_calls=...) if that many are expected"
            )

    def check_streamed(self, id: Any, name: Any, size: int, position: int) -> None:
        """Raise `LimitExceededError` if the call `id` to `name` (at `position` among the
        response's calls), still being streamed, has buffered `size`, more than
        `max_argument_bytes` (a running count: no text is joined)."""
        if size > self.max_argument_bytes:
            raise LimitExceededError(
                f"{_where(id, name, position)} being streamed has more than "
                f"{self.max_argument_bytes} characters of arguments in the stream (the "
                "max_argument_bytes limit); raise Limits(max_argument_bytes=...) if that is "
                "expected"
            )


def _where(id: Any, name: Any, position: int) -> str:
    if id:
        return f"call {id} to {_name(name)}"
    return f"call number {position + 1} of the response, to {_name(name)} (it has no id)"


def _name(name: Any) -> str:
    return repr(name) if isinstance(name, str) else f"a tool named by {type(name).__name__}"


def json_size(arguments: Any, stop: int) -> int:
    """The size of `arguments` (bytes or an object) as compact JSON text (strings counted
    without their escapes); counting stops once past `stop`. Iterative, so deep nesting
    cannot overflow the stack."""
    if isinstance(arguments, (bytes, bytearray)):
        return len(arguments)
    size = 0
    pending = [arguments]
    while pending and size <= stop:
        value = pending.pop()
        if isinstance(value, (str, bytes, bytearray)):
            size += len(value) + 2
        elif isinstance(value, dict):
            size += 2 * len(value) + 1 if value else 2  # {}, a colon each, commas between
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            size += len(value) + 1 if value else 2  # [], commas between
            pending.extend(value)
        elif value is None or value is True:
            size += 4
        elif value is False:
            size += 5
        elif isinstance(value, int):
            size += len(str(value)) if value.bit_length() < 1000 else value.bit_length() // 4
        elif isinstance(value, float):
            size += len(repr(value))
        else:
            size += 8
    return size
