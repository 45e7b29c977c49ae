"""The attempts of one `create()`, written once for the sync and the async client.

`exchange()` holds every decision: begin each attempt, send the request or stream it, hand
each finished call to the session, judge the turn, retry. It does no I/O: it is a generator
that yields what it needs done (an op tuple) or a validated `ToolCall` / `Partial` for the
user, and is sent each op's outcome. `drive` performs the ops with the sync SDK client,
`adrive` with the async one; they hold no logic beyond doing each op. Given another
`core` of the same ops (the tool loop, `loop.py`), they run that instead.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, AbstractContextManager, suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from . import tracing
from .calls import RawCall, ToolCall
from .errors import ConfigurationError, PolycallError, ProviderError, UserCodeError
from .retries import RETRYABLE, MaxRetries, aattempts, attempts, counted_attempts

if TYPE_CHECKING:
    from .providers.base import Adapter
    from .session import Session

Event = Any  # ToolCall | Partial: what a stream hands the user


#: What `exchange()` asks its driver to do, as the first item of an op tuple:
SEND = "send"  # (SEND, request) -> the raw response
STREAM = "stream"  # (STREAM, request, reading) -> None, each chunk of `reading.open(stream)` fed to it
ATTEMPT = "attempt"  # (ATTEMPT,) -> tenacity's next attempt, or None: no attempt left
WAIT = "wait"  # (WAIT, wait) -> what `wait()` returns (awaited by the async driver)

_ATTEMPT = (ATTEMPT,)


def provider_error(exc: Exception, adapter: Adapter | None, opened: Any = None) -> PolycallError:
    """`exc` as a `PolycallError`: itself, the adapter's reading of it (e.g. the provider's
    word that the model wrote a malformed call), else a `ProviderError` whose `__cause__`
    the caller sets to `exc`. Its message is redacted of the credentials, also those of the
    stream `opened`, if `exc` came from one: it may quote a server."""
    known: PolycallError | None = exc if isinstance(exc, PolycallError) else None
    if known is None and isinstance(exc, TypeError) and "is not JSON serializable" in str(exc):
        # the json module's word, from the SDK writing the request: nothing was sent
        known = ConfigurationError(f"the request holds a value JSON cannot hold ({exc}); give plain values")
    if known is None and adapter is not None:
        known = adapter.classify(exc)
    secrets = _secrets(adapter, exc, opened)
    if known is not exc:  # the SDK's own error stays the cause: its message is printed too
        _scrub_error(exc, secrets)
    if known is not None:
        if len(known.args) == 1 and isinstance(message := known.args[0], str):
            known.args = (_scrub(message, secrets),)
        return known
    error = ProviderError(_scrub(f"{type(exc).__name__}: {exc}", secrets))
    error.original = exc
    error.status_code = http_status(exc) if adapter is None else adapter.status(exc)
    return error


def http_status(exc: BaseException) -> int | None:
    """The HTTP error status `exc` carries (`status_code`, else the Google SDKs' `code`);
    None for none, or for a success: an error an SDK raises for an event inside a stream
    may carry the stream's own 200."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(exc, "code", None)
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        return int(status)  # an IntEnum (HTTPStatus) as an int
    return None


class provider_errors(AbstractContextManager[None]):
    """Turn anything the SDK raises into a `PolycallError` (`provider_error`), the SDK's error
    as its `__cause__`."""

    def __init__(self, adapter: Adapter | None) -> None:
        self.adapter = adapter

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, Exception) and (error := provider_error(exc, self.adapter)) is not exc:
            raise error from exc


def redact(
    message: str, adapter: Adapter | None, exc: BaseException | None = None, opened: Any = None
) -> str:
    """`message` without the SDK client's credentials, nor those the failed request behind
    `exc` (or the stream `opened`) carried (`sent_credentials`), should a server have echoed
    them."""
    return _scrub(message, _secrets(adapter, exc, opened))


def _secrets(adapter: Adapter | None, exc: BaseException | None, opened: Any) -> list[str]:
    """What `redact` takes out, longest first ("Bearer <token>" before "<token>")."""
    known = [*(adapter.secrets() if adapter is not None else ()), *sent_credentials(exc, opened)]
    secrets = {secret for secret in known if isinstance(secret, str) and len(secret) >= 8}
    return sorted(secrets, key=len, reverse=True)


def _scrub_error(exc: BaseException, secrets: list[str]) -> None:
    """`exc` without `secrets` wherever it keeps what it prints: its `args` and its own
    attributes (a `message`, an error `body`, the Google SDKs' `details`), the text in their
    lists and dicts too."""
    if secrets:
        exc.args = _scrubbed(exc.args, secrets)
        attributes = vars(exc)
        for name, value in list(attributes.items()):
            attributes[name] = _scrubbed(value, secrets)


def _scrubbed(value: Any, secrets: list[str], depth: int = 0) -> Any:
    """`value` with `secrets` taken out of its text, and of the text in the lists, tuples and
    dicts it holds (other objects as they are)."""
    if isinstance(value, str):
        return _scrub(value, secrets)
    if depth > 8:
        return value
    if type(value) in (list, tuple):  # (plain ones: a subclass may be built otherwise)
        return type(value)(_scrubbed(item, secrets, depth + 1) for item in value)
    if type(value) is dict:
        return {key: _scrubbed(item, secrets, depth + 1) for key, item in value.items()}
    return value


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "[redacted]")
    return message


#: The request headers that carry a credential; `Authorization` as "<scheme> <credential>".
_CREDENTIAL_HEADERS = (
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "x-amz-security-token",
)


def sent_credentials(exc: BaseException | None, opened: Any = None) -> list[str]:
    """The credentials in the headers of the HTTP request of `exc` or of an exception behind
    it, and of the response an SDK stream (`opened`: the adapter's `stream()`, entered) came
    on: what the SDK actually authenticated with, a token provider's token too, which the
    client keeps nowhere. The request is httpx's, as the OpenAI and Anthropic SDKs keep it
    in `.request`, or the one behind the response an exception keeps in `.response`
    (requests' or aiohttp's, as the Google SDKs keep them; google-auth's async transport
    wraps aiohttp's response in `_response`).

    The whole chain is read: the OpenAI SDK drops those headers from its own exception's
    `.request`, but raises it while handling httpx's error, which keeps them. An error
    event in a stream has no such error behind it: the stream's response still has them."""
    found: list[str] = []
    _credentials(_request_headers(_attribute(_attribute(opened, "stream"), "response")), found)
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        response = _attribute(exc, "response")
        for holder in (exc, response, _attribute(response, "_response")):
            _credentials(_request_headers(holder), found)
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return found


def _attribute(holder: Any, name: str) -> Any:
    """`holder.name`, or None where it has none (httpx raises RuntimeError for one unset)."""
    try:
        return getattr(holder, name, None)
    except RuntimeError:
        return None


def _request_headers(holder: Any) -> Any:
    """The headers of the request behind `holder` (an exception, a response): its `.request`
    (httpx, requests) or `.request_info` (aiohttp), if it has one."""
    for name in ("request", "request_info"):
        if (request := _attribute(holder, name)) is not None:
            return _attribute(request, "headers")
    return None


def _credentials(headers: Any, found: list[str]) -> None:
    """Add the credentials `headers` carry to `found`."""
    if isinstance(headers, Mapping):
        for name in _CREDENTIAL_HEADERS:
            if isinstance(value := headers.get(name), str):
                found += (value, value.partition(" ")[2].strip())  # with a scheme, and without


class Reading:
    """One streamed attempt: `feed` takes each chunk and returns what it completed (empty:
    nothing, the usual chunk); `events` turns that into the events for the user."""

    __slots__ = ("assembler", "feed", "opened", "session", "shown")

    def __init__(self, session: Session, partial: bool) -> None:
        self.session = session
        self.opened: Any = None  # the adapter's stream it reads (for the credentials it sent)
        self.shown: tuple[object, str] | None = None  # (call, text) as last shown (partial)
        self.assembler = assembler = session.adapter.assembler()
        assembler.hold(session.limits)
        # The assembler's own `feed`: no step of ours for a chunk that completes nothing.
        self.feed: Callable[[Any], Sequence[Any]] = self._progress if partial else assembler.feed

    def events(self, done: Sequence[Any]) -> list[Event]:
        """`done` with each raw call validated (and dropped if it failed: the retry asks
        again); anything else (a validated call, a `Partial`) passes through."""
        take = self.session.take
        events: list[Event] = []
        for item in done:
            if type(item) is RawCall and type(item := take(item)) is not ToolCall:
                continue  # a call that failed validation: kept for the retry
            events.append(item)
        return events

    def open(self, stream: AbstractContextManager[Iterable[Any]]) -> AbstractContextManager[Iterable[Any]]:
        """Where the driver takes the chunks to feed: the SDK stream itself (a tool loop's
        reading also wakes up when a handler finishes, `loop._Reporting`)."""
        self.opened = stream
        return stream

    def aopen(
        self, stream: AbstractAsyncContextManager[AsyncIterable[Any]]
    ) -> AbstractAsyncContextManager[AsyncIterable[Any]]:
        """Async `open`."""
        self.opened = stream
        return stream

    def _progress(self, chunk: Any) -> list[Event]:
        """The calls `chunk` completed, validated, then the call in progress if `chunk` added
        to it (`events` passes both through)."""
        from .partial import partial_value  # jiter is imported only when asked for

        events = self.events(self.assembler.feed(chunk))
        progress = self.assembler.partial()
        if progress is not None:
            call, name, text = progress
            shown = self.shown
            if shown is None or shown[0] is not call or shown[1] != text:
                self.shown = (call, text)
                session = self.session
                if (value := partial_value(session.tools, name, text, session.context)) is not None:
                    events.append(value)
        return events


def exchange(
    session: Session, max_retries: MaxRetries, *, stream: bool, partial: bool = False
) -> Generator[Any, Any, None]:
    """Every attempt of `session`, as ops for a driver; yields each validated call (and, with
    `partial`, each call in progress) the moment it is complete."""
    adapter = session.adapter
    tries = counted_attempts(max_retries)  # None: tenacity's, which its driver iterates
    # None unless polycall.instrument() was called: then a span per create() and per attempt.
    traced = None if tracing.ACTIVE is None else tracing.ACTIVE.create(session, redact)
    failure: Exception | None = None
    try:
        while True:
            try:
                attempt = (yield _ATTEMPT) if tries is None else next(tries, None)
            except UserCodeError as exc:  # a callback of the tenacity object raised (retries.py)
                session.failed(exc)
                raise
            if attempt is None:
                break
            raw = reading = None  # the response, once a whole one came; the stream's reading
            try:
                request = session.begin()  # its "retry" and "request" hooks may raise
                if traced is not None:
                    traced.begin(request)
                if stream:
                    reading = Reading(session, partial)
                    yield STREAM, request, reading
                    turn = reading.assembler.finish()
                else:
                    raw = yield SEND, request
                    turn = adapter.parse(raw)
                if traced is not None:
                    traced.read(turn)
                completed = session.complete(turn)
                if stream:  # a whole response's calls go out all at once, in the result
                    yield from completed
                failure = session.conclude(turn)
            except Exception as exc:  # the SDK's, the provider's word on a malformed call, ours
                failure = provider_error(exc, adapter, reading and reading.opened)
                if failure.raw is None:
                    failure.raw = raw
                if failure is not exc:  # as `raise failure from exc` would, already for the
                    failure.__cause__ = exc  # "error" hook and a retry raising it at the end
                    failure.__suppress_context__ = True
                if not isinstance(failure, RETRYABLE):
                    session.failed(failure)  # a hook's or a validator's bug keeps the valid calls
                    if failure is exc:
                        raise
                    raise failure
                session.plan(failure)  # the next attempt re-asks; "error" once it is the last
            if traced is not None:
                traced.end(failure)
            if failure is None:
                return
            with attempt:
                raise failure
        if failure is not None:  # tenacity stopped without raising (a `retry_error_callback`)
            raise failure
    except BaseException as error:  # also GeneratorExit: the consumer closed the stream
        if isinstance(error, RETRYABLE):  # no retry is left to mend it
            session.failed(error)
        if traced is not None:
            traced.fail(error)
        raise
    finally:
        if traced is not None:
            traced.close()


class _Pump:
    """Runs `exchange()`: iterating it sends each outcome (or throws in each error) and takes
    the next op.

    Entered around each op a driver performs, and each event it hands out: an `Exception`
    there is kept for `exchange()`, which decides what it means; anything else (a
    cancellation, an interrupt thrown into the stream where it handed out a call) is what
    stopped it.
    """

    __slots__ = ("core", "error", "reply", "stopped")

    def __init__(self, core: Generator[Any, Any, None]) -> None:
        self.core = core
        self.reply: Any = None
        self.error: Exception | None = None
        self.stopped: BaseException | None = None  # a cancellation or interrupt during an op

    def __iter__(self) -> _Pump:
        return self

    def __next__(self) -> Any:
        """The next op or event; `StopIteration` once `exchange()` has returned."""
        error = self.error
        if error is None:
            return self.core.send(self.reply)  # a stale reply is ignored where none is asked
        self.error = None
        return self.core.throw(error)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if isinstance(exc, Exception):
            self.error = exc
            return True
        self.stopped = exc
        return False

    def close(self) -> None:
        """End `exchange()`: closed, with what stopped an op (a cancellation, an interrupt)
        thrown in first, so that it ends as failed by it (its spans say so), not as a stream
        the consumer closed early."""
        stopped, self.stopped = self.stopped, None
        if stopped is not None and not isinstance(stopped, GeneratorExit):
            traceback = stopped.__traceback__  # as it was raised, without `exchange()`'s frames
            with suppress(BaseException):  # `stopped` itself, already on its way out
                self.core.throw(stopped)
            stopped.__traceback__ = traceback
        self.core.close()


def drive(
    session: Session, max_retries: MaxRetries, *, stream: bool, partial: bool = False,
    core: Generator[Any, Any, None] | None = None,
) -> Iterator[Event]:
    """`exchange()` (or `core`) with the sync SDK client: its events, as they come."""
    pump = _Pump(core or exchange(session, max_retries, stream=stream, partial=partial))
    adapter, tries = session.adapter, None
    try:
        for op in pump:
            if type(op) is not tuple:
                with pump:
                    yield op
            elif op[0] is STREAM:
                reading = op[2]
                with pump, reading.open(adapter.stream(op[1])) as chunks:
                    feed, events = reading.feed, reading.events
                    for chunk in chunks:
                        if done := feed(chunk):  # most chunks complete nothing
                            yield from events(done)
            elif op is _ATTEMPT:
                with pump:
                    pump.reply = next(tries := tries or iter(attempts(max_retries)), None)
            elif op[0] is WAIT:
                with pump:
                    pump.reply = op[1]()
            else:
                with pump:
                    pump.reply = adapter.send(op[1])
    finally:
        pump.close()


async def adrive(
    session: Session, max_retries: MaxRetries, *, stream: bool, partial: bool = False,
    core: Generator[Any, Any, None] | None = None,
) -> AsyncIterator[Event]:
    """`exchange()` (or `core`) with the async SDK client: its events, as they come."""
    pump = _Pump(core or exchange(session, max_retries, stream=stream, partial=partial))
    tries = None
    try:
        for op in pump:
            if type(op) is tuple:
                with pump:
                    if op[0] is SEND:
                        pump.reply = await session.adapter.asend(op[1])
                    elif op is _ATTEMPT:
                        pump.reply = await anext(tries := tries or aattempts(max_retries), None)
                    elif op[0] is WAIT:
                        pump.reply = await op[1]()
                    else:
                        reading = op[2]
                        async with reading.aopen(session.adapter.astream(op[1])) as chunks:
                            feed, events = reading.feed, reading.events
                            async for chunk in chunks:
                                if done := feed(chunk):
                                    for event in events(done):
                                        yield event
            else:
                with pump:
                    yield op
    finally:
        pump.close()
