"""Under load: streams stopped early give their connection back, a client shared by many
threads or tasks never mixes answers, and a cancelled stream leaves no connection open.

Functional assertions only; pytest-timeout's per-test limit is the "never blocks" guard.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest

import polycall
from helpers import http_client, vertexai_at
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, Weather
from polycall import Mode
from polycall.testing import FakeProvider, Gate, Request, Response
from polycall.testing import anthropic as anthropic_wire
from polycall.testing import gemini as gemini_wire
from polycall.testing import openai_responses as responses_wire
from polycall.testing.openai import chat_completion, chat_stream

BREAKS = 30
POOL = 2


Built = tuple[Any, Callable[[], Awaitable[Any]] | None]  # the client, and how to close it (async)


@dataclass(frozen=True)
class Provider:
    """A polycall client whose SDK holds at most POOL connections, and its stream wire."""

    client: Callable[[FakeProvider, bool], Built]
    stream: Callable[..., Response]
    kwargs: dict[str, Any]


def _openai(mode: Mode) -> Callable[[FakeProvider, bool], Built]:
    def build(fake: FakeProvider, is_async: bool) -> Built:
        sdk = openai.AsyncOpenAI if is_async else openai.OpenAI
        pool = http_client(openai, is_async=is_async, max_connections=POOL)
        client = sdk(base_url=fake.url + "/v1", api_key="test", max_retries=0, http_client=pool)
        return polycall.from_openai(client, mode), getattr(client, "close", None)

    return build


def _anthropic(fake: FakeProvider, is_async: bool) -> Built:
    sdk = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    pool = http_client(anthropic, is_async=is_async, max_connections=POOL)
    client = sdk(base_url=fake.url, api_key="test", http_client=pool)
    return polycall.from_anthropic(client), client.close if is_async else None


def _genai(fake: FakeProvider, is_async: bool) -> Built:
    genai = pytest.importorskip("google.genai")
    from google.genai.types import HttpOptions

    if not is_async:
        import httpx

        pool = httpx.Client(limits=httpx.Limits(max_connections=POOL))
        options = HttpOptions(base_url=fake.url, httpx_client=pool)
        return polycall.from_genai(genai.Client(api_key="test", http_options=options)), None
    import aiohttp  # the async side runs on aiohttp: its connector holds the pool

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
    options = HttpOptions(base_url=fake.url, aiohttp_client=session)
    return polycall.from_genai(genai.Client(api_key="test", http_options=options).aio), session.close


def _vertex(fake: FakeProvider, is_async: bool) -> Built:
    """The Vertex AI SDK's own transport (its pool size is not configurable)."""
    from vertexai.generative_models import GenerativeModel

    model = GenerativeModel("gemini-2.5-flash")
    client = polycall.from_vertexai(model, use_async=is_async)
    return client, client.aclose if is_async else None


PROVIDERS = {
    "openai": Provider(_openai(Mode.PARALLEL_TOOLS), chat_stream, {"model": "m"}),
    "responses": Provider(_openai(Mode.RESPONSES_PARALLEL_TOOLS), responses_wire.response_stream, {"model": "m"}),
    "anthropic": Provider(_anthropic, anthropic_wire.message_stream, {"model": "m"}),
    "genai": Provider(_genai, gemini_wire.gemini_stream, {"model": "m"}),
    "vertexai": Provider(_vertex, gemini_wire.vertex_stream, {}),
}


@pytest.fixture
def served(request: pytest.FixtureRequest, fake: FakeProvider) -> Iterator[tuple[Provider, FakeProvider]]:
    """The provider named by the test's parameter, on a fake answering every request with
    the seed's three calls, streamed."""
    provider = PROVIDERS[request.param]
    fake.respond_with(lambda req: provider.stream(SEED_CALLS))
    if request.param != "vertexai":
        yield provider, fake
        return
    with vertexai_at(fake):
        yield provider, fake


def _ask(provider: Provider) -> dict[str, Any]:
    return {"messages": SEED_MESSAGES, "response_model": SEED_MODEL, **provider.kwargs}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("served", list(PROVIDERS), indirect=True)
def test_breaking_out_of_streams_never_exhausts_the_pool(served: tuple[Provider, FakeProvider]) -> None:
    provider, fake = served
    client, _ = provider.client(fake, False)
    for _ in range(BREAKS):
        for value in client.create_iterable(**_ask(provider)):
            assert value == SEED_VALUES[0]
            break
    assert len(fake.requests) == BREAKS


@pytest.mark.timeout(60)
@pytest.mark.parametrize("served", list(PROVIDERS), indirect=True)
async def test_breaking_out_of_async_streams_never_exhausts_the_pool(
    served: tuple[Provider, FakeProvider],
) -> None:
    provider, fake = served
    client, close = provider.client(fake, True)
    try:
        for _ in range(BREAKS):
            async with client.create_iterable(**_ask(provider)) as stream:  # closed on exit
                async for value in stream:
                    assert value == SEED_VALUES[0]
                    break
        assert len(fake.requests) == BREAKS
    finally:
        assert close is not None
        await close()


# --- one client, many threads and tasks ---------------------------------------------------


def echo(request: Request) -> Response:
    """Answers each request with a call carrying the request's own prompt as its location."""
    prompt = request.json["messages"][-1]["content"]
    return chat_completion([("Weather", {"location": prompt, "units": "metric"})], ids=[f"id-{prompt}"])


def _one(n: int) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": f"city-{n}"}], "response_model": SEED_MODEL}


@pytest.mark.timeout(120)
def test_sixteen_threads_share_one_client_without_mixing_answers(fake: FakeProvider) -> None:
    fake.respond_with(echo)
    client = polycall.from_openai(openai.OpenAI(base_url=fake.url + "/v1", api_key="test", max_retries=0))

    def ask(n: int) -> tuple[int, Any]:
        calls = client.create(**_one(n))
        return n, calls

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(1000)))
    assert len(answers) == 1000
    for n, calls in answers:
        assert list(calls) == [Weather(location=f"city-{n}", units="metric")]
        assert [call.id for call in calls.calls] == [f"id-city-{n}"]


@pytest.mark.timeout(120)
async def test_three_hundred_concurrent_async_requests_are_all_correct(fake: FakeProvider) -> None:
    fake.respond_with(echo)
    sdk = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="test", max_retries=0)
    client = polycall.from_openai(sdk)
    try:
        answers = await asyncio.gather(*(client.create(**_one(n)) for n in range(300)))
    finally:
        await sdk.close()
    assert [list(calls) for calls in answers] == [
        [Weather(location=f"city-{n}", units="metric")] for n in range(300)
    ]


# --- cancelling -------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_a_task_cancelled_mid_stream_leaves_no_connection_open(fake: FakeProvider) -> None:
    gate = Gate()
    fake.push(chat_stream(SEED_CALLS, gates={0: gate}))
    sdk = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="test", max_retries=0)
    client = polycall.from_openai(sdk)
    first = asyncio.Event()

    async def consume() -> list[Any]:
        seen = []
        async for value in client.create_iterable(**_one(0) | {"response_model": SEED_MODEL}):
            seen.append(value)
            first.set()
        return seen

    task = asyncio.create_task(consume())
    await first.wait()
    assert fake.open_connections == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(gate.open)  # the server goes on writing, to a closed connection
    assert await asyncio.to_thread(fake.wait_connections, 0)
    await sdk.close()
