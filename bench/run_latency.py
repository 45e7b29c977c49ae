"""How soon the tool calls are all handled: sequential, `calls.run`, and pipelined `run_stream`.

The model is played by the fake provider: it answers with three calls that become complete
150 ms apart (at 150, 300 and 450 ms after the request; the response ends with the last
one), paced by gates that timer threads open. Each handler takes 200 ms (in the last two
rows, the first call's takes 600 ms). The wall time of each strategy is measured from the
request to the last handler's result.

    python bench/run_latency.py             # a warm-up round, then 5 rounds; medians
    python bench/run_latency.py --rounds 1  # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import openai
from pydantic import BaseModel

import polycall
from polycall.testing import FakeProvider, Gate, Request, Response, stream_response
from polycall.testing.openai import chat_chunk, chat_completion, chat_sse

GAP = 0.150  # between two calls becoming complete in the stream
WORK = 0.200  # one handler's run time
SLOW = 0.600  # the first call's handler, in the "slow first handler" rows
CALLS = [
    ("Weather", {"location": "Toronto", "units": "metric"}),
    ("Weather", {"location": "Dallas", "units": "imperial"}),
    ("GoogleSearch", {"query": "who won the super bowl"}),
]
MESSAGES = [{"role": "user", "content": "Weather in Toronto and Dallas, and who won the Super Bowl?"}]


class Weather(BaseModel):
    location: str
    units: Literal["imperial", "metric"]


class GoogleSearch(BaseModel):
    query: str


RESPONSE_MODEL = list[Weather | GoogleSearch]


def paced(request: Request) -> Response:
    """The scripted model: call k is complete (k + 1) * GAP seconds after the request."""
    gates = [Gate() for _ in CALLS]
    for k, gate in enumerate(gates):
        timer = threading.Timer((k + 1) * GAP, gate.open)
        timer.daemon = True
        timer.start()
    if not (request.json or {}).get("stream"):
        return stream_response([gates[-1], json.dumps(chat_completion(CALLS).body)])  # all at once
    events: list[Any] = [chat_chunk({"role": "assistant", "content": None})]
    for i, (name, arguments) in enumerate(CALLS):
        head = {"index": i, "id": f"call_{i}", "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)}}
        if i:
            events.append(gates[i - 1])  # call i - 1 is complete once call i begins
        events.append(chat_chunk({"tool_calls": [head]}))
    events += [gates[-1], chat_chunk({}, "tool_calls"), chat_chunk(usage=(10, 20))]
    return chat_sse(events)


def weather(w: Weather) -> str:
    time.sleep(WORK)
    return f"{w.location}: sunny"


def slow_weather(w: Weather) -> str:
    time.sleep(SLOW if w.location == "Toronto" else WORK)
    return f"{w.location}: sunny"


def search(s: GoogleSearch) -> str:
    time.sleep(WORK)
    return "Kansas City"


async def aweather(w: Weather) -> str:
    await asyncio.sleep(WORK)
    return f"{w.location}: sunny"


async def asearch(s: GoogleSearch) -> str:
    await asyncio.sleep(WORK)
    return "Kansas City"


HANDLERS: dict[Any, Callable[..., Any]] = {Weather: weather, GoogleSearch: search}
ASYNC_HANDLERS: dict[Any, Callable[..., Any]] = {Weather: aweather, GoogleSearch: asearch}
SLOW_FIRST: dict[Any, Callable[..., Any]] = {Weather: slow_weather, GoogleSearch: search}


def strategies(url: str) -> list[tuple[str, float, Callable[[], list[Any]]]]:
    """(name, ideal seconds from the schedule, function) for each way of running the calls."""
    client = polycall.from_openai(openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0))
    aclient = polycall.from_openai(openai.AsyncOpenAI(base_url=url + "/v1", api_key="bench", max_retries=0))
    aloop = asyncio.new_event_loop()  # one loop for every async run: the async client lives on it
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "response_model": RESPONSE_MODEL}
    n, last = len(CALLS), len(CALLS) * GAP

    def sequential() -> list[Any]:
        calls = client.create(**kwargs)
        return [HANDLERS[type(value)](value) for value in calls]

    def in_stream_loop() -> list[Any]:
        return [HANDLERS[type(value)](value) for value in client.create_iterable(**kwargs)]

    def run(handlers: dict[Any, Callable[..., Any]] = HANDLERS, **options: Any) -> Callable[[], list[Any]]:
        return lambda: client.create(**kwargs).run(handlers, **options)

    def run_stream(
        handlers: dict[Any, Callable[..., Any]] = HANDLERS, **options: Any
    ) -> Callable[[], list[Any]]:
        return lambda: polycall.run_stream(client.create_iterable(**kwargs), handlers, **options)

    def arun_stream() -> list[Any]:
        stream = aclient.create_iterable(**kwargs)
        return aloop.run_until_complete(polycall.arun_stream(stream, ASYNC_HANDLERS))

    return [
        ("create, then each handler in turn", last + n * WORK, sequential),
        ("each handler inside `for call in create_iterable()`", GAP + n * WORK, in_stream_loop),
        ("create, then calls.run()", last + WORK, run()),
        ("run_stream()", last + WORK, run_stream()),
        ("arun_stream(), async handlers", last + WORK, arun_stream),
        ("create, then calls.run(max_concurrency=1)", last + n * WORK, run(max_concurrency=1)),
        ("run_stream(max_concurrency=1)", GAP + n * WORK, run_stream(max_concurrency=1)),
        ("slow first handler: create, then calls.run()", last + SLOW, run(SLOW_FIRST)),
        ("slow first handler: run_stream()", GAP + SLOW, run_stream(SLOW_FIRST)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each strategy (median shown)")
    rounds = parser.parse_args().rounds
    with FakeProvider() as fake:
        fake.respond_with(paced)
        plan = strategies(fake.url)
        times: dict[str, list[float]] = {name: [] for name, _, _ in plan}
        for _, _, fn in plan:  # warm up: connections, schemas, imports
            fn()
        for _ in range(rounds):  # interleaved, so machine noise hits every strategy alike
            for name, _, fn in plan:
                started = time.perf_counter()
                results = fn()
                times[name].append(time.perf_counter() - started)
                assert len(results) == len(CALLS), name
    print(f"{len(CALLS)} calls, {GAP * 1000:.0f} ms apart in the stream; each handler takes "
          f"{WORK * 1000:.0f} ms ({SLOW * 1000:.0f} ms for the first call's in the slow rows); "
          f"median of {rounds} round(s)\n")
    width = max(len(name) for name, _, _ in plan)
    print(f"| {'strategy':<{width}} | ideal (ms) | measured (ms) |")
    print(f"|{'-' * (width + 2)}|-----------:|--------------:|")
    for name, ideal, _ in plan:
        print(f"| {name:<{width}} | {ideal * 1000:10.0f} | {statistics.median(times[name]) * 1000:13.0f} |")


if __name__ == "__main__":
    main()
