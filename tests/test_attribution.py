"""Whose fault: an exception from the user's own code (a validator, a hook) is a
`UserCodeError` naming the call, tool and field, never a `ProviderError`; on every path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

import polycall
from helpers import anthropic_client, openai_client
from models import SEED_CALLS, SEED_MESSAGES, SEED_VALUES, GoogleSearch
from polycall import ProviderError, UserCodeError, ValidationFailed
from polycall.testing import FakeProvider
from polycall.testing.anthropic import message as anthropic_message
from polycall.testing.batch import FakeBatches
from polycall.testing.openai import chat_completion, chat_stream

BUGS = [TypeError, KeyError, RuntimeError, ZeroDivisionError]


class Weather(BaseModel):
    """The seed's Weather tool, with a bug: Dallas makes its validator raise."""

    model_config = ConfigDict(title="Weather")
    location: str
    units: Literal["imperial", "metric"]

    @field_validator("location")
    @classmethod
    def no_dallas(cls, value: str, info: ValidationInfo) -> str:
        if value == "Dallas":
            raise (info.context or {}).get("bug", TypeError)("no dallas")
        if value == "Paris":
            raise ValueError("not Paris")  # a validation error, as pydantic means it
        return value


class Checked(BaseModel):
    """A tool whose model_validator has a bug."""

    a: int
    b: int

    @model_validator(mode="after")
    def ratio(self) -> Checked:
        self.a // self.b  # ZeroDivisionError when b == 0
        return self


MODEL = Iterable[Weather | GoogleSearch]
VALUES = [Weather(location="Toronto", units="metric"), SEED_VALUES[2]]


def ask(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": SEED_MESSAGES, "response_model": MODEL, **extra}


def check(error: UserCodeError, bug: type[BaseException], *, valid: list[Any]) -> None:
    assert not isinstance(error, ProviderError)
    assert type(error.__cause__) is bug and error.original is error.__cause__
    assert (error.call_id, error.tool, error.field) == ("call_1", "Weather", "location")
    assert error.where == "Weather.no_dallas"
    assert error.valid == valid
    for part in ("call call_1", "tool Weather", "field location", "Weather.no_dallas", bug.__name__):
        assert part in str(error)


@pytest.mark.parametrize("bug", BUGS)
def test_create_names_the_call_and_keeps_the_earlier_valid_calls(fake: FakeProvider, bug: type) -> None:
    fake.push(chat_completion(SEED_CALLS))
    with pytest.raises(UserCodeError) as caught:
        openai_client(fake).create(**ask(validation_context={"bug": bug}))
    check(caught.value, bug, valid=VALUES[:1])


def test_value_error_stays_a_validation_failure(fake: FakeProvider) -> None:
    fake.push(chat_completion([SEED_CALLS[0], ("Weather", {"location": "Paris", "units": "metric"})]))
    with pytest.raises(ValidationFailed) as caught:
        openai_client(fake).create(**ask())
    assert list(caught.value.errors) == ["call_1"] and caught.value.valid == VALUES[:1]


def test_arguments_sent_as_an_object_take_the_same_path(fake: FakeProvider) -> None:
    tool_calls = [
        {"id": "call_0", "type": "function", "function": {"name": "Weather", "arguments": {
            "location": "Toronto", "units": "metric"}}},
        {"id": "call_1", "type": "function", "function": {"name": "Weather", "arguments": {
            "location": "Dallas", "units": "imperial"}}},
    ]
    fake.push(chat_completion(tool_calls=tool_calls))
    with pytest.raises(UserCodeError) as caught:
        openai_client(fake).create(**ask())
    check(caught.value, TypeError, valid=VALUES[:1])


def test_a_model_validator_is_named_without_a_field(fake: FakeProvider) -> None:
    fake.push(chat_completion([("Checked", {"a": 1, "b": 1}), ("Checked", {"a": 1, "b": 0})]))
    with pytest.raises(UserCodeError) as caught:
        openai_client(fake).create(model="m", messages=SEED_MESSAGES, response_model=Iterable[Checked])
    error = caught.value
    assert (error.call_id, error.tool, error.field, error.where) == ("call_1", "Checked", None, "Checked.ratio")
    assert isinstance(error.__cause__, ZeroDivisionError) and error.valid == [Checked(a=1, b=1)]


def test_another_provider_attributes_the_same_way(fake: FakeProvider) -> None:
    fake.push(anthropic_message(SEED_CALLS))
    with pytest.raises(UserCodeError) as caught:
        anthropic_client(fake).create(**ask())
    error = caught.value
    assert (error.tool, error.field) == ("Weather", "location") and error.valid == VALUES[:1]
    assert error.call_id and error.call_id in str(error)


@pytest.mark.parametrize("bug", [KeyError, RuntimeError])
def test_stream_yields_the_calls_before_then_raises(fake: FakeProvider, bug: type) -> None:
    fake.push(chat_stream(SEED_CALLS))
    stream = openai_client(fake).create_iterable(**ask(validation_context={"bug": bug}))
    assert next(stream) == VALUES[0]
    with pytest.raises(UserCodeError) as caught:
        next(stream)
    check(caught.value, bug, valid=VALUES[:1])


async def test_async_create_and_stream(fake: FakeProvider) -> None:
    client = openai_client(fake, is_async=True)
    fake.push(chat_completion(SEED_CALLS), chat_stream(SEED_CALLS))
    with pytest.raises(UserCodeError) as caught:
        await client.create(**ask())
    check(caught.value, TypeError, valid=VALUES[:1])
    with pytest.raises(UserCodeError) as caught:
        async for _ in client.create_iterable(**ask()):
            pass
    check(caught.value, TypeError, valid=VALUES[:1])


def test_a_retry_that_meets_the_bug_raises_at_once(fake: FakeProvider) -> None:
    kelvin = ("Weather", {"location": "Oslo", "units": "kelvin"})
    fake.push(
        chat_completion([SEED_CALLS[0], kelvin, SEED_CALLS[2]]),
        chat_completion([("Weather", {"location": "Dallas", "units": "imperial"})], ids=["call_9"]),
        chat_completion([SEED_CALLS[1]]),
    )
    with pytest.raises(UserCodeError) as caught:
        openai_client(fake).create(**ask(max_retries=3))
    assert len(fake.requests) == 2  # a bug is not retried
    error = caught.value
    assert (error.call_id, error.tool, error.field) == ("call_1", "Weather", "location")
    assert error.valid == VALUES


def test_the_error_hook_sees_the_user_code_error(fake: FakeProvider) -> None:
    client = openai_client(fake)
    seen: list[Any] = []
    client.on("error", lambda **event: seen.append(event["error"]))
    fake.push(chat_completion(SEED_CALLS))
    with pytest.raises(UserCodeError) as caught:
        client.create(**ask())
    assert seen == [caught.value]


#: What `.valid` holds when each hook raises: the calls validated before it.
VALID_AT = {"request": [], "response": [], "parse_error": VALUES[:1], "retry": VALUES[:1]}


@pytest.mark.parametrize("event", ["request", "response", "parse_error", "retry"])
def test_a_raising_hook_is_the_users(fake: FakeProvider, event: str) -> None:
    client = openai_client(fake)
    seen: list[Any] = []

    def budget(**payload: Any) -> None:
        raise RuntimeError("over budget")

    client.on(event, budget)
    client.on("error", lambda **event: seen.append(event["error"]))
    paris = ("Weather", {"location": "Paris", "units": "metric"})
    fake.push(chat_completion([SEED_CALLS[0], paris]), chat_completion([SEED_CALLS[0]]))
    with pytest.raises(UserCodeError) as caught:
        client.create(**ask(max_retries=1))
    error = caught.value
    assert isinstance(error.__cause__, RuntimeError) and not isinstance(error, ProviderError)
    assert f"the {event!r} hook" in str(error) and "budget" in error.where
    assert seen == [error]  # the request ends with it: the "error" hook is told, once
    assert error.valid == VALID_AT[event]
    if event == "parse_error":  # the hook was told about call_1
        assert (error.call_id, error.tool) == ("call_1", "Weather")
    else:
        assert error.call_id is None


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_raising_hook_keeps_the_calls_validated_before_it(fake: FakeProvider, stream: bool) -> None:
    client = openai_client(fake)

    def budget(**payload: Any) -> None:
        raise RuntimeError("over budget")

    client.on("parse_error", budget)
    paris = ("Weather", {"location": "Paris", "units": "metric"})
    fake.push((chat_stream if stream else chat_completion)([SEED_CALLS[0], SEED_CALLS[2], paris]))
    yielded: list[Any] = []
    with pytest.raises(UserCodeError) as caught:
        if stream:
            yielded.extend(client.create_iterable(**ask()))
        else:
            client.create(**ask())
    assert caught.value.valid == VALUES
    assert yielded == (VALUES if stream else [])  # on a stream, also after they went out


@pytest.mark.parametrize("callback", ["before", "after", "before_sleep", "retry_error_callback"])
async def test_a_raising_tenacity_callback_is_the_users(
    fake: FakeProvider, callback: str
) -> None:
    """The tenacity object given as `max_retries` runs the user's callbacks: their bug is a
    `UserCodeError` (the "error" hook told, the calls validated before it kept), sync and async."""
    tenacity = pytest.importorskip("tenacity")

    def log(state: Any) -> None:
        raise KeyError("attempt_log")

    paris = ("Weather", {"location": "Paris", "units": "metric"})
    fake.respond_with(  # Paris fails validation, each time it is asked again
        lambda request: chat_completion(
            [paris] if request.json["messages"][-1]["role"] == "tool" else [SEED_CALLS[0], paris]
        )
    )
    for client in (openai_client(fake), openai_client(fake, is_async=True)):
        seen: list[Any] = []
        client.on("error", lambda seen=seen, **event: seen.append(event["error"]))
        kind = tenacity.AsyncRetrying if client.__class__.__name__ == "AsyncClient" else tenacity.Retrying
        retrying = kind(stop=tenacity.stop_after_attempt(2), **{callback: log})
        with pytest.raises(UserCodeError) as caught:
            result = client.create(**ask(max_retries=retrying))
            if kind is tenacity.AsyncRetrying:
                await result
        error = caught.value
        assert "max_retries" in error.where and isinstance(error.__cause__, KeyError)
        assert seen == [error]
        assert error.valid == ([] if callback == "before" else VALUES[:1])  # before the first, or after it


def test_a_raising_error_hook_is_not_told_of_itself(fake: FakeProvider) -> None:
    client = openai_client(fake)
    told: list[Any] = []

    def alarm(**event: Any) -> None:
        told.append(event["error"])
        raise RuntimeError("pager down")

    client.on("error", alarm)
    fake.push(chat_completion(SEED_CALLS))  # Dallas: the validator's bug
    with pytest.raises(UserCodeError) as caught:
        client.create(**ask())
    assert "the 'error' hook" in str(caught.value) and isinstance(caught.value.__cause__, RuntimeError)
    assert [(type(error), error.call_id) for error in told] == [(UserCodeError, "call_1")]  # once


def test_batch_result_with_the_bug_is_that_requests_error_only(fake: FakeProvider) -> None:
    def answer(item: Any) -> Any:
        return chat_completion(SEED_CALLS if item.custom_id == "bad" else [SEED_CALLS[0]])

    fake.respond_with(FakeBatches(answer))
    requests = [{"custom_id": name, "messages": SEED_MESSAGES} for name in ("good", "bad")]
    job = openai_client(fake).batch.submit(requests, response_model=MODEL, model="m")
    job.wait(poll_interval=0)
    results = dict(job.results())
    assert list(results["good"]) == VALUES[:1]
    error = results["bad"]
    assert isinstance(error, UserCodeError) and error.custom_id == "bad"  # type: ignore[attr-defined]
    assert (error.call_id, error.field) == ("call_1", "location") and error.valid == VALUES[:1]


def test_handlers_keep_their_per_call_isolation(fake: FakeProvider) -> None:
    fake.push(chat_stream([SEED_CALLS[0], SEED_CALLS[2]]))

    def weather(call: Weather) -> str:
        raise KeyError("handler bug")

    stream = openai_client(fake).create_iterable(**ask())
    results = polycall.run_stream(stream, {Weather: weather, GoogleSearch: lambda q: "Eagles"})
    assert [type(r.error) for r in results] == [KeyError, type(None)]
    assert results[1].value == "Eagles"


def test_run_stream_surfaces_a_validator_bug(fake: FakeProvider) -> None:
    fake.push(chat_stream(SEED_CALLS))
    stream = openai_client(fake).create_iterable(**ask())
    with pytest.raises(UserCodeError, match="call_1"):
        polycall.run_stream(stream, {Weather: lambda w: "ok", GoogleSearch: lambda q: "ok"})
