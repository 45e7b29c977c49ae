"""`Limits`: how many calls a response may hold and how large their arguments may be,
whole and while a stream is still writing them, set per client."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import openai
import pytest
from pydantic import BaseModel

import polycall
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall import ConfigurationError, LimitExceededError, Limits
from polycall.calls import RawCall
from polycall.providers._assembly import Calls
from polycall.testing import FakeProvider, Gate, Response, sse_response
from polycall.testing.openai import chat_completion, chat_stream
from providers import MATRIX

SMALL = Limits(max_calls=2, max_argument_bytes=100)
LONG_QUERY = ("GoogleSearch", {"query": "x" * 400})  # ~415 characters of arguments
USER = SEED_MESSAGES[1:]


def test_defaults() -> None:
    assert Limits() == Limits(max_calls=128, max_argument_bytes=1_000_000)


# Each mode of the provider matrix: a polycall client with SMALL limits, and its whole and
# streamed wire format. Vertex AI is left out: its SDK is set up against the fake globally
# (see test_vertexai.py), which these tests do not do.
PROVIDERS = {name: cell for name, cell in MATRIX.items() if not cell.needs_setup}


def _openai(fake: FakeProvider, *, is_async: bool = False) -> Any:
    return MATRIX["openai"].client(fake, is_async=is_async, limits=SMALL)


def gated(response: Response, after: int) -> tuple[Response, Gate]:
    """`response` held at a gate after its first `after` chunks."""
    gate = Gate()
    assert response.chunks is not None and len(response.chunks) > after
    response.chunks.insert(after, gate)
    return response, gate


@pytest.mark.parametrize("provider", PROVIDERS)
def test_too_many_calls(fake: FakeProvider, provider: str) -> None:
    cell = PROVIDERS[provider]
    fake.push(cell.whole(SEED_CALLS))
    with pytest.raises(LimitExceededError, match=r"more than 2 tool calls .*'GoogleSearch'"):
        cell.client(fake, limits=SMALL).create(messages=USER, response_model=SEED_MODEL)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_too_many_calls_streamed(fake: FakeProvider, provider: str) -> None:
    cell = PROVIDERS[provider]
    fake.push(cell.streamed(SEED_CALLS))
    stream = cell.client(fake, limits=SMALL).create_iterable(messages=USER, response_model=SEED_MODEL)
    assert [next(stream), next(stream)] == SEED_VALUES[:2]
    with pytest.raises(LimitExceededError, match="more than 2 tool calls"):
        next(stream)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_arguments_too_large(fake: FakeProvider, provider: str) -> None:
    cell = PROVIDERS[provider]
    fake.push(cell.whole([SEED_CALLS[0], LONG_QUERY]))
    with pytest.raises(LimitExceededError) as caught:
        cell.client(fake, limits=SMALL).create(messages=USER, response_model=SEED_MODEL)
    assert "more than 100 characters of arguments" in str(caught.value)
    assert "max_argument_bytes" in str(caught.value)
    fake.push(cell.whole([SEED_CALLS[0], LONG_QUERY]))
    [_, call] = cell.client(fake).create(messages=USER, response_model=SEED_MODEL).calls
    # The call by its id; Gemini gives none (polycall's `call_1_1` is not made yet): by its place.
    named = "call number 2 of the response, to 'GoogleSearch' (it has no id)"
    assert (named if cell.wire == "gemini" else f"call {call.id} to 'GoogleSearch'") in str(caught.value)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_streamed_call_is_stopped_while_it_grows_past_the_limit(
    fake: FakeProvider, provider: str
) -> None:
    """The stream is refused while the server still holds the rest of the call back: the
    call's buffer never grows past the limit waiting for the call to end."""
    cell = PROVIDERS[provider]
    response = cell.streamed([LONG_QUERY], piece=10)
    response, gate = gated(response, len(response.chunks or []) - 12)  # ~300 characters in
    fake.push(response)
    stream = cell.client(fake, limits=SMALL).create_iterable(messages=USER, response_model=SEED_MODEL)
    with pytest.raises(LimitExceededError, match=r"to 'GoogleSearch' (\(it has no id\) )?being streamed"):
        list(stream)
    assert not gate.timed_out  # raised before the server had to send the rest
    gate.open()


def test_the_limit_holds_for_create_partial_and_async(fake: FakeProvider) -> None:
    response, gate = gated(chat_stream([LONG_QUERY], piece=10), 30)
    fake.push(response)
    stream = _openai(fake).create_partial(messages=USER, response_model=SEED_MODEL)
    with pytest.raises(LimitExceededError, match="being streamed"):
        list(stream)
    assert not gate.timed_out
    gate.open()


async def test_async_stream_is_stopped_too(fake: FakeProvider) -> None:
    response, gate = gated(chat_stream([LONG_QUERY], piece=10), 30)
    fake.push(response)
    stream = _openai(fake, is_async=True).create_iterable(messages=USER, response_model=SEED_MODEL)
    with pytest.raises(LimitExceededError, match="being streamed"):
        [value async for value in stream]
    assert not gate.timed_out
    gate.open()


def test_calls_within_the_limits_pass(fake: FakeProvider) -> None:
    fake.push(chat_completion(SEED_CALLS[:2]), chat_stream(SEED_CALLS[:2], piece=3))
    client = _openai(fake)
    assert client.create(messages=USER, response_model=SEED_MODEL) == SEED_VALUES[:2]
    assert list(client.create_iterable(messages=USER, response_model=SEED_MODEL)) == SEED_VALUES[:2]


def test_limits_are_per_client(fake: FakeProvider) -> None:
    fake.push(chat_completion(SEED_CALLS), chat_completion(SEED_CALLS))
    roomy = polycall.from_openai(openai.OpenAI(base_url=fake.url + "/v1", api_key="test"))
    assert roomy.limits == Limits()
    assert roomy.create(model="m", messages=USER, response_model=SEED_MODEL) == SEED_VALUES
    with pytest.raises(LimitExceededError):
        _openai(fake).create(messages=USER, response_model=SEED_MODEL)


def test_check_call_sizes_any_arguments_without_recursion() -> None:
    deep: Any = "bottom"
    for _ in range(100_000):
        deep = {"a": [deep]}
    Limits(max_argument_bytes=10**9).check_call(RawCall("c1", "T", deep), 0)
    with pytest.raises(LimitExceededError, match="call c1 to 'T'"):
        Limits(max_argument_bytes=1000).check_call(RawCall("c1", "T", deep), 0)
    with pytest.raises(LimitExceededError, match="call number 4 of the response, to a tool named by int"):
        nameless = RawCall(None, 7, {"q": "x" * 20})  # type: ignore[arg-type]
        Limits(max_argument_bytes=10).check_call(nameless, 3)


def test_a_streamed_call_is_stopped_the_moment_it_is_over_the_limit() -> None:
    calls = Calls()
    calls.hold(Limits(max_argument_bytes=5_000))
    call = calls.start(0, "c1", "Tool")
    with pytest.raises(LimitExceededError, match="'Tool' being streamed"):
        for _ in range(100_000):
            calls.add(call, "x")
    assert call.size == 5_001  # the first fragment over the limit
    assert len(call.parts) == 5_001  # counted as it came: the text was never joined to measure it


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_streamed_call_past_max_calls_is_refused_as_it_starts(
    fake: FakeProvider, provider: str
) -> None:
    """Before the server sends the rest of the call: calls that never close cannot pile up."""
    cell = PROVIDERS[provider]
    response = cell.streamed(SEED_CALLS)
    chunks = response.chunks or []
    third = next(  # the event that starts it (not one listing every tool)
        i for i, c in enumerate(chunks)
        if isinstance(c, bytes) and b"GoogleSearch" in c and b"Weather" not in c
    )
    response, gate = gated(response, third + 1)
    fake.push(response)
    stream = cell.client(fake, limits=SMALL).create_iterable(messages=USER, response_model=SEED_MODEL)
    with pytest.raises(LimitExceededError, match=r"more than 2 tool calls .*'GoogleSearch'"):
        list(stream)
    assert not gate.timed_out
    gate.open()


class Flags(BaseModel):
    flags: list[bool]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("count", "over"), [(150, False), (300, True)])
def test_whole_and_streamed_arguments_are_measured_alike(
    fake: FakeProvider, provider: str, count: int, over: bool
) -> None:
    """Arguments some providers give as an object are measured as their JSON text: 300
    booleans are about 1,500 characters, over a 1,000 limit, whether whole or streamed."""
    cell = PROVIDERS[provider]
    limits = Limits(max_argument_bytes=1000)
    call = ("Flags", {"flags": [True] * count})
    fake.push(cell.whole([call]), cell.streamed([call]))
    client = cell.client(fake, limits=limits)
    ask = {"messages": USER, "response_model": Iterable[Flags]}
    for read in (lambda: client.create(**ask), lambda: list(client.create_iterable(**ask))):
        if over:
            with pytest.raises(LimitExceededError, match="more than 1000 characters"):
                read()
        else:
            assert read() == [Flags(flags=[True] * count)]


class Item(BaseModel):
    a: str


class Order(BaseModel):
    items: list[Item]


@pytest.mark.parametrize("provider", [name for name, cell in PROVIDERS.items() if cell.wire == "gemini"])
def test_gemini_partial_args_count_no_more_than_the_whole_call(fake: FakeProvider, provider: str) -> None:
    """Nested objects streamed as `partialArgs` pieces: a limit of exactly the call's compact
    size holds whole and streamed alike."""
    cell = PROVIDERS[provider]
    arguments = {"items": [{"a": "x"}] * 50}
    call = ("Order", arguments)
    limits = Limits(max_argument_bytes=len(json.dumps(arguments, separators=(",", ":"))))
    fake.push(cell.whole([call]), cell.streamed([call]))
    client = cell.client(fake, limits=limits)
    ask = {"messages": USER, "response_model": Iterable[Order]}
    expected = [Order.model_validate(arguments)]
    assert client.create(**ask) == expected
    assert list(client.create_iterable(**ask)) == expected


def test_a_streamed_limit_error_names_the_call(fake: FakeProvider) -> None:
    fake.push(chat_stream([SEED_CALLS[2], LONG_QUERY], piece=10))
    stream = _openai(fake).create_iterable(messages=USER, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[2]
    with pytest.raises(LimitExceededError, match=r"^call call_1 to 'GoogleSearch' being streamed"):
        next(stream)
    fake.push(chat_stream([SEED_CALLS[2], LONG_QUERY], piece=10, ids=[None, None]))
    stream = _openai(fake).create_iterable(messages=USER, response_model=SEED_MODEL)
    assert next(stream) == SEED_VALUES[2]
    with pytest.raises(
        LimitExceededError,
        match=r"^call number 2 of the response, to 'GoogleSearch' \(it has no id\) being streamed",
    ):
        next(stream)


@pytest.mark.parametrize(
    "options", [{"max_calls": "5"}, {"max_argument_bytes": None}, {"max_calls": -1}, {"max_calls": True}]
)
def test_limits_take_ints(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=f"Limits\\({next(iter(options))}=...\\) takes an int"):
        Limits(**options)


def test_a_client_takes_a_limits_object() -> None:
    with pytest.raises(ConfigurationError, match="limits= takes a polycall.Limits, got dict"):
        polycall.from_openai(openai.OpenAI(api_key="test"), limits={"max_calls": 5})  # type: ignore[arg-type]


def test_a_partial_args_index_far_past_a_lists_end_is_over_the_limit(fake: FakeProvider) -> None:
    """A streamed piece at `$.points[20000000]` would pad a list with twenty million nulls:
    it is refused by the size those take, before any is made."""
    pytest.importorskip("google.genai")
    from polycall.testing import gemini
    piece = {"jsonPath": "$.points[20000000]", "numberValue": 1}
    call = {"functionCall": {"name": "Plot", "partialArgs": [piece], "willContinue": True}}
    chunk = {"candidates": [{"content": {"role": "model", "parts": [call]}}]}
    fake.push(sse_response([chunk]))
    client = polycall.from_genai(
        gemini.genai_client(fake, api_key="test"), model="gemini-2.5-flash",
        limits=Limits(max_argument_bytes=1000),
    )

    class Plot(BaseModel):
        points: list[int]

    with pytest.raises(LimitExceededError, match=r"call number 1 of the response, to 'Plot' \(it has no id\) being streamed has more than 1000 characters"):
        list(client.create_iterable(messages=USER, response_model=Iterable[Plot]))


def test_partial_args_paths_count_the_objects_they_make(fake: FakeProvider) -> None:
    """Pieces at `$.points.<long key>.n` make an object per key: counted as they come, so a
    stream of them is stopped before the server sends the rest."""
    pytest.importorskip("google.genai")
    from polycall.testing import gemini
    gate = Gate()

    def chunk(i: int) -> dict[str, Any]:
        piece = {"jsonPath": f"$.points.{'k' * 400}{i}.n", "numberValue": 1}
        call = {"functionCall": {"partialArgs": [piece], "willContinue": True}}
        if i == 0:
            call["functionCall"]["name"] = "Plot"
        return {"candidates": [{"content": {"role": "model", "parts": [call]}}]}

    fake.push(sse_response([*(chunk(i) for i in range(3)), gate, *(chunk(i) for i in range(3, 20))]))
    client = polycall.from_genai(
        gemini.genai_client(fake, api_key="test"), model="gemini-2.5-flash",
        limits=Limits(max_argument_bytes=1000),
    )

    class Plot(BaseModel):
        points: dict[str, Any]

    with pytest.raises(LimitExceededError, match=r"'Plot' \(it has no id\) being streamed"):
        list(client.create_iterable(messages=USER, response_model=Iterable[Plot]))
    assert not gate.timed_out
    gate.open()
