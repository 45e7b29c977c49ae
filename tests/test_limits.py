"""`Limits`: how many calls a response may hold and how large their arguments may be,
whole and while a stream is still writing them, set per client."""

from __future__ import annotations

from typing import Any

import openai
import pytest

import polycall
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall import LimitExceededError, Limits
from polycall.calls import RawCall
from polycall.providers._assembly import Calls
from polycall.testing import FakeProvider, Gate, Response
from polycall.testing.openai import chat_completion, chat_stream
from providers import MATRIX

SMALL = Limits(max_calls=2, max_argument_bytes=100)
LONG_QUERY = ("GoogleSearch", {"query": "x" * 400})  # ~415 bytes of arguments
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
    assert "'GoogleSearch'" in str(caught.value)
    assert "more than 100 bytes of arguments" in str(caught.value)
    assert "max_argument_bytes" in str(caught.value)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_streamed_call_is_stopped_while_it_grows_past_the_limit(
    fake: FakeProvider, provider: str
) -> None:
    """The stream is refused while the server still holds the rest of the call back: the
    call's buffer never grows past the limit waiting for the call to end."""
    cell = PROVIDERS[provider]
    response = cell.streamed([LONG_QUERY], piece=10)
    response, gate = gated(response, len(response.chunks or []) - 12)  # ~300 bytes in
    fake.push(response)
    stream = cell.client(fake, limits=SMALL).create_iterable(messages=USER, response_model=SEED_MODEL)
    with pytest.raises(LimitExceededError, match=r"the call to 'GoogleSearch' being streamed"):
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
    with pytest.raises(LimitExceededError, match="call 3 to a tool named by int"):
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
