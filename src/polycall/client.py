"""The clients users hold: `create`, `create_with_completion`, `create_iterable`, `create_partial`,
`run_tools`, `iter_tools`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, overload

from typing_extensions import Self

from .calls import Handlers, ToolCall, ToolCalls, ToolResult
from .engine import adrive, drive
from .errors import ConfigurationError
from .hooks import Hook, Hooks
from .limits import Limits
from .modes import Mode
from .providers.base import Adapter, omitted, read_conversation
from .retries import MaxRetries
from .session import Session, pick_context
from .streams import AsyncCallStream, CallStream

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .batch import AsyncBatches, Batches
    from .loop import Tasks, ToolRun
    from .partial import Partial

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")

if TYPE_CHECKING:
    #: `response_model` to a type checker: `Iterable[A | B]`, `list[A]`... of models `M`
    #: (`Iterable[...]` written as a value is, to a type checker, a callable returning one).
    ResponseModel: TypeAlias = type[Iterable[M]] | Callable[[], Iterable[M]]
    #: What `iter_tools` yields: each call, each result, text, and last the run.
    LoopEvent: TypeAlias = ToolCall[M] | ToolResult[M] | str | ToolRun[M]


class _BaseClient:
    """What the sync and async clients share: the adapter, hooks, limits, request set-up and
    streams (`_streams`: each client's stream type and driver)."""

    _streams: tuple[type[Any], Callable[..., Any]]

    def __init__(self, adapter: Adapter, *, limits: Limits | None = None) -> None:
        from .toolset import tool_set  # pydantic loads with the first client, not on import

        self._tool_set = tool_set
        self.adapter = adapter
        self.hooks = Hooks()
        if limits is not None and not isinstance(limits, Limits):
            raise ConfigurationError(f"limits= takes a polycall.Limits, got {type(limits).__name__}")
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
        strict: bool | None,
        kind: type[Session] = Session,
        *,
        streamed: bool = False,
    ) -> Session:
        if "stream" in kwargs:  # whether to stream is the method's (create takes it itself)
            _check_stream(kwargs.pop("stream"), streamed)
        tools = self._tool_set(response_model)
        if type(kwargs.get("messages")) is not list:
            read_conversation(kwargs)
        request = self.adapter.prepare(tools, kwargs)
        return kind(
            self.adapter,
            tools,
            request,
            context=context if validation_context is None else pick_context(validation_context, context),
            strict=strict,
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
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """An iterator of validated calls (async on an async client), each yielded as soon as
        it is complete in the stream."""
        session = self._session(
            response_model, kwargs, validation_context, context, strict, streamed=True
        )
        return self._stream(session, max_retries, partial=False)

    def create_partial(
        self,
        *,
        response_model: Any,
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Like `create_iterable`, but also yields each call in progress as a `Partial`."""
        session = self._session(
            response_model, kwargs, validation_context, context, strict, streamed=True
        )
        return self._stream(session, max_retries, partial=True)

    def _stream(self, session: Session, max_retries: MaxRetries, *, partial: bool) -> Any:
        stream_type, driver = self._streams
        return stream_type(driver(session, max_retries, stream=True, partial=partial), session)

    def _tool_loop(
        self,
        tasks: Tasks,
        *,
        messages: Any = None,
        response_model: Any = None,
        handlers: Handlers | None = None,
        validation_context: Any = None,
        context: Any = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> tuple[Session, Generator[Any, Any, None]]:
        """The first step's session and the ops of the whole run (`loop.py`), for a driver."""
        from .loop import OPTIONS, StepSession, tool_loop

        key = "messages"  # or the name of the conversation this provider's `create` also takes
        if messages is None:
            key = next((name for name in ("contents", "input") if name in kwargs), key)
            messages = kwargs.pop(key, None)
        if messages is None or response_model is None or handlers is None:
            given = {"messages": messages, "response_model": response_model, "handlers": handlers}
            missing = " and ".join(f"{name}=" for name, value in given.items() if value is None)
            raise ConfigurationError(f"run_tools() needs {missing}")
        for name in ("max_retries", "stream"):  # the SDKs' "not given" (and stream=None)
            value = kwargs.get(name)  # say nothing
            if name in kwargs and (omitted(value) or (name == "stream" and value is None)):
                del kwargs[name]
        if "max_retries" in kwargs:
            raise ConfigurationError(
                "run_tools() takes no max_retries: an invalid call is answered with an error "
                "result and the model corrects it at the next step"
            )
        if "stream" in kwargs:
            raise ConfigurationError("run_tools() takes no stream=: it streams every step itself")
        options = {option: kwargs.pop(option) for option in OPTIONS if option in kwargs}
        if isinstance(messages, Iterator):
            messages = list(messages)
        elif not isinstance(messages, (list, tuple)):
            raise ConfigurationError(
                "run_tools() takes the conversation (messages=, or contents= / input=) as a list "
                f"of messages, got {type(messages).__name__}"
            )
        kwargs[key] = messages
        first = self._session(
            response_model, kwargs, validation_context, context, strict, StepSession
        )
        assert isinstance(first, StepSession)
        return first, tool_loop(first, messages, handlers, tasks=tasks, **options)


def _check_stream(stream: Any, streamed: bool) -> None:
    """`stream=` given to a method that decides it: only the method's own choice is taken
    (None and the SDKs' "not given" markers say nothing)."""
    if stream is not None and not omitted(stream) and bool(stream) is not streamed:
        raise ConfigurationError(
            "create_iterable() and create_partial() always stream: for one whole response, "
            "use create()"
            if streamed
            else "create_with_completion() reads one whole response: to stream, use "
            "create_iterable() or create(stream=True)"
        )


class Client(_BaseClient):
    """A polycall client over a sync SDK client."""

    _streams = (CallStream, drive)

    @overload
    def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
        stream: Literal[False] = ...,
        **kwargs: Any,
    ) -> ToolCalls[M]: ...
    @overload
    def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
        stream: Literal[True],
        **kwargs: Any,
    ) -> CallStream[M]: ...
    @overload
    def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., strict: bool | None = ..., stream: bool,
        **kwargs: Any,
    ) -> ToolCalls[M] | CallStream[M]: ...
    def create(
        self,
        *,
        response_model: Any,
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        strict: bool | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The validated calls as a `ToolCalls` list (an iterator of them with `stream=True`)."""
        session = self._session(response_model, kwargs, validation_context, context, strict)
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
        strict: bool | None = None,
        **kwargs: Any,
    ) -> tuple[ToolCalls[M], Any]:
        """`(ToolCalls, raw_response)`."""
        session = self._session(response_model, kwargs, validation_context, context, strict)
        result = self._complete(session, max_retries)
        return result, result.raw

    def _complete(self, session: Session, max_retries: MaxRetries) -> ToolCalls[Any]:
        for _ in drive(session, max_retries, stream=False):
            pass
        return session.result()

    if TYPE_CHECKING:  # the types of the shared methods, for this client's streams

        def create_iterable(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
            **kwargs: Any,
        ) -> CallStream[M]: ...
        def create_partial(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
            **kwargs: Any,
        ) -> CallStream[M | Partial[M]]: ...

    if TYPE_CHECKING:

        def run_tools(
            self, *, messages: Any, response_model: ResponseModel[M], handlers: Handlers,
            max_steps: int = ..., max_concurrency: int | None = ..., timeout: float | None = ...,
            stop_when: Any = ..., validation_context: Any = ..., context: Any = ...,
            strict: bool | None = ..., **kwargs: Any,
        ) -> ToolRun[M]:
            """Run each call's handler and send the results back until the model answers."""
        def iter_tools(
            self, *, messages: Any, response_model: ResponseModel[M], handlers: Handlers,
            max_steps: int = ..., max_concurrency: int | None = ..., timeout: float | None = ...,
            stop_when: Any = ..., validation_context: Any = ..., context: Any = ...,
            strict: bool | None = ..., **kwargs: Any,
        ) -> Iterator[LoopEvent[M]]:
            """`run_tools`, yielding each call, each result and the text as they come, then the run."""
    else:

        def run_tools(self, **options: Any) -> Any:
            """Run each call's handler and send the results back until the model answers."""
            return _last(self.iter_tools(**options))

        def iter_tools(self, **options: Any) -> Any:
            """`run_tools`, yielding each call, each result and the text as they come, then the run."""
            from .running import ThreadTasks

            with ThreadTasks() as tasks:
                session, core = self._tool_loop(tasks, **options)
                yield from drive(session, 0, stream=True, core=core)

    @property
    def batch(self) -> Batches:
        """The provider's Batch API: `client.batch.submit(requests, response_model=...)`."""
        from .batch import Batches

        return Batches(self)

    def close(self) -> None:
        """Close the SDK client this client wraps (its HTTP connections), as the SDK's own
        `close()` does; also on leaving `with client:`."""
        self.adapter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """A polycall client over an async SDK client: the same methods, awaited."""

    _streams = (AsyncCallStream, adrive)

    @overload
    async def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
        stream: Literal[False] = ...,
        **kwargs: Any,
    ) -> ToolCalls[M]: ...
    @overload
    async def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
        stream: Literal[True],
        **kwargs: Any,
    ) -> AsyncCallStream[M]: ...
    @overload
    async def create(
        self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
        validation_context: Any = ..., context: Any = ..., strict: bool | None = ..., stream: bool,
        **kwargs: Any,
    ) -> ToolCalls[M] | AsyncCallStream[M]: ...
    async def create(
        self,
        *,
        response_model: Any,
        max_retries: MaxRetries = 0,
        validation_context: Any = None,
        context: Any = None,
        strict: bool | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The validated calls as a `ToolCalls` list (an async iterator with `stream=True`)."""
        session = self._session(response_model, kwargs, validation_context, context, strict)
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
        strict: bool | None = None,
        **kwargs: Any,
    ) -> tuple[ToolCalls[M], Any]:
        """`(ToolCalls, raw_response)`."""
        session = self._session(response_model, kwargs, validation_context, context, strict)
        result = await self._complete(session, max_retries)
        return result, result.raw

    async def _complete(self, session: Session, max_retries: MaxRetries) -> ToolCalls[Any]:
        async for _ in adrive(session, max_retries, stream=False):
            pass
        return session.result()

    if TYPE_CHECKING:  # the types of the shared methods, for this client's streams

        def create_iterable(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
            **kwargs: Any,
        ) -> AsyncCallStream[M]: ...
        def create_partial(
            self, *, response_model: ResponseModel[M], max_retries: MaxRetries = ...,
            validation_context: Any = ..., context: Any = ..., strict: bool | None = ...,
            **kwargs: Any,
        ) -> AsyncCallStream[M | Partial[M]]: ...

    if TYPE_CHECKING:

        async def run_tools(
            self, *, messages: Any, response_model: ResponseModel[M], handlers: Handlers,
            max_steps: int = ..., max_concurrency: int | None = ..., timeout: float | None = ...,
            stop_when: Any = ..., validation_context: Any = ..., context: Any = ...,
            strict: bool | None = ..., **kwargs: Any,
        ) -> ToolRun[M]:
            """Run each call's handler and send the results back until the model answers."""
        def iter_tools(
            self, *, messages: Any, response_model: ResponseModel[M], handlers: Handlers,
            max_steps: int = ..., max_concurrency: int | None = ..., timeout: float | None = ...,
            stop_when: Any = ..., validation_context: Any = ..., context: Any = ...,
            strict: bool | None = ..., **kwargs: Any,
        ) -> AsyncIterator[LoopEvent[M]]:
            """`run_tools`, yielding each call, each result and the text as they come, then the run."""
    else:

        async def run_tools(self, **options: Any) -> Any:
            """Run each call's handler and send the results back until the model answers."""
            async for event in self.iter_tools(**options):
                pass
            return event

        async def iter_tools(self, **options: Any) -> Any:
            """`run_tools`, yielding each call, each result and the text as they come, then the run."""
            from .running import LoopTasks

            async with LoopTasks() as tasks:
                session, core = self._tool_loop(tasks, **options)
                # closed here when the consumer leaves early, not later by the garbage collector
                async with aclosing(adrive(session, 0, stream=True, core=core)) as events:
                    async for event in events:
                        yield event

    @property
    def batch(self) -> AsyncBatches:
        """The provider's Batch API, awaited."""
        from .batch import AsyncBatches

        return AsyncBatches(self)

    async def aclose(self) -> None:
        """Close the SDK client this client wraps (its HTTP connections, its aiohttp session),
        as the SDK's own close does; also on leaving `async with client:`."""
        await self.adapter.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _last(events: Iterator[Any]) -> Any:
    """The last of `events` (a run's `ToolRun`), once every event has passed."""
    for event in events:
        pass
    return event


class _Namespace:
    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)
