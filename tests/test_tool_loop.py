"""The tool loop (`run_tools` / `iter_tools`) through the real SDKs against the fake provider.

Every step streams, so the fake serves streamed responses. No timing asserts: ordering is
proven with gates, concurrency with a counter, timeouts with handlers blocked on an event
that never fires.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

import polycall
from helpers import anthropic_client, function_responses, openai_client, vertexai_at
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, GoogleSearch, Weather
from polycall import (
    ConfigurationError,
    IncompleteOutputError,
    MaxStepsExceeded,
    Mode,
    PolycallError,
    RefusalError,
    ToolCall,
    ToolResult,
    ToolRun,
)
from polycall.testing import FakeProvider, Gate, Response, server
from polycall.testing.anthropic import message_stream
from polycall.testing.gemini import gemini_stream, genai_client, vertex_stream
from polycall.testing.openai import chat_stream
from polycall.testing.openai_responses import response_stream
from test_running import WAIT, Peak

pytestmark = pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")

ANSWER = "Toronto 18°C, Dallas 75°F; the Chiefs won."
OUTPUTS = ["Toronto: metric", "Dallas: imperial", "Kansas City"]


def weather(w: Weather) -> str:
    return f"{w.location}: {w.units}"


async def search(s: GoogleSearch) -> str:
    return "Kansas City"


HANDLERS: dict[Any, Any] = {Weather: weather, GoogleSearch: search}


@dataclass(frozen=True)
class Wire:
    """One provider API as the loop sees it: its clients, its streams, its step-2 request."""

    name: str
    client: Callable[[FakeProvider, bool], Any]
    calls: Callable[..., Response]  # a streamed response calling `calls`
    text: Callable[[str], Response]  # a streamed text answer
    results: Callable[[Any], list[tuple[str, Any]]]  # the tool results a request carries
    choice: Callable[[Any], Any]  # the tool choice a request sends (None: left out)
    kwargs: tuple[tuple[str, Any], ...] = ()


def _chat_results(body: Any) -> list[tuple[str, Any]]:
    return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]


def _responses_results(body: Any) -> list[tuple[str, Any]]:
    return [(i["call_id"], i["output"]) for i in body["input"] if i.get("type") == "function_call_output"]


def _anthropic_results(body: Any) -> list[tuple[str, Any]]:
    return [
        (block["tool_use_id"], block["content"])
        for message in body["messages"] if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"] if block["type"] == "tool_result"
    ]


def _gemini_results(body: Any) -> list[tuple[str, Any]]:
    return [
        (response["name"], response["response"])
        for content in body["contents"] if content["role"] == "user"
        for response in function_responses(content)
    ]


def _vertex_client(fake: FakeProvider, is_async: bool) -> Any:
    from vertexai.generative_models import GenerativeModel

    return polycall.from_vertexai(GenerativeModel("gemini-1.5-pro"), use_async=is_async)


WIRES = [
    Wire(
        "chat",
        lambda fake, is_async: openai_client(fake, is_async=is_async),
        chat_stream,
        lambda text: chat_stream(text=text),
        _chat_results,
        lambda body: body.get("tool_choice"),
        (("model", "gpt-4o-mini"),),
    ),
    Wire(
        "responses",
        lambda fake, is_async: openai_client(fake, is_async=is_async, mode=Mode.RESPONSES_PARALLEL_TOOLS),
        response_stream,
        lambda text: response_stream(text=text),
        _responses_results,
        lambda body: body.get("tool_choice"),
        (("model", "gpt-4o-mini"),),
    ),
    Wire(
        "anthropic",
        lambda fake, is_async: anthropic_client(fake, is_async=is_async),
        message_stream,
        lambda text: message_stream(text=text),
        _anthropic_results,
        lambda body: body.get("tool_choice"),
        (("model", "claude-sonnet-4-6"),),
    ),
    Wire(
        "genai",
        lambda fake, is_async: polycall.from_genai(
            genai_client(fake).aio if is_async else genai_client(fake), model="gemini-2.5-flash"
        ),
        gemini_stream,
        lambda text: gemini_stream(text=text),
        _gemini_results,
        lambda body: body.get("toolConfig"),
    ),
    Wire(
        "vertexai",
        _vertex_client,
        vertex_stream,
        lambda text: vertex_stream(text=text),
        _gemini_results,
        lambda body: body.get("toolConfig"),
    ),
]
BY_NAME = {wire.name: wire for wire in WIRES}


@pytest.fixture(params=WIRES, ids=lambda wire: wire.name)
def wire(request: pytest.FixtureRequest, fake: FakeProvider) -> Iterator[Wire]:
    w: Wire = request.param
    if w.name == "vertexai":
        with vertexai_at(fake):
            yield w
    else:
        yield w


@pytest.fixture
def chat() -> Wire:
    return BY_NAME["chat"]


@pytest.fixture
def never() -> Iterator[threading.Event]:
    """An event no handler sees fire while the test runs; set afterwards to free threads."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def short_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream held at a gate goes on after 3 s, so a failing ordering test fails fast."""
    monkeypatch.setattr(server, "GATE_TIMEOUT", 3.0)


def options(wire: Wire, **kwargs: Any) -> dict[str, Any]:
    return {
        "messages": SEED_MESSAGES, "response_model": SEED_MODEL, "handlers": HANDLERS,
        **dict(wire.kwargs), **kwargs,
    }


def run_tools(fake: FakeProvider, wire: Wire, **kwargs: Any) -> ToolRun[Any]:
    run: ToolRun[Any] = wire.client(fake, False).run_tools(**options(wire, **kwargs))
    return run


def bodies(fake: FakeProvider) -> list[Any]:
    return [request.json for request in fake.requests]


def expected_results(wire: Wire, run: ToolRun[Any]) -> list[tuple[str, Any]]:
    if wire.results is _gemini_results:
        return [(name, {"output": out}) for (name, _), out in zip(SEED_CALLS, OUTPUTS)]
    return [(call.id, out) for call, out in zip(run.steps[0].calls.calls, OUTPUTS)]


# --- a two-step run on every provider --------------------------------------------------------


def test_a_two_step_run_answers_each_call_once_then_returns_the_text(
    fake: FakeProvider, wire: Wire
) -> None:
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))

    run = run_tools(fake, wire)

    assert run.text == ANSWER and run.output is None
    (step,) = run.steps
    assert [type(value) for value in step.calls] == [Weather, Weather, GoogleSearch]
    assert [r.value for r in step.results] == OUTPUTS
    assert [r.call for r in step.results] == step.calls.calls and step.failures == []
    first, second = bodies(fake)
    assert wire.results(first) == []
    assert wire.results(second) == expected_results(wire, run)  # one result per call, in order
    assert wire.choice(first) is not None  # step 1 forces a call, as create() does
    assert wire.choice(second) is None  # then the model may answer
    assert run.usage == polycall.Usage(20, 40)  # 10 + 20 per response


def test_the_run_messages_continue_the_conversation(fake: FakeProvider, wire: Wire) -> None:
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))
    client = wire.client(fake, False)
    run = client.run_tools(**options(wire))

    fake.push(wire.calls([SEED_CALLS[0]]))
    calls = list(client.create_iterable(messages=run.messages, response_model=SEED_MODEL, **dict(wire.kwargs)))

    assert list(calls) == [Weather(location="Toronto", units="metric")]
    assert wire.results(fake.last.json) == expected_results(wire, run)
    assert run.messages[: len(SEED_MESSAGES)] == SEED_MESSAGES


async def test_async_two_step_run(fake: FakeProvider, wire: Wire) -> None:
    if wire.name == "vertexai" and importlib.util.find_spec("aiohttp") is None:
        pytest.skip("async REST in the Vertex AI SDK needs aiohttp")
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))

    run = await wire.client(fake, True).run_tools(**options(wire))

    assert run.text == ANSWER
    assert [r.value for r in run.steps[0].results] == OUTPUTS
    assert wire.results(bodies(fake)[1]) == expected_results(wire, run)
    assert wire.choice(bodies(fake)[1]) is None
    assert run.usage == polycall.Usage(20, 40)
