"""The tool loop (`run_tools` / `iter_tools`) through the real SDKs against the fake provider.

Every step streams, so the fake serves streamed responses. No timing asserts: ordering is
proven with gates, concurrency with a counter, timeouts with handlers blocked on an event
that never fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

import polycall
from helpers import anthropic_client, function_responses, openai_client, vertexai_at
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import (
    ConfigurationError,
    IncompleteOutputError,
    MalformedOutputError,
    MaxStepsExceeded,
    Mode,
    PolycallError,
    RefusalError,
    ToolCall,
    ToolResult,
    ToolRun,
)
from polycall.testing import FakeProvider, Gate, Response
from polycall.testing.anthropic import message_stream
from polycall.testing.bedrock import bedrock_client, converse_stream
from polycall.testing.gemini import gemini_stream, genai_client, vertex_stream
from polycall.testing.openai import chat_chunk, chat_sse, chat_stream
from polycall.testing.openai_responses import response_stream
from test_running import WAIT, Peak
from test_stream_shapes import GATE, interleaved

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
    return [
        (i["call_id"], i["output"])
        for i in body["input"]
        if i.get("type") == "function_call_output"
    ]


def _anthropic_results(body: Any) -> list[tuple[str, Any]]:
    return [
        (block["tool_use_id"], block["content"])
        for message in body["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == "tool_result"
    ]


def _gemini_results(body: Any) -> list[tuple[str, Any]]:
    return [
        (response["name"], response["response"])
        for content in body["contents"]
        if content["role"] == "user"
        for response in function_responses(content)
    ]


def _bedrock_content(block: dict[str, Any]) -> Any:
    return block["text"] if "text" in block else block["json"]  # JSON objects go as `json`


def _bedrock_results(body: Any) -> list[tuple[str, Any]]:
    return [
        (block["toolResult"]["toolUseId"], _bedrock_content(block["toolResult"]["content"][0]))
        for message in body["messages"]
        if message["role"] == "user"
        for block in message["content"]
        if "toolResult" in block
    ]


def _bedrock_client(fake: FakeProvider, is_async: bool) -> Any:
    pytest.importorskip("boto3")
    model = "anthropic.claude-sonnet-4-6-v1:0"  # over boto3; async runs it on worker threads
    return polycall.from_bedrock(bedrock_client(fake), model=model, use_async=is_async)


def _genai_client(fake: FakeProvider, is_async: bool) -> Any:
    pytest.importorskip("google.genai")
    sdk = genai_client(fake)
    return polycall.from_genai(sdk.aio if is_async else sdk, model="gemini-2.5-flash")


def _vertex_client(fake: FakeProvider, is_async: bool) -> Any:
    pytest.importorskip("vertexai")
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
        lambda fake, is_async: openai_client(
            fake, is_async=is_async, mode=Mode.RESPONSES_PARALLEL_TOOLS
        ),
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
        _genai_client,
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
    Wire(
        "bedrock",
        _bedrock_client,
        converse_stream,
        lambda text: converse_stream(text=text),
        _bedrock_results,
        lambda body: body["toolConfig"].get("toolChoice"),
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


def options(wire: Wire, **kwargs: Any) -> dict[str, Any]:
    return {
        "messages": SEED_MESSAGES,
        "response_model": SEED_MODEL,
        "handlers": HANDLERS,
        **dict(wire.kwargs),
        **kwargs,
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
    calls = list(
        client.create_iterable(
            messages=run.messages, response_model=SEED_MODEL, **dict(wire.kwargs)
        )
    )

    assert list(calls) == [Weather(location="Toronto", units="metric")]
    assert wire.results(fake.last.json) == expected_results(wire, run)
    assert run.messages[: len(SEED_MESSAGES)] == SEED_MESSAGES


@contextlib.asynccontextmanager
async def async_client(fake: FakeProvider, wire: Wire) -> AsyncIterator[Any]:
    """The wire's async client, closed afterwards (the Google SDKs' aiohttp sessions too)."""
    if wire.name == "vertexai" and importlib.util.find_spec("aiohttp") is None:
        pytest.skip("async REST in the Vertex AI SDK needs aiohttp")
    client = wire.client(fake, True)
    try:
        yield client
    finally:
        await client.aclose()


async def test_async_two_step_run(fake: FakeProvider, wire: Wire) -> None:
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))

    async with async_client(fake, wire) as client:
        run = await client.run_tools(**options(wire))

    assert run.text == ANSWER
    assert [r.value for r in run.steps[0].results] == OUTPUTS
    assert wire.results(bodies(fake)[1]) == expected_results(wire, run)
    assert wire.choice(bodies(fake)[1]) is None
    assert run.usage == polycall.Usage(20, 40)


# --- what ends a run -------------------------------------------------------------------------


def test_a_text_answer_at_the_first_request_is_a_run_of_zero_steps(
    fake: FakeProvider, wire: Wire
) -> None:
    fake.push(wire.text(ANSWER))

    run = run_tools(fake, wire)

    assert (run.text, run.steps, run.output) == (ANSWER, [], None)
    assert len(fake.requests) == 1 and wire.choice(fake.last.json) is not None
    assert len(run.messages) == len(SEED_MESSAGES) + 1  # your messages, then the answer
    assert run.usage == polycall.Usage(10, 20)


def test_more_calls_after_max_steps_raise_with_the_run_so_far(
    fake: FakeProvider, chat: Wire
) -> None:
    ran: list[str] = []
    fake.push(chat_stream([SEED_CALLS[0]]), chat_stream([SEED_CALLS[1]], text="And again:"))

    with pytest.raises(MaxStepsExceeded, match=r"max_steps=1 .*call_0 \(Weather\)") as caught:
        run_tools(
            fake,
            chat,
            max_steps=1,
            handlers={Weather: lambda w: ran.append(w.location), "GoogleSearch": search},
        )

    assert isinstance(caught.value, PolycallError)
    run = caught.value.run
    assert len(run.steps) == 1 and run.steps[0].calls[0].location == "Toronto"
    assert ran == ["Toronto"]  # the calls past the limit were not run
    assert run.usage == polycall.Usage(20, 40)  # both requests
    assert len(fake.requests) == 2
    assert run.text is None  # no answer: not the text of the response left unanswered


def test_max_steps_zero_allows_a_text_answer_only(fake: FakeProvider, chat: Wire) -> None:
    fake.push(chat_stream(text=ANSWER))
    assert run_tools(fake, chat, max_steps=0).text == ANSWER
    fake.push(chat_stream([SEED_CALLS[0]]))
    with pytest.raises(MaxStepsExceeded):
        run_tools(fake, chat, max_steps=0)


class FinalAnswer(BaseModel):
    """The answer, once every tool has been called."""

    summary: str


def test_stop_when_ends_the_run_with_the_validated_call(fake: FakeProvider, wire: Wire) -> None:
    final = ("FinalAnswer", {"summary": "sunny"})
    fake.push(wire.calls([SEED_CALLS[0]]), wire.calls([final, SEED_CALLS[1]]))

    run = run_tools(
        fake, wire, response_model=list[Weather | GoogleSearch | FinalAnswer], stop_when=FinalAnswer
    )

    assert run.output == FinalAnswer(summary="sunny")
    assert len(fake.requests) == 2 and len(run.steps) == 2
    last = run.steps[1]
    assert [r.value for r in last.results] == ["ok", "Dallas: imperial"]  # the other call still ran
    # the stop call is answered too, so the messages can go on
    fake.push(wire.calls([SEED_CALLS[0]]))
    client = wire.client(fake, False)
    list(
        client.create_iterable(
            messages=run.messages, response_model=SEED_MODEL, **dict(wire.kwargs)
        )
    )
    assert len(wire.results(fake.last.json)) == 3


def test_stop_when_after_max_steps_is_an_answer_not_an_error(
    fake: FakeProvider, chat: Wire
) -> None:
    fake.push(chat_stream([SEED_CALLS[0]]), chat_stream([("FinalAnswer", {"summary": "done"})]))
    run = run_tools(
        fake,
        chat,
        response_model=list[Weather | FinalAnswer],
        stop_when="FinalAnswer",
        max_steps=1,
        handlers={Weather: weather},
    )
    assert run.output == FinalAnswer(summary="done") and len(run.steps) == 2


_MALFORMED = {"genai": {"finish_reason": "MALFORMED_FUNCTION_CALL"}, "bedrock": {"stop_reason": "malformed_tool_use"}}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("name", _MALFORMED)
async def test_a_step_the_provider_reports_malformed_is_asked_again(
    fake: FakeProvider, name: str, is_async: bool
) -> None:
    """A malformed response that handed out no call holds none to answer: the step is asked
    again, the same request, as `create(max_retries=...)` would; the retry's calls are run
    and answered under their own ids."""
    wire = BY_NAME[name]
    fake.push(
        wire.calls([], **_MALFORMED[name]),
        wire.calls([SEED_CALLS[0], SEED_CALLS[1]]),
        wire.text(ANSWER),
    )
    ran: list[Any] = []

    def handler(value: Any) -> str:
        ran.append(value)
        return f"ran {len(ran)}"

    chosen = {Weather: handler, GoogleSearch: handler}
    if is_async:
        async with async_client(fake, wire) as client:
            run = await client.run_tools(**options(wire, handlers=chosen))
    else:
        run = run_tools(fake, wire, handlers=chosen)
    assert run.text == ANSWER and len(fake.requests) == 3
    assert ran == SEED_VALUES[:2]
    [step] = run.steps
    assert list(step.calls) == SEED_VALUES[:2]
    assert fake.requests[1].json == fake.requests[0].json  # the same request, asked again
    # The next step answers the retry's calls, each under the id its call went back with.
    body = fake.requests[2].json
    results = wire.results(body)
    if name == "bedrock":
        uses = [b["toolUse"]["toolUseId"] for m in body["messages"] if m["role"] == "assistant"
                for b in m["content"] if "toolUse" in b]
        assert [i for i, _ in results] == uses == [call.id for call in step.calls.calls]
        assert [output for _, output in results] == ["ran 1", "ran 2"]
    else:
        assert results == [("Weather", {"output": "ran 1"}), ("Weather", {"output": "ran 2"})]


@pytest.mark.parametrize("name", _MALFORMED)
def test_a_step_malformed_after_a_call_was_handed_out_raises(fake: FakeProvider, name: str) -> None:
    """A call handed out before the malformed end has its handler started: a new response
    could not be answered with it, so the run raises, as before, and asks nothing again."""
    wire = BY_NAME[name]
    fake.push(wire.calls([SEED_CALLS[0]], **_MALFORMED[name]))
    ran: list[Any] = []
    with pytest.raises(MalformedOutputError):
        run_tools(fake, wire, handlers={Weather: ran.append, GoogleSearch: ran.append})
    assert len(fake.requests) == 1 and ran == SEED_VALUES[:1]


@pytest.mark.parametrize("name", _MALFORMED)
def test_a_step_that_stays_malformed_raises(fake: FakeProvider, name: str) -> None:
    wire = BY_NAME[name]
    fake.push(*(wire.calls([], **_MALFORMED[name]) for _ in range(3)))
    with pytest.raises(MalformedOutputError):
        run_tools(fake, wire)
    assert len(fake.requests) == 3  # the step, asked again twice


def test_refusal_and_cut_off_raise_as_in_create(fake: FakeProvider, chat: Wire) -> None:
    fake.push(
        chat_stream([SEED_CALLS[0]]), chat_stream(text="I will not", finish_reason="content_filter")
    )
    with pytest.raises(RefusalError):
        run_tools(fake, chat)
    fake.push(chat_stream([SEED_CALLS[0]], finish_reason="length"))
    with pytest.raises(IncompleteOutputError, match="before the tool calls were complete"):
        run_tools(fake, chat)
    # A final answer cut off says so, not that tool calls were.
    fake.push(chat_stream([SEED_CALLS[0]]), chat_stream(text="A long answer that got", finish_reason="length"))
    with pytest.raises(IncompleteOutputError, match="before the answer was complete; raise max_tokens$"):
        run_tools(fake, chat)


# --- bad calls and failing handlers ----------------------------------------------------------


def test_an_invalid_and_an_unknown_call_get_error_results_and_are_corrected(
    fake: FakeProvider, wire: Wire
) -> None:
    bad = [
        SEED_CALLS[0],
        ("Weather", {"location": "Dallas", "units": "kelvin"}),
        ("Calculator", {"x": 1}),
    ]
    fake.push(wire.calls(bad), wire.calls([SEED_CALLS[1]]), wire.text(ANSWER))
    parse_errors: list[Any] = []
    client = wire.client(fake, False)
    client.on("parse_error", lambda **event: parse_errors.append(event["failure"]))

    run = client.run_tools(**options(wire))

    first, second = run.steps
    assert list(first.calls) == [Weather(location="Toronto", units="metric")]
    assert [(f.name, f.unknown_tool) for f in first.failures] == [
        ("Weather", False),
        ("Calculator", True),
    ]
    assert len(parse_errors) == 2
    answers = [
        text if isinstance(text, str) else text.get("output", text.get("error"))
        for _, text in wire.results(fake.requests[1].json)
    ]
    assert answers[0] == "Toronto: metric"
    assert "units" in answers[1] and "kelvin" in answers[1] and "again" in answers[1]
    assert "Calculator" in answers[2] and "unknown" in answers[2].lower()
    assert [r.value for r in second.results] == ["Dallas: imperial"]
    assert run.text == ANSWER


def test_a_raising_and_a_timed_out_handler_fail_their_own_call_only(
    fake: FakeProvider, wire: Wire, never: threading.Event
) -> None:
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))

    def flaky(w: Weather) -> str:
        if w.location == "Dallas":
            raise RuntimeError("weather service down")
        return weather(w)

    def stuck(s: GoogleSearch) -> str:
        never.wait(WAIT)
        return "too late"

    run = run_tools(fake, wire, handlers={Weather: flaky, GoogleSearch: stuck}, timeout=0.2)

    results = run.steps[0].results
    assert results[0].ok and results[0].value == "Toronto: metric"
    assert isinstance(results[1].error, RuntimeError)
    assert isinstance(results[2].error, TimeoutError)
    sent = [str(answer) for _, answer in wire.results(fake.last.json)]
    assert "Toronto: metric" in sent[0]
    assert "RuntimeError: weather service down" in sent[1]
    assert "TimeoutError" in sent[2]
    assert run.text == ANSWER


def test_a_handler_raising_stop_iteration_fails_its_own_call(
    fake: FakeProvider, chat: Wire
) -> None:
    """StopIteration (a `next()` on an empty iterator) cannot cross into a future as it is: it
    becomes the call's RuntimeError, as in a coroutine, and the run goes on."""
    fake.push(chat.calls(SEED_CALLS), chat.text(ANSWER))

    run = run_tools(fake, chat, handlers={Weather: lambda w: next(iter([])), GoogleSearch: search})

    results = run.steps[0].results
    assert [type(r.error) for r in results] == [RuntimeError, RuntimeError, type(None)]
    assert isinstance(results[0].error.__cause__, StopIteration)
    assert "StopIteration" in str(chat.results(fake.last.json)[0][1])
    assert run.text == ANSWER


class Opaque(BaseModel):
    """A handler's output JSON cannot hold as it is."""

    model_config = {"arbitrary_types_allowed": True}
    thing: object


def test_an_output_json_cannot_hold_is_sent_as_text_all_the_same(
    fake: FakeProvider, wire: Wire
) -> None:
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))
    thing = object()
    outputs = {Weather: lambda w: {(w.location, w.units): 18}, GoogleSearch: lambda s: Opaque(thing=thing)}

    run = run_tools(fake, wire, handlers=outputs)

    assert [r.ok for r in run.steps[0].results] == [True, True, True]
    sent = [str(answer) for _, answer in wire.results(fake.last.json)]
    assert "Toronto,metric" in sent[0] and "Dallas,imperial" in sent[1]
    assert str(thing) in sent[2]
    assert run.text == ANSWER


def test_a_blank_final_answer_adds_no_empty_turn_to_the_messages(
    fake: FakeProvider, wire: Wire
) -> None:
    """A whitespace answer is no turn to replay (Anthropic and Bedrock refuse empty content):
    the messages end with the step's results, as the same run answered in words has them."""
    fake.push(wire.calls(SEED_CALLS), wire.text("\n\n"), wire.calls(SEED_CALLS), wire.text(ANSWER))

    blank, answered = run_tools(fake, wire), run_tools(fake, wire)

    assert blank.text.isspace() and len(blank.steps) == 1
    assert [str(m) for m in blank.messages] == [str(m) for m in answered.messages[:-1]]


@pytest.mark.parametrize("ids", [True, False], ids=["ids", "no ids"])
def test_calls_completing_out_of_order_are_each_answered_under_their_own_id(
    fake: FakeProvider, chat: Wire, ids: bool
) -> None:
    fake.push(chat_sse([e for e in interleaved(ids=ids) if e != GATE]), chat.text(ANSWER))

    run = run_tools(fake, chat)

    assistant = next(m for m in fake.last.json["messages"] if m.get("tool_calls"))
    called = {
        tc["id"]: (tc["function"]["name"], json.loads(tc["function"]["arguments"]))
        for tc in assistant["tool_calls"]
    }
    answered = [(called[call_id], output) for call_id, output in _chat_results(fake.last.json)]
    assert answered == list(zip(SEED_CALLS, OUTPUTS))
    assert [r.call.id for r in run.steps[0].results] == list(called)


def test_an_invalid_call_completing_last_gets_the_error_and_the_other_its_result(
    fake: FakeProvider, chat: Wire
) -> None:
    head = {"type": "function", "function": {"arguments": ""}}
    invalid = '{"location": "Toronto", "units": "kelvin"}'
    events = [
        chat_chunk({"tool_calls": [
            {**head, "index": 0, "id": "call_A", "function": {"name": "Weather", "arguments": ""}},
            {**head, "index": 1, "id": "call_B", "function": {"name": "GoogleSearch", "arguments": ""}},
        ]}),
        chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": invalid[:10]}}]}),
        chat_chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"query": "who won"}'}}]}),
        chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": invalid[10:]}}]}),
        chat_chunk({}, "tool_calls"),
    ]
    fake.push(chat_sse(events), chat.text(ANSWER))

    run_tools(fake, chat)

    answers = _chat_results(fake.last.json)
    assert [call_id for call_id, _ in answers] == ["call_A", "call_B"]
    assert "Validation failed for call call_A (Weather)" in answers[0][1]
    assert answers[1][1] == "Kansas City"


def test_max_concurrency_is_honoured_in_every_step(fake: FakeProvider, chat: Wire) -> None:
    four = [("Weather", {"location": str(i), "units": "metric"}) for i in range(4)]
    fake.push(chat_stream(four), chat_stream(four), chat_stream(text=ANSWER))
    peak = Peak(limit=2)

    run = run_tools(
        fake, chat, handlers={Weather: peak.sync_handler, GoogleSearch: search}, max_concurrency=2
    )

    assert peak.peak == 2
    assert [r.value for step in run.steps for r in step.results] == ["0", "1", "2", "3"] * 2


async def test_async_max_concurrency_counts_sync_and_async_handlers(
    fake: FakeProvider, chat: Wire
) -> None:
    four = [("Weather", {"location": str(i), "units": "metric"}) for i in range(4)]
    fake.push(chat_stream(four), chat_stream(text=ANSWER))
    peak = Peak(limit=3)
    client = chat.client(fake, True)

    run = await client.run_tools(
        **options(
            chat, handlers={Weather: peak.async_handler, GoogleSearch: search}, max_concurrency=3
        )
    )

    assert peak.peak == 3 and len(run.steps[0].results) == 4


# --- hooks, set-up errors ------------------------------------------------------------------


def test_hooks_fire_for_every_request_of_the_run(fake: FakeProvider, chat: Wire) -> None:
    fake.push(chat_stream(SEED_CALLS), chat_stream(text=ANSWER))
    client = chat.client(fake, False)
    seen: list[tuple[str, int]] = []
    client.on("request", lambda **event: seen.append(("request", event["attempt"])))
    client.on("response", lambda **event: seen.append(("response", event["attempt"])))

    client.run_tools(**options(chat))

    assert seen == [("request", 1), ("response", 1), ("request", 2), ("response", 2)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"handlers": {Weather: weather}}, "no handler for tool 'GoogleSearch'"),
        ({"max_steps": -1}, "max_steps must be an int >= 0"),
        ({"max_steps": True}, "max_steps must be an int >= 0"),
        ({"stop_when": FinalAnswer}, "stop_when=.*FinalAnswer.* is not a tool"),
        ({"max_retries": 2}, "takes no max_retries"),
        ({"max_concurrency": 0}, "max_concurrency must be a positive int"),
        ({"stream": False}, "takes no stream="),
        ({"stream": True}, "takes no stream="),
    ],
)
def test_bad_set_up_raises_before_any_request(
    fake: FakeProvider, chat: Wire, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        run_tools(fake, chat, **change)
    assert fake.requests == []


def test_not_given_stream_and_max_retries_say_nothing(fake: FakeProvider, chat: Wire) -> None:
    """The SDK's `NOT_GIVEN` (as wrappers forward every argument), or `stream=None`: as if
    not given, not refused."""
    not_given = pytest.importorskip("openai").NOT_GIVEN
    fake.push(chat.calls(SEED_CALLS), chat.text(ANSWER))
    run = run_tools(fake, chat, stream=None, max_retries=not_given)
    assert run.text == ANSWER


@pytest.mark.parametrize(
    ("name", "key", "takes"),
    [("genai", "contents", True), ("responses", "input", True), ("chat", "contents", False),
     ("chat", "input", False), ("genai", "input", False), ("anthropic", "contents", False)],
)
def test_the_conversation_goes_by_the_name_create_takes(
    fake: FakeProvider, name: str, key: str, takes: bool
) -> None:
    """`contents=` / `input=` where the provider's `create` takes it; elsewhere refused, as
    `create` refuses it."""
    wire = BY_NAME[name]
    given = {**options(wire), key: SEED_MESSAGES}
    del given["messages"]
    if not takes:
        with pytest.raises(ConfigurationError, match=f"{key}|messages="):  # as create says it
            wire.client(fake, False).run_tools(**given)
        assert fake.requests == []
        return
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))
    run = wire.client(fake, False).run_tools(**given)
    assert run.text == ANSWER and run.messages[: len(SEED_MESSAGES)] == SEED_MESSAGES
    assert wire.results(bodies(fake)[1]) == expected_results(wire, run)


@pytest.mark.parametrize(
    ("name", "choice"),
    [("chat", "auto"), ("responses", "auto"), ("anthropic", {"type": "auto"})],
)
def test_the_user_tool_choice_is_kept_in_every_step(
    fake: FakeProvider, name: str, choice: Any
) -> None:
    wire = BY_NAME[name]
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))
    run_tools(fake, wire, tool_choice=choice)
    assert [wire.choice(body) for body in bodies(fake)] == [choice, choice]


def test_a_user_tool_config_is_kept_in_every_step_on_gemini(fake: FakeProvider) -> None:
    types = pytest.importorskip("google.genai.types")

    wire = BY_NAME["genai"]
    fake.push(wire.calls(SEED_CALLS), wire.text(ANSWER))
    auto = types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="AUTO"))
    run_tools(fake, wire, config=types.GenerateContentConfig(tool_config=auto))
    expected = {"functionCallingConfig": {"mode": "AUTO"}}
    assert [wire.choice(body) for body in bodies(fake)] == [expected, expected]


# --- streaming: handlers start inside the stream, events in the order they happen ------------


def label(event: Any) -> str:
    if isinstance(event, ToolCall):
        return f"call {event.id}"
    if isinstance(event, ToolResult):
        return f"result {event.call.id}"
    return "run" if isinstance(event, ToolRun) else f"text {event}"


@pytest.mark.usefixtures("short_gates")
def test_iter_tools_starts_each_handler_inside_the_stream_and_yields_as_it_happens(
    fake: FakeProvider, chat: Wire
) -> None:
    gates = {0: Gate(), 1: Gate()}  # the stream waits after call k until call k's handler opens it
    fake.push(chat_stream(SEED_CALLS, gates=gates), chat_stream(text=ANSWER))
    order = {"Toronto": 0, "Dallas": 1}

    def opens_the_stream(w: Weather) -> str:
        gates[order[w.location]].open()  # the model is still writing: only this handler can
        return weather(w)

    client = chat.client(fake, False)
    handlers = {Weather: opens_the_stream, GoogleSearch: search}
    events = [label(event) for event in client.iter_tools(**options(chat, handlers=handlers))]

    assert not gates[0].timed_out and not gates[1].timed_out
    calls = [event for event in events if event.startswith("call")]
    assert calls == ["call call_0", "call call_1", "call call_2"] and events[0] == "call call_0"
    assert sorted(events[:6]) == sorted(
        f"{kind} call_{i}" for kind in ("call", "result") for i in range(3)
    )
    assert events[6:] == [f"text {ANSWER}", "run"]


@pytest.mark.usefixtures("short_gates")
async def test_async_iter_tools_starts_each_handler_inside_the_stream(
    fake: FakeProvider, wire: Wire
) -> None:
    gate = Gate()
    fake.push(wire.calls(SEED_CALLS, gates={0: gate}), wire.text(ANSWER))

    async def toronto_opens_the_stream(w: Weather) -> str:
        if w.location == "Toronto":
            await asyncio.to_thread(gate.open)
        return weather(w)

    handlers = {Weather: toronto_opens_the_stream, GoogleSearch: search}
    async with async_client(fake, wire) as client:
        events = [event async for event in client.iter_tools(**options(wire, handlers=handlers))]

    assert not gate.timed_out
    assert isinstance(events[0], ToolCall) and events[0].value.location == "Toronto"
    kinds = [type(event).__name__ for event in events]
    assert sorted(kinds[:6]) == ["ToolCall"] * 3 + ["ToolResult"] * 3
    assert events[6:-1] == [ANSWER] and isinstance(events[-1], ToolRun)
    assert [r.value for r in events[-1].steps[0].results] == OUTPUTS


def test_leaving_iter_tools_early_closes_the_stream_and_runs_nothing_more(
    fake: FakeProvider, chat: Wire, never: threading.Event
) -> None:
    fake.push(chat_stream(SEED_CALLS))

    def stuck(w: Weather) -> str:
        never.wait(WAIT)
        return "late"

    events = chat.client(fake, False).iter_tools(
        **options(chat, handlers={Weather: stuck, GoogleSearch: search})
    )
    first = next(events)
    events.close()  # the handler still running is given up, the stream closed
    assert isinstance(first, ToolCall)
    assert len(fake.requests) == 1


# --- provider data kept across steps ---------------------------------------------------------


def test_anthropic_thinking_blocks_lead_the_replayed_turn(fake: FakeProvider) -> None:
    wire = BY_NAME["anthropic"]
    fake.push(message_stream(SEED_CALLS, thinking=("Three calls.", "sig-1")), wire.text(ANSWER))

    run_tools(fake, wire, thinking={"type": "enabled", "budget_tokens": 1024})

    first, second = bodies(fake)
    assert first["tool_choice"] == {"type": "auto"}  # extended thinking refuses a forced call
    assert "tool_choice" not in second
    turn = second["messages"][-2]
    assert turn["role"] == "assistant"
    assert turn["content"][0] == {
        "type": "thinking",
        "thinking": "Three calls.",
        "signature": "sig-1",
    }
    assert [b["type"] for b in turn["content"][1:]] == ["tool_use"] * 3


def test_gemini_ids_stay_unique_across_steps(fake: FakeProvider) -> None:
    wire = BY_NAME["genai"]
    fake.push(wire.calls([SEED_CALLS[0]]), wire.calls([SEED_CALLS[1]]), wire.text(ANSWER))

    run = run_tools(fake, wire)

    ids = [call.id for step in run.steps for call in step.calls.calls]
    assert len(ids) == len(set(ids)) == 2


# --- as they happen: text as it arrives, a result the moment its handler finishes ----------

PIECES = ["Toronto 18°C, ", "Dallas 75°F; ", "the Chiefs won."]


def text_held(gate: Gate) -> list[str | Gate]:
    """The answer in three pieces, the server held after the first until `gate` opens."""
    return [PIECES[0], gate, *PIECES[1:]]


def released_on(event: Any, gate: Gate, kind: type) -> bool:
    """Open `gate` at the first event of `kind`; True if the server was still held there."""
    if not isinstance(event, kind) or gate._event.is_set():
        return True
    held = gate.reached.is_set() and not gate.timed_out
    gate.open()
    return held


def releasing(events: Iterator[Any], gate: Gate, kind: type) -> list[Any]:
    """Every event; `gate` opened at the first of `kind`, which must come while it holds."""
    seen = []
    for event in events:
        assert released_on(event, gate, kind), f"{label(event)} came after the server went on"
        seen.append(event)
    return seen


@pytest.mark.usefixtures("short_gates")
def test_iter_tools_yields_each_text_fragment_as_it_arrives(fake: FakeProvider, wire: Wire) -> None:
    gate = Gate()
    fake.push(wire.text(text_held(gate)))

    seen = releasing(wire.client(fake, False).iter_tools(**options(wire)), gate, str)

    assert not gate.timed_out  # the first piece came out while the server held the rest
    fragments = [event for event in seen if isinstance(event, str)]
    assert fragments == PIECES  # one by one, as they came
    run = seen[-1]
    assert isinstance(run, ToolRun) and run.text == "".join(fragments) == "".join(PIECES)


@pytest.mark.usefixtures("short_gates")
async def test_async_iter_tools_yields_each_text_fragment_as_it_arrives(
    fake: FakeProvider, wire: Wire
) -> None:
    gate = Gate()
    fake.push(wire.text(text_held(gate)))

    async with async_client(fake, wire) as client:
        seen = []
        async for event in client.iter_tools(**options(wire)):
            assert released_on(event, gate, str)
            seen.append(event)

    assert not gate.timed_out
    assert [event for event in seen if isinstance(event, str)] == PIECES
    assert seen[-1].text == "".join(PIECES)


def test_a_step_preamble_streams_before_its_calls_and_joins_to_the_step_text(
    fake: FakeProvider, wire: Wire
) -> None:
    fake.push(wire.calls(SEED_CALLS, text=["Let me ", "look."]), wire.text(ANSWER))

    seen = list(wire.client(fake, False).iter_tools(**options(wire)))

    first_call = next(i for i, event in enumerate(seen) if isinstance(event, ToolCall))
    assert seen[:first_call] == ["Let me ", "look."]
    assert "".join(e for e in seen[first_call:] if isinstance(e, str)) == ANSWER == seen[-1].text


@pytest.mark.usefixtures("short_gates")
@pytest.mark.parametrize("name", ["chat", "anthropic", "bedrock"])
def test_a_result_comes_out_the_moment_its_handler_finishes_while_the_server_is_silent(
    fake: FakeProvider, name: str
) -> None:
    wire = BY_NAME[name]
    gate = Gate()  # the server holds the stream after call 0 until the test opens it
    response = wire.calls(SEED_CALLS, gates={0: gate})
    fake.push(response, wire.text(ANSWER))
    client = wire.client(fake, False)

    handlers = finishing_once_read(client, response, gate)
    seen = releasing(client.iter_tools(**options(wire, handlers=handlers)), gate, ToolResult)

    assert not gate.timed_out
    first = next(event for event in seen if isinstance(event, ToolResult))
    assert first.call.id == seen[0].id and first.value == OUTPUTS[0]  # call 0's, its call first
    assert [label(e) for e in seen].index(label(first)) < len(SEED_CALLS)  # not after the stream
    assert [r.value for r in seen[-1].steps[0].results] == OUTPUTS


@pytest.mark.usefixtures("short_gates")
@pytest.mark.parametrize("name", ["chat", "anthropic"])
async def test_async_a_result_comes_out_the_moment_its_handler_finishes(
    fake: FakeProvider, name: str
) -> None:
    wire = BY_NAME[name]
    gate = Gate()
    response = wire.calls(SEED_CALLS, gates={0: gate})
    fake.push(response, wire.text(ANSWER))

    async with async_client(fake, wire) as client:
        handlers = finishing_once_read(client, response, gate)
        seen = []
        async for event in client.iter_tools(**options(wire, handlers=handlers)):
            assert released_on(event, gate, ToolResult)
            seen.append(event)

    assert not gate.timed_out
    results = [event for event in seen if isinstance(event, ToolResult)]
    assert results[0].call.id == seen[0].id and seen.index(results[0]) < len(SEED_CALLS)
    assert [r.value for r in seen[-1].steps[0].results] == OUTPUTS


def finishing_once_read(client: Any, response: Response, gate: Gate) -> dict[Any, Any]:
    """The handlers, Weather's finishing only once `client` has read every chunk the server
    sends before it holds at `gate`: its result can then come out with no chunk after it."""
    assert response.chunks is not None
    before = sum(1 for c in response.chunks[: response.chunks.index(gate)] if c)
    read: list[Any] = []
    all_read = threading.Event()
    make = client.adapter.assembler

    def counting() -> Any:
        assembler = make()
        feed = assembler.feed

        def counted(chunk: Any) -> Any:
            read.append(chunk)
            if len(read) >= before:
                all_read.set()
            return feed(chunk)

        assembler.feed = counted
        return assembler

    client.adapter.assembler = counting

    def weather_once_read(w: Weather) -> str:
        all_read.wait(WAIT)
        return weather(w)

    return {Weather: weather_once_read, GoogleSearch: search}


def spy_streams(client: Any, name: str) -> list[Any]:
    """The SDK streams `client` opens (through its adapter's `name`, "stream" or "astream")."""
    opened: list[Any] = []
    original = getattr(client.adapter, name)

    if name == "stream":

        @contextlib.contextmanager
        def spying(request: Any) -> Iterator[Any]:
            with original(request) as chunks:
                opened.append(chunks)
                yield chunks

        client.adapter.stream = spying
    else:

        @contextlib.asynccontextmanager
        async def aspying(request: Any) -> AsyncIterator[Any]:
            async with original(request) as chunks:
                opened.append(chunks)
                yield chunks

        client.adapter.astream = aspying
    return opened


def held_after_the_first_call(fake: FakeProvider, chat: Wire, is_async: bool) -> tuple[Gate, Any, list[Any]]:
    """A stream the server holds after call 0; the client, and the SDK streams it opens."""
    gate = Gate()
    fake.push(chat_stream(SEED_CALLS, gates={0: gate}))
    client = chat.client(fake, is_async)
    return gate, client, spy_streams(client, "astream" if is_async else "stream")


@pytest.mark.usefixtures("short_gates")
def test_breaking_out_mid_stream_closes_the_stream_and_stops_its_reader(
    fake: FakeProvider, chat: Wire
) -> None:
    gate, client, opened = held_after_the_first_call(fake, chat, False)

    for event in client.iter_tools(**options(chat)):
        assert isinstance(event, ToolCall)
        break  # the server is silent: the reader is blocked on it

    assert gate.reached.is_set() and not gate._event.is_set()  # still held: left mid-stream
    (stream,) = opened
    assert stream.response.is_closed
    assert not [t for t in threading.enumerate() if t.name == "polycall-stream"]
    gate.open()


@pytest.mark.usefixtures("short_gates")
async def test_async_breaking_out_mid_stream_closes_the_stream(
    fake: FakeProvider, chat: Wire
) -> None:
    gate, client, opened = held_after_the_first_call(fake, chat, True)

    events = client.iter_tools(**options(chat))
    first = await anext(events)
    await events.aclose()  # a read is pending on the silent server

    assert isinstance(first, ToolCall) and not gate._event.is_set()
    (stream,) = opened
    assert stream.response.is_closed
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []  # the pending read was cancelled, no handler left running
    gate.open()


@pytest.mark.usefixtures("short_gates")
async def test_async_over_boto3_leaving_with_a_read_pending_does_not_wait_for_the_server(
    fake: FakeProvider,
) -> None:
    bedrock = BY_NAME["bedrock"]  # use_async=True over boto3: each read runs on a worker thread
    gate = Gate()
    response = bedrock.calls(SEED_CALLS, gates={0: gate})
    fake.push(response)
    client = bedrock.client(fake, True)
    handlers = finishing_once_read(client, response, gate)

    events = client.iter_tools(**options(bedrock, handlers=handlers))
    while not isinstance(await anext(events), ToolResult):  # out while a read is pending
        pass
    await events.aclose()  # the pending read's worker is blocked on the silent server

    assert not gate.timed_out and not gate._event.is_set()  # left while the server held it
    gate.open()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_an_sdk_error_mid_stream_in_a_loop_is_a_provider_error(
    fake: FakeProvider, chat: Wire, is_async: bool
) -> None:
    chunks = list(chat_stream(SEED_CALLS).chunks or [])
    error_event = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    fake.push(Response(chunks=[*chunks[:9], error_event], content_type="text/event-stream"))
    client = chat.client(fake, is_async)
    seen: list[Any] = []

    with pytest.raises(PolycallError) as caught:
        if is_async:
            async for event in client.iter_tools(**options(chat)):
                seen.append(event)
        else:
            for event in client.iter_tools(**options(chat)):
                seen.append(event)  # noqa: PERF402

    assert type(caught.value) is polycall.ProviderError and "overloaded" in str(caught.value)
    assert isinstance(seen[0], ToolCall)  # what was complete before the error came out
    assert not [t for t in threading.enumerate() if t.name == "polycall-stream"]
