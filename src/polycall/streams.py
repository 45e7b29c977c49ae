"""What `create_iterable` / `create_partial` return: the validated calls as they complete."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from contextlib import suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar

from .calls import ToolCall, ToolCalls
from .errors import ConfigurationError, PolycallError

if TYPE_CHECKING:
    from .session import Session
    from .toolset import ToolSet

T = TypeVar("T")


class _Stream:
    """What the sync and async streams share: the session behind them and the final result."""

    _events: Any  # the driver's events: an iterator, or an async iterator

    def __init__(self, events: Any, session: Session) -> None:
        self._events = events
        self._session = session
        self._done = False
        self._closed = False  # closed before its end: it has no result
        self._failed: Exception | None = None  # what ended the stream, if it failed

    @property
    def tools(self) -> ToolSet:
        """The tools of the `response_model` the stream was asked with."""
        return self._session.tools

    @property
    def result(self) -> ToolCalls[Any]:
        """The final `ToolCalls` (ids, raw response, usage) in the model's order; available
        once the stream has ended."""
        if self._failed is not None:
            failed = self._failed
            raise PolycallError(
                f"the stream failed, so it has no result: {type(failed).__name__}: {failed}"
            ) from failed
        if self._closed:
            raise PolycallError("the stream was closed before it ended, so it has no result")
        if not self._done:
            raise PolycallError("the stream has not ended yet; iterate it to the end first")
        return self._session.result()

    def _closing(self) -> None:
        """The stream is being closed: if before its end, for good."""
        if not self._done:
            self._closed = True

    def check_unread(self, function: str) -> None:
        """A `ConfigurationError` unless nothing has been read from the stream yet."""
        if self._session.attempt:
            raise ConfigurationError(f"{function}() needs a stream that has not been iterated yet")


class CallStream(_Stream, Generic[T]):
    """Iterator of validated calls; `.result` is the final `ToolCalls` once it is exhausted."""

    _events: Generator[Any, None, None]

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            event = next(self._events)
        except StopIteration:
            self._done = True
            raise
        except Exception as exc:
            self._failed = exc
            raise
        return event.value if type(event) is ToolCall else event  # type: ignore[no-any-return]

    def calls(self) -> Generator[ToolCall[T], None, None]:
        """The validated `ToolCall`s themselves (id, name, arguments, value), as they complete."""
        try:
            for event in self._events:
                if type(event) is ToolCall:
                    yield event
            self._done = True
        except Exception as exc:
            self._failed = exc
            raise
        finally:  # left early (a `break` in the loop over it): the SDK stream goes too
            self._closing()
            self._events.close()

    def close(self) -> None:
        """Stop early; the SDK stream is closed."""
        self._closing()
        self._events.close()

    def __enter__(self) -> CallStream[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the stream; left by an interrupt or an exit (`_stops`), its request fails by it."""
        if _stops(error):
            self._closing()
            traceback = error.__traceback__  # yours: the request's frames are not added to it
            with suppress(type(error)):  # `error` itself, back from the request it ended
                self._events.throw(error)
            error.__traceback__ = traceback
        self.close()


class AsyncCallStream(_Stream, Generic[T]):
    """Async iterator of validated calls; `.result` is the final `ToolCalls` once exhausted."""

    _events: AsyncGenerator[Any, None]

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            event = await self._events.__anext__()
        except StopAsyncIteration:
            self._done = True
            raise
        except Exception as exc:
            self._failed = exc
            raise
        return event.value if type(event) is ToolCall else event  # type: ignore[no-any-return]

    async def calls(self) -> AsyncGenerator[ToolCall[T], None]:
        """The validated `ToolCall`s themselves, as they complete."""
        try:
            async for event in self._events:
                if type(event) is ToolCall:
                    yield event
            self._done = True
        except Exception as exc:
            self._failed = exc
            raise
        finally:  # left early: the SDK stream goes too
            self._closing()
            await self._events.aclose()

    async def aclose(self) -> None:
        """Stop early; the SDK stream is closed."""
        self._closing()
        await self._events.aclose()

    async def __aenter__(self) -> AsyncCallStream[T]:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the stream; left by a cancellation, an interrupt or an exit (`_stops`), its
        request fails by it."""
        if _stops(error):
            self._closing()
            traceback = error.__traceback__
            with suppress(type(error)):
                await self._events.athrow(error)
            error.__traceback__ = traceback
        await self.aclose()


def _stops(error: BaseException | None) -> TypeGuard[BaseException]:
    """Whether `error`, leaving a stream's block, stops its request rather than closing it
    early: a cancellation, an interrupt or an exit (a handler's, in `run_stream`) is thrown
    into the request, which then fails by it, as by one raised while it was read."""
    return error is not None and not isinstance(error, (Exception, GeneratorExit))
