"""What tracing costs: polycall with tracing off, and on, against the SDK called by hand.

The same scripted provider and measuring as `overhead.py` (interleaved rounds, medians of
each contender's time over the floor's in the same round). Tracing is switched per request:
"off" runs with `polycall.uninstrument()` in effect, "on" with `polycall.instrument()` into
an OpenTelemetry SDK tracer provider (spans handed to an exporter that drops them) and meter
provider. It also counts the Python function calls of one request, and those into
`polycall.tracing` and OpenTelemetry: with tracing off there are none.

    python bench/tracing.py            # needs polycall[openai,otel] and opentelemetry-sdk
    python bench/tracing.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import polycall
from polycall import tracing

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead  # the scripted provider and the measuring, shared
from overhead import FLOOR, GoogleSearch, Weather

SIZES = (1, 10)
OFF, ON = "polycall, tracing off", "polycall, tracing on"


class Dropped(SpanExporter):
    """Takes every span and keeps none: the cost of making spans, not of shipping them."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def switched_on() -> tracing.Telemetry:
    """The `Telemetry` that `instrument()` sets, kept to switch tracing on per request."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Dropped()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    polycall.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    telemetry = tracing.ACTIVE
    assert telemetry is not None
    polycall.uninstrument()
    return telemetry


def contenders(script: overhead.Script) -> list[overhead.Contender]:
    sync, async_ = overhead.sdk_clients(script)
    floor = next(c for c in overhead.contenders(sync, async_) if c.name == FLOOR)
    client = polycall.from_openai(sync)
    telemetry = switched_on()

    def request(state: tracing.Telemetry | None) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            tracing.ACTIVE = state
            return list(
                client.create(
                    model=overhead.MODEL,
                    messages=overhead.MESSAGES,
                    response_model=Iterable[Weather | GoogleSearch],
                )
            )

        return run

    return [
        floor,
        overhead.Contender(OFF, request(None)),
        overhead.Contender(ON, request(telemetry)),
    ]


def python_calls(run: Callable[[], Any]) -> tuple[int, int]:
    """The Python function calls one `run()` makes: all of them, and those into
    `polycall.tracing` or OpenTelemetry."""
    total = traced = 0
    tracing_file = tracing.__file__

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal total, traced
        if event == "call":
            total += 1
            filename = frame.f_code.co_filename
            traced += filename == tracing_file or "opentelemetry" in filename

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return total, traced


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=400, help="rounds per N")
    parser.add_argument("--quick", action="store_true", help="40 rounds: a smoke test")
    args = parser.parse_args()
    reps = 40 if args.quick else args.reps

    script = overhead.Script()
    items = contenders(script)
    print(overhead.versions() + "; clock: cpu", flush=True)
    gc.collect()
    gc.freeze()  # as in overhead.py: set-up objects out of the collector's way
    rows = []
    for n in SIZES:
        script.body = overhead.completion_body(n)
        for contender in items:
            for _ in range(20):  # warm-up: caches, lazy imports
                overhead.check(contender.name, contender.run(), overhead.expected(n))
        samples = overhead.rounds(items, reps, lambda c: overhead.timed(c.run))
        floor = samples[FLOOR]
        for contender in items:
            values = samples[contender.name]
            over = "" if contender.name == FLOOR else overhead.overhead(values, floor)
            total, traced = python_calls(contender.run) if contender.run else (0, 0)
            row = [overhead.median_p90(values), over, f"{total:,}", str(traced)]
            rows.append([str(n), contender.name, *row])
    tracing.ACTIVE = None
    head = ["N", "contender", "µs median / p90", "over the floor", "Python calls", "into tracing"]
    print()
    print("\n".join(overhead.table(head, rows)))


if __name__ == "__main__":
    main()
