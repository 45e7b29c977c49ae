"""The call buffer every stream assembler shares: calls keyed by the provider's index and
id, their argument fragments, and when each one is complete.

A call is complete at the first of: its arguments text forms one complete JSON object or
array (once it has a name), its arguments are given whole as an object, or the provider
ends it. Whether the text closes is looked at only when a fragment brings a closing
bracket, the only place a value can close: the first time, one parse by the `json` module
(arguments usually close at their first closing bracket); if they do not, from there on
incrementally (bracket depth, in-string and escape state, each character scanned once). The
buffer is never re-parsed. Completed calls are handed out in completion order; `final()`
lists every call in the model's order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from json.scanner import make_scanner
from operator import attrgetter
from typing import Any, cast

from ..calls import RawCall
from ..errors import ProviderError
from ..limits import Limits
from .base import Assembler

# Scanner states of a call's arguments text, in order: a call below _CLOSED is still open.
_BLANK = 0  # only whitespace scanned so far
_OPEN = 1  # an object or array in progress
_CLOSED = 2  # one complete object or array (then only whitespace)
_OPAQUE = 3  # not an object or array, or more after one: complete only when the provider ends it
_ENDED = 4  # ended by the provider before it closed: no more text may come

#: The `json` module's scanner: (value, where it ends), StopIteration if none starts there.
_scan_once = make_scanner(cast(Any, json.JSONDecoder()))  # its settings come from a decoder
_NONE: tuple[RawCall, ...] = ()  # what `take()` gives when no call completed: no list per chunk
_INDEX = attrgetter("index")
_DEFAULT_LIMITS = Limits()  # frozen: one for every buffer not held to others

Expand = Callable[[RawCall], "list[RawCall] | None"]  # the calls a wrapper call holds, if any


class Call:
    """One call being assembled: its key, id, name, argument fragments and state."""

    __slots__ = (
        "depth",
        "done",
        "escaped",
        "extra",
        "id",
        "index",
        "name",
        "obj",
        "out",
        "parts",
        "place",
        "quoted",
        "scanned",
        "size",
        "state",
    )

    def __init__(self, index: Any, id: Any, name: Any, extra: Any = None, place: int = 0) -> None:
        self.index = index
        self.place = place  # where it started among the response's calls
        self.id = id
        self.name = name
        self.extra = extra
        self.parts: list[str] = []
        self.obj: Any = None  # arguments given as an object (or a fallback when no text comes)
        self.size = 0  # characters of argument text so far
        self.scanned = 0  # of which the JSON state has been advanced over
        self.state = _BLANK
        self.depth = 0
        self.quoted = False
        self.escaped = False
        self.done = False
        self.out: list[RawCall] = []  # what this call was handed out as (set once done)

    def text(self) -> str:
        """The arguments text so far, joined once and kept joined."""
        parts = self.parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def raw(self) -> RawCall:
        if self.obj is not None and self.whole():
            return RawCall(self.id, self.name, self.obj, self.extra, self.place)
        return RawCall(self.id, self.name, "".join(self.parts), self.extra, self.place)

    def whole(self) -> bool:
        """Whether the arguments are the object given (`obj`): no text came, or only blanks."""
        return not self.parts or self.text().isspace()


class Calls:
    """The calls of one streamed response, each held to `max_argument_bytes` as it grows."""

    def __init__(self, wrappers: Mapping[str, Expand] | None = None) -> None:
        self.all: list[Call] = []  # in the order they started
        self.ready: list[RawCall] = []  # completed since the last `take()`
        self.last: Call | None = None  # the call the latest fragment went to
        self.indexed = True  # every call has an int index: the model's order is by index
        # By tool name: what turns a completed wrapper call into the calls it holds, if any.
        self.wrappers: Mapping[str, Expand] = wrappers or {}
        self.limits = _DEFAULT_LIMITS
        self.cap = _DEFAULT_LIMITS.max_argument_bytes
        self.most = _DEFAULT_LIMITS.max_calls

    def hold(self, limits: Limits) -> None:
        """Hold each call to `limits`: a `LimitExceededError` as soon as one is over."""
        self.limits = limits
        self.cap = limits.max_argument_bytes
        self.most = limits.max_calls

    def start(self, index: Any, id: Any, name: Any, extra: Any = None) -> Call:
        place = len(self.all)
        if place >= self.most:
            self.limits.check_started(id, name, place)
        call = Call(index, id, name, extra, place)
        if not isinstance(index, int):
            self.indexed = False
        self.all.append(call)
        self.last = call
        return call

    def add(self, call: Call, fragment: str) -> None:
        """Append a fragment of `call`'s arguments text; the call completes if it closes."""
        call.parts.append(fragment)
        size = call.size = call.size + len(fragment)
        self.last = call
        if size > self.cap and not self._wrapping(call, size):
            self.limits.check_streamed(call.id, call.name, size, call.place)
        if call.state < _CLOSED:
            # Closed arguments complete a call that has its name (a nameless one waits for
            # the provider to end it, which may name it: it could only be an unknown tool).
            if ("}" in fragment or "]" in fragment) and _scan(call) and call.name:
                self.end(call)
        elif call.state != _OPAQUE and not fragment.isspace():
            after = "they formed a complete JSON value" if call.state == _CLOSED else "it ended"
            raise ProviderError(
                f"the stream went on with the arguments of call {call.id or '(no id)'} to "
                f"{call.name!r} after {after}"
            )

    def named(self, call: Call, name: str) -> None:
        """`call` gets its name: arguments that closed before it came complete it now."""
        call.name = name
        if call.state == _CLOSED:
            self.end(call)

    def _wrapping(self, call: Call, size: int) -> bool:
        """Whether `call` is a wrapper of calls (`multi_tool_use.parallel`) that may still
        hold them all within their limits: each inner call is held to them once unwrapped,
        as in a whole response."""
        return call.name in self.wrappers and size <= self.cap * self.limits.max_calls

    def end(self, call: Call) -> None:
        """The call is complete: hand it out (once)."""
        if call.done:
            return
        call.done = True
        if call.state != _CLOSED:
            call.state = _ENDED
        raw = call.raw()
        expand = self.wrappers.get(call.name)
        inner = expand(raw) if expand is not None else None
        call.out = [raw] if inner is None else inner
        self.ready.extend(call.out)

    def end_all(self) -> None:
        for call in self.all:
            if not call.done:
                self.end(call)

    def take(self) -> Sequence[RawCall]:
        """The calls completed since the last `take()`, in completion order."""
        ready = self.ready
        if not ready:
            return _NONE
        self.ready = []
        return ready

    def final(self) -> list[RawCall]:
        """Every call, in the model's order (by index when every call has one, else as they
        started): completed ones as they were handed out, the others as they stand."""
        calls = self.all
        if self.indexed:
            calls = sorted(calls, key=_INDEX)  # stable: calls sharing an index keep their order
        out: list[RawCall] = []
        for call in calls:
            if call.done:
                out.extend(call.out)
            else:
                out.append(call.raw())
        return out

    def partial(self) -> tuple[object, str, str] | None:
        """The call the latest fragment went to, while it is still being written."""
        call = self.last
        if call is None or call.done or call.obj is not None and call.whole():
            return None
        return call, call.name, call.text()

    def grew(self, call: Call, size: int) -> None:
        """`call`'s arguments, given as an object and never as text, grew by about `size`
        characters."""
        call.size += size
        if call.size > self.cap:
            self.limits.check_streamed(call.id, call.name, call.size, call.place)


def _scan(call: Call) -> bool:
    """Advance `call`'s JSON state over its text not scanned yet; True when its value closes
    there.

    The first time (the text so far is all the value has), the `json` module's C parser
    reads it: arguments usually close at their first closing bracket, and one parse says so.
    If they do not close yet, `_scan_text` follows them from there on.
    """
    if call.state == _BLANK:  # nothing scanned yet but blanks: the whole text is the value
        call.scanned = call.size
        text = call.text()  # joined once, and kept joined for the call's raw text
        n = len(text)
        start = 0 if text[0] in "{[" else n - len(text.lstrip())
        if start == n:
            return False
        if text[start] not in "{[":
            call.state = _OPAQUE
            return False
        try:
            end = _scan_once(text, start)[1]
        except (StopIteration, ValueError, RecursionError):  # not closed yet (or not JSON)
            call.state = _OPEN
            return _scan_text(call, text, start)
        closed = end == n or text[end:].isspace()
        call.state = _CLOSED if closed else _OPAQUE
        return closed
    parts = call.parts
    need = call.size - call.scanned  # the unscanned text: the end of the latest fragments
    k = len(parts) - 1
    got = len(parts[k])
    while got < need:
        k -= 1
        got += len(parts[k])
    if k == len(parts) - 1:
        text, pos = parts[k], got - need
    else:  # copy only what is unscanned: `parts[k]` may be the whole text so far, joined
        text, pos = parts[k][got - need :] + "".join(parts[k + 1 :]), 0
    call.scanned = call.size
    return _scan_text(call, text, pos)


def _scan_text(call: Call, text: str, pos: int) -> bool:
    """`_scan` from `pos` on: bracket depth, in-string and escape state. Runs between
    quotes and backslashes are skipped with `str.find` and `str.count`, so the work is a few
    string calls per scan; brackets are walked one by one only in a run that could close the
    value."""
    n = len(text)
    depth = call.depth
    quoted = call.quoted
    if call.escaped:
        call.escaped = False
        pos += 1
    while pos < n:
        quote = text.find('"', pos)
        end = n if quote < 0 else quote
        if quoted:
            slash = text.find("\\", pos, end)
            if slash >= 0:
                pos = slash + 2
                if pos > n:
                    call.escaped = True
                continue
            if quote < 0:
                break
            quoted = False
            pos = quote + 1
            continue
        closes = text.count("}", pos, end) + text.count("]", pos, end)
        if closes < depth:
            depth += text.count("{", pos, end) + text.count("[", pos, end) - closes
        else:  # the depth may reach zero in this run: walk it
            for i in range(pos, end):
                char = text[i]
                if char in "{[":
                    depth += 1
                elif char in "}]":
                    depth -= 1
                    if depth == 0:
                        rest = text[i + 1 :]
                        call.state = _CLOSED if not rest or rest.isspace() else _OPAQUE
                        call.depth = 0
                        return call.state == _CLOSED
        if quote < 0:
            break
        quoted = True
        pos = quote + 1
    call.depth = depth
    call.quoted = quoted
    return False


class CallsAssembler(Assembler):
    """An assembler built on a `Calls` buffer, which gives `partial()` and holds the calls to
    the limits."""

    calls: Calls

    def partial(self) -> tuple[object, str, str] | None:
        return self.calls.partial()

    def hold(self, limits: Limits) -> None:
        self.calls.hold(limits)
