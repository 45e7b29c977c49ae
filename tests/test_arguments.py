"""What `create` takes besides the SDK's own arguments: `strict=` (pydantic's strict mode, as
instructor takes it); and an argument the SDK does not take is a `ConfigurationError` before
anything is sent, on every provider."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from helpers import vertexai_at
from models import SEED_MESSAGES
from polycall import ConfigurationError, ProviderError, ValidationFailed
from polycall.testing import FakeProvider, json_response
from polycall.testing.batch import FakeBatches
from polycall.testing.openai import chat_completion
from providers import MATRIX, Cell

USER = SEED_MESSAGES[1:]


class Forecast(BaseModel):
    city: str
    days: int


MODEL = Iterable[Forecast]
QUOTED = ("Forecast", {"city": "Oslo", "days": "3"})  # a number written as text


@contextlib.contextmanager
def set_up(cell: Cell, fake: FakeProvider) -> Iterator[None]:
    with vertexai_at(fake) if cell.needs_setup else contextlib.nullcontext():
        yield


@pytest.mark.parametrize("provider", MATRIX)
def test_strict_validates_every_call_in_strict_mode(fake: FakeProvider, provider: str) -> None:
    cell = MATRIX[provider]
    with set_up(cell, fake):
        client = cell.client(fake)
        fake.push(cell.whole([QUOTED]), cell.whole([QUOTED]), cell.whole([QUOTED]))
        assert client.create(messages=USER, response_model=MODEL) == [Forecast(city="Oslo", days=3)]
        assert client.create(messages=USER, response_model=MODEL, strict=False)[0].days == 3
        with pytest.raises(ValidationFailed) as caught:
            client.create(messages=USER, response_model=MODEL, strict=True)
    (failure,) = caught.value.failures
    assert failure.name == "Forecast" and [e["loc"] for e in failure.errors] == [("days",)]


@pytest.mark.parametrize("provider", MATRIX)
def test_an_argument_the_sdk_does_not_take_is_refused_before_sending(
    fake: FakeProvider, provider: str
) -> None:
    cell = MATRIX[provider]
    with set_up(cell, fake):
        client = cell.client(fake)
        with pytest.raises(ConfigurationError) as caught:
            client.create(messages=USER, response_model=MODEL, temprature=0.2)
        assert not isinstance(caught.value, ProviderError)
        assert "temprature" in str(caught.value)
        with pytest.raises(ConfigurationError):
            list(client.create_iterable(messages=USER, response_model=MODEL, temprature=0.2))
    assert fake.requests == []


@pytest.mark.parametrize("provider", [name for name, cell in MATRIX.items() if cell.has_async])
async def test_async_clients_take_strict_and_refuse_unknown_arguments(
    fake: FakeProvider, provider: str
) -> None:
    cell = MATRIX[provider]
    fake.push(cell.streamed([QUOTED]))
    async with cell.client(fake, is_async=True) as client:
        with pytest.raises(ValidationFailed):
            async for _ in client.create_iterable(messages=USER, response_model=MODEL, strict=True):
                pass
        with pytest.raises(ConfigurationError, match="temprature"):
            await client.create(messages=USER, response_model=MODEL, temprature=0.2)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("strict", ["yes", 1])
def test_strict_takes_a_bool(fake: FakeProvider, strict: Any) -> None:
    client = MATRIX["openai"].client(fake)
    with pytest.raises(ConfigurationError, match="strict= takes True, False or None"):
        client.create(messages=USER, response_model=MODEL, strict=strict)
    with pytest.raises(ConfigurationError, match="strict="):
        client.batch.submit([{"custom_id": "a", "messages": USER}], response_model=MODEL, strict=strict)
    assert fake.requests == []


def test_the_tool_loop_validates_each_step_in_strict_mode(fake: FakeProvider) -> None:
    cell = MATRIX["openai"]
    fake.push(
        cell.streamed([QUOTED]),
        cell.streamed([("Forecast", {"city": "Oslo", "days": 3})]),
        cell.streamed([], text="Sunny."),
    )
    run = cell.client(fake).run_tools(
        messages=USER, response_model=MODEL, handlers={Forecast: lambda f: "sunny"}, strict=True
    )
    assert run.text == "Sunny."
    first, second = run.steps
    assert not first.calls and [f.name for f in first.failures] == ["Forecast"]  # answered
    assert second.calls == [Forecast(city="Oslo", days=3)]


def test_batch_results_are_validated_in_strict_mode(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion([QUOTED])))
    client = MATRIX["openai"].client(fake)
    requests = [{"custom_id": "a", "messages": USER}]
    lax = client.batch.submit(requests, response_model=MODEL)
    strict = client.batch.submit(requests, response_model=MODEL, strict=True)
    for job in (lax, strict):
        job.wait(poll_interval=0)
    assert dict(lax.results())["a"] == [Forecast(city="Oslo", days=3)]
    assert isinstance(dict(strict.results())["a"], ValidationFailed)


@pytest.mark.parametrize("provider", MATRIX)
def test_a_refused_request_is_a_provider_error_with_its_http_status(
    fake: FakeProvider, provider: str
) -> None:
    cell = MATRIX[provider]
    body = {"error": {"code": 400, "message": "bad request", "status": "INVALID_ARGUMENT"}}
    with set_up(cell, fake):
        fake.push(json_response(body, status=400))
        with pytest.raises(ProviderError) as caught:
            cell.client(fake).create(messages=USER, response_model=MODEL)
    assert caught.value.status_code == 400 and caught.value.original is caught.value.__cause__
    assert type(caught.value.status_code) is int  # not the SDK's enum (google.api_core's HTTPStatus)
