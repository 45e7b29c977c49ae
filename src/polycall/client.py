"""The clients users hold: `create`, `create_with_completion`, `create_iterable`, `create_partial`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, overload

from .calls import ToolCalls
from .engine import adrive, drive
from .hooks import Hook, Hooks
from .limits import Limits
from .modes import Mode
from .providers.base import Adapter
from .retries import MaxRetries
from .session import Session
from .streams import AsyncCallStream, CallStream

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


class _BaseClient:
    """What the sync and async clients share: the adapter, hooks, limits, request set-up and
    streams (`_streams`: each client's stream type and driver)."""

    _streams: tuple[type[Any], Callable[..., Any]]

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

    def create_iterable(
        self,
        *,
        response_model: Any,
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> Any:
        """An iterator of validated calls (async on an async client), each yielded as soon as
        it is complete in the stream."""
        session = self._session(response_model, kwargs, validation_context, context)
        return self._stream(session, max_retries, partial=False)

    def create_partial(
        self,
        *,
        response_model: Any,
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Like `create_iterable`, but also yields each call in progress as a `Partial`."""
        session = self._session(response_model, kwargs, validation_context, context)
        return self._stream(session, max_retries, partial=True)

    def _stream(self, session: Session, max_retries: MaxRetries, *, partial: bool) -> Any:
        stream_type, driver = self._streams
        return stream_type(driver(session, max_retries, stream=True, partial=partial), session)


class Client(_BaseClient):
    """A polycall client over a sync SDK client."""

    _streams = (CallStream, drive)

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
            return self._stream(session, max_retries, partial=False)
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
        for _ in drive(session, max_retries, stream=False):
            pass
        return session.result()

    if TYPE_CHECKING:  # the types of the shared methods, for this client's streams

        def create_iterable(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., **kwargs: Any,
        ) -> CallStream[M]: ...
        def create_partial(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., **kwargs: Any,
        ) -> CallStream[M | Partial[M]]: ...

    @property
    def batch(self) -> Batches:
        """The provider's Batch API: `client.batch.submit(requests, response_model=...)`."""
        from .batch import Batches

        return Batches(self)


class AsyncClient(_BaseClient):
    """A polycall client over an async SDK client: the same methods, awaited."""

    _streams = (AsyncCallStream, adrive)

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
            return self._stream(session, max_retries, partial=False)
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
        async for _ in adrive(session, max_retries, stream=False):
            pass
        return session.result()

    if TYPE_CHECKING:  # the types of the shared methods, for this client's streams

        def create_iterable(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., **kwargs: Any,
        ) -> AsyncCallStream[M]: ...
        def create_partial(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., **kwargs: Any,
        ) -> AsyncCallStream[M | Partial[M]]: ...

    @property
    def batch(self) -> AsyncBatches:
        """The provider's Batch API, awaited."""
        from .batch import AsyncBatches

        return AsyncBatches(self)


class _Namespace:
    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)
