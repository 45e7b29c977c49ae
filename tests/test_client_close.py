"""`client.close()` / `await client.aclose()` and `with` / `async with`: the SDK client a
polycall client wraps gives its connections back, on every provider, sync and async."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

import polycall
from helpers import async_generators_started, vertexai_at
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall.testing import FakeProvider, Gate
from polycall.testing.openai import chat_completion
from providers import MATRIX, Cell

ASYNC = [name for name, cell in MATRIX.items() if cell.has_async]


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Cell, FakeProvider]]:
    """The cell named by the parameter, on a fake that keeps connections alive: a client
    holds an idle one after its request until it is closed."""
    cell = MATRIX[request.param]
    with FakeProvider() as fake:
        fake.respond_with(lambda req: cell.whole(SEED_CALLS))
        if not cell.needs_setup:
            yield cell, fake
            return
        with vertexai_at(fake):
            yield cell, fake


def _ask(client: Any) -> Any:
    return client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)


@pytest.mark.parametrize("served", list(MATRIX), indirect=True)
def test_close_closes_the_sdk_clients_connections(served: tuple[Cell, FakeProvider]) -> None:
    cell, fake = served
    client = cell.client(fake)
    assert list(_ask(client)) == SEED_VALUES
    assert fake.open_connections == 1  # idle, kept alive by the SDK's pool

    client.close()

    assert fake.wait_connections(0, timeout=5)


@pytest.mark.parametrize("served", ASYNC, indirect=True)
async def test_aclose_closes_the_async_sdk_clients_connections(
    served: tuple[Cell, FakeProvider],
) -> None:
    cell, fake = served
    client = cell.client(fake, is_async=True)
    assert list(await _ask(client)) == SEED_VALUES
    assert fake.open_connections == 1

    await client.aclose()

    assert fake.wait_connections(0, timeout=5)


@pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")
async def test_aclose_of_an_async_vertexai_client_closes_its_aiohttp_session() -> None:
    pytest.importorskip("aiohttp")
    with FakeProvider() as fake, vertexai_at(fake):
        cell = MATRIX["vertexai"]
        fake.respond_with(lambda req: cell.whole(SEED_CALLS))
        client = cell.client(fake, use_async=True)
        assert list(await _ask(client)) == SEED_VALUES

        await client.aclose()  # else the test fails: an aiohttp session left open

        assert fake.wait_connections(0, timeout=5)


def test_with_closes_a_client_from_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openai")
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        fake.push(chat_completion(SEED_CALLS))

        with polycall.from_provider("openai/gpt-4o-mini") as client:
            assert list(_ask(client)) == SEED_VALUES

        assert client.adapter.client.is_closed()
        assert fake.wait_connections(0, timeout=5)


async def test_async_with_closes_a_client_from_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openai")
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        fake.push(chat_completion(SEED_CALLS))

        async with polycall.from_provider("openai/gpt-4o-mini", async_client=True) as client:
            assert list(await _ask(client)) == SEED_VALUES

        assert client.adapter.client.is_closed()
        assert fake.wait_connections(0, timeout=5)


@pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")
def test_closing_a_vertexai_client_that_sent_nothing_needs_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A `GenerativeModel` makes its SDK clients on first use, which needs credentials:
    closing one that sent nothing makes none (and so cannot fail for want of them)."""
    pytest.importorskip("vertexai")
    import vertexai
    from google.cloud.aiplatform import initializer
    from vertexai.generative_models import GenerativeModel

    saved = dict(vars(initializer.global_config))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    try:
        vertexai.init(project="test-project", location="us-central1", api_transport="rest")
        polycall.from_vertexai(GenerativeModel("gemini-2.5-flash")).close()
    finally:
        vars(initializer.global_config).clear()
        vars(initializer.global_config).update(saved)


async def _async_client(name: str, fake: FakeProvider, stack: contextlib.AsyncExitStack) -> Any:
    """The async client of the matrix cell `name`; "aiobotocore": Bedrock over an entered
    aiobotocore client (the cell's runs boto3 on worker threads)."""
    if name == "aiobotocore":
        pytest.importorskip("aiobotocore")
        from polycall.testing.bedrock import aio_bedrock_client

        sdk = await stack.enter_async_context(aio_bedrock_client(fake))
        return polycall.from_bedrock(sdk, model="anthropic.claude-sonnet-4-6-v1:0")
    cell = MATRIX[name]
    if cell.needs_setup:
        stack.enter_context(vertexai_at(fake))
        return cell.client(fake, use_async=True)
    return cell.client(fake, is_async=True)


@pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")
@pytest.mark.parametrize("name", [*ASYNC, "vertexai", "aiobotocore"])
async def test_a_stream_left_open_closes_quietly_innermost_first(name: str) -> None:
    """A stream read halfway and left open: asyncio closes the async generators a program
    left open as it shuts down in no set order, the innermost first at worst. The clean-up
    then still ends without an error."""
    gate = Gate()
    with FakeProvider() as fake:
        async with contextlib.AsyncExitStack() as stack:
            fake.push(MATRIX["bedrock" if name == "aiobotocore" else name].streamed(SEED_CALLS, gates={0: gate}))
            client = await _async_client(name, fake, stack)
            with async_generators_started() as started:
                stream = client.create_iterable(messages=SEED_MESSAGES, response_model=SEED_MODEL)
                assert await anext(stream) == SEED_VALUES[0]
            assert started
            for generator in reversed(started):
                await generator.aclose()
            gate.open()
            await client.aclose()
