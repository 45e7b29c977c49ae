"""Observers of each attempt: `client.on("request" | "response" | "parse_error" | "retry" | "error", fn)`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .errors import ConfigurationError, PolycallError, UserCodeError

EVENTS = ("request", "response", "parse_error", "retry", "error")

Hook = Callable[..., Any]


class Hooks:
    """Registered observers; each is called with keyword arguments describing the event."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Hook]] = {event: [] for event in EVENTS}
        self.watched = False  # whether any event has an observer: if not, `emit` can be skipped

    def on(self, event: str, fn: Hook) -> None:
        self._check(event)
        if not callable(fn):
            raise ConfigurationError(f"a hook must be callable, got {fn!r}")
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            type(fn).__call__  # an object's `async def __call__`
        ):  # (it would be called, and never awaited)
            raise ConfigurationError(
                f"a hook is a plain function, called as the event happens; {_name(fn)} is "
                "async: do async work from it with asyncio.create_task(...)"
            )
        self._hooks[event].append(fn)
        self.watched = True

    def off(self, event: str, fn: Hook | None = None) -> None:
        """Remove `fn` from `event`, or every observer of `event` when `fn` is None."""
        self._check(event)
        if fn is None:
            self._hooks[event].clear()
        elif fn in self._hooks[event]:
            self._hooks[event].remove(fn)
        self.watched = any(self._hooks.values())

    def emit(self, event: str, **payload: Any) -> None:
        """Call each observer of `event`; one that raises ends the request with a
        `UserCodeError` (its exception as the cause), never one blamed on the provider."""
        for fn in tuple(self._hooks[event]):  # (a hook may take itself off)
            try:
                fn(**payload)
            except PolycallError:
                raise
            except Exception as exc:
                raise _hook_error(exc, event, fn, payload) from exc

    def _check(self, event: str) -> None:
        if event not in self._hooks:
            raise ConfigurationError(f"unknown hook event {event!r}; the events are {', '.join(EVENTS)}")


def _hook_error(exc: Exception, event: str, fn: Hook, payload: dict[str, Any]) -> UserCodeError:
    failure = payload.get("failure")  # a "parse_error" names the call it is about
    return UserCodeError(
        exc, where=f"the {event!r} hook {_name(fn)}",
        call_id=getattr(failure, "id", None), tool=getattr(failure, "name", None),
    )


def _name(fn: Hook) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__qualname__
