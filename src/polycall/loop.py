"""The tool loop behind `run_tools` / `iter_tools`, written once for the sync and the async client.

`tool_loop()` yields the engine's ops (`engine.py`) and the user's events, and the same two
drivers perform them. Each step is one streamed `exchange()` of one attempt (a step never
retries: a bad call is answered with an error result instead). A call's handler starts the
moment the call validates, inside the stream: starting does not block (the client's `tasks`
schedule it), so only waiting for the handlers is an op, `WAIT`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from . import tracing
from .calls import (
    CallFailure,
    Handlers,
    RawCall,
    Reply,
    Stop,
    ToolCall,
    ToolCalls,
    ToolResult,
    Turn,
    Usage,
    _reply,
)
from .engine import STREAM, WAIT, Event, exchange, redact
from .errors import ConfigurationError, MalformedOutputError, MaxStepsExceeded, PolycallError
from .running import WOKEN, _Runner
from .session import Session, Slot, _retry_text
from .toolset import ToolSet

T = TypeVar("T")

#: The keyword arguments of `run_tools` that are the loop's own (the rest go to each request).
OPTIONS = ("max_steps", "max_concurrency", "timeout", "stop_when")
#: How many times a step whose response the provider reports malformed (Gemini's
#: MALFORMED_FUNCTION_CALL, Bedrock's malformed_tool_use, an OpenAI-compatible server's
#: malformed-call error) is asked again, when it handed out no call: it holds none to
#: answer, so the same request goes again, as `create(max_retries=...)` would send it.
MALFORMED_RETRIES = 2


@dataclass
class Step(Generic[T]):
    """One step of a run: the valid calls of one response and their results, one-for-one.

    `failures` are the calls that did not validate (unknown tool, bad arguments); each was
    answered with an error result naming what was wrong.
    """

    calls: ToolCalls[T]
    results: list[ToolResult[T]]
    failures: list[CallFailure] = field(default_factory=list)


@dataclass
class ToolRun(Generic[T]):
    """What `run_tools` gives: the final answer, every step, the conversation and the usage.

    `messages` is your messages, then each step's assistant turn and tool results and the
    final answer, in the provider's format: pass it as `messages=` to go on. `output` is the
    value of the `stop_when` call that ended the run, if one did.
    """

    text: str | None = None
    output: Any = None
    steps: list[Step[T]] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list, repr=False)
    usage: Usage = field(default_factory=Usage)


class Tasks(Protocol):
    """How a driver's side runs handlers (`running.ThreadTasks` / `running.LoopTasks`)."""

    def start(self, work: Any) -> None: ...

    def ready(self) -> list[ToolResult[Any]]: ...

    def wait(self) -> Any: ...  # until one more has finished; awaitable on the async side

    def chunks(self, stream: Any) -> Any: ...  # a stream's chunks, and WOKEN as handlers finish


class StepSession(Session):
    """One step's request: each call judged once and never retried, a text answer no error;
    only a response the provider reports malformed before it handed out any call is asked
    again (`MALFORMED_RETRIES`).

    `start(call)` is called with each valid call the moment it validates.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start: Callable[[ToolCall[Any]], None] | None = None

    def take(self, raw: RawCall) -> Slot | None:
        slot = super().take(raw)
        if self.start is not None and type(slot) is ToolCall:
            self.start(slot)
        return slot

    def conclude(self, turn: Turn) -> PolycallError | None:
        return None if turn.stop is Stop.DONE else super().conclude(turn)

    def plan(self, verdict: PolycallError | None, text: str | None = None) -> PolycallError | None:
        if isinstance(verdict, MalformedOutputError) and any(type(s) is ToolCall for s in self.slots):
            raise verdict  # its calls' handlers started: a new response could not be answered with them
        return super().plan(verdict, text)

    def next(self, request: dict[str, Any]) -> StepSession:
        """The session of the step after this one; its attempts count on from this one's, so
        that the ids generated for calls without one stay unique in the run."""
        after = StepSession(
            self.adapter,
            self.tools,
            request,
            context=self.context,
            strict=self.strict,
            hooks=self.hooks,
            limits=self.limits,
        )
        after.attempt = self.attempt
        after.trace_parent = self.trace_parent
        return after


def tool_loop(
    first: StepSession,
    messages: Sequence[Any],
    handlers: Handlers,
    *,
    tasks: Tasks,
    max_steps: int = 10,
    max_concurrency: int | None = None,
    timeout: float | None = None,
    stop_when: Any = None,
) -> Generator[Any, Any, None]:
    """The ops and events of one run, starting with the request of `first`; the last event
    is the `ToolRun`."""
    return _Loop(
        first, messages, handlers, tasks, max_steps, max_concurrency, timeout, stop_when
    ).ops()


class _Loop:
    """One run's state: the run so far, and the results of the current step."""

    def __init__(
        self,
        first: StepSession,
        messages: Sequence[Any],
        handlers: Handlers,
        tasks: Tasks,
        max_steps: int,
        max_concurrency: int | None,
        timeout: float | None,
        stop_when: Any,
    ) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
            raise ConfigurationError(f"max_steps must be an int >= 0, got {max_steps!r}")
        self.stop = _tool_name(first.tools, stop_when)
        self.runner = _Runner(handlers, max_concurrency, timeout, first.adapter)
        self.runner.check_tools(first.tools, exempt=self.stop)
        # None unless polycall.instrument() was called: then one span over the whole run,
        # started once the run is set up.
        self.traced = None if tracing.ACTIVE is None else tracing.ACTIVE.run_tools(first, redact)
        if self.traced is not None:
            first.trace_parent = self.traced.parent
            self.runner.trace_under(first.trace_parent)
        self.first = first
        self.tasks = tasks
        self.max_steps = max_steps
        self.run: ToolRun[Any] = ToolRun(messages=list(messages))
        self.results: dict[int, ToolResult[Any]] = {}  # this step's, by id() of the call
        self.started = 0
        self.answered: list[ToolResult[Any]] = []  # stop calls answered without a handler
        self.reporting: _Reporting | None = None  # this step's reading, once its stream opens

    def ops(self) -> Generator[Any, Any, None]:
        traced = self.traced
        if traced is None:
            return (yield from self._steps())
        error: BaseException | None = None
        try:
            yield from self._steps()
        except BaseException as exc:  # also GeneratorExit: the consumer left iter_tools early
            error = exc
            raise
        finally:
            traced.end(len(self.run.steps), error)

    def _steps(self) -> Generator[Any, Any, None]:
        run, session = self.run, self.first
        adapter = session.adapter
        while True:
            self.results, self.started = {}, 0
            limit = len(run.steps) >= self.max_steps
            session.start = None if limit else self._start
            self.reporting = None
            yield from self._exchange(session)
            run.usage, run.text = run.usage + session.usage, session.text
            if session.text and (self.reporting is None or not self.reporting.seen):
                yield session.text  # a whole response's text, once
            if not session.sent:  # the model answered
                if session.text and not session.text.isspace():  # APIs refuse blank turns
                    _add(run.messages, adapter.assistant_message([], session.text))
                yield run
                return
            calls = session.result()
            stop = next((call for call in calls.calls if call.name == self.stop), None)
            if limit:
                if stop is None:
                    run.text = None  # no answer; `run.messages` ends before this response
                    raise MaxStepsExceeded(
                        f"the model still called tools after max_steps={self.max_steps} step(s) "
                        f"({', '.join(f'{c.id} ({c.name})' for c in session.sent)}); raise "
                        "max_steps, or read the run so far in .run",
                        run=run,
                        raw=session.raw,
                    )
                for call in calls.calls:  # the stop call ends the run: its step runs all the same
                    self._start(call)
            yield from self._results()
            turn = self._answer(session, calls)
            if stop is not None:
                run.output = stop.value
                yield run
                return
            session = session.next(
                adapter.relax(session.tools, adapter.extend(session.request, turn))
            )

    def _exchange(self, session: StepSession) -> Generator[Any, Any, None]:
        """`exchange()` of one streamed step (one attempt), the stream's reading also
        reporting each handler that has finished."""
        core = exchange(session, MALFORMED_RETRIES, stream=True)
        with closing(core):
            send: Callable[[Any], Any] = core.send
            value: Any = None
            while True:
                try:
                    op = send(value)
                except StopIteration:
                    return
                if type(op) is tuple and op[0] is STREAM:
                    self.reporting = _Reporting(op[2], self.tasks, self._report)
                    op = (STREAM, op[1], self.reporting)
                try:
                    send, value = core.send, (yield op)
                except BaseException as exc:  # noqa: BLE001 - the op's error (or what stopped it: a
                    send, value = core.throw, exc  # cancellation, the consumer leaving) for exchange()

    def _start(self, call: ToolCall[Any]) -> None:
        self.started += 1
        if self.runner.handlers.get(type(call.value), call.name) is None:  # the stop_when tool
            self.answered.append(ToolResult(call, "ok"))
        else:
            self.tasks.start(self.runner.run(call))

    def _report(self) -> list[ToolResult[Any]]:
        """The results finished since the last report, kept for this step."""
        done = self.tasks.ready()
        if self.answered:
            done, self.answered = [*self.answered, *done], []
        for result in done:
            self.results[id(result.call)] = result
        return done

    def _results(self) -> Generator[Any, Any, None]:
        """Each result of this step not reported yet, as its handler finishes."""
        yield from self._report()
        while len(self.results) < self.started:
            yield WAIT, self.tasks.wait
            yield from self._report()

    def _answer(self, session: StepSession, calls: ToolCalls[Any]) -> list[Any]:
        """Record the step; return its assistant turn and one result per call as sent."""
        replies = [
            _reply_to(sent, slot, self.results) for sent, slot in zip(session.sent, session.slots)
        ]
        adapter = session.adapter
        turn = [
            adapter.assistant_message(session.sent, session.text),
            *adapter.reply_messages(replies),
        ]
        failures = [slot for slot in session.slots if isinstance(slot, CallFailure)]
        self.run.steps.append(
            Step(calls, [self.results[id(call)] for call in calls.calls], failures)
        )
        for message in turn:
            _add(self.run.messages, message)
        return turn


class _Reporting:
    """A step's reading that also hands on, as they come, the text each chunk brought and the
    results of the handlers that have finished.

    Its chunks come from the tasks' chunk source, which wakes it up (`WOKEN` instead of a
    chunk) the moment a handler finishes, also while the server is silent."""

    __slots__ = ("chunks", "reading", "report", "seen", "text")

    def __init__(self, reading: Any, tasks: Tasks, report: Callable[[], list[ToolResult[Any]]]) -> None:
        self.reading = reading
        self.chunks = tasks.chunks
        self.report = report
        self.text: list[str] = reading.assembler.text  # grows as the assembler `say`s it
        self.seen = 0  # pieces of it handed on

    def open(self, stream: Any) -> Any:
        self.reading.opened = stream
        return self.chunks(stream)

    aopen = open

    def feed(self, chunk: Any) -> Sequence[Event]:
        """The events of `chunk`: its text, the calls it completed, the results ready."""
        if chunk is WOKEN:
            return self.report()
        reading = self.reading
        events: Sequence[Event] = reading.events(done) if (done := reading.feed(chunk)) else ()
        text, seen = self.text, self.seen
        if len(text) > seen:  # the text this chunk brought, before the calls it completed
            self.seen = len(text)
            events = ["".join(text[seen:]), *events]
        done = self.report()
        return [*events, *done] if done else events

    def events(self, events: Sequence[Event]) -> Sequence[Event]:
        """`feed` gave the events themselves."""
        return events


def _reply_to(sent: RawCall, slot: Slot, results: dict[int, ToolResult[Any]]) -> Reply:
    """The answer to one call as sent: its handler's result, or what was wrong with it."""
    if isinstance(slot, CallFailure):
        return Reply(sent.id or "", sent.name, _retry_text(slot), is_error=True)
    return _reply(slot, results[id(slot)])


def _tool_name(tools: ToolSet, stop_when: Any) -> str | None:
    """The name of the `stop_when` tool (a model class or a tool name of the response_model)."""
    if stop_when is None:
        return None
    for tool in tools.tools:
        if stop_when is tool.model or stop_when == tool.name:
            return tool.name
    raise ConfigurationError(
        f"stop_when={stop_when!r} is not a tool of the response_model; give one of its model "
        f"classes or tool names ({', '.join(repr(name) for name in tools.names)})"
    )


def _add(messages: list[Any], message: Any) -> None:
    """Append a message; a list of items (a Responses turn) goes in item by item."""
    if isinstance(message, list):
        messages.extend(message)
    else:
        messages.append(message)
