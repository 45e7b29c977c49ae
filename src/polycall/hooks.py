"""Observers of each attempt: `client.on("request" | "response" | "parse_error" | "retry" | "error", fn)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConfigurationError

EVENTS = ("request", "response", "parse_error", "retry", "error")

Hook = Callable[..., Any]


class Hooks:
    """Registered observers; each is called with keyword arguments describing the event."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Hook]] = {event: [] for event in EVENTS}

    def on(self, event: str, fn: Hook) -> None:
        self._check(event)
        self._hooks[event].append(fn)

    def off(self, event: str, fn: Hook | None = None) -> None:
        """Remove `fn` from `event`, or every observer of `event` when `fn` is None."""
        self._check(event)
        if fn is None:
            self._hooks[event].clear()
        elif fn in self._hooks[event]:
            self._hooks[event].remove(fn)

    def emit(self, event: str, **payload: Any) -> None:
        for fn in self._hooks[event]:
            fn(**payload)

    def _check(self, event: str) -> None:
        if event not in self._hooks:
            raise ConfigurationError(f"unknown hook event {event!r}; the events are {', '.join(EVENTS)}")
