"""What the fuzz tests share: the real SDKs over an in-process transport, wire frames and
their mutations, scenario strategies, and the invariants every outcome must keep.

Each provider's wire module (`fuzz_wires/<provider>.py`) says how a `Scenario` becomes its
wire format (a JSON body, and a stream of `Frame`s) and describes itself as a `Fuzzed` (built
by `fuzzed`); the property tests in `test_fuzz.py` run every `Fuzzed` alike, and what the
fuzzing found is kept in `test_fuzz_regressions.py`. The checks here send those bytes,
whole or mutated, through the real polycall client - so through the SDK's own HTTP, SSE and
model code, the adapter's `parse`/`assembler()` and the core `Session` - over an
`httpx.MockTransport`, each example under a hard deadline. The invariants:

- only a `PolycallError` comes out, and a `ProviderError` never hides a crash of polycall's
  own code (a TypeError, KeyError... raised in `polycall/`);
- a result is well formed: one validated model per call, of that call's tool, unique ids;
- a valid response, however its bytes are split or encoded, gives exactly its calls;
- a stream cut before its last event is an error, never a shorter list;
- the JSON and the streamed form of one response agree (same calls, or the same error).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hypothesis import Phase, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import polycall
from models import GoogleSearch, Weather
from polycall import LimitExceededError, Partial, PolycallError, ProviderError, ToolCalls
from polycall.toolset import tool_set

#: Wall-clock bound on one example (a hang detector, not a performance check).
DEADLINE = 30.0
_POLYCALL_SOURCE = str(Path(polycall.__file__).resolve().parent)
_SDK_SOURCE = re.compile(
    r"[/\\]site-packages[/\\](openai|anthropic|google|httpx2?|httpcore2?|requests|urllib3|botocore)[/\\]"
)


# ---------------------------------------------------------------------------------------
# The tools offered in every example.


class Address(BaseModel):
    street: str
    city: str


class Order(BaseModel):
    """Order an item."""

    item: str
    quantity: int
    price: float | None = None
    tags: list[str] = []
    ship_to: Address | None = None


MODEL = Iterable[Weather | GoogleSearch | Order]
TOOLS = tool_set(MODEL)
MESSAGES = [{"role": "user", "content": "What is the weather in Toronto?"}]


def budget(share: float = 1.0) -> settings:
    """`share` of the loaded hypothesis profile's examples (`--slow` loads the long one)."""
    return settings(max_examples=max(3, int(settings.default.max_examples * share)))


# ---------------------------------------------------------------------------------------
# Scenarios: what a response says, before any wire format.


@dataclass(frozen=True)
class Call:
    """One call: arguments are a JSON value (or, for text-argument wires, any text)."""

    name: str
    arguments: Any
    id: str | None = None


@dataclass(frozen=True)
class Scenario:
    calls: tuple[Call, ...]
    text: str | None = None
    finish: str | None = None  # None: the provider's normal finish for this content

    def json_calls(self) -> list[tuple[str, str]]:
        """Each call's name and arguments as JSON text (wire builders parse it for a body)."""
        return [(call.name, dumps(call.arguments)) for call in self.calls]

    def ids(self) -> list[Any]:
        return [call.id for call in self.calls]

    def expected(self) -> list[tuple[str, str, Any]]:
        """(id, name, arguments) of each call of a valid scenario (ids unique, or none: then
        polycall's stable generated ones)."""
        return [
            (c.id or f"call_1_{i}", c.name, _as_object(c.arguments))
            for i, c in enumerate(self.calls)
        ]


def _as_object(arguments: Any) -> Any:
    return json.loads(arguments) if isinstance(arguments, str) else arguments


class Raw:
    """JSON text put verbatim into an encoded payload (e.g. nesting too deep for `json`)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'...' if len(self.text) > 40 else ''} [{len(self.text)}])"


def dumps(data: Any, *, style: str = "compact") -> str:
    """JSON text of `data`, `Raw` values spliced in verbatim."""
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    options: dict[str, Any] = {
        "compact": {"separators": (",", ":")},
        "spaced": {},
        "sorted": {"sort_keys": True},
        "indented": {"indent": 1},
    }[style]
    text = json.dumps(mark(data), **options)
    for k, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{k}\x00"), raw)
    return text


# Strategies ------------------------------------------------------------------------------

_names = st.text(st.characters(codec="utf-8"), max_size=12)
_ids = st.from_regex(r"[A-Za-z0-9_\-]{1,24}", fullmatch=True)


def valid_arguments(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments that validate for the tool `name`."""
    text = st.text(max_size=30)
    if name == "Weather":
        return st.fixed_dictionaries(
            {"location": text, "units": st.sampled_from(["imperial", "metric"])}
        )
    if name == "GoogleSearch":
        return st.fixed_dictionaries({"query": text})
    address = st.fixed_dictionaries({"street": text, "city": text})
    return st.fixed_dictionaries(
        {"item": text, "quantity": st.integers(-(2**53), 2**53)},
        optional={
            "price": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32),
            "tags": st.lists(text, max_size=4),
            "ship_to": address,
        },
    )


@st.composite
def valid_call(draw: st.DrawFn) -> Call:
    name = draw(st.sampled_from(TOOLS.names))
    return Call(name, draw(valid_arguments(name)))


@st.composite
def valid_scenarios(
    draw: st.DrawFn, *, ids: bool = True, min_calls: int = 1, max_calls: int = 6
) -> Scenario:
    """A response that calls tools correctly: unique ids (or none, for wires without)."""
    calls = draw(st.lists(valid_call(), min_size=min_calls, max_size=max_calls))
    call_ids = draw(st.lists(_ids, min_size=len(calls), max_size=len(calls), unique=True))
    if ids:
        calls = [replace(call, id=call_id) for call, call_id in zip(calls, call_ids)]
    text = draw(st.none() | st.text(min_size=1, max_size=40))
    return Scenario(tuple(calls), text=text)


def json_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=20)
        | st.sampled_from(["", "metric", "Toronto", "tool_use", "\ud800", "\u2028"])
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def huge_text() -> st.SearchStrategy[str]:
    """A long string of one repeated character: 10 to 60 thousand of them, so even written
    as JSON escapes (12 bytes a character) it stays under the default argument limit."""
    return st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(10_000, 60_000))


def nested(depth: int) -> Any:
    """`{"a": [{"a": [...]}]}`-style nesting `depth` levels deep."""
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def nested_text(depth: int) -> str:
    """JSON text nested `depth` levels deep, built without recursion."""
    return '{"a":[' * (depth // 2) + "0" + "]}" * (depth // 2)


@st.composite
def hostile_arguments(draw: st.DrawFn, name: str, *, text: bool, objects: bool = False) -> Any:
    """Arguments a model or a broken server may send: valid, wrong types, huge, deep, not
    an object (unless the wire carries only `objects`); and, on wires that carry arguments
    as text, text that is not JSON."""
    choices: list[st.SearchStrategy[Any]] = [
        valid_arguments(name) if name in TOOLS.by_name else st.just({}),
        st.dictionaries(
            st.sampled_from(["location", "units", "query", "item", "quantity", "x"]),
            json_values(),
            max_size=4,
        ),
        st.dictionaries(st.text(max_size=8), json_values(), max_size=3)
        if objects
        else json_values(),
        st.builds(lambda s: {"query": s}, huge_text()),
        st.builds(lambda d: {"location": nested(d)}, st.integers(1, 300)),
    ]
    if text:
        choices += [
            st.sampled_from(
                [
                    "",
                    " ",
                    "{",
                    "{}}",
                    '{"location": "x",}',
                    "null",
                    "[]",
                    "1",
                    '{"query": "a"} trailing',
                    "\ufeff{}",
                    '{"query": "\\ud800"}',
                ]
            ),
            st.text(max_size=40),
            st.builds(nested_text, st.integers(100, 5000)),
            st.builds(lambda c: json.dumps(c, ensure_ascii=False), valid_arguments(name))
            if name in TOOLS.by_name
            else st.just("{}"),
        ]
    return draw(st.one_of(choices))


@st.composite
def hostile_scenarios(
    draw: st.DrawFn,
    *,
    text_arguments: bool,
    finishes: Sequence[str],
    ids: bool = True,
    objects: bool = False,
    max_calls: int = 5,
) -> Scenario:
    """A response as a misbehaving model might give it: unknown or empty tool names,
    bad arguments, missing, empty or repeated ids, odd finish reasons."""
    calls: list[Call] = []
    for _ in range(draw(st.integers(0, max_calls))):
        name = draw(st.sampled_from([*TOOLS.names, *TOOLS.names, "", "Unknown"]) | _names)
        arguments = draw(hostile_arguments(name, text=text_arguments, objects=objects))
        call_id = None
        if ids:
            previous = [c.id for c in calls if c.id]
            call_id = draw(
                _ids | st.sampled_from(["", *previous]) if previous else _ids | st.just("")
            )
        calls.append(Call(name, arguments, call_id))
    text = draw(st.none() | st.text(max_size=40))
    finish = draw(st.none() | st.sampled_from(finishes) | st.text(max_size=12))
    return Scenario(tuple(calls), text=text, finish=finish)


# ---------------------------------------------------------------------------------------
# Frames: one payload of a stream (or the whole JSON body), as the wire carries it.


@dataclass(frozen=True)
class Frame:
    data: Any  # a JSON value, or a str sent verbatim (e.g. "[DONE]")
    event: str | None = None  # the SSE `event:` name


def frames_of(response: Any) -> list[Frame]:
    """The frames of a scripted SSE response from `polycall.testing` (gates dropped)."""
    frames = []
    for chunk in response.chunks or []:
        if not isinstance(chunk, bytes):
            continue
        event, data = None, []
        for line in chunk.decode().splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        text = "\n".join(data)
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = text
        frames.append(Frame(payload, event))
    return frames


@dataclass(frozen=True)
class Encoding:
    """How frames become bytes; each choice is valid SSE (or JSON), so it must not matter."""

    style: str = "compact"
    line_end: str = "\n"

    def payload(self, frame: Frame) -> str:
        return frame.data if isinstance(frame.data, str) else dumps(frame.data, style=self.style)

    def sse(self, frame: Frame) -> bytes:
        lines = [f"event: {frame.event}"] if frame.event else []
        lines += [f"data: {line}" for line in self.payload(frame).split("\n")]
        end = self.line_end
        return (end.join(lines) + end + end).encode("utf-8", "surrogatepass")


encodings = st.builds(
    Encoding,
    style=st.sampled_from(["compact", "spaced", "sorted", "indented"]),
    line_end=st.sampled_from(["\n", "\r\n"]),
)


def sse_bytes(frames: Sequence[Frame], encoding: Encoding = Encoding()) -> list[bytes]:
    return [encoding.sse(frame) for frame in frames]


def resplit(chunks: Sequence[bytes], cuts: Sequence[int]) -> list[bytes]:
    """The same bytes, split at the given positions (taken modulo the length)."""
    data = b"".join(chunks)
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


cut_points = st.lists(st.integers(0, 2**20), max_size=40)


# Mutations -----------------------------------------------------------------------------

_WEIRD_STRINGS = [
    "",
    "x",
    "null",
    "stop",
    "length",
    "tool_calls",
    "tool_use",
    "function",
    "function_call",
    "end_turn",
    "max_tokens",
    "content_filter",
    "error",
    "refusal",
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "response.completed",
    "response.output_item.done",
    "content_block_stop",
    "message_delta",
    "input_json_delta",
    "[DONE]",
    "Weather",
    "GoogleSearch",
    "multi_tool_use.parallel",
    "\ud800",
    "\x00",
]


def weird_values() -> st.SearchStrategy[Any]:
    """Values to put where a field was: wrong types, odd enums, huge or deep things."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-1, 3),
        st.floats(),
        st.sampled_from(_WEIRD_STRINGS),
        st.text(max_size=10),
        json_values(),
        huge_text(),
        st.builds(lambda d: Raw(nested_text(d)), st.integers(1, 5000)),
    )


def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*path, index))


def _rebuild(data: Any, path: tuple[Any, ...], change: Callable[[Any, Any], Any]) -> Any:
    """A copy of `data` with the container holding `path` changed by `change(parent, key)`."""
    if len(path) == 1:
        copy = dict(data) if isinstance(data, dict) else list(data)
        change(copy, path[0])
        return copy
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _rebuild(data[path[0]], path[1:], change)
    return copy


@st.composite
def mutated_tree(draw: st.DrawFn, data: Any) -> Any:
    """`data` with one field deleted, replaced by a weird value, or duplicated."""
    paths = list(_paths(data))
    path = paths[draw(st.integers(0, len(paths) - 1))]
    if not path:
        return draw(weird_values())
    op = draw(st.sampled_from(["delete", "replace", "replace", "duplicate"]))
    value = draw(weird_values())

    def change(parent: Any, key: Any) -> None:
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = value
        elif isinstance(parent, list):
            parent.insert(key, parent[key])
        else:
            parent[f"{key}_"] = parent[key]

    return _rebuild(data, path, change)


@st.composite
def mutated_frames(draw: st.DrawFn, frames: list[Frame]) -> list[Frame]:
    """Frames with some dropped, duplicated, swapped, cut short or changed inside."""
    frames = list(frames)
    for _ in range(draw(st.integers(1, 3))):
        if not frames:
            break
        op = draw(st.sampled_from(["drop", "duplicate", "swap", "cut", "tree", "tree", "event"]))
        i = draw(st.integers(0, len(frames) - 1))
        j = draw(st.integers(0, len(frames) - 1))
        if op == "drop":
            del frames[i]
        elif op == "duplicate":
            frames.insert(i, frames[i])
        elif op == "swap":
            frames[i], frames[j] = frames[j], frames[i]
        elif op == "cut":
            del frames[i:]
        elif op == "tree":
            frames[i] = Frame(draw(mutated_tree(frames[i].data)), frames[i].event)
        else:
            frames[i] = Frame(frames[i].data, draw(st.sampled_from(_WEIRD_STRINGS[:28])))
    return frames


@st.composite
def mutated_bytes(draw: st.DrawFn, chunks: list[bytes]) -> list[bytes]:
    """The same bytes cut short, with a byte changed (e.g. to invalid UTF-8) or garbage
    inserted, and split anywhere."""
    data = bytearray(b"".join(chunks))
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["cut", "flip", "insert"]))
        at = draw(st.integers(0, len(data)))
        if op == "cut":
            del data[at:]
        elif op == "flip" and at < len(data):
            data[at] = draw(st.sampled_from([0x00, 0x0A, 0x22, 0x7B, 0x7D, 0x80, 0xC3, 0xFF]))
        elif op == "insert":
            data[at:at] = draw(
                st.sampled_from([b"\n\n", b"data: ", b"\xff\xfe", b'"', b"}", b"\r"])
            )
    return resplit([bytes(data)], draw(cut_points))


# ---------------------------------------------------------------------------------------
# The transport: every request gets the scripted body, as the given network chunks.


@dataclass
class Script:
    chunks: list[bytes]
    status: int = 200
    content_type: str = "application/json"


class Transport:
    """An in-process HTTP transport for the SDKs (`httpx` or its fork `httpx2`)."""

    def __init__(self) -> None:
        self.script = Script([b"{}"])
        self.requests = 0

    def serve(
        self, chunks: Sequence[bytes], *, content_type: str = "application/json", status: int = 200
    ) -> None:
        self.script = Script(list(chunks), status, content_type)
        self.requests = 0

    def client(self, httpx: Any, *, is_async: bool = False) -> Any:
        """An `httpx.Client` (or `AsyncClient`) of the given httpx module over this transport."""
        transport = httpx.MockTransport(
            self._async_handler(httpx) if is_async else self._handler(httpx)
        )
        return (httpx.AsyncClient if is_async else httpx.Client)(transport=transport)

    def _handler(self, httpx: Any) -> Callable[[Any], Any]:
        def handle(request: Any) -> Any:
            self.requests += 1
            script = self.script
            return httpx.Response(
                script.status,
                headers={"content-type": script.content_type},
                content=iter(script.chunks),
            )

        return handle

    def _async_handler(self, httpx: Any) -> Callable[[Any], Any]:
        async def handle(request: Any) -> Any:
            self.requests += 1
            script = self.script

            async def body() -> AsyncIterator[bytes]:
                for chunk in script.chunks:
                    yield chunk

            return httpx.Response(
                script.status, headers={"content-type": script.content_type}, content=body()
            )

        return handle


# ---------------------------------------------------------------------------------------
# Running one example and judging its outcome.


class Hang(BaseException):
    """An example ran past its deadline (a BaseException, so no `except Exception` eats it)."""


@contextmanager
def deadline(seconds: float = DEADLINE) -> Iterator[None]:
    """Interrupt the block if it runs longer than `seconds` (the test's own timeout, if any,
    is restored afterwards)."""

    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"no outcome within {seconds} s: a hang")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    # repeating: an expiry swallowed where exceptions are ignored (a GC callback) recurs
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.01))


@dataclass
class Outcome:
    """What one `create` gave: the result, or the PolycallError; and what a stream yielded."""

    result: ToolCalls[Any] | None = None
    error: PolycallError | None = None
    yielded: list[Any] = field(default_factory=list)
    streamed: bool = False

    def calls(self) -> list[tuple[str, str, Any]]:
        assert self.result is not None, f"expected calls, got {self.error!r}"
        return [(c.id, c.name, c.arguments) for c in self.result.calls]

    def summary(self) -> Any:
        """What must agree between two ways of reading one response."""
        if self.result is None:
            return ("error", type(self.error).__name__, sorted(getattr(self.error, "errors", {})))
        return ("ok", [(i, n, canonical(a)) for i, n, a in self.calls()])


def canonical(value: Any) -> str:
    """`value` as sorted JSON text, a whole float written as the integer it equals."""
    return json.dumps(_whole(value), sort_keys=True, default=repr)


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


@dataclass(frozen=True)
class Crash:
    """A crash of polycall's own code: the file and function that raised, and what."""

    file: str
    function: str
    error: str


#: Crashes the fuzzing found that a ProviderError still wraps (so the invariant "only a
#: PolycallError comes out" holds, but the message names no call, tool or field), not yet
#: fixed. Each is pinned by an `xfail(strict=True)` test; when its fix lands that test
#: passes (XPASS fails the run), and its entry here goes.
KNOWN_CRASHES: tuple[Crash, ...] = ()  # crashes found and not yet fixed (none now)


def run(
    client: Any,
    *,
    stream: bool,
    partial: bool = False,
    max_retries: int = 0,
    kwargs: dict[str, Any] | None = None,
    known: Sequence[Crash] = KNOWN_CRASHES,
) -> Outcome:
    """One `create` (or streamed `create_iterable` / `create_partial`) through the client,
    sync or async as the client is, under the deadline; every invariant checked (crashes
    other than the `known` ones fail)."""
    request = {
        "messages": MESSAGES,
        "response_model": MODEL,
        "max_retries": max_retries,
        **(kwargs or {}),
    }
    outcome = Outcome(streamed=stream)
    try:
        with deadline():
            if isinstance(client, polycall.AsyncClient):
                asyncio.run(_arun(client, request, stream, partial, outcome))
            else:
                _run(client, request, stream, partial, outcome)
    except Hang as exc:
        raise AssertionError(str(exc)) from None
    except PolycallError as exc:
        outcome.error = exc
    except Exception as exc:  # the invariant this whole suite is about
        raise AssertionError(
            f"{type(exc).__name__} escaped instead of a PolycallError: {exc!r}"[:2000]
        ) from exc
    check(outcome, known)
    return outcome


def _run(
    client: Any, request: dict[str, Any], stream: bool, partial: bool, outcome: Outcome
) -> None:
    if not stream:
        outcome.result = client.create(**request)
        return
    method = client.create_partial if partial else client.create_iterable
    calls = method(**request)
    for item in calls:
        outcome.yielded.append(item)
    outcome.result = calls.result


async def _arun(
    client: Any, request: dict[str, Any], stream: bool, partial: bool, outcome: Outcome
) -> None:
    if not stream:
        outcome.result = await client.create(**request)
        return
    method = client.create_partial if partial else client.create_iterable
    calls = method(**request)
    async for item in calls:
        outcome.yielded.append(item)
    outcome.result = calls.result


def check(outcome: Outcome, known: Sequence[Crash] = KNOWN_CRASHES) -> None:
    """The invariants of any outcome, valid input or not."""
    if outcome.error is not None:
        _check_error(outcome.error, known)
        return
    result = outcome.result
    assert isinstance(result, ToolCalls), f"create() returned {type(result).__name__}"
    assert list(result) == [c.value for c in result.calls]
    ids = [c.id for c in result.calls]
    assert all(isinstance(i, str) and i for i in ids), f"missing or non-text call ids: {ids!r}"
    assert len(set(ids)) == len(ids), f"repeated call ids: {ids!r}"
    for call in result.calls:
        tool = TOOLS.by_name[call.name]
        assert isinstance(call.value, tool.model), f"{call.name} call holds {type(call.value)}"
        assert isinstance(call.arguments, dict)
    if outcome.streamed:
        done = [item for item in outcome.yielded if not isinstance(item, Partial)]
        assert Counter(map(repr, done)) == Counter(map(repr, result)), "yielded != result"


def _check_error(error: PolycallError, known: Sequence[Crash]) -> None:
    """A ProviderError may wrap what the SDK raised, never a crash of polycall's own code
    (other than a `known` one)."""
    repr(error), str(error)  # both must work
    if not isinstance(error, ProviderError) or error.__cause__ is None:
        return
    cause = error.__cause__
    if isinstance(cause, PolycallError):
        return
    for frame in reversed(traceback.extract_tb(cause.__traceback__)):
        if _SDK_SOURCE.search(frame.filename):
            return  # the SDK (or its HTTP stack) raised it: wrapping it is right
        if frame.filename.startswith(_POLYCALL_SOURCE):
            crash = Crash(Path(frame.filename).name, frame.name, type(cause).__name__)
            if crash in known:
                return
            where = f"{crash.file}:{frame.lineno} in {frame.name} ({frame.line})"
            raise AssertionError(
                f"polycall's own code raised {type(cause).__name__}: {cause} at {where}"[:2000]
            )


# ---------------------------------------------------------------------------------------
# One provider API under test: its wire format, its clients, and the checks.


def sdk_httpx(sdk: str) -> Any:
    """The httpx module an SDK is built on (`httpx`, or its fork `httpx2` in newer SDKs)."""
    import importlib

    base = importlib.import_module(f"{sdk}._base_client")
    return getattr(base, "httpx2", None) or importlib.import_module("httpx")


@dataclass(frozen=True)
class Wire:
    """How one provider API carries a scenario: a JSON body, and a stream of frames."""

    body: Callable[[Scenario], Any]
    frames: Callable[[Scenario, int], list[Frame]]  # arguments streamed in pieces of n chars
    terminal: Callable[[Sequence[Frame]], int]  # the frame that finishes the response
    stream_bytes: Callable[[Sequence[Frame], Encoding], list[bytes]] = sse_bytes
    stream_type: str = "text/event-stream"


@dataclass
class Harness:
    """A wire, the transport, and sync and async polycall clients over it."""

    wire: Wire
    transport: Transport
    sync: Any
    async_: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    ordered: bool = True  # whether calls complete in the model's order on this wire

    def client(self, is_async: bool = False) -> Any:
        return self.async_ if is_async else self.sync

    def frames(self, scenario: Scenario, piece: int) -> list[Frame]:
        """The scenario as a stream, arguments in pieces of `piece` characters or more."""
        return self.wire.frames(scenario, _piece(scenario, piece))

    def run_body(
        self,
        data: Any,
        *,
        encoding: Encoding = Encoding(),
        status: int = 200,
        is_async: bool = False,
        max_retries: int = 0,
        chunks: list[bytes] | None = None,
        known: Sequence[Crash] = KNOWN_CRASHES,
    ) -> Outcome:
        body = (
            chunks
            if chunks is not None
            else [dumps(data, style=encoding.style).encode("utf-8", "surrogatepass")]
        )
        self.transport.serve(body, status=status)
        return run(
            self.client(is_async),
            stream=False,
            max_retries=max_retries,
            kwargs=self.kwargs,
            known=known,
        )

    def run_frames(
        self,
        frames: Sequence[Frame],
        *,
        encoding: Encoding = Encoding(),
        cuts: Sequence[int] = (),
        partial: bool = False,
        is_async: bool = False,
        max_retries: int = 0,
        chunks: list[bytes] | None = None,
        known: Sequence[Crash] = KNOWN_CRASHES,
    ) -> Outcome:
        if chunks is None:
            chunks = self.wire.stream_bytes(frames, encoding)
            chunks = resplit(chunks, cuts) if cuts else chunks
        self.transport.serve(chunks, content_type=self.wire.stream_type)
        return run(
            self.client(is_async),
            stream=True,
            partial=partial,
            max_retries=max_retries,
            kwargs=self.kwargs,
            known=known,
        )

    # The checks ------------------------------------------------------------------------

    def check_valid(
        self,
        scenario: Scenario,
        *,
        encoding: Encoding,
        cuts: Sequence[int],
        piece: int,
        partial: bool,
        is_async: bool = False,
    ) -> None:
        """A valid response gives exactly its calls, as a JSON body and as a stream however
        its bytes are encoded and split; the stream yields them in order."""
        expected = scenario.expected()
        body = self.run_body(self.wire.body(scenario), encoding=encoding, is_async=is_async)
        assert body.calls() == expected
        frames = self.frames(scenario, piece)
        streamed = self.run_frames(
            frames, encoding=encoding, cuts=cuts, partial=partial, is_async=is_async
        )
        assert streamed.calls() == expected
        done = [item for item in streamed.yielded if not isinstance(item, Partial)]
        values = [call.value for call in streamed.result.calls]  # type: ignore[union-attr]
        if self.ordered:
            assert done == values
        else:  # yielded as they complete; `check` has compared them with the result
            assert len(done) == len(values)

    def check_cut(self, scenario: Scenario, *, at: int, piece: int, drop: bool) -> None:
        """A stream that ends before its finishing event - cut anywhere inside or before it,
        or without it - is an error; what it yielded before is a prefix of the calls."""
        frames = self.frames(scenario, piece)
        end = self.wire.terminal(frames)
        if drop:
            outcome = self.run_frames([*frames[:end], *frames[end + 1 :]])
        else:
            chunks = self.wire.stream_bytes(frames[: end + 1], Encoding())  # one chunk a frame
            # the finishing event is complete once its payload's closing brace is in
            stop = sum(map(len, chunks[:end])) + chunks[end].rindex(b"}")
            whole = b"".join(chunks)
            outcome = self.run_frames((), chunks=[whole[: at % (stop + 1)]])
        assert outcome.error is not None, (
            f"a stream cut before its end gave {outcome.calls()!r} instead of an error"
        )
        values = [call.value for call in self._values(scenario)]
        done = [item for item in outcome.yielded if not isinstance(item, Partial)]
        if self.ordered:
            assert done == values[: len(done)]
        else:  # yielded as they complete: some of the calls, none twice
            assert not Counter(map(repr, done)) - Counter(map(repr, values))

    def _values(self, scenario: Scenario) -> list[Any]:
        """The calls of a valid scenario, as read from its JSON body."""
        return self.run_body(self.wire.body(scenario)).result.calls  # type: ignore[union-attr]

    def check_agree(
        self, scenario: Scenario, *, piece: int, max_retries: int, is_async: bool = False
    ) -> None:
        """The JSON and the streamed form of one response give the same calls or error."""
        body = self.run_body(self.wire.body(scenario), max_retries=max_retries, is_async=is_async)
        frames = self.frames(scenario, piece)
        streamed = self.run_frames(frames, max_retries=max_retries, is_async=is_async)
        if isinstance(streamed.error, LimitExceededError) and body.error is not None:
            return  # a stream is held to the limits while it grows, before its end is known
        if body.error is not None and _went_on(streamed.error):
            return  # arguments that close and then go on: the stream already handed them out
        assert body.summary() == streamed.summary(), (
            f"JSON: {body.error!r} {body.summary()}\n"
            f"stream: {streamed.error!r} {streamed.summary()}"
        )


def _went_on(error: PolycallError | None) -> bool:
    """Whether a stream failed because a call's arguments went on after a complete value."""
    return isinstance(error, ProviderError) and "after they formed a complete JSON" in str(error)


def _piece(scenario: Scenario, piece: int) -> int:
    """Argument pieces no smaller than needed for at most ~60 pieces per call."""
    longest = max(
        (
            len(dumps(c.arguments)) if not isinstance(c.arguments, str) else len(c.arguments)
            for c in scenario.calls
        ),
        default=0,
    )
    return max(piece, longest // 60)


pieces = st.integers(1, 40)


# ---------------------------------------------------------------------------------------
# One provider API as the property tests of test_fuzz.py run it.


@dataclass(frozen=True)
class Fuzzed:
    """A provider API under the shared property tests: its harness, its scenarios, and what
    differs between providers in how the tests use them."""

    name: str  # the test id
    harness: Harness
    valid: st.SearchStrategy[Scenario]
    hostile: st.SearchStrategy[Scenario]
    error_statuses: tuple[int, ...]  # the statuses a mutated body is served with, besides 200
    over_http: Callable[[str], Any]  # a polycall client for the fake provider at this url
    http_kwargs: dict[str, Any] = field(default_factory=dict)  # that client's request kwargs
    streamed_args: Harness | None = None  # the same wire, arguments streamed in pieces
    cut_phases: tuple[Phase, ...] | None = None  # the cut test's phases (None: hypothesis's)
    shapes: tuple[Harness, ...] = ()  # the same wire, streamed in other shapes servers send

    def body(self, scenario: Scenario) -> Any:
        return self.harness.wire.body(scenario)

    def pick(self, data: st.DataObject) -> Harness:
        """The harness, or as often each, the `streamed_args` one and the `shapes`."""
        choices = [self.harness, *([self.streamed_args] if self.streamed_args else []), *self.shapes]
        return choices[data.draw(st.integers(0, len(choices) - 1))]


def fuzzed(
    name: str,
    wire: Wire,
    client: Callable[[Transport, bool], Any],
    kwargs: dict[str, Any],
    *,
    finishes: Sequence[str],
    text_arguments: bool,
    streamed_args: Wire | None = None,
    shapes: Sequence[tuple[Wire, bool]] = (),
    **options: Any,
) -> Fuzzed:
    """A provider API as the property tests run it: a transport of its own, the harness of
    `wire` over the sync and async polycall clients `client(transport, is_async)` makes, the
    same clients over its `streamed_args` wire and its other stream `shapes` (each with
    whether calls complete in order), and the shared scenarios; `options` are the rest of
    the `Fuzzed`, and may replace its `valid` or `hostile` scenarios."""
    transport = Transport()
    sync, async_ = client(transport, False), client(transport, True)

    def harness(form: Wire, ordered: bool = True) -> Harness:
        return Harness(form, transport, sync, async_, kwargs, ordered=ordered)

    if "valid" not in options:
        options["valid"] = valid_scenarios()
    if "hostile" not in options:
        options["hostile"] = hostile_scenarios(text_arguments=text_arguments, finishes=finishes)
    return Fuzzed(
        name,
        harness(wire),
        streamed_args=None if streamed_args is None else harness(streamed_args),
        shapes=tuple(harness(form, ordered) for form, ordered in shapes),
        **{"http_kwargs": kwargs, **options},
    )
