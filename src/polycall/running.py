"""Running the calls: `ToolCalls.run` / `arun`, and `run_stream` / `arun_stream`.

Each handler gets the call's validated model instance. Async handlers run as tasks on the
event loop, sync ones each on a worker thread; at most `max_concurrency` run at once (per
run), and each gets `timeout` seconds. A handler that raises or times out sets `error` on
its own `ToolResult` and leaves the others alone; only `KeyboardInterrupt` and `SystemExit`
end the whole run (the others cancelled) and reach the caller.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import queue
import threading
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any

from typing_extensions import Self

from . import tracing
from .calls import Handlers, ToolCall, ToolResult
from .engine import redact
from .errors import ConfigurationError
from .providers.base import Adapter, shut
from .streams import AsyncCallStream, CallStream
from .toolset import ToolSet

Handler = Callable[..., Any]


def run_calls(
    calls: Sequence[ToolCall[Any]],
    handlers: Handlers,
    *,
    max_concurrency: int | None = None,
    timeout: float | None = None,
    adapter: Any = None,
) -> list[ToolResult[Any]]:
    """Run every call's handler; block until all are done; results in call order. `adapter`
    (the calls' client) has its credentials kept out of the handlers' spans."""
    runner = _Runner.for_calls(calls, handlers, max_concurrency, timeout, adapter)
    if not calls:
        return []
    with _loop_thread() as loop, _exits():
        return asyncio.run_coroutine_threadsafe(runner.run_all(calls), loop).result()


async def arun_calls(
    calls: Sequence[ToolCall[Any]],
    handlers: Handlers,
    *,
    max_concurrency: int | None = None,
    timeout: float | None = None,
    adapter: Any = None,
) -> list[ToolResult[Any]]:
    """Like `run_calls`, on the running event loop; cancelling it cancels the async handlers."""
    runner = _Runner.for_calls(calls, handlers, max_concurrency, timeout, adapter)
    with _exits():
        return await runner.run_all(calls)


def run_stream(
    stream: CallStream[Any],
    handlers: Handlers,
    *,
    max_concurrency: int | None = None,
    timeout: float | None = None,
) -> list[ToolResult[Any]]:
    """Start each call's handler as soon as `stream` yields the call; results in call order.

    `stream` is what a sync client's `create_iterable(...)` returns, not yet iterated. Once
    this returns, `stream.result` is the final `ToolCalls`, one-for-one with the results.
    If the stream fails, the handlers still running are cancelled and the error is raised.
    """
    runner = _Runner.for_stream(stream, CallStream, "run_stream", handlers, max_concurrency, timeout)
    started: dict[int, concurrent.futures.Future[ToolResult[Any]]] = {}
    # Held, not the loop's own: a loop left by an exit would drop, so close, it before `with
    # stream` throws the exit into the stream, where the request fails by it.
    calls = stream.calls()
    with _loop_thread() as loop, contextlib.closing(calls), stream, _exits():
        try:
            for call in calls:
                _raise_exit(started.values())
                started[id(call)] = asyncio.run_coroutine_threadsafe(runner.run(call), loop)
        except Exception:
            _raise_exit(started.values())  # a handler's exit outranks the stream's failure
            raise
        runs = [started[id(call)] for call in stream.result.calls]
        concurrent.futures.wait(runs, return_when=concurrent.futures.FIRST_EXCEPTION)
        _raise_exit(runs)
        return [run.result() for run in runs]


async def arun_stream(
    stream: AsyncCallStream[Any],
    handlers: Handlers,
    *,
    max_concurrency: int | None = None,
    timeout: float | None = None,
) -> list[ToolResult[Any]]:
    """`run_stream` for an async client's `create_iterable(...)`, on the running event loop.

    Cancelling it cancels the running async handlers and closes the stream.
    """
    runner = _Runner.for_stream(stream, AsyncCallStream, "arun_stream", handlers, max_concurrency, timeout)
    started: dict[int, asyncio.Task[ToolResult[Any]]] = {}
    calls = stream.calls()  # held, as in `run_stream`
    async with contextlib.aclosing(calls), stream:
        try:
            with _exits():
                try:
                    async for call in calls:
                        _raise_exit(started.values())
                        started[id(call)] = asyncio.ensure_future(runner.run(call))
                except Exception:
                    _raise_exit(started.values())  # a handler's exit outranks the stream's failure
                    raise
                runs = [started[id(call)] for call in stream.result.calls]
                if runs:
                    await asyncio.wait(runs, return_when=asyncio.FIRST_EXCEPTION)
                _raise_exit(runs)
                return [run.result() for run in runs]
        finally:
            await _cancel(started.values())


class _CallRunner:
    """`ToolCalls.run` / `arun`: the `calls.Runner` every `ToolCalls` is given."""

    run = staticmethod(run_calls)
    arun = staticmethod(arun_calls)


RUNNER = _CallRunner()


class _Runner:
    """One run: the handlers, the concurrency limit and the per-call timeout."""

    def __init__(
        self,
        handlers: Handlers,
        max_concurrency: int | None,
        timeout: float | None,
        adapter: Adapter | None = None,
    ) -> None:
        self.handlers = _HandlerTable(handlers)
        self.adapter = adapter  # the calls' client: its credentials stay out of the spans
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ConfigurationError(f"max_concurrency must be a positive int or None, got {max_concurrency!r}")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
        ):
            raise ConfigurationError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self._slots: asyncio.Semaphore | None = None
        self.trace_under(None)

    def trace_under(self, parent: Any) -> None:
        """Give each handler run a span (once polycall.instrument() was called) under
        `parent`, else under the span current now (the caller's, not the loop thread's)."""
        self._traced = None if tracing.ACTIVE is None else tracing.ACTIVE.tools(redact, self.adapter, parent)

    @classmethod
    def for_calls(
        cls,
        calls: Sequence[ToolCall[Any]],
        handlers: Handlers,
        max_concurrency: int | None,
        timeout: float | None,
        adapter: Any,
    ) -> _Runner:
        """A runner with a handler for each of `calls`."""
        runner = cls(handlers, max_concurrency, timeout, adapter if isinstance(adapter, Adapter) else None)
        runner.check_calls(calls)
        return runner

    @classmethod
    def for_stream(
        cls,
        stream: Any,
        kind: type[Any],
        function: str,
        handlers: Handlers,
        max_concurrency: int | None,
        timeout: float | None,
    ) -> _Runner:
        """A runner for `stream`, a `kind` not read yet, with a handler for each of its tools."""
        if not isinstance(stream, kind):
            client = "a sync client" if kind is CallStream else "an async client"
            raise ConfigurationError(
                f"{function}() takes the stream that create_iterable() returns on {client}, "
                f"got {type(stream).__name__}"
            )
        stream.check_unread(function)
        runner = cls(handlers, max_concurrency, timeout, stream._session.adapter)
        runner.check_tools(stream.tools)
        return runner

    def check_calls(self, calls: Sequence[ToolCall[Any]]) -> None:
        missing = [call for call in calls if self.handlers.get(type(call.value), call.name) is None]
        if missing:
            first = missing[0]
            raise ConfigurationError(
                f"no handler for call {', '.join(f'{c.id} ({c.name})' for c in missing)}; "
                f"key one by the model class {type(first.value).__name__} or the tool name "
                f"{first.name!r} ({self.handlers.describe()})"
            )

    def check_tools(self, tools: ToolSet, exempt: str | None = None) -> None:
        missing = [
            tool for tool in tools.tools
            if tool.name != exempt and self.handlers.get(tool.model, tool.name) is None
        ]
        if missing:
            raise ConfigurationError(
                f"no handler for tool {', '.join(repr(t.name) for t in missing)} of the "
                "response_model; a stream may call any of its tools, so give each one a handler, "
                f"keyed by model class or tool name ({self.handlers.describe()})"
            )

    async def run_all(self, calls: Sequence[ToolCall[Any]]) -> list[ToolResult[Any]]:
        tasks = [asyncio.ensure_future(self.run(call)) for call in calls]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            await _cancel(tasks)

    async def run(self, call: ToolCall[Any]) -> ToolResult[Any]:
        """Run one call's handler; raises for what the handler does only when it raised
        `KeyboardInterrupt` or `SystemExit` (as `_Exit`, which `_exits` unwraps)."""
        handler = self.handlers.get(type(call.value), call.name)
        assert handler is not None  # checked before anything runs
        if self._slots is None and self.max_concurrency is not None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        async with self._slots or contextlib.nullcontext():
            started = time.perf_counter()
            work = asyncio.wait_for(self._attempt(handler, call), self.timeout)
            try:
                value, error = await (work if self._traced is None else self._traced.run(call, work))
            except asyncio.TimeoutError:
                value, error = None, TimeoutError(self._timed_out(handler, call))
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise _Exit(error)
            return ToolResult(call, value, error, time.perf_counter() - started)

    async def _attempt(self, handler: Handler, call: ToolCall[Any]) -> tuple[Any, BaseException | None]:
        try:
            if self.handlers.is_async(handler):
                result = await handler(call.value)
            else:
                result = await _in_thread(handler, call)
            if inspect.isawaitable(result):
                result = await result
        except BaseException as exc:  # the handler's error goes into its result
            if isinstance(exc, asyncio.CancelledError) and _cancelling():
                raise  # this run is cancelled (its timeout, the caller), not failed
            return None, exc
        return result, None

    def _timed_out(self, handler: Handler, call: ToolCall[Any]) -> str:
        message = f"the handler for call {call.id} ({call.name}) did not finish within {self.timeout:g} s"
        if not self.handlers.is_async(handler):
            message += "; its thread was abandoned and may still be running"
        return message


#: What a tool loop's chunk source hands on instead of a chunk when a handler has finished.
WOKEN: Any = object()
_END: Any = object()


class _Tasks:
    """The handler runs of one tool loop (`loop.py`): each started at once, without blocking,
    and reported once it has finished; `wait()` blocks (or is awaited) until one has.

    While a step's stream is read, its chunks come through the tasks' chunk source
    (`ThreadTasks.chunks` / `LoopTasks.chunks`), which also wakes up (with `WOKEN`) the moment a
    handler finishes, so that its result goes out even while the server is silent."""

    def __init__(self) -> None:
        self._running: list[Any] = []  # the futures not reported yet, in start order
        self._wake: Callable[[], None] | None = None  # the chunk source's, while it reads

    def _finished(self, future: Any) -> None:
        wake = self._wake
        if wake is not None:
            wake()

    def ready(self) -> list[ToolResult[Any]]:
        """The results of the runs that finished since the last report, in start order."""
        if not self._running:
            return []
        finished: list[Any] = []
        running: list[Any] = []
        for future in self._running:
            (finished if future.done() else running).append(future)
        self._running = running
        with _exits():
            return [future.result() for future in finished]


class ThreadTasks(_Tasks):
    """`_Tasks` for a sync client: the runs go on a private event loop thread, started on
    the first run; leaving the `with` block cancels the runs still going."""

    def __init__(self) -> None:
        super().__init__()
        self._exit = contextlib.ExitStack()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, work: Coroutine[Any, Any, ToolResult[Any]]) -> None:
        if self._loop is None:
            self._loop = self._exit.enter_context(_loop_thread())
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        future.add_done_callback(self._finished)
        self._running.append(future)

    def wait(self) -> None:
        """Block until a run not reported yet has finished."""
        concurrent.futures.wait(self._running, return_when=concurrent.futures.FIRST_COMPLETED)

    def chunks(self, stream: AbstractContextManager[Iterable[Any]]) -> _ReadAhead:
        """The chunks of `stream` (an SDK stream not open yet), read on a worker thread, and
        `WOKEN` each time a handler finishes."""
        return _ReadAhead(stream, self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return bool(self._exit.__exit__(kind, exc, tb))


class LoopTasks(_Tasks):
    """`_Tasks` for an async client: the runs are tasks on the running event loop; leaving
    the `async with` block cancels those still going."""

    def start(self, work: Coroutine[Any, Any, ToolResult[Any]]) -> None:
        task = asyncio.ensure_future(work)
        task.add_done_callback(self._finished)
        self._running.append(task)

    async def wait(self) -> None:
        """Until a run not reported yet has finished."""
        await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)

    def chunks(self, stream: AbstractAsyncContextManager[AsyncIterable[Any]]) -> _Race:
        """The chunks of `stream` (an SDK stream not open yet), and `WOKEN` each time a
        handler finishes: the stream's next chunk raced against the handlers."""
        return _Race(stream, self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await _cancel(self._running)


class _ReadAhead:
    """`ThreadTasks.chunks`: a worker thread opens the SDK stream, reads it into a queue and
    closes it; finishing handlers put `WOKEN` into the same queue. The caller's thread takes
    from the queue, so it is never blocked on the server while a result is ready. The reader
    stays at most `_AHEAD` chunks ahead of the caller, so a caller busy elsewhere does not
    have a runaway stream read into memory before its limits are checked.

    Leaving the `with` block early stops the reader: the stream's connection is shut down so
    that a read blocked on a silent server returns, and the reader, which closes the stream
    in its `finally`, is joined. An error of the SDK comes out of the iteration, as it would
    from the stream itself."""

    def __init__(self, stream: AbstractContextManager[Iterable[Any]], tasks: _Tasks) -> None:
        self.stream = stream
        self.tasks = tasks
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.room = threading.Semaphore(_AHEAD)  # for chunks read and not yet taken
        self.lock = threading.Lock()
        self.phase = _OPENING  # then _READING (`opened` is the SDK stream), then _CLOSING
        self.opened: Any = None
        self.stopped = False
        self.thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._read,), name="polycall-stream",
            daemon=True,
        )

    def __enter__(self) -> Self:
        put = self.queue.put
        self.tasks._wake = lambda: put(WOKEN)
        self.thread.start()
        return self

    def _read(self) -> None:
        put = self.queue.put
        try:
            with self.stream as chunks:
                with self.lock:
                    self.opened, self.phase = chunks, _READING
                try:
                    for chunk in chunks:
                        put(chunk)
                        self.room.acquire()  # before reading on: the caller is near
                        if self.stopped:
                            break
                finally:
                    with self.lock:  # from here on the stream is closing: nothing to shut
                        self.opened, self.phase = None, _CLOSING
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            put(_Failed(exc))
        else:
            put(_END)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Any:
        item = self.queue.get()
        if type(item) is _Failed:
            raise item.error
        if item is _END:
            raise StopIteration
        if item is not WOKEN:
            self.room.release()
        return item

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.tasks._wake = None
        with self.lock:
            self.stopped = True
            self.room.release()  # a reader waiting for room goes on, and stops
            phase = self.phase
            if phase == _READING and not shut(self.opened):
                phase = _OPENING
        if phase != _OPENING:
            self.thread.join()
        # Else the stream is still opening, or its connection cannot be reached: the reader
        # closes it itself once the server has answered its pending read.


_OPENING, _READING, _CLOSING = range(3)
_AHEAD = 4  # chunks the reader may be ahead of the caller


class _Failed:
    """An exception raised on the reader's thread, for the caller's."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Race:
    """`LoopTasks.chunks`: each round awaits the stream's next chunk or a handler finishing,
    whichever comes first; a pending read is kept for the next round. Leaving the `async
    with` block cancels the pending read, then closes the stream."""

    def __init__(self, stream: AbstractAsyncContextManager[AsyncIterable[Any]], tasks: _Tasks) -> None:
        self.stream = stream
        self.tasks = tasks
        self.chunks: AsyncIterator[Any] | None = None
        self.next: asyncio.Future[Any] | None = None  # the pending read
        self.woken = False  # a handler finished since the last round
        self.signal: asyncio.Future[None] | None = None  # set when one does, mid-round

    async def __aenter__(self) -> Self:
        self.chunks = aiter(await self.stream.__aenter__())
        self.tasks._wake = self._wake
        return self

    def _wake(self) -> None:
        self.woken = True
        signal = self.signal
        if signal is not None and not signal.done():
            signal.set_result(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        if self.woken:
            self.woken = False
            return WOKEN
        pending = self.next
        if pending is None:
            assert self.chunks is not None
            pending = self.next = asyncio.ensure_future(anext(self.chunks, _END))
        if not pending.done():
            self.signal = asyncio.get_running_loop().create_future()
            await asyncio.wait((pending, self.signal), return_when=asyncio.FIRST_COMPLETED)
            self.signal = None
            if not pending.done():
                self.woken = False
                return WOKEN
        self.next = None
        chunk = pending.result()
        if chunk is _END:
            raise StopAsyncIteration
        return chunk

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        self.tasks._wake = None
        pending = self.next
        try:
            if pending is not None and pending.done():
                if not pending.cancelled():
                    pending.exception()  # read, so that asyncio does not report it unread
            elif pending is not None:
                await _cancel((pending,))
        finally:
            closed = await self.stream.__aexit__(kind, exc, tb)
        return closed


class _HandlerTable:
    """The user's handlers, looked up by model class first, then by tool name."""

    def __init__(self, handlers: Handlers) -> None:
        if not isinstance(handlers, Mapping):
            raise ConfigurationError(
                "handlers must map each model class (or tool name) to a function, "
                f"got {type(handlers).__name__}"
            )
        for key, handler in handlers.items():
            if not isinstance(key, (type, str)):
                raise ConfigurationError(f"handler key {key!r} must be a model class or a tool name")
            if not callable(handler):
                raise ConfigurationError(f"the handler for {_label(key)} is not callable: {handler!r}")
        self._handlers: dict[Any, Handler] = dict(handlers)
        self._async: dict[int, bool] = {}

    def get(self, model: type, name: str) -> Handler | None:
        if model in self._handlers:
            return self._handlers[model]
        return self._handlers.get(name)

    def is_async(self, handler: Handler) -> bool:
        key = id(handler)
        if key not in self._async:
            method = type(handler).__call__  # an object with an `async def __call__`
            self._async[key] = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(method)
        return self._async[key]

    def describe(self) -> str:
        if not self._handlers:
            return "no handlers were given"
        return "handlers were given for " + ", ".join(_label(key) for key in self._handlers)


def _label(key: Any) -> str:
    return key.__name__ if isinstance(key, type) else repr(key)


def _in_thread(handler: Handler, call: ToolCall[Any]) -> asyncio.Future[Any]:
    """Call a sync handler on its own daemon thread; the future settles when it returns.

    A thread cannot be killed: on timeout or cancellation the future is dropped and the
    thread runs on until the handler returns, without holding up the interpreter's exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def work() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (handler(call.value), None)
        except StopIteration as exc:  # no future can hold it: as a coroutine's would be
            error = RuntimeError("the handler raised StopIteration")
            error.__cause__ = exc
            outcome = (None, error)
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which decides
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the call was abandoned
            loop.call_soon_threadsafe(_settle, future, *outcome)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=f"polycall-{call.id}", daemon=True).start()
    return future


def _raise_exit(runs: Iterable[Any]) -> None:
    """Raise what a finished handler run raised (its handler's exit, as `_Exit`), if one has:
    at once, without waiting for the runs before it."""
    for run in runs:
        if run.done() and not run.cancelled() and (error := run.exception()) is not None:
            raise error


class _Exit(Exception):
    """A handler's `KeyboardInterrupt` or `SystemExit` on its way to the caller: carried as
    an ordinary exception, it ends the run's tasks without stopping the event loop."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


@contextlib.contextmanager
def _exits() -> Iterator[None]:
    """Raise a handler's `KeyboardInterrupt` or `SystemExit` as itself, where the caller is."""
    try:
        yield
    except _Exit as exc:
        raise exc.error from None


def _cancelling() -> bool:
    """Whether the current task is being cancelled (always so before Python 3.11, which
    cannot tell a task's cancellation from a `CancelledError` its code raised)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or cancelling() > 0


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # timed out or cancelled meanwhile
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


async def _cancel(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what is still running and wait until it has stopped. What the others raised
    (another handler's exit, once one is on its way) is taken, so asyncio does not log it as
    never retrieved."""
    tasks = list(tasks)
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in tasks:
        if not task.cancelled():
            task.exception()


@contextlib.contextmanager
def _loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """A private event loop on a daemon thread, for the sync entry points.

    The caller's thread stays free to block on a sync stream. If the caller leaves early
    (an error, Ctrl-C), every task still running on the loop is cancelled first.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="polycall-run", daemon=True)
    thread.start()
    try:
        yield loop
    except BaseException:
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result()
        raise
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _cancel_all() -> None:
    current = asyncio.current_task()
    await _cancel(task for task in asyncio.all_tasks() if task is not current)
