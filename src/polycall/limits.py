"""Caps on what one response may hold, so hostile or runaway output cannot exhaust memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .calls import RawCall
from .errors import LimitExceededError


@dataclass(frozen=True)
class Limits:
    """At most `max_calls` calls per response, each with at most `max_argument_bytes` of arguments."""

    max_calls: int = 128
    max_argument_bytes: int = 1_000_000

    def check_call(self, raw: RawCall, position: int) -> None:
        if position >= self.max_calls:
            raise LimitExceededError(
                f"the response holds more than {self.max_calls} tool calls "
                f"(call {raw.id or position} to {raw.name!r} is over the limit); "
                "raise Limits(max_calls=...) if that many are expected"
            )
        size = _size(raw.arguments)
        if size > self.max_argument_bytes:
            raise LimitExceededError(
                f"call {raw.id or position} to {raw.name!r} has {size} bytes of arguments, over "
                f"the limit of {self.max_argument_bytes}; raise Limits(max_argument_bytes=...)"
            )

    def check_buffer(self, size: int, what: str) -> None:
        """For stream assemblers: stop buffering a call's arguments past the limit."""
        if size > self.max_argument_bytes:
            raise LimitExceededError(
                f"{what} has more than {self.max_argument_bytes} bytes of arguments in the stream; "
                "raise Limits(max_argument_bytes=...)"
            )


def _size(arguments: Any) -> int:
    if arguments is None:
        return 0
    if isinstance(arguments, (str, bytes, bytearray)):
        return len(arguments)
    return len(repr(arguments))
