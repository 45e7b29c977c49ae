"""Time per call as a response grows from 100 to 5,000 parallel tool calls, whole and streamed.

polycall's work per call must not grow with the number of calls in the response (no
re-scan of earlier calls, no re-parse of a growing buffer): the figures should be flat.
The real `openai` SDK runs over the in-process mock transport of `overhead.py`, on the
same scripted responses; each size is measured `--reps` times and the median is reported,
as this thread's CPU time per call, for polycall and for the floor (the SDK, `json.loads`
and `model_validate` by hand, or for streams the SDK's own chunk parsing alone).

    python bench/large_responses.py           # a few minutes on 2 cores
    python bench/large_responses.py --quick   # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from overhead import (
    MESSAGES,
    MODEL,
    GoogleSearch,
    Script,
    Weather,
    by_hand,
    completion_body,
    expected,
    sdk_clients,
    stream_events,
)

import polycall

SIZES = (100, 500, 1000, 2000, 5000)
RESPONSE_MODEL = Iterable[Weather | GoogleSearch]


def per_call(fn: Callable[[], Any], n: int, reps: int) -> float:
    """The median over `reps` runs of `fn`'s thread CPU time, divided by `n` (seconds)."""
    times = []
    for _ in range(reps):
        start = time.thread_time()
        fn()
        times.append(time.thread_time() - start)
    return statistics.median(times) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 reps per size")
    args = parser.parse_args()
    reps = 2 if args.quick else args.reps

    script = Script()
    sdk, _ = sdk_clients(script)
    client = polycall.from_openai(sdk, limits=polycall.Limits(max_calls=max(SIZES)))
    ask = {"model": MODEL, "messages": MESSAGES, "response_model": RESPONSE_MODEL}

    def whole() -> Any:
        return client.create(**ask)

    def streamed() -> Any:
        return list(client.create_iterable(**ask))

    def floor_whole() -> Any:
        return by_hand(sdk.chat.completions.create(model=MODEL, messages=MESSAGES))

    def floor_stream() -> Any:
        return list(sdk.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))

    print("| calls | whole: polycall | whole: floor | streamed: polycall | streamed: SDK chunks only |")
    print("|---:|---:|---:|---:|---:|")
    for n in SIZES:
        script.body, script.events = completion_body(n), stream_events(n)
        script.streaming = False
        assert list(whole()) == expected(n)
        figures = [per_call(whole, n, reps), per_call(floor_whole, n, reps)]
        script.streaming = True
        assert streamed() == expected(n)
        figures += [per_call(streamed, n, reps), per_call(floor_stream, n, reps)]
        print(f"| {n:,} | " + " | ".join(f"{t * 1e6:.1f} µs" for t in figures) + " |")


if __name__ == "__main__":
    main()
