"""The clients users hold: `create`, `create_with_completion`, `create_iterable`, `create_partial`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, overload

from .calls import ToolCall, ToolCalls
from .errors import PolycallError, ProviderError
from .hooks import Hook, Hooks
from .limits import Limits, StreamGuard
from .modes import Mode
from .providers.base import Adapter, Assembler
from .retries import RETRYABLE, MaxRetries, aattempts, attempts
from .session import Session

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .batch import AsyncBatches, Batches
    from .partial import Partial

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")

if TYPE_CHECKING:
    #: `response_model` to a type checker: `Iterable[A | B]`, `list[A]`... of models `M`
    #: (`Iterable[...]` written as a value is, to a type checker, a callable returning one).
    ResponseModel: TypeAlias = type[Iterable[M]] | Callable[[], Iterable[M]]


class provider_errors(AbstractContextManager[None]):
    """Turn anything the SDK raises into a `ProviderError` (the SDK's error is its `__cause__`).

    A class rather than a generator: it is entered on every request.
    """

    def __init__(self, session: Session | None = None, adapter: Adapter | None = None) -> None:
        self.session = session
        self.adapter = session.adapter if session is not None else adapter

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not isinstance(exc, Exception):  # no error, or KeyboardInterrupt and the like
            return
        session, adapter = self.session, self.adapter
        if isinstance(exc, PolycallError):
            error: PolycallError = exc
        elif adapter is not None and (classified := adapter.classify(exc)) is not None:
            error = classified  # e.g. the provider's word that the model wrote a malformed call
            error.args = (_redact(str(error), adapter),)
        else:
            error = ProviderError(_redact(f"{type(exc).__name__}: {exc}", adapter))
            error.original = exc  # type: ignore[attr-defined]
            error.status_code = getattr(exc, "status_code", None)  # type: ignore[attr-defined]
        if session is not None:
            if isinstance(error, RETRYABLE):  # the next attempt re-asks; "error" once it is the last
                session.plan(error)
            else:
                session.hooks.emit("error", attempt=session.attempt, error=error)
        if error is not exc:
            raise error from exc


class retries_exhausted(AbstractContextManager[None]):
    """Report a validation failure that no retry is left to mend to the "error" hooks."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, RETRYABLE):
            self.session.hooks.emit("error", attempt=self.session.attempt, error=exc)


def _redact(message: str, adapter: Adapter | None) -> str:
    """`message` without the SDK client's credentials, should a server have echoed them."""
    for secret in adapter.secrets() if adapter is not None else ():
        if isinstance(secret, str) and len(secret) >= 8:
            message = message.replace(secret, "[redacted]")
    return message


def _progress(session: Session, assembler: Assembler) -> Partial[Any] | None:
    """The call in progress as a `Partial`, if any (jiter is imported only when asked for)."""
    from .partial import partial_value

    return partial_value(session.tools, assembler)


class _BaseClient:
    """What the sync and async clients share: the adapter, hooks, limits, and request set-up."""

    def __init__(self, adapter: Adapter, *, limits: Limits | None = None) -> None:
        from .toolset import tool_set  # pydantic loads with the first client, not on import

        self._tool_set = tool_set
        self.adapter = adapter
        self.hooks = Hooks()
        self.limits = limits or Limits()
        self.chat = _Namespace(completions=self)
        self.messages = self

    @property
    def mode(self) -> Mode:
        return self.adapter.mode

    def on(self, event: str, fn: Hook) -> None:
        """Call `fn(**payload)` on each `event`: request, response, parse_error, retry, error."""
        self.hooks.on(event, fn)

    def off(self, event: str, fn: Hook | None = None) -> None:
        self.hooks.off(event, fn)

    def _session(
        self,
        response_model: Any,
        kwargs: dict[str, Any],
        validation_context: Any,
        context: Any,
    ) -> Session:
        tools = self._tool_set(response_model)
        request = self.adapter.prepare(tools, kwargs)
        return Session(
            self.adapter,
            tools,
            request,
            context=validation_context if validation_context is not None else context,
            hooks=self.hooks,
            limits=self.limits,
        )


class Client(_BaseClient):
    """A polycall client over a sync SDK client."""

    @overload
    def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., stream: Literal[False] = ...,
        **kwargs: Any,
    ) -> ToolCalls[M]: ...
    @overload
    def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., stream: Literal[True],
        **kwargs: Any,
    ) -> CallStream[M]: ...
    @overload
    def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., stream: bool,
        **kwargs: Any,
    ) -> ToolCalls[M] | CallStream[M]: ...
    def create(
        self,
        *,
        response_model: Any,
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The validated calls as a `ToolCalls` list (an iterator of them with `stream=True`)."""
        session = self._session(response_model, kwargs, validation_context, context)
        if stream:
            return CallStream(self._stream(session, max_retries, partial=False), session)
        return self._complete(session, max_retries)

    def create_with_completion(
        self,
        *,
        response_model: ResponseModel[M],
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> tuple[ToolCalls[M], Any]:
        """`(ToolCalls, raw_response)`."""
        session = self._session(response_model, kwargs, validation_context, context)
        result = self._complete(session, max_retries)
        return result, result.raw

    def _complete(self, session: Session, max_retries: MaxRetries) -> ToolCalls[Any]:
        with retries_exhausted(session):
            for attempt in attempts(max_retries):
                request = session.begin()
                try:
                    with provider_errors(session):
                        turn = self.adapter.parse(self.adapter.send(request))
                        session.complete(turn)
                        failure = session.conclude(turn)
                except RETRYABLE as error:  # the provider's own word on a malformed call
                    failure = error
                if failure is None:
                    break
                with attempt:
                    raise failure
        return session.result()

    def create_iterable(
        self,
        *,
        response_model: ResponseModel[M],
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> CallStream[M]:
        """An iterator of validated calls, each yielded as soon as it is complete in the stream."""
        session = self._session(response_model, kwargs, validation_context, context)
        return CallStream(self._stream(session, max_retries, partial=False), session)

    def create_partial(
        self,
        *,
        response_model: ResponseModel[M],
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> CallStream[M | Partial[M]]:
        """Like `create_iterable`, but also yields each call in progress as a `Partial`."""
        session = self._session(response_model, kwargs, validation_context, context)
        return CallStream(self._stream(session, max_retries, partial=True), session)

    def _stream(self, session: Session, max_retries: MaxRetries, *, partial: bool) -> Iterator[Any]:
        with retries_exhausted(session):
            for attempt in attempts(max_retries):
                request = session.begin()
                assembler = self.adapter.assembler()
                guard = StreamGuard(self.limits, assembler)
                try:
                    with provider_errors(session), self.adapter.stream(request) as chunks:
                        for chunk in chunks:
                            for raw in assembler.feed(chunk):
                                slot = session.take(raw)
                                if isinstance(slot, ToolCall):
                                    yield slot.value
                            guard.fed()
                            if partial and (progress := _progress(session, assembler)):
                                yield progress
                    with provider_errors(session):
                        turn = assembler.finish()
                        for call in session.complete(turn):
                            yield call.value
                        failure = session.conclude(turn)
                except RETRYABLE as error:  # the provider's own word on a malformed call
                    failure = error
                if failure is None:
                    return
                with attempt:
                    raise failure

    @property
    def batch(self) -> Batches:
        """The provider's Batch API: `client.batch.submit(requests, response_model=...)`."""
        from .batch import Batches

        return Batches(self)


class AsyncClient(_BaseClient):
    """A polycall client over an async SDK client: the same methods, awaited."""

    @overload
    async def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., stream: Literal[False] = ...,
        **kwargs: Any,
    ) -> ToolCalls[M]: ...
    @overload
    async def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., stream: Literal[True],
        **kwargs: Any,
    ) -> AsyncCallStream[M]: ...
    @overload
    async def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., stream: bool,
        **kwargs: Any,
    ) -> ToolCalls[M] | AsyncCallStream[M]: ...
    async def create(
        self,
        *,
        response_model: Any,
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The validated calls as a `ToolCalls` list (an async iterator with `stream=True`)."""
        session = self._session(response_model, kwargs, validation_context, context)
        if stream:
            return AsyncCallStream(self._stream(session, max_retries, partial=False), session)
        return await self._complete(session, max_retries)

    async def create_with_completion(
        self,
        *,
        response_model: ResponseModel[M],
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> tuple[ToolCalls[M], Any]:
        """`(ToolCalls, raw_response)`."""
        session = self._session(response_model, kwargs, validation_context, context)
        result = await self._complete(session, max_retries)
        return result, result.raw

    async def _complete(self, session: Session, max_retries: MaxRetries) -> ToolCalls[Any]:
        with retries_exhausted(session):
            async for attempt in aattempts(max_retries):
                request = session.begin()
                try:
                    with provider_errors(session):
                        turn = self.adapter.parse(await self.adapter.asend(request))
                        session.complete(turn)
                        failure = session.conclude(turn)
                except RETRYABLE as error:  # the provider's own word on a malformed call
                    failure = error
                if failure is None:
                    break
                with attempt:
                    raise failure
        return session.result()

    def create_iterable(
        self,
        *,
        response_model: ResponseModel[M],
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> AsyncCallStream[M]:
        """An async iterator of validated calls, each yielded as soon as it is complete."""
        session = self._session(response_model, kwargs, validation_context, context)
        return AsyncCallStream(self._stream(session, max_retries, partial=False), session)

    def create_partial(
        self,
        *,
        response_model: ResponseModel[M],
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> AsyncCallStream[M | Partial[M]]:
        """Like `create_iterable`, but also yields each call in progress as a `Partial`."""
        session = self._session(response_model, kwargs, validation_context, context)
        return AsyncCallStream(self._stream(session, max_retries, partial=True), session)

    async def _stream(
        self, session: Session, max_retries: MaxRetries, *, partial: bool
    ) -> AsyncIterator[Any]:
        with retries_exhausted(session):
            async for attempt in aattempts(max_retries):
                request = session.begin()
                assembler = self.adapter.assembler()
                guard = StreamGuard(self.limits, assembler)
                try:
                    with provider_errors(session):
                        async with self.adapter.astream(request) as chunks:
                            async for chunk in chunks:
                                for raw in assembler.feed(chunk):
                                    slot = session.take(raw)
                                    if isinstance(slot, ToolCall):
                                        yield slot.value
                                guard.fed()
                                if partial and (progress := _progress(session, assembler)):
                                    yield progress
                    with provider_errors(session):
                        turn = assembler.finish()
                        for call in session.complete(turn):
                            yield call.value
                        failure = session.conclude(turn)
                except RETRYABLE as error:  # the provider's own word on a malformed call
                    failure = error
                if failure is None:
                    return
                with attempt:
                    raise failure

    @property
    def batch(self) -> AsyncBatches:
        """The provider's Batch API, awaited."""
        from .batch import AsyncBatches

        return AsyncBatches(self)


class CallStream(Generic[T]):
    """Iterator of validated calls; `.result` is the final `ToolCalls` once it is exhausted."""

    def __init__(self, events: Iterator[T], session: Session) -> None:
        self._events = events
        self._session = session
        self._done = False

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return next(self._events)
        except StopIteration:
            self._done = True
            raise

    def close(self) -> None:
        """Stop early; the SDK stream is closed."""
        self._events.close()  # type: ignore[attr-defined]

    def __enter__(self) -> CallStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def result(self) -> ToolCalls[T]:
        """The final `ToolCalls` (ids, raw response, usage); available once the stream has ended."""
        if not self._done:
            raise PolycallError("the stream has not ended yet; iterate it to the end first")
        return self._session.result()


class AsyncCallStream(Generic[T]):
    """Async iterator of validated calls; `.result` is the final `ToolCalls` once exhausted."""

    def __init__(self, events: AsyncIterator[T], session: Session) -> None:
        self._events = events
        self._session = session
        self._done = False

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._events.__anext__()
        except StopAsyncIteration:
            self._done = True
            raise

    async def aclose(self) -> None:
        """Stop early; the SDK stream is closed."""
        await self._events.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> AsyncCallStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def result(self) -> ToolCalls[T]:
        """The final `ToolCalls`; available once the stream has ended."""
        if not self._done:
            raise PolycallError("the stream has not ended yet; iterate it to the end first")
        return self._session.result()


class _Namespace:
    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)
