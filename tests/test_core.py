"""The core through the OpenAI Chat adapter: errors, hooks, limits, retries, validation context,
usage, and `create_with_completion`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import openai
import pytest
from pydantic import BaseModel, ValidationInfo, field_validator
from tenacity import AsyncRetrying, Retrying, stop_after_attempt

import polycall
from helpers import seed_request as kwargs
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch, Weather
from polycall import (
    ConfigurationError,
    IncompleteOutputError,
    LimitExceededError,
    MalformedOutputError,
    NoToolCallsError,
    PolycallError,
    ProviderError,
    RefusalError,
    UnknownToolError,
    ValidationFailed,
)
from polycall.calls import CallFailure
from polycall.testing import FakeProvider
from polycall.testing.openai import chat_completion, chat_error, chat_stream

MODEL = "gpt-4o-mini"
DALLAS_KELVIN = ("Weather", {"location": "Dallas", "units": "kelvin"})
BAD_CALLS = [SEED_CALLS[0], DALLAS_KELVIN, SEED_CALLS[2]]
FIX = [SEED_CALLS[1]]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ConfigurationError,
        ProviderError,
        LimitExceededError,
        NoToolCallsError,
        IncompleteOutputError,
        RefusalError,
        MalformedOutputError,
        ValidationFailed,
        UnknownToolError,
    ],
)
def test_every_error_is_a_polycall_error(error: type[Exception]) -> None:
    assert issubclass(error, PolycallError)
    assert polycall.__all__.count(error.__name__) == 1


def test_unknown_tool_error_is_a_validation_failure() -> None:
    assert issubclass(UnknownToolError, ValidationFailed)


def test_validation_failed_carries_failures_errors_valid_and_attempts() -> None:
    failure = CallFailure(
        "call_9",
        "Weather",
        {"units": "K"},
        [
            {
                "type": "literal_error",
                "loc": ("units",),
                "msg": "Input should be 'imperial' or 'metric'",
                "input": "K",
            },
            {"type": "missing", "loc": ("location",), "msg": "Field required", "input": {}},
        ],
    )
    error = ValidationFailed([failure], valid=["v"], attempts=3, raw="raw")
    assert error.errors == {"call_9": failure.errors}
    assert (error.valid, error.attempts, error.raw, error.failures) == (["v"], 3, "raw", [failure])
    assert str(error).splitlines() == [
        "1 tool call failed after 3 attempt(s):",
        (
            "  call call_9 (Weather): units: Input should be 'imperial' or 'metric' (got 'K'); "
            "location: Field required"
        ),
    ]


def test_provider_error_keeps_the_sdk_error_and_status(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_error(429, "Rate limit reached", type="requests"))
    with pytest.raises(ProviderError, match="RateLimitError: .*Rate limit reached") as info:
        client.create(**kwargs())
    assert isinstance(info.value.__cause__, openai.RateLimitError)
    assert info.value.original is info.value.__cause__  # type: ignore[attr-defined]
    assert info.value.status_code == 429  # type: ignore[attr-defined]


def test_negative_max_retries_is_a_configuration_error(fake: FakeProvider, client: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_retries must be >= 0"):
        client.create(**kwargs(max_retries=-1))
    assert fake.requests == []


# --- hooks --------------------------------------------------------------------------------


class Recorder:
    """Records every hook event with its keyword arguments."""

    def __init__(self, client: Any) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        for event in ("request", "response", "parse_error", "retry", "error"):
            client.on(event, self._make(event))

    def _make(self, event: str) -> Any:
        def hook(**payload: Any) -> None:
            self.events.append((event, payload))

        return hook

    @property
    def names(self) -> list[tuple[str, int]]:
        return [(event, payload["attempt"]) for event, payload in self.events]


#: The hook events of one bad call mended by a retry, with their attempt.
RETRY_EVENTS = [
    ("request", 1), ("response", 1), ("parse_error", 1), ("retry", 1), ("request", 2), ("response", 2),
]


def test_hooks_see_each_attempt_of_a_retry(fake: FakeProvider, client: Any) -> None:
    recorder = Recorder(client)
    fake.push(chat_completion(BAD_CALLS), chat_completion(FIX))
    client.create(**kwargs(max_retries=1))
    assert recorder.names == RETRY_EVENTS
    payloads = dict(recorder.events[:4])
    assert set(payloads["request"]) == {"attempt", "request"}
    assert payloads["request"]["request"]["tool_choice"] == "required"
    assert payloads["response"]["response"].choices[0].message.tool_calls[1].id == "call_1"
    failure = payloads["parse_error"]["failure"]
    assert (failure.id, failure.name, failure.errors[0]["loc"]) == ("call_1", "Weather", ("units",))
    assert isinstance(payloads["retry"]["error"], ValidationFailed)
    second_request = recorder.events[4][1]["request"]
    assert [m["role"] for m in second_request["messages"][2:]] == [
        "assistant",
        "tool",
        "tool",
        "tool",
    ]


def test_error_hook_sees_provider_errors(fake: FakeProvider, client: Any) -> None:
    recorder = Recorder(client)
    causes: list[BaseException | None] = []
    client.on("error", lambda error, **_: causes.append(error.__cause__))
    fake.push(chat_error(500, "boom"))
    with pytest.raises(ProviderError) as info:
        client.create(**kwargs())
    assert recorder.names == [("request", 1), ("error", 1)]
    assert recorder.events[1][1]["error"] is info.value
    assert causes == [info.value.__cause__] and isinstance(causes[0], openai.InternalServerError)


def test_error_hook_sees_errors_no_retry_can_mend(fake: FakeProvider, client: Any) -> None:
    recorder = Recorder(client)
    fake.push(chat_completion(text="no"))
    with pytest.raises(NoToolCallsError) as info:
        client.create(**kwargs(max_retries=2))
    assert recorder.names == [("request", 1), ("response", 1), ("error", 1)]
    assert recorder.events[-1][1]["error"] is info.value
    assert len(fake.requests) == 1


async def test_async_hooks(fake: FakeProvider, aclient: Any) -> None:
    recorder = Recorder(aclient)
    fake.push(chat_completion(BAD_CALLS), chat_completion(FIX))
    await aclient.create(**kwargs(max_retries=1))
    assert recorder.names == RETRY_EVENTS


def test_hooks_on_streams(fake: FakeProvider, client: Any) -> None:
    recorder = Recorder(client)
    fake.push(chat_stream(SEED_CALLS))
    assert list(client.create_iterable(**kwargs())) == SEED_VALUES
    assert recorder.names == [("request", 1), ("response", 1)]
    assert recorder.events[1][1]["response"].usage is not None  # the final chunk


def test_off_removes_hooks_and_unknown_events_are_refused(fake: FakeProvider, client: Any) -> None:
    seen: list[int] = []

    def hook(**payload: Any) -> None:
        seen.append(payload["attempt"])

    client.on("request", hook)
    client.off("request", hook)
    fake.push(chat_completion(SEED_CALLS))
    client.create(**kwargs())
    assert seen == []
    with pytest.raises(ConfigurationError, match="unknown hook event 'completion:kwargs'"):
        client.on("completion:kwargs", hook)
    with pytest.raises(ConfigurationError, match="a hook must be callable, got 5"):
        client.on("request", 5)


def test_an_async_hook_is_refused_as_nothing_would_await_it(client: Any) -> None:
    async def on_request(**payload: Any) -> None: ...

    class OnRequest:
        async def __call__(self, **payload: Any) -> None: ...

    with pytest.raises(ConfigurationError, match="on_request is async"):
        client.on("request", on_request)
    with pytest.raises(ConfigurationError, match="OnRequest is async"):
        client.on("request", OnRequest())


def test_a_hook_that_takes_itself_off_does_not_hide_the_event_from_the_next(
    fake: FakeProvider, client: Any
) -> None:
    called: list[str] = []

    def once(**payload: Any) -> None:
        called.append("once")
        client.off("request", once)

    client.on("request", once)
    client.on("request", lambda **payload: called.append("logger"))
    fake.push(chat_completion(SEED_CALLS), chat_completion(SEED_CALLS))
    client.create(**kwargs())
    client.create(**kwargs())
    assert called == ["once", "logger", "logger"]


@pytest.mark.parametrize("way", ["create", "create_iterable", "run_tools", "batch"])
def test_the_validation_context_is_given_once(fake: FakeProvider, client: Any, way: str) -> None:
    """`context=` and its older name `validation_context=` together are a mistake: one of
    them would be ignored. Refused before anything is sent."""
    both = {"validation_context": {"a": 1}, "context": {"b": 2}}
    with pytest.raises(ConfigurationError, match="give the validation context once"):
        if way == "batch":
            client.batch.submit([{"custom_id": "r0", "messages": SEED_MESSAGES}], model="m", response_model=SEED_MODEL, **both)
        elif way == "run_tools":
            client.run_tools(**kwargs(**both), handlers={Weather: str, GoogleSearch: str})
        else:
            getattr(client, way)(**kwargs(**both))
    assert fake.requests == []


# --- retries ------------------------------------------------------------------------------


def test_retry_asks_again_only_for_the_failed_call(fake: FakeProvider, client: Any) -> None:
    fake.push(
        chat_completion(BAD_CALLS, usage=(100, 30)),
        chat_completion(FIX, ids=["call_new"], usage=(160, 10)),
    )
    calls = client.create(**kwargs(max_retries=1))
    assert len(fake.requests) == 2
    assert list(calls) == SEED_VALUES  # the model's original order
    assert [c.id for c in calls.calls] == ["call_0", "call_1", "call_2"]  # original ids kept
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == (260, 40)  # summed
    first, second = (r.json for r in fake.requests)
    assert second["tools"] == first["tools"] and second["tool_choice"] == "required"
    assert second["messages"][:2] == SEED_MESSAGES
    assistant, *results = second["messages"][2:]
    assert assistant["role"] == "assistant"
    assert [(tc["id"], tc["function"]["name"]) for tc in assistant["tool_calls"]] == [
        ("call_0", "Weather"),
        ("call_1", "Weather"),
        ("call_2", "GoogleSearch"),
    ]
    assert (
        assistant["tool_calls"][1]["function"]["arguments"]
        == '{"location": "Dallas", "units": "kelvin"}'
    )
    assert [(m["role"], m["tool_call_id"]) for m in results] == [
        ("tool", "call_0"),
        ("tool", "call_1"),
        ("tool", "call_2"),
    ]
    assert results[0]["content"] == "ok" and results[2]["content"] == "ok"
    error_text = results[1]["content"]
    assert "call_1" in error_text and "units" in error_text and "'kelvin'" in error_text
    assert "Toronto" not in error_text and "super bowl" not in error_text


def test_raw_and_create_with_completion_give_the_last_response(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_completion(BAD_CALLS), chat_completion(FIX, model="second"))
    calls, raw = client.create_with_completion(**kwargs(max_retries=1))
    assert raw is calls.raw and raw.model == "second"
    assert list(calls) == SEED_VALUES


def test_retries_exhausted_raise_validation_failed_with_attempts(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(
        chat_completion(BAD_CALLS),
        chat_completion([DALLAS_KELVIN]),
        chat_completion([DALLAS_KELVIN]),
    )
    with pytest.raises(ValidationFailed) as info:
        client.create(**kwargs(max_retries=2))
    error = info.value
    assert error.attempts == 3 and len(fake.requests) == 3
    assert list(error.errors) == ["call_1"]
    assert error.valid == [SEED_VALUES[0], SEED_VALUES[2]]
    assert "after 3 attempt(s)" in str(error)
    third = fake.requests[2].json["messages"]
    assert [m["role"] for m in third[2:]] == [
        "assistant",
        "tool",
        "tool",
        "tool",
        "assistant",
        "tool",
    ]


def test_a_retry_answering_the_whole_turn_again_corrects_only_the_failed_call(
    fake: FakeProvider, client: Any
) -> None:
    """Told "ok" for the valid calls, a model may still write them again: each is kept once,
    in its place, and the corrected call takes the failed one's place and id."""
    fake.push(
        chat_completion(BAD_CALLS, ids=["a1", "a2", "a3"]),
        chat_completion(SEED_CALLS, ids=["b1", "b2", "b3"]),
    )
    calls = client.create(**kwargs(max_retries=1))
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["a1", "a2", "a3"]


def test_ids_a_server_numbers_per_response_stay_unique_across_attempts(
    fake: FakeProvider, client: Any
) -> None:
    """A server numbering ids per response (call_0, call_1, ...) reuses them in a retry: a new
    call there gets an id of its own, so every call and every failure keeps its own."""
    fake.push(
        chat_completion([SEED_CALLS[0], DALLAS_KELVIN]),  # call_0, call_1
        chat_completion([SEED_CALLS[1], SEED_CALLS[2]]),  # call_0, call_1 again
    )
    calls = client.create(**kwargs(max_retries=1))
    assert list(calls) == SEED_VALUES
    ids = [c.id for c in calls.calls]
    assert ids[:2] == ["call_0", "call_1"] and len(set(ids)) == 3
    assert sorted(reply["tool_call_id"] for reply in calls.tool_results(["a", "b", "c"])) == sorted(ids)


def test_no_retries_by_default(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(BAD_CALLS), chat_completion(FIX))
    with pytest.raises(ValidationFailed) as info:
        client.create(**kwargs())
    assert info.value.attempts == 1 and len(fake.requests) == 1


def test_tenacity_retrying_object(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(BAD_CALLS), chat_completion(FIX))
    calls = client.create(**kwargs(max_retries=Retrying(stop=stop_after_attempt(2))))
    assert list(calls) == SEED_VALUES and len(fake.requests) == 2


def test_tenacity_retrying_exhausted_raises_the_last_failure(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_completion(BAD_CALLS), chat_completion([DALLAS_KELVIN]))
    with pytest.raises(ValidationFailed) as info:
        client.create(**kwargs(max_retries=Retrying(stop=stop_after_attempt(2))))
    assert info.value.attempts == 2 and len(fake.requests) == 2


def test_tenacity_giving_up_quietly_still_raises_the_last_failure(
    fake: FakeProvider, client: Any
) -> None:
    """A `retry_error_callback` makes tenacity stop without raising: the calls still invalid
    are not dropped for it."""
    fake.push(chat_completion(BAD_CALLS), chat_completion([DALLAS_KELVIN]))
    quiet = Retrying(stop=stop_after_attempt(2), retry_error_callback=lambda state: None)
    with pytest.raises(ValidationFailed) as info:
        client.create(**kwargs(max_retries=quiet))
    assert info.value.attempts == 2 and list(info.value.valid) == [SEED_VALUES[0], SEED_VALUES[2]]


async def test_tenacity_async_retrying_object(fake: FakeProvider, aclient: Any) -> None:
    fake.push(chat_completion(BAD_CALLS, usage=(1, 2)), chat_completion(FIX, usage=(3, 4)))
    calls = await aclient.create(**kwargs(max_retries=AsyncRetrying(stop=stop_after_attempt(2))))
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["call_0", "call_1", "call_2"]
    assert calls.usage.total_tokens == 10


async def test_one_async_retrying_serves_concurrent_requests(fake: FakeProvider, aclient: Any) -> None:
    """Each request counts its own attempts, though `AsyncRetrying` keeps its state on itself."""
    policy = AsyncRetrying(stop=stop_after_attempt(3))
    answers = [BAD_CALLS, [DALLAS_KELVIN], FIX]  # by the attempt: two bad, then the fix

    def answer(request: Any) -> Any:
        attempt = sum(m["role"] == "assistant" for m in request.json["messages"])
        return chat_completion(answers[attempt])

    fake.respond_with(answer)
    results = await asyncio.gather(*(aclient.create(**kwargs(max_retries=policy)) for _ in range(4)))
    assert [list(calls) for calls in results] == [SEED_VALUES] * 4
    assert len(fake.requests) == 12


async def test_async_retries_exhausted(fake: FakeProvider, aclient: Any) -> None:
    fake.push(chat_completion(BAD_CALLS), chat_completion([DALLAS_KELVIN]))
    with pytest.raises(ValidationFailed) as info:
        await aclient.create(**kwargs(max_retries=AsyncRetrying(stop=stop_after_attempt(2))))
    assert info.value.attempts == 2


def test_unknown_tool_is_retried_like_a_bad_call(fake: FakeProvider, client: Any) -> None:
    fake.push(
        chat_completion([SEED_CALLS[0], ("BingSearch", {"q": "x"})]),
        chat_completion(SEED_CALLS[2:]),
    )
    calls = client.create(**kwargs(max_retries=1))
    assert list(calls) == [SEED_VALUES[0], SEED_VALUES[2]]
    assert "one of the offered tools" in fake.last.json["messages"][-1]["content"]


def test_non_retryable_errors_are_not_retried(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS[:1], finish_reason="length"), chat_completion(SEED_CALLS))
    with pytest.raises(IncompleteOutputError):
        client.create(**kwargs(max_retries=3))
    assert len(fake.requests) == 1


def test_streaming_retries_yield_valid_calls_first_then_the_correction(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(chat_stream(BAD_CALLS, usage=(10, 5)), chat_stream(FIX, usage=(20, 5)))
    stream = client.create_iterable(**kwargs(max_retries=1))
    yielded = list(stream)
    assert yielded == [SEED_VALUES[0], SEED_VALUES[2], SEED_VALUES[1]]  # nothing twice
    result = stream.result
    assert list(result) == SEED_VALUES
    assert [c.id for c in result.calls] == ["call_0", "call_1", "call_2"]
    assert result.usage.input_tokens == 30
    second = fake.requests[1].json
    assert second["stream"] is True
    assert [m.get("content") for m in second["messages"][3:]][0::2] == ["ok", "ok"]


async def test_async_streaming_retries(fake: FakeProvider, aclient: Any) -> None:
    fake.push(chat_stream(BAD_CALLS), chat_stream(FIX))
    stream = aclient.create_iterable(
        **kwargs(max_retries=AsyncRetrying(stop=stop_after_attempt(2)))
    )
    assert [value async for value in stream] == [SEED_VALUES[0], SEED_VALUES[2], SEED_VALUES[1]]
    assert list(stream.result) == SEED_VALUES


def test_streaming_retries_exhausted(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_stream(BAD_CALLS), chat_stream([DALLAS_KELVIN]))
    yielded: list[Any] = []
    with pytest.raises(ValidationFailed) as info:
        yielded.extend(client.create_iterable(**kwargs(max_retries=1)))
    assert info.value.attempts == 2
    assert info.value.valid == [SEED_VALUES[0], SEED_VALUES[2]]


# --- validation context -------------------------------------------------------------------


class Booking(BaseModel):
    city: str

    @field_validator("city")
    @classmethod
    def served(cls, value: str, info: ValidationInfo) -> str:
        cities = (info.context or {}).get("cities", [])
        if value not in cities:
            raise ValueError(f"we only serve {', '.join(cities) or 'no city'}")
        return value


@pytest.mark.parametrize("name", ["validation_context", "context"])
def test_context_reaches_the_validators(fake: FakeProvider, client: Any, name: str) -> None:
    fake.push(
        chat_completion([("Booking", {"city": "Lyon"})]),
        chat_completion([("Booking", {"city": "Nice"})]),
    )
    calls = client.create(
        **kwargs(response_model=Iterable[Booking], **{name: {"cities": ["Lyon"]}})
    )
    assert [c.city for c in calls] == ["Lyon"]
    with pytest.raises(ValidationFailed, match="we only serve Lyon"):
        client.create(**kwargs(response_model=Iterable[Booking], **{name: {"cities": ["Lyon"]}}))
    assert all(name not in r.json for r in fake.requests)


async def test_context_reaches_the_validators_async_and_on_streams(
    fake: FakeProvider, aclient: Any
) -> None:
    fake.push(chat_stream([("Booking", {"city": "Lyon"})]))
    stream = aclient.create_iterable(
        **kwargs(response_model=Iterable[Booking], validation_context={"cities": ["Lyon"]})
    )
    assert [v.city async for v in stream] == ["Lyon"]


def test_validation_context_feeds_the_retry(fake: FakeProvider, client: Any) -> None:
    fake.push(
        chat_completion([("Booking", {"city": "Nice"})]),
        chat_completion([("Booking", {"city": "Lyon"})]),
    )
    calls = client.create(
        **kwargs(
            response_model=Iterable[Booking], validation_context={"cities": ["Lyon"]}, max_retries=1
        )
    )
    assert [c.city for c in calls] == ["Lyon"]
    assert "we only serve Lyon" in fake.last.json["messages"][-1]["content"]


# --- create_with_completion and usage -----------------------------------------------------


def test_create_with_completion_and_usage(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS, usage=(7, 9)))
    calls, raw = client.create_with_completion(**kwargs())
    assert isinstance(calls, polycall.ToolCalls) and list(calls) == SEED_VALUES
    assert raw.usage.prompt_tokens == 7
    assert (calls.usage.input_tokens, calls.usage.output_tokens, calls.usage.total_tokens) == (
        7,
        9,
        16,
    )
    assert repr(calls).startswith("ToolCalls([Weather(")
    assert isinstance(calls[0], Weather)


def test_no_retry_event_when_no_retry_follows_and_error_when_retries_run_out(
    fake: FakeProvider, client: Any
) -> None:
    recorder = Recorder(client)
    fake.push(chat_completion(BAD_CALLS), chat_completion(BAD_CALLS))
    with pytest.raises(ValidationFailed) as info:
        client.create(**kwargs(max_retries=1))
    assert recorder.names == [
        ("request", 1), ("response", 1), ("parse_error", 1), ("retry", 1),
        ("request", 2), ("response", 2), ("parse_error", 2), ("error", 2),
    ]
    assert recorder.events[-1][1]["error"] is info.value


async def test_async_error_hook_when_retries_run_out(fake: FakeProvider, aclient: Any) -> None:
    recorder = Recorder(aclient)
    fake.push(chat_stream(BAD_CALLS))
    with pytest.raises(ValidationFailed) as info:
        async for _ in aclient.create_iterable(**kwargs()):
            pass
    assert [name for name, _ in recorder.names] == ["request", "parse_error", "response", "error"]
    assert recorder.events[-1][1]["error"] is info.value


def test_an_echoed_api_key_is_redacted_from_provider_errors(fake: FakeProvider) -> None:
    key = "sk-test-0123456789abcdef"
    fake.push(chat_error(401, f"Incorrect API key provided: {key}"))
    client = polycall.from_openai(openai.OpenAI(base_url=fake.url + "/v1", api_key=key, max_retries=0))
    with pytest.raises(ProviderError) as info:
        client.create(**kwargs())
    assert key not in str(info.value)
    assert "[redacted]" in str(info.value)
