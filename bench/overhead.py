"""How much time polycall adds to calling the OpenAI SDK and validating the calls by hand.

Every contender drives the real `openai` SDK over an in-process mock HTTP transport that
answers with a prebuilt chat completion of N parallel tool calls, so what is measured is
the client-side work: the SDK, JSON parsing, validation and the library's own code. The
contenders run interleaved, round-robin, in one process, so machine noise hits all alike;
overheads are the median over rounds of each contender's time over the floor's in the same
round. Time is this thread's CPU time by default (`--clock wall` for elapsed time).

    python bench/overhead.py            # full run (about a minute on 2 cores)
    python bench/overhead.py --quick    # fewer rounds, for a smoke test
    python bench/overhead.py --only polycall --parts stream   # streaming, polycall vs floor

Needs polycall with the openai extra; instructor is optional ("not installed" otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from pydantic import BaseModel

import polycall

try:
    import instructor
except ImportError:
    instructor = None

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You must always use tools"},
    {
        "role": "user",
        "content": "What is the weather in toronto and dallas and who won the super bowl?",
    },
]
SIZES = (1, 3, 10, 100)
STREAM_SIZES = (3, 10, 100)
CONCURRENCY = 50
PARTS = ("whole", "stream", "async")  # what --parts can pick
NOT_INSTALLED = "not installed"
FLOOR = "by hand (floor)"
BY_HAND_JSON = "by hand, validate_json"


class Weather(BaseModel):
    location: str
    units: Literal["imperial", "metric"]


class GoogleSearch(BaseModel):
    query: str


MODELS: dict[str, type[BaseModel]] = {"Weather": Weather, "GoogleSearch": GoogleSearch}


# ---------------------------------------------------------------- the scripted provider


def expected(n: int) -> list[BaseModel]:
    """The N calls every response holds: two weather look-ups, then a search, repeated."""
    values: list[BaseModel] = []
    for i in range(n):
        if i % 3 == 2:
            values.append(GoogleSearch(query=f"who won the super bowl in {1967 + i}"))
        else:
            values.append(
                Weather(location=f"City number {i}", units="metric" if i % 2 else "imperial")
            )
    return values


def _tool_calls(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i:04d}",
            "type": "function",
            "function": {"name": type(value).__name__, "arguments": value.model_dump_json()},
        }
        for i, value in enumerate(expected(n))
    ]


def completion_body(n: int) -> bytes:
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": _tool_calls(n)}
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls", "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": 80,
                "completion_tokens": 20 * n,
                "total_tokens": 80 + 20 * n,
            },
        }
    ).encode()


def stream_events(n: int, piece: int = 12) -> list[bytes]:
    """The same completion as SSE events, each call's arguments in `piece`-character deltas."""

    def event(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        chunk: dict[str, Any] = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": MODEL,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    events = [event({"role": "assistant", "content": None})]
    for i, call in enumerate(_tool_calls(n)):
        head = {**call, "index": i, "function": {"name": call["function"]["name"], "arguments": ""}}
        events.append(event({"tool_calls": [head]}))
        text = call["function"]["arguments"]
        for start in range(0, len(text), piece):
            fragment = {"index": i, "function": {"arguments": text[start : start + piece]}}
            events.append(event({"tool_calls": [fragment]}))
    events.append(event({}, "tool_calls"))
    events.append(
        event(
            None,
            usage={"prompt_tokens": 80, "completion_tokens": 20 * n, "total_tokens": 80 + 20 * n},
        )
    )
    events.append(b"data: [DONE]\n\n")
    return events


def _http() -> Any:
    """The HTTP package the installed SDK is built on: `httpx2` (openai 3.x) or `httpx`."""
    from openai import _base_client

    return getattr(_base_client, "httpx2", None) or _base_client.httpx


@dataclass
class Script:
    """What the mock transport answers; set before each measurement."""

    body: bytes = b""
    events: list[bytes] = field(default_factory=list)
    streaming: bool = False
    served: int = 0  # events of the current stream handed to the SDK so far

    def serve(self) -> Any:
        """The events one by one, counting each as the SDK reads it."""
        self.served = 0
        for event in self.events:
            self.served += 1
            yield event


def sdk_clients(script: Script) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
    http = _http()

    def handler(request: Any) -> Any:
        if script.streaming:
            headers = {"content-type": "text/event-stream"}
            return http.Response(200, headers=headers, content=script.serve())
        return http.Response(200, headers={"content-type": "application/json"}, content=script.body)

    transport = http.MockTransport(handler)
    kwargs = {"api_key": "sk-bench", "base_url": "http://bench.invalid/v1", "max_retries": 0}
    sync = openai.OpenAI(http_client=http.Client(transport=transport), **kwargs)
    async_ = openai.AsyncOpenAI(http_client=http.AsyncClient(transport=transport), **kwargs)
    return sync, async_


# ---------------------------------------------------------------- the contenders

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": model.__doc__ or "",
            "parameters": model.model_json_schema(),
        },
    }
    for name, model in MODELS.items()
]
STRICT_TOOLS = [openai.pydantic_function_tool(model) for model in MODELS.values()]


def by_hand(completion: Any) -> list[BaseModel]:
    """The floor: json.loads and model_validate on each call, nothing else."""
    return [
        MODELS[tc.function.name].model_validate(json.loads(tc.function.arguments))
        for tc in completion.choices[0].message.tool_calls
    ]


def by_hand_json(completion: Any) -> list[BaseModel]:
    """A faster hand-written loop: `model_validate_json` on each call's text, one pass each."""
    return [
        MODELS[tc.function.name].model_validate_json(tc.function.arguments)
        for tc in completion.choices[0].message.tool_calls
    ]


def _parse_fn(client: Any) -> Callable[..., Any] | None:
    for owner in (client.chat.completions, getattr(getattr(client, "beta", None), "chat", None)):
        completions = getattr(owner, "completions", owner)
        if hasattr(completions, "parse"):
            return completions.parse  # type: ignore[no-any-return]
    return None


def _stream_fn(client: Any) -> Callable[..., Any] | None:
    for owner in (client.chat.completions, getattr(getattr(client, "beta", None), "chat", None)):
        completions = getattr(owner, "completions", owner)
        if hasattr(completions, "stream"):
            return completions.stream  # type: ignore[no-any-return]
    return None


@dataclass
class Contender:
    name: str
    run: Callable[[], list[BaseModel]] | None = None  # one whole request
    arun: Callable[[], Any] | None = None  # one awaited request
    stream: Callable[[Callable[[], None]], list[BaseModel]] | None = (
        None  # calls mark() at 1st value
    )
    note: str = ""


def contenders(sync: openai.OpenAI, async_: openai.AsyncOpenAI) -> list[Contender]:
    request = {"model": MODEL, "messages": MESSAGES}

    def floor() -> list[BaseModel]:
        return by_hand(sync.chat.completions.create(**request, tools=TOOLS, tool_choice="required"))

    async def afloor() -> list[BaseModel]:
        return by_hand(
            await async_.chat.completions.create(**request, tools=TOOLS, tool_choice="required")
        )

    def floor_stream(mark: Callable[[], None]) -> list[BaseModel]:
        out: list[BaseModel] = []
        calls: list[list[Any]] = []  # [name, argument parts]

        def close_last() -> None:
            name, parts = calls[-1]
            out.append(MODELS[name].model_validate(json.loads("".join(parts))))
            if len(out) == 1:
                mark()

        chunks = sync.chat.completions.create(
            **request,
            tools=TOOLS,
            tool_choice="required",
            stream=True,
            stream_options={"include_usage": True},
        )
        try:
            for chunk in chunks:
                for choice in chunk.choices:
                    for tc in choice.delta.tool_calls or []:
                        if tc.index >= len(calls):
                            if calls:
                                close_last()
                            calls.append([tc.function.name, []])
                        calls[tc.index][1].append(tc.function.arguments or "")
                    if choice.finish_reason and calls:
                        close_last()
        finally:
            chunks.close()
        return out

    def fastest() -> list[BaseModel]:
        return by_hand_json(
            sync.chat.completions.create(**request, tools=TOOLS, tool_choice="required")
        )

    async def afastest() -> list[BaseModel]:
        return by_hand_json(
            await async_.chat.completions.create(**request, tools=TOOLS, tool_choice="required")
        )

    listed: list[Contender] = [
        Contender(FLOOR, floor, afloor, floor_stream),
        Contender(BY_HAND_JSON, fastest, afastest, note="whole responses only"),
    ]

    parse, aparse, helper = _parse_fn(sync), _parse_fn(async_), _stream_fn(sync)
    if parse is None or aparse is None:
        listed.append(Contender("openai .parse", note="no chat.completions.parse in this SDK"))
    else:

        def parsed(completion: Any) -> list[BaseModel]:
            return [tc.function.parsed_arguments for tc in completion.choices[0].message.tool_calls]

        def oparse() -> list[BaseModel]:
            return parsed(parse(**request, tools=STRICT_TOOLS))

        async def aoparse() -> list[BaseModel]:
            return parsed(await aparse(**request, tools=STRICT_TOOLS))

        def ostream(mark: Callable[[], None]) -> list[BaseModel]:
            out: list[BaseModel] = []
            with helper(**request, tools=STRICT_TOOLS) as events:  # type: ignore[misc]
                for event in events:
                    if event.type == "tool_calls.function.arguments.done":
                        out.append(event.parsed_arguments)
                        if len(out) == 1:
                            mark()
            return out

        listed.append(Contender("openai .parse", oparse, aoparse, ostream if helper else None))

    if instructor is None:
        listed.append(Contender("instructor", note=NOT_INSTALLED))
    else:
        isync = instructor.from_openai(sync, mode=instructor.Mode.PARALLEL_TOOLS)
        iasync = instructor.from_openai(async_, mode=instructor.Mode.PARALLEL_TOOLS)

        def inst() -> list[BaseModel]:
            return list(
                isync.chat.completions.create(
                    **request, response_model=Iterable[Weather | GoogleSearch]
                )
            )

        async def ainst() -> list[BaseModel]:
            return list(
                await iasync.chat.completions.create(
                    **request, response_model=Iterable[Weather | GoogleSearch]
                )
            )

        listed.append(Contender("instructor", inst, ainst, note="PARALLEL_TOOLS does not stream"))

    psync, pasync = polycall.from_openai(sync), polycall.from_openai(async_)

    def poly() -> list[BaseModel]:
        return list(
            psync.chat.completions.create(
                **request, response_model=Iterable[Weather | GoogleSearch]
            )
        )

    async def apoly() -> list[BaseModel]:
        return list(
            await pasync.chat.completions.create(
                **request, response_model=Iterable[Weather | GoogleSearch]
            )
        )

    def pstream(mark: Callable[[], None]) -> list[BaseModel]:
        out: list[BaseModel] = []
        for value in psync.create_iterable(
            **request, response_model=Iterable[Weather | GoogleSearch]
        ):
            out.append(value)
            if len(out) == 1:
                mark()
        return out

    listed.append(Contender("polycall", poly, apoly, pstream))
    return listed


# ---------------------------------------------------------------- measuring

CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]
Samples = dict[str, list[Any]]  # contender -> one sample per round; round i of each is paired


def rounds(items: list[Contender], reps: int, measure: Callable[[Contender], Any]) -> Samples:
    """`reps` rounds; each runs every contender once, back to back, the order rotated each round.

    The heap is collected (untimed) before each request, so each contender's time holds the
    collections its own garbage causes, not those of the contender before it (instructor's
    per-request model classes are cyclic garbage that only a collection frees).
    """
    samples: Samples = {c.name: [] for c in items}
    for rep in range(reps):
        k = rep % len(items)
        for contender in items[k:] + items[:k]:
            gc.collect()
            samples[contender.name].append(measure(contender))
    return samples


def check(name: str, got: list[BaseModel], want: list[BaseModel]) -> None:
    if got != want or [type(v) for v in got] != [type(v) for v in want]:
        raise SystemExit(f"{name} returned {got[:3]}... instead of {want[:3]}...")


def timed(fn: Callable[[], Any]) -> float:
    start = clock()
    fn()
    return clock() - start


def bench_whole(items: list[Contender], script: Script, reps: int) -> dict[int, Samples]:
    """Seconds per whole (non-streamed) request, for each N."""
    runnable = [c for c in items if c.run]
    script.streaming = False
    table: dict[int, Samples] = {}
    for n in SIZES:
        script.body = completion_body(n)
        for contender in runnable:
            for _ in range(20):  # warm-up: caches, lazy imports
                check(contender.name, contender.run(), expected(n))  # type: ignore[misc]
        count = reps if n < 100 else max(reps // 4, 10)
        table[n] = rounds(runnable, count, lambda c: timed(c.run))  # type: ignore[arg-type]
    return table


def bench_stream(items: list[Contender], script: Script, reps: int) -> dict[int, Samples]:
    """(seconds to the first validated call, seconds to the end) per streamed request."""
    runnable = [c for c in items if c.stream]
    script.streaming = True
    table: dict[int, Samples] = {}
    for n in STREAM_SIZES:
        script.events = stream_events(n)
        for contender in runnable:
            for _ in range(10):
                check(contender.name, contender.stream(lambda: None), expected(n))  # type: ignore[misc]

        def one(contender: Contender) -> tuple[float, float, int]:
            first: list[tuple[float, int]] = []
            start = clock()
            contender.stream(lambda: first.append((clock(), script.served)))  # type: ignore[misc]
            return first[0][0] - start, clock() - start, first[0][1]

        table[n] = rounds(runnable, max(reps // 2, 10), one)
    script.streaming = False
    return table


def bench_async(items: list[Contender], script: Script, reps: int, n: int = 3) -> Samples:
    """Seconds per request when CONCURRENCY requests run at once on one event loop."""
    runnable = [c for c in items if c.arun]
    script.streaming, script.body = False, completion_body(n)

    async def batch(contender: Contender) -> list[list[BaseModel]]:
        return await asyncio.gather(*(contender.arun() for _ in range(CONCURRENCY)))  # type: ignore[misc]

    async def main() -> Samples:
        for contender in runnable:
            for got in await batch(contender):
                check(contender.name, got, expected(n))
        samples: Samples = {c.name: [] for c in runnable}
        for rep in range(max(reps // 10, 5)):
            k = rep % len(runnable)
            for contender in runnable[k:] + runnable[:k]:
                gc.collect()  # as in rounds()
                start = clock()
                await batch(contender)
                samples[contender.name].append((clock() - start) / CONCURRENCY)
        return samples

    return asyncio.run(main())


# ---------------------------------------------------------------- reporting


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def median_p90(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{us(statistics.median(ordered))} / {us(ordered[int(0.9 * (len(ordered) - 1))])}"


def overhead(values: list[float], floor: list[float]) -> str:
    """The median over rounds of this contender's time over the floor's in the same round."""
    ratio = statistics.median(v / f for v, f in zip(values, floor))
    return f"{ratio:.2f}x ({(ratio - 1) * 100:+.1f}%)"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---:|" * len(head),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]


def report(items: list[Contender], whole: Any, stream: Any, concurrent: Samples | None) -> str:
    """The tables of the parts that ran (`whole` and `stream` empty, `concurrent` None if not)."""
    names = [c.name for c in items]
    others = items[1:]

    def missing(c: Contender) -> str:
        return c.note or "n/a"

    lines: list[str] = []
    if whole:
        lines += ["### Whole response: µs per request, median / p90", ""]
        lines += table(
            ["N calls", *names],
            [
                [str(n), *(median_p90(row[c.name]) if c.name in row else missing(c) for c in items)]
                for n, row in whole.items()
            ],
        )
        lines += ["### Whole response: time over the floor (median of per-round ratios)", ""]
        lines += table(
            ["N calls", *names[1:]],
            [
                [
                    str(n),
                    *(
                        overhead(row[c.name], row[FLOOR]) if c.name in row else missing(c)
                        for c in others
                    ),
                ]
                for n, row in whole.items()
            ],
        )

    def first(row: Samples, name: str) -> list[float]:
        return [f for f, _, _ in row[name]]

    def total(row: Samples, name: str) -> list[float]:
        return [t for _, t, _ in row[name]]

    def event(row: Samples, name: str) -> int:
        return int(statistics.median(e for _, _, e in row[name]))

    def streamed(row: Samples, c: Contender) -> str:
        text = (
            f"{us(statistics.median(first(row, c.name)))} (event {event(row, c.name)}) / "
            f"{us(statistics.median(total(row, c.name)))}"
        )
        if c.name == FLOOR:
            return text
        return (
            f"{text} (first {overhead(first(row, c.name), first(row, FLOOR))}, "
            f"end {overhead(total(row, c.name), total(row, FLOOR))})"
        )

    if stream:
        lines += [
            (
                "### Streaming: µs to the first validated call (the event it came at) / to the"
                " end, medians; first and end over the floor"
            ),
            "",
        ]
        lines += table(
            ["N calls", *names],
            [
                [str(n), *(streamed(row, c) if c.name in row else missing(c) for c in items)]
                for n, row in stream.items()
            ],
        )
    if concurrent is not None:
        title = f"### AsyncOpenAI, {CONCURRENCY} concurrent requests of 3 calls: µs per request"
        lines += [title + ", median / p90, and over the floor", ""]
        lines += table(
            names,
            [
                [
                    (
                        median_p90(concurrent[c.name])
                        + (
                            ""
                            if c.name == FLOOR
                            else f" ({overhead(concurrent[c.name], concurrent[FLOOR])})"
                        )
                    )
                    if c.name in concurrent
                    else missing(c)
                    for c in items
                ]
            ],
        )
    return "\n".join(lines)


def versions() -> str:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return NOT_INSTALLED

    packages = ("polycall", "openai", "httpx2", "httpx", "pydantic", "pydantic-core", "instructor")
    return (
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        + ", ".join(f"{p} {version(p)}" for p in packages)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=400, help="rounds per N (N=100 runs a quarter)")
    parser.add_argument(
        "--quick", action="store_true", help="40 rounds: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default="cpu",
        help="cpu: this thread's CPU time (default; everything runs on it, with no I/O, so other "
        "processes taking the CPU do not count); wall: elapsed time",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated contenders to run besides the floor, e.g. polycall,instructor",
    )
    parser.add_argument(
        "--parts",
        metavar="PARTS",
        default=",".join(PARTS),
        help="comma-separated parts to measure, of: whole, stream, async (default: all)",
    )
    args = parser.parse_args()
    parts = {part.strip() for part in args.parts.split(",")}
    if not parts <= set(PARTS):
        parser.error(f"--parts takes {', '.join(PARTS)}")
    reps = 40 if args.quick else args.reps
    global clock
    clock = CLOCKS[args.clock]

    script = Script()
    sync, async_ = sdk_clients(script)
    items = contenders(sync, async_)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        items = [c for c in items if c.name in (FLOOR, BY_HAND_JSON) or c.name in wanted]
    print(versions() + f"; clock: {args.clock}", flush=True)
    gc.collect()
    gc.freeze()  # set-up objects out of the collector's way, the same for every contender
    whole = bench_whole(items, script, reps) if "whole" in parts else {}
    stream = bench_stream(items, script, reps) if "stream" in parts else {}
    concurrent = bench_async(items, script, reps) if "async" in parts else None
    print()
    print(report(items, whole, stream, concurrent))


if __name__ == "__main__":
    main()
