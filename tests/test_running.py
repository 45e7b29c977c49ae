"""Running the calls: order, isolation, limits, timeouts, cancellation, pipelining, round trips.

No timing asserts: concurrency is proven with events and counters, timeouts with handlers
blocked on an event that never fires.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
import pytest

import models
import polycall
from helpers import openai_client
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import ConfigurationError, ToolCalls, ToolResult, ValidationFailed
from polycall.running import run_calls
from polycall.testing import FakeProvider, Gate
from polycall.testing.openai import chat_chunk, chat_completion, chat_sse, chat_stream

WAIT = 5.0  # upper bound on any wait that is expected to end at once


def seed_calls(fake: FakeProvider, calls: list[tuple[str, Any]] = SEED_CALLS) -> ToolCalls[Any]:
    fake.push(chat_completion(calls))
    result: ToolCalls[Any] = openai_client(fake).create(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    return result


def weather_calls(fake: FakeProvider, count: int) -> ToolCalls[Any]:
    return seed_calls(fake, [("Weather", {"location": str(i), "units": "metric"}) for i in range(count)])


def stream_of(fake: FakeProvider, **kwargs: Any) -> polycall.CallStream[Any]:
    stream: polycall.CallStream[Any] = openai_client(fake).create_iterable(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL, **kwargs
    )
    return stream


def astream_of(fake: FakeProvider, **kwargs: Any) -> polycall.AsyncCallStream[Any]:
    stream: polycall.AsyncCallStream[Any] = openai_client(fake, is_async=True).create_iterable(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL, **kwargs
    )
    return stream


def describe(w: Weather) -> str:
    return f"{w.location}: {w.units}"


async def until_cancelled(cancelled: list[str], name: str) -> None:
    """Wait on an event that never fires; once cancelled, note `name` in `cancelled`."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.append(name)
        raise


async def search(s: GoogleSearch) -> dict[str, str]:
    return {"query": s.query, "answer": "Kansas City"}


class Peak:
    """Counts handlers running at once.

    Each handler waits until `limit` handlers run together, then keeps its slot for a
    moment (`HOLD`), so that a runner starting one more than the limit would be seen.
    """

    HOLD = 0.1

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.peak = 0
        self.full = threading.Event()
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            if self.active >= self.limit:
                self.full.set()

    def leave(self) -> None:
        with self.lock:
            self.active -= 1

    def sync_handler(self, w: Weather) -> str:
        self.enter()
        try:
            self.full.wait(WAIT)
            time.sleep(self.HOLD)
            return w.location
        finally:
            self.leave()

    async def async_handler(self, w: Weather) -> str:
        self.enter()
        try:
            for _ in range(100_000):  # yield to the loop until `limit` handlers run together
                if self.full.is_set():
                    break
                await asyncio.sleep(0)
            await asyncio.sleep(self.HOLD)
            return w.location
        finally:
            self.leave()


# --- running a ToolCalls: values, order, handler keys ---------------------------------------


def test_run_gives_each_handler_its_validated_model_and_returns_results_in_call_order(
    fake: FakeProvider,
) -> None:
    calls = seed_calls(fake)
    seen: list[Any] = []

    def weather(w: Weather) -> str:
        seen.append(w)
        return describe(w)

    results = calls.run({Weather: weather, GoogleSearch: search})

    assert all(isinstance(r, ToolResult) for r in results)
    assert [r.call for r in results] == calls.calls
    assert [r.value for r in results] == [
        "Toronto: metric",
        "Dallas: imperial",
        {"query": "who won the super bowl", "answer": "Kansas City"},
    ]
    assert all(r.ok and r.error is None and r.duration > 0 for r in results)
    assert sorted(w.location for w in seen) == ["Dallas", "Toronto"]
    assert all(isinstance(w, Weather) for w in seen)


def test_results_keep_call_order_when_handlers_finish_in_reverse(fake: FakeProvider) -> None:
    calls = weather_calls(fake, 4)
    done = [threading.Event() for _ in range(5)]
    done[4].set()
    finished: list[str] = []

    def handler(w: Weather) -> str:
        i = int(w.location)
        assert done[i + 1].wait(WAIT)  # call i ends after call i + 1: all run at once
        finished.append(w.location)
        done[i].set()
        return w.location

    results = calls.run({Weather: handler})

    assert finished == ["3", "2", "1", "0"]
    assert [r.value for r in results] == ["0", "1", "2", "3"]
    assert [r.call.id for r in results] == [c.id for c in calls.calls]


async def test_arun_keeps_call_order_when_async_handlers_finish_in_reverse(fake: FakeProvider) -> None:
    calls = weather_calls(fake, 4)
    done = [asyncio.Event() for _ in range(5)]
    done[4].set()
    finished: list[str] = []

    async def handler(w: Weather) -> str:
        i = int(w.location)
        await asyncio.wait_for(done[i + 1].wait(), WAIT)
        finished.append(w.location)
        done[i].set()
        return w.location

    results = await calls.arun({Weather: handler})

    assert finished == ["3", "2", "1", "0"]
    assert [r.value for r in results] == ["0", "1", "2", "3"]


def test_handlers_may_be_keyed_by_tool_name_and_extra_handlers_are_fine(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    unused: list[Any] = []

    results = calls.run({"Weather": describe, "GoogleSearch": search, "Calculator": unused.append})

    assert [r.value for r in results][:2] == ["Toronto: metric", "Dallas: imperial"]
    assert results[2].value["answer"] == "Kansas City"
    assert unused == []


def test_a_class_key_wins_over_a_name_key_for_the_same_tool(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    results = calls.run({"Weather": lambda w: "by name", Weather: lambda w: "by class", GoogleSearch: search})
    assert [r.value for r in results[:2]] == ["by class", "by class"]


def test_sync_and_async_handlers_mix_threads_for_sync_and_the_loop_for_async(
    fake: FakeProvider,
) -> None:
    calls = seed_calls(fake)
    threads: dict[str, threading.Thread] = {}
    both = threading.Barrier(2, timeout=WAIT)  # both sync handlers must run at the same time

    def weather(w: Weather) -> str:
        threads[w.location] = threading.current_thread()
        both.wait()
        return w.location

    async def google(s: GoogleSearch) -> str:
        asyncio.get_running_loop()  # raises unless on an event loop
        threads["search"] = threading.current_thread()
        return s.query

    results = calls.run({Weather: weather, GoogleSearch: google})

    assert [r.value for r in results] == ["Toronto", "Dallas", "who won the super bowl"]
    assert len({threads["Toronto"], threads["Dallas"], threads["search"]}) == 3
    assert threading.main_thread() not in threads.values()


def test_a_sync_handler_that_returns_an_awaitable_is_awaited(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    results = calls.run({Weather: describe, GoogleSearch: lambda s: search(s)})
    assert results[2].value == {"query": "who won the super bowl", "answer": "Kansas City"}


async def test_run_works_when_called_from_inside_a_running_event_loop(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    results = calls.run({Weather: describe, GoogleSearch: search})
    assert [r.ok for r in results] == [True, True, True]


def test_run_calls_with_no_calls_returns_nothing() -> None:
    assert run_calls([], {}) == []


# --- configuration errors, before anything runs ---------------------------------------------


def test_a_missing_handler_raises_before_any_handler_runs(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    ran: list[Any] = []

    with pytest.raises(ConfigurationError) as caught:
        calls.run({Weather: ran.append})

    assert ran == []
    message = str(caught.value)
    assert "call_2 (GoogleSearch)" in message
    assert "'GoogleSearch'" in message and "Weather" in message


async def test_a_missing_handler_raises_before_any_async_handler_runs(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    ran: list[Any] = []

    async def weather(w: Weather) -> None:
        ran.append(w)

    with pytest.raises(ConfigurationError, match="call_2 \\(GoogleSearch\\)"):
        await calls.arun({"Weather": weather})
    assert ran == []


@pytest.mark.parametrize(
    ("handlers", "options", "message"),
    [
        ([describe], {}, "handlers must map"),
        ({42: describe}, {}, "handler key 42"),
        ({Weather: "not a function", GoogleSearch: search}, {}, "handler for Weather is not callable"),
        ({Weather: describe, GoogleSearch: search}, {"max_concurrency": 0}, "max_concurrency"),
        ({Weather: describe, GoogleSearch: search}, {"max_concurrency": True}, "max_concurrency"),
        ({Weather: describe, GoogleSearch: search}, {"max_concurrency": 1.5}, "max_concurrency"),
        ({Weather: describe, GoogleSearch: search}, {"timeout": 0}, "timeout"),
        ({Weather: describe, GoogleSearch: search}, {"timeout": -1}, "timeout"),
    ],
)
def test_bad_handlers_or_limits_are_configuration_errors(
    fake: FakeProvider, handlers: Any, options: dict[str, Any], message: str
) -> None:
    calls = seed_calls(fake)
    with pytest.raises(ConfigurationError, match=message):
        calls.run(handlers, **options)


# --- per-call isolation ---------------------------------------------------------------------


def test_a_raising_handler_sets_the_error_of_its_own_call_only(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    boom = ValueError("no weather for Dallas")

    def weather(w: Weather) -> str:
        if w.location == "Dallas":
            raise boom
        return describe(w)

    results = calls.run({Weather: weather, GoogleSearch: search})

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is boom and results[1].value is None
    assert results[0].value == "Toronto: metric"
    assert results[2].value["answer"] == "Kansas City"


async def test_a_raising_async_handler_does_not_cancel_the_others(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    release = asyncio.Event()
    finished: list[str] = []

    async def weather(w: Weather) -> str:
        await asyncio.wait_for(release.wait(), WAIT)  # still running when the search fails
        finished.append(w.location)
        return w.location

    async def failing_search(s: GoogleSearch) -> str:
        try:
            raise LookupError("search is down")
        finally:
            release.set()

    results = await calls.arun({Weather: weather, GoogleSearch: failing_search})

    assert sorted(finished) == ["Dallas", "Toronto"]
    assert [r.value for r in results[:2]] == ["Toronto", "Dallas"]
    assert isinstance(results[2].error, LookupError)


def test_an_error_or_output_whose_str_fails_is_still_answered(fake: FakeProvider) -> None:
    """tool_results() answers every call even when the handler's error, or an output only
    `str()` could write, cannot be turned into text."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    def search(s: GoogleSearch) -> str:
        raise Unprintable

    calls = seed_calls(fake)
    results = calls.run({Weather: lambda w: Unprintable(), GoogleSearch: search})
    messages = calls.tool_results(results)
    assert [m["content"] for m in messages] == [
        "<Unprintable object; str() failed>",
        "<Unprintable object; str() failed>",
        "Error: Unprintable: <Unprintable object; str() failed>",
    ]


def test_an_output_only_str_can_write_is_its_text_not_a_json_string(fake: FakeProvider) -> None:
    class Reading:
        def __str__(self) -> str:
            return "21 degrees"

    @dataclasses.dataclass
    class Report:
        reading: Reading

    calls = seed_calls(fake)
    outputs = [Reading(), [Reading()], Report(Reading())]
    assert [m["content"] for m in calls.tool_results(outputs)] == [
        "21 degrees",
        '["21 degrees"]',  # inside a value: a JSON string
        '{"reading": "21 degrees"}',
    ]
    nested = [[Report(Reading())], {"a": Report(Reading())}, None]  # inside a value too
    assert [m["content"] for m in calls.tool_results(nested)][:2] == [
        '[{"reading": "21 degrees"}]',
        '{"a": {"reading": "21 degrees"}}',
    ]


def test_a_handler_exiting_ends_the_run_with_its_exit_not_a_hang(fake: FakeProvider) -> None:
    calls = seed_calls(fake)

    def cli_tool(s: GoogleSearch) -> str:
        raise SystemExit(2)  # what argparse does on bad arguments

    with pytest.raises(SystemExit) as exited:
        calls.run({Weather: describe, GoogleSearch: cli_tool}, timeout=WAIT)
    assert exited.value.code == 2


async def test_an_async_handler_interrupting_cancels_the_others_and_reaches_the_caller(
    fake: FakeProvider,
) -> None:
    calls = seed_calls(fake)
    cancelled: list[str] = []
    waiting: list[str] = []
    both_waiting = asyncio.Event()

    async def weather(w: Weather) -> None:
        waiting.append(w.location)
        if len(waiting) == 2:
            both_waiting.set()
        await until_cancelled(cancelled, w.location)

    async def interrupting(s: GoogleSearch) -> str:
        await both_waiting.wait()  # the weather handlers are running by now
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await calls.arun({Weather: weather, GoogleSearch: interrupting})
    assert sorted(cancelled) == ["Dallas", "Toronto"]


@pytest.mark.skipif(not hasattr(asyncio.Task, "cancelling"), reason="Python 3.11+ tells the two apart")
@pytest.mark.parametrize("is_async", [False, True])
async def test_a_handlers_own_cancelled_error_fails_its_call_only(fake: FakeProvider, is_async: bool) -> None:
    calls = seed_calls(fake)

    async def cancelled_lookup(s: GoogleSearch) -> str:
        lookup = asyncio.ensure_future(asyncio.Event().wait())
        lookup.cancel()  # something else cancelled the work this handler waits on
        return str(await lookup)

    handlers = {Weather: describe, GoogleSearch: cancelled_lookup}
    results = await calls.arun(handlers) if is_async else await asyncio.to_thread(calls.run, handlers)

    assert [r.value for r in results[:2]] == ["Toronto: metric", "Dallas: imperial"]
    assert isinstance(results[2].error, asyncio.CancelledError)


# --- max_concurrency ------------------------------------------------------------------------


def test_max_concurrency_is_honoured_exactly_for_sync_handlers(fake: FakeProvider) -> None:
    calls = weather_calls(fake, 7)
    peak = Peak(limit=3)

    results = calls.run({Weather: peak.sync_handler}, max_concurrency=3)

    assert peak.peak == 3
    assert [r.value for r in results] == [str(i) for i in range(7)]


async def test_max_concurrency_is_honoured_exactly_for_async_handlers(fake: FakeProvider) -> None:
    calls = weather_calls(fake, 7)
    peak = Peak(limit=2)

    results = await calls.arun({Weather: peak.async_handler}, max_concurrency=2)

    assert peak.peak == 2
    assert all(r.ok for r in results)


def test_max_concurrency_counts_sync_and_async_handlers_together(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    peak = Peak(limit=2)

    async def google(s: GoogleSearch) -> str:
        return await peak.async_handler(Weather(location=s.query, units="metric"))

    results = calls.run({Weather: peak.sync_handler, GoogleSearch: google}, max_concurrency=2)

    assert peak.peak == 2
    assert [r.value for r in results] == ["Toronto", "Dallas", "who won the super bowl"]


def test_without_a_limit_every_call_runs_at_once(fake: FakeProvider) -> None:
    calls = weather_calls(fake, 6)
    everyone = threading.Barrier(6, timeout=WAIT)

    results = calls.run({Weather: lambda w: everyone.wait()})

    assert all(r.ok for r in results)


# --- timeouts -------------------------------------------------------------------------------


def test_a_sync_handler_past_its_timeout_gets_a_timeout_error_and_the_others_complete(
    fake: FakeProvider, never: threading.Event
) -> None:
    calls = seed_calls(fake)

    def weather(w: Weather) -> str:
        if w.location == "Dallas":
            never.wait()
        return w.location

    results = calls.run({Weather: weather, GoogleSearch: search}, timeout=0.2)

    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert isinstance(error, TimeoutError)
    assert "call_1 (Weather)" in str(error) and "0.2 s" in str(error)
    assert "abandoned" in str(error)
    assert results[0].value == "Toronto"


async def test_an_async_handler_past_its_timeout_is_cancelled(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    cancelled: list[str] = []

    async def google(s: GoogleSearch) -> str:
        await until_cancelled(cancelled, s.query)
        return "unreachable"

    results = await calls.arun({Weather: describe, GoogleSearch: google}, timeout=0.2)

    assert isinstance(results[2].error, TimeoutError)
    assert "call_2 (GoogleSearch)" in str(results[2].error)
    assert cancelled == ["who won the super bowl"]
    assert [r.value for r in results[:2]] == ["Toronto: metric", "Dallas: imperial"]


def test_a_handler_raising_timeout_error_itself_keeps_its_own_error(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    own = TimeoutError("the weather service timed out")

    def weather(w: Weather) -> str:
        raise own

    results = calls.run({Weather: weather, GoogleSearch: search}, timeout=WAIT)

    assert results[0].error is own and results[1].error is own


def test_a_timed_out_handler_frees_its_slot_for_the_next_call(
    fake: FakeProvider, never: threading.Event
) -> None:
    calls = weather_calls(fake, 3)

    def handler(w: Weather) -> str:
        if w.location == "0":
            never.wait()
        return w.location

    results = calls.run({Weather: handler}, max_concurrency=1, timeout=0.2)

    assert isinstance(results[0].error, TimeoutError)
    assert [r.value for r in results[1:]] == ["1", "2"]


# --- cancellation ---------------------------------------------------------------------------


async def test_cancelling_arun_cancels_the_running_async_handlers(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    started = asyncio.Event()
    cancelled: list[str] = []
    running = 0

    async def blocked(model: Any) -> None:
        nonlocal running
        running += 1
        if running == 3:
            started.set()
        await until_cancelled(cancelled, type(model).__name__)

    task = asyncio.ensure_future(calls.arun({Weather: blocked, GoogleSearch: blocked}))
    await asyncio.wait_for(started.wait(), WAIT)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["GoogleSearch", "Weather", "Weather"]


async def test_cancelling_arun_stream_cancels_handlers_and_closes_the_stream(
    fake: FakeProvider,
) -> None:
    gate = Gate()  # holds the stream after the first call: the model is "still writing"
    fake.push(chat_stream(SEED_CALLS, gates={0: gate}))
    stream = astream_of(fake)
    started = asyncio.Event()
    cancelled: list[str] = []

    async def weather(w: Weather) -> None:
        started.set()
        await until_cancelled(cancelled, w.location)

    task = asyncio.ensure_future(polycall.arun_stream(stream, {Weather: weather, GoogleSearch: search}))
    await asyncio.wait_for(started.wait(), WAIT)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["Toronto"]
    gate.open()
    with pytest.raises(StopAsyncIteration):  # closed: nothing more comes out of it
        await stream.__anext__()


def test_when_the_stream_fails_running_handlers_are_cancelled_and_the_error_raised(
    fake: FakeProvider,
) -> None:
    fake.push(chat_stream(models.BAD_CALLS))
    cancelled: list[str] = []

    async def weather(w: Weather) -> None:
        await until_cancelled(cancelled, w.location)

    with pytest.raises(ValidationFailed, match="call_1 \\(Weather\\)"):
        polycall.run_stream(stream_of(fake), {Weather: weather, GoogleSearch: search})
    assert cancelled == ["Toronto"]


async def _waiting(cancelled: list[str], w: Weather) -> str:
    """Still running when another handler interrupts the run; notes being cancelled."""
    try:
        await asyncio.wait_for(asyncio.Event().wait(), WAIT)
    except asyncio.CancelledError:
        cancelled.append(w.location)
        raise
    return w.location


def _interrupting(s: GoogleSearch) -> str:
    raise KeyboardInterrupt


def test_a_handler_interrupting_run_stream_cancels_the_earlier_ones_at_once(
    fake: FakeProvider,
) -> None:
    """The interrupt does not wait for the handlers of the calls before it."""
    fake.push(chat_stream(SEED_CALLS))
    cancelled: list[str] = []
    handlers = {Weather: lambda w: _waiting(cancelled, w), GoogleSearch: _interrupting}
    with pytest.raises(KeyboardInterrupt):
        polycall.run_stream(stream_of(fake), handlers)
    assert sorted(cancelled) == ["Dallas", "Toronto"]


async def test_a_handler_interrupting_arun_stream_cancels_the_earlier_ones_at_once(
    fake: FakeProvider,
) -> None:
    fake.push(chat_stream(SEED_CALLS))
    cancelled: list[str] = []

    async def weather(w: Weather) -> str:
        return await _waiting(cancelled, w)

    with pytest.raises(KeyboardInterrupt):
        await polycall.arun_stream(astream_of(fake), {Weather: weather, GoogleSearch: _interrupting})
    assert sorted(cancelled) == ["Dallas", "Toronto"]


async def test_a_handlers_exit_outranks_the_stream_failing_after_it(fake: FakeProvider) -> None:
    """The stream breaks off after the handler exited: the exit reaches the caller, not the
    `ProviderError`, which a caller retrying provider errors would otherwise swallow it in."""
    gate = Gate()
    fake.push(chat_sse([
        chat_chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "GoogleSearch", "arguments": '{"query": "q"}'}}]}),
        gate,
        chat_chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "Weather", "arguments": '{"loc'}}]}),
    ], done=False))  # no finish reason: the stream was cut

    async def exiting(s: GoogleSearch) -> str:
        gate.open()  # the stream goes on only now: this handler has exited before it fails
        raise SystemExit(3)

    with pytest.raises(SystemExit) as exited:
        await polycall.arun_stream(astream_of(fake), {Weather: describe, GoogleSearch: exiting})
    assert exited.value.code == 3


# --- pipelining: run_stream / arun_stream ---------------------------------------------------


@pytest.mark.usefixtures("short_gates")
def test_run_stream_starts_each_handler_while_the_model_is_still_streaming(
    fake: FakeProvider,
) -> None:
    gates = {0: Gate(), 1: Gate()}  # the stream waits after call k until call k's handler opens it
    fake.push(chat_stream(SEED_CALLS, gates=gates))
    stream = stream_of(fake)
    order = {"Toronto": 0, "Dallas": 1}

    def weather(w: Weather) -> str:
        gates[order[w.location]].open()
        return w.location

    results = polycall.run_stream(stream, {Weather: weather, GoogleSearch: search})

    assert not gates[0].timed_out and not gates[1].timed_out
    assert [r.value for r in results[:2]] == ["Toronto", "Dallas"]
    assert stream.result == SEED_VALUES
    assert [r.call for r in results] == stream.result.calls


@pytest.mark.usefixtures("short_gates")
async def test_arun_stream_starts_async_and_sync_handlers_while_streaming(fake: FakeProvider) -> None:
    gates = {0: Gate(), 1: Gate()}
    calls = [SEED_CALLS[2], SEED_CALLS[0], SEED_CALLS[1]]
    fake.push(chat_stream(calls, gates=gates))
    stream = astream_of(fake)

    async def google(s: GoogleSearch) -> str:  # async: runs on this loop
        gates[0].open()
        return s.query

    def weather(w: Weather) -> str:  # sync: runs on a worker thread
        if w.location == "Toronto":
            gates[1].open()
        return w.location

    results = await polycall.arun_stream(stream, {Weather: weather, GoogleSearch: google})

    assert not gates[0].timed_out and not gates[1].timed_out
    assert [r.value for r in results] == ["who won the super bowl", "Toronto", "Dallas"]
    assert [r.call for r in results] == stream.result.calls


def test_run_stream_results_follow_the_final_order_after_a_retry(fake: FakeProvider) -> None:
    bad = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
    fake.push(chat_stream(bad), chat_stream([SEED_CALLS[1]]))
    stream = stream_of(fake, max_retries=1)
    handled: list[str] = []

    def weather(w: Weather) -> str:
        handled.append(w.location)
        return w.location

    results = polycall.run_stream(stream, {Weather: weather, GoogleSearch: lambda s: s.query})

    assert sorted(handled) == ["Dallas", "Toronto"]  # each valid call once, the bad one never
    assert [r.value for r in results] == ["Toronto", "Dallas", "who won the super bowl"]
    assert [r.call.id for r in results] == ["call_0", "call_1", "call_2"]
    assert [r.call for r in results] == stream.result.calls


def test_run_stream_skips_partials_of_create_partial(fake: FakeProvider) -> None:
    fake.push(chat_stream(SEED_CALLS, piece=4))
    stream = openai_client(fake).create_partial(
        model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    seen: list[Any] = []

    def record(model: Any) -> str:
        seen.append(model)
        return type(model).__name__

    results = polycall.run_stream(stream, {Weather: record, GoogleSearch: record})

    assert [r.value for r in results] == ["Weather", "Weather", "GoogleSearch"]
    assert sorted(map(repr, seen)) == sorted(map(repr, SEED_VALUES))


def test_run_stream_needs_a_handler_for_every_tool_before_sending_the_request(
    fake: FakeProvider,
) -> None:
    stream = stream_of(fake)
    with pytest.raises(ConfigurationError, match="no handler for tool 'GoogleSearch'"):
        polycall.run_stream(stream, {Weather: describe})
    assert fake.requests == []


async def test_arun_stream_needs_a_handler_for_every_tool_before_sending_the_request(
    fake: FakeProvider,
) -> None:
    stream = astream_of(fake)
    with pytest.raises(ConfigurationError, match="'Weather'"):
        await polycall.arun_stream(stream, {"GoogleSearch": search})
    assert fake.requests == []


async def test_the_stream_must_match_the_function_and_be_fresh(fake: FakeProvider) -> None:
    handlers: dict[Any, Callable[..., Any]] = {Weather: describe, GoogleSearch: search}
    with pytest.raises(ConfigurationError, match="run_stream\\(\\) takes the stream"):
        polycall.run_stream(astream_of(fake), handlers)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="arun_stream\\(\\) takes the stream"):
        await polycall.arun_stream(stream_of(fake), handlers)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="takes the stream"):
        polycall.run_stream(iter(SEED_VALUES), handlers)  # type: ignore[arg-type]

    fake.push(chat_stream(SEED_CALLS))
    stream = stream_of(fake)
    assert list(stream) == SEED_VALUES
    with pytest.raises(ConfigurationError, match="not been iterated"):
        polycall.run_stream(stream, handlers)


# --- tool_results round trip ----------------------------------------------------------------


def test_results_feed_tool_results_and_the_conversation_goes_on(fake: FakeProvider) -> None:
    calls = seed_calls(fake)

    def weather(w: Weather) -> dict[str, Any]:
        if w.location == "Dallas":
            raise RuntimeError("station offline")
        return {"location": w.location, "temperature": 21}

    results = calls.run({Weather: weather, GoogleSearch: search})
    replies = calls.tool_results(results)

    assert replies == [
        {"role": "tool", "tool_call_id": "call_0",
         "content": '{"location": "Toronto", "temperature": 21}'},
        {"role": "tool", "tool_call_id": "call_1", "content": "Error: RuntimeError: station offline"},
        {"role": "tool", "tool_call_id": "call_2",
         "content": '{"query": "who won the super bowl", "answer": "Kansas City"}'},
    ]
    fake.push(chat_completion([("GoogleSearch", {"query": "Dallas weather"})]))
    openai_client(fake).create(
        model="gpt-4o-mini",
        messages=[*SEED_MESSAGES, calls.assistant_message(), *replies],
        response_model=SEED_MODEL,
    )
    sent = fake.last.json["messages"]
    assert [m["tool_call_id"] for m in sent[-3:]] == ["call_0", "call_1", "call_2"]
    assert sent[-2]["content"] == "Error: RuntimeError: station offline"
    assert [c["id"] for c in sent[-4]["tool_calls"]] == ["call_0", "call_1", "call_2"]


def test_outputs_json_cannot_hold_as_they_are_still_become_text(fake: FakeProvider) -> None:
    """Keys that are not strings, a value that refers to itself: written as pydantic writes
    them, or as their `str()`, never a raw TypeError or ValueError out of `tool_results`."""
    calls = seed_calls(fake)
    circular: list[Any] = []
    circular.append(circular)

    replies = calls.tool_results([{("Toronto", 1): 18}, circular, {"set": {1}}])

    assert [r["content"] for r in replies] == ['{"Toronto,1":18}', "[[...]]", '{"set": [1]}']


@dataclass
class Reading:
    city: str
    at: datetime.date


def test_outputs_of_types_json_lacks_are_written_as_pydantic_writes_them(fake: FakeProvider) -> None:
    """A dataclass, a date: their JSON as pydantic writes it, not their repr."""
    calls = seed_calls(fake)
    reading = Reading("Oslo", datetime.date(2026, 1, 2))
    endless = itertools.count()
    replies = calls.tool_results([reading, {"at": reading.at}, [object, endless]])
    contents = [r["content"] for r in replies]
    assert [json.loads(text) for text in contents[:2]] == [
        {"city": "Oslo", "at": "2026-01-02"}, {"at": "2026-01-02"}
    ]
    # Nothing to write, or an iterator writing would spend (or never end): its str().
    assert contents[2] == json.dumps([str(object), "count(0)"]) and next(endless) == 0


def test_results_given_out_of_call_order_are_refused_not_misfiled(fake: FakeProvider) -> None:
    calls = seed_calls(fake)
    results = calls.run({Weather: describe, GoogleSearch: search})
    with pytest.raises(ConfigurationError, match=r"result of call call_2 \(GoogleSearch\) in the place of call call_0"):
        calls.tool_results(results[::-1])


def test_results_of_another_response_are_refused_even_under_the_same_ids(fake: FakeProvider) -> None:
    """Ids repeat across responses (generated ones always do: `call_1_0`): a result answers
    only its own call, not another response's call that has the same id."""
    first = seed_calls(fake)
    second = seed_calls(fake, [SEED_CALLS[2], SEED_CALLS[0], SEED_CALLS[1]])
    assert [c.id for c in first.calls] == [c.id for c in second.calls]
    results = first.run({Weather: describe, GoogleSearch: search})
    with pytest.raises(ConfigurationError, match=r"result of call call_0 \(Weather\) in the place of call call_0 \(GoogleSearch\)"):
        second.tool_results(results)
    same = seed_calls(fake)  # the same calls again: their results answer them
    assert [r["tool_call_id"] for r in same.tool_results(results)] == ["call_0", "call_1", "call_2"]


def test_run_stream_results_feed_the_streams_tool_results(
    fake: FakeProvider, never: threading.Event
) -> None:
    fake.push(chat_stream(SEED_CALLS))
    stream = stream_of(fake)

    def weather(w: Weather) -> str:
        if w.location == "Toronto":
            never.wait()
        return describe(w)

    results = polycall.run_stream(stream, {Weather: weather, GoogleSearch: search}, timeout=0.2)
    replies = stream.result.tool_results(results)

    assert replies[0]["tool_call_id"] == "call_0"
    assert replies[0]["content"].startswith("Error: TimeoutError: the handler for call call_0")
    assert replies[1]["content"] == "Dallas: imperial"



def failing_weather(w: Weather) -> dict[str, Any]:
    if w.location == "Dallas":
        raise RuntimeError("station offline")
    return {"location": w.location, "temperature": 21}


ROUND_TRIP: dict[Any, Callable[..., Any]] = {Weather: failing_weather, GoogleSearch: lambda s: "KC"}
FOLLOW_UP = [("GoogleSearch", {"query": "Dallas weather station"})]


def test_anthropic_round_trip_through_run_stream(fake: FakeProvider) -> None:
    anthropic = pytest.importorskip("anthropic")
    builders = pytest.importorskip("polycall.testing.anthropic")
    fake.push(builders.message_stream(SEED_CALLS), builders.message(FOLLOW_UP))
    client = polycall.from_anthropic(anthropic.Anthropic(base_url=fake.url, api_key="test", max_retries=0))
    stream = client.create_iterable(
        model="claude-sonnet-4-6", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )

    results = polycall.run_stream(stream, ROUND_TRIP)
    calls = stream.result
    replies = calls.tool_results(results)

    (turn,) = replies
    assert turn["role"] == "user"
    assert [b["tool_use_id"] for b in turn["content"]] == [c.id for c in calls.calls]
    assert [b.get("is_error", False) for b in turn["content"]] == [False, True, False]
    assert turn["content"][1]["content"] == "Error: RuntimeError: station offline"
    client.create(
        model="claude-sonnet-4-6",
        messages=[*SEED_MESSAGES, calls.assistant_message(), *replies],
        response_model=SEED_MODEL,
    )
    sent = fake.last.json["messages"]
    assert [b["id"] for b in sent[-2]["content"]] == [b["tool_use_id"] for b in sent[-1]["content"]]
    assert sent[-1]["content"][1]["is_error"] is True


def test_responses_round_trip_through_run(fake: FakeProvider) -> None:
    builders = pytest.importorskip("polycall.testing.openai_responses")
    fake.push(builders.response_body(SEED_CALLS), builders.response_body(FOLLOW_UP))
    sdk = openai.OpenAI(base_url=fake.url + "/v1", api_key="test", max_retries=0)
    client = polycall.from_openai(sdk, mode=polycall.Mode.RESPONSES_PARALLEL_TOOLS)
    calls = client.create(model="gpt-4o-mini", messages=SEED_MESSAGES, response_model=SEED_MODEL)

    results = calls.run(ROUND_TRIP)
    replies = calls.tool_results(results)

    assert [r["call_id"] for r in replies] == [c.id for c in calls.calls]
    assert [r["output"] for r in replies] == [
        '{"location": "Toronto", "temperature": 21}', "Error: RuntimeError: station offline", "KC",
    ]
    client.create(
        model="gpt-4o-mini",
        messages=[*SEED_MESSAGES, calls.assistant_message(), *replies],
        response_model=SEED_MODEL,
    )
    sent = fake.last.json["input"]
    outputs = [item for item in sent if item.get("type") == "function_call_output"]
    asked = [item for item in sent if item.get("type") == "function_call"]
    assert [item["output"] for item in outputs] == [r["output"] for r in replies]
    assert [item["call_id"] for item in asked] == [item["call_id"] for item in outputs]


def test_gemini_round_trip_through_run(fake: FakeProvider) -> None:
    builders = pytest.importorskip("polycall.testing.gemini")
    pytest.importorskip("google.genai")
    fake.push(builders.generate_content(SEED_CALLS), builders.generate_content(FOLLOW_UP))
    client = polycall.from_genai(builders.genai_client(fake))
    calls = client.create(model="gemini-2.0-flash", messages=SEED_MESSAGES, response_model=SEED_MODEL)

    results = calls.run(ROUND_TRIP)
    (reply,) = calls.tool_results(results)

    responses = [part.function_response for part in reply.parts]
    assert [r.name for r in responses] == ["Weather", "Weather", "GoogleSearch"]
    assert responses[1].response == {"error": "Error: RuntimeError: station offline"}
    assert responses[2].response == {"output": "KC"}
    client.create(
        model="gemini-2.0-flash",
        messages=[*SEED_MESSAGES, calls.assistant_message(), reply],
        response_model=SEED_MODEL,
    )
    sent = fake.last.json["contents"][-1]["parts"]
    assert [p["functionResponse"]["response"] for p in sent] == [r.response for r in responses]


class _Watched:
    """A semaphore that says when its holder waits on it."""

    def __init__(self, inner: threading.Semaphore) -> None:
        self.inner = inner
        self.waiting = threading.Event()

    def acquire(self) -> bool:
        if self.inner.acquire(blocking=False):
            return True
        self.waiting.set()
        return self.inner.acquire()

    def release(self) -> None:
        self.inner.release()


def test_a_tool_loops_stream_is_read_only_a_few_chunks_ahead_of_its_reader() -> None:
    """While the caller is busy elsewhere, the worker thread reading the SDK stream waits
    for it, instead of reading a runaway stream into memory before its limits are seen."""
    from contextlib import contextmanager

    from polycall.running import ThreadTasks

    pulled = 0

    @contextmanager
    def stream() -> Any:
        def chunks() -> Any:
            nonlocal pulled
            for chunk in range(10_000):
                pulled += 1
                yield chunk

        yield chunks()

    with ThreadTasks() as tasks:
        reading = tasks.chunks(stream())
        room = reading.room = _Watched(reading.room)  # type: ignore[assignment]
        with reading:
            assert next(reading) == 0
            assert room.waiting.wait(10)  # the reader stopped to wait for its caller
            ahead = pulled
            assert next(reading) == 1  # and goes on, a chunk at a time, as it is read
    reading.thread.join(10)  # told to stop, the reader leaves the stream
    assert ahead <= 6 and pulled < 10 and not reading.thread.is_alive()
