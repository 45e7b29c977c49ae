"""OpenAI-compatible servers: their quirks are smoothed, and a refused `tool_choice="required"`
falls back to `"auto"` once, only when polycall set it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import openai
import pytest
from pydantic import BaseModel, ConfigDict

import polycall
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES, GoogleSearch
from polycall import IncompleteOutputError, ProviderError, ValidationFailed
from polycall.testing import FakeProvider
from polycall.testing.openai import (
    chat_chunk,
    chat_completion,
    chat_error,
    chat_sse,
    chat_stream,
    parallel_call,
    tool_call,
)

MODEL = "llama-3.3-70b-versatile"
REFUSE_REQUIRED = "tool_choice 'required' is not supported by this model; use 'auto' or 'none'"


class NoArgs(BaseModel):
    """Get the current time."""


class Defaults(BaseModel):
    title: str | None = None


def make_client(fake: FakeProvider, path: str = "/v1", *, is_async: bool = False) -> Any:
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return polycall.from_openai(cls(base_url=fake.url + path, api_key="test", max_retries=0))


@pytest.fixture
def client(fake: FakeProvider) -> Any:
    return make_client(fake)


def ask(client: Any, **extra: Any) -> Any:
    return client.create(
        **{"model": MODEL, "messages": SEED_MESSAGES, "response_model": SEED_MODEL, **extra}
    )


def test_any_base_url_is_used(fake: FakeProvider) -> None:
    client = make_client(fake, "/openai/v1")
    fake.push(chat_completion(SEED_CALLS, model=MODEL))
    assert list(ask(client)) == SEED_VALUES
    assert fake.last.path == "/openai/v1/chat/completions"


# --- parallel wrappers --------------------------------------------------------------------


class Plan(BaseModel):
    model_config = ConfigDict(title="parallel")

    steps: list[str]


@pytest.mark.parametrize("mode", [polycall.Mode.PARALLEL_TOOLS, polycall.Mode.RESPONSES_PARALLEL_TOOLS])
def test_a_tool_named_parallel_is_refused_as_the_wrapper_would_take_its_calls(
    fake: FakeProvider, mode: polycall.Mode
) -> None:
    sdk = openai.OpenAI(base_url=fake.url + "/v1", api_key="test", max_retries=0)
    with pytest.raises(polycall.ConfigurationError, match="a tool named 'parallel'"):
        polycall.from_openai(sdk, mode, model="m").create(messages=SEED_MESSAGES, response_model=Iterable[Plan])
    assert fake.requests == []


@pytest.mark.parametrize("wrapper", ["multi_tool_use.parallel", "parallel"])
def test_parallel_wrapper_is_unwrapped(fake: FakeProvider, client: Any, wrapper: str) -> None:
    fake.push(chat_completion(tool_calls=[parallel_call(SEED_CALLS, id="call_w", name=wrapper)]))
    calls = ask(client)
    assert list(calls) == SEED_VALUES
    assert [(c.id, c.name) for c in calls.calls] == [
        ("call_w_0", "Weather"),
        ("call_w_1", "Weather"),
        ("call_w_2", "GoogleSearch"),
    ]
    answers = calls.tool_results(["a", "b", "c"])
    assert [m["tool_call_id"] for m in answers] == ["call_w_0", "call_w_1", "call_w_2"]
    assert [tc["function"]["name"] for tc in calls.assistant_message()["tool_calls"]] == [
        "Weather",
        "Weather",
        "GoogleSearch",
    ]


def test_wrapper_next_to_a_plain_call_keeps_the_order(fake: FakeProvider, client: Any) -> None:
    tool_calls = [
        tool_call("Weather", SEED_CALLS[0][1], id="call_a"),
        parallel_call(SEED_CALLS[1:], id="call_w"),
    ]
    fake.push(chat_completion(tool_calls=tool_calls))
    calls = ask(client)
    assert list(calls) == SEED_VALUES
    assert [c.id for c in calls.calls] == ["call_a", "call_w_0", "call_w_1"]


def test_wrapper_with_object_arguments_and_a_bad_inner_call(
    fake: FakeProvider, client: Any
) -> None:
    uses = [
        {"recipient_name": "functions.GoogleSearch", "parameters": {"query": "q"}},
        {"recipient_name": "functions.Weather", "parameters": {"location": "Oslo"}},
    ]
    wrapped = {
        "id": "call_w",
        "type": "function",
        "function": {"name": "multi_tool_use.parallel", "arguments": {"tool_uses": uses}},
    }
    fake.push(chat_completion(tool_calls=[wrapped]))
    with pytest.raises(ValidationFailed, match=r"call call_w_1 \(Weather\): units") as info:
        ask(client)
    assert info.value.valid == [GoogleSearch(query="q")]


# --- arguments and ids --------------------------------------------------------------------


def test_arguments_given_as_an_object(fake: FakeProvider, client: Any) -> None:
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
        for i, (name, args) in enumerate(SEED_CALLS)
    ]
    fake.push(chat_completion(tool_calls=tool_calls))
    calls = ask(client)
    assert list(calls) == SEED_VALUES
    assert (
        calls.assistant_message()["tool_calls"][2]["function"]["arguments"]
        == '{"query": "who won the super bowl"}'
    )


@pytest.mark.parametrize(
    "function",
    [
        {"name": "NoArgs", "arguments": ""},
        {"name": "NoArgs"},
        {"name": "NoArgs", "arguments": "{}"},
        {"name": "NoArgs", "arguments": "  "},
        {"name": "NoArgs", "arguments": {}},
    ],
    ids=["empty string", "missing", "empty object text", "blank", "empty object"],
)
def test_empty_or_missing_arguments_mean_no_arguments(
    fake: FakeProvider, client: Any, function: dict[str, Any]
) -> None:
    fake.push(
        chat_completion(tool_calls=[{"id": "call_t", "type": "function", "function": function}])
    )
    calls = ask(client, response_model=Iterable[NoArgs])
    assert calls == [NoArgs()]
    assert calls.calls[0].arguments == {}
    assert calls.assistant_message()["tool_calls"][0]["function"]["arguments"] == "{}"


def test_missing_arguments_use_the_model_defaults(fake: FakeProvider, client: Any) -> None:
    fake.push(
        chat_completion(
            tool_calls=[{"id": "x", "type": "function", "function": {"name": "Defaults"}}]
        )
    )
    assert ask(client, response_model=Iterable[Defaults]) == [Defaults(title=None)]


@pytest.mark.parametrize(
    "ids",
    [["", "", ""], [None, None, None], ["", None, "call_c"]],
    ids=["empty", "missing", "mixed"],
)
def test_empty_or_missing_ids_get_stable_generated_ids(
    fake: FakeProvider, client: Any, ids: list[str | None]
) -> None:
    def body() -> Any:
        entries = [tool_call(name, args, id="") for name, args in SEED_CALLS]
        for entry, given in zip(entries, ids):
            if given is None:
                del entry["id"]
            else:
                entry["id"] = given
        return chat_completion(tool_calls=entries)

    fake.push(body(), body())
    first = [c.id for c in ask(client).calls]
    second = [c.id for c in ask(client).calls]
    assert first == second  # stable
    assert len(set(first)) == 3 and all(first)
    if ids[2]:
        assert first[2] == "call_c"


def test_duplicate_ids_are_made_unique(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_completion(SEED_CALLS, ids=["call_x", "call_x", "call_x"]))
    calls = ask(client)
    ids = [c.id for c in calls.calls]
    assert ids[0] == "call_x" and len(set(ids)) == 3
    assert [m["tool_call_id"] for m in calls.tool_results(["a", "b", "c"])] == ids


def test_extra_fields_and_missing_type_are_ignored(fake: FakeProvider, client: Any) -> None:
    entries = [
        {"id": f"c{i}", "index": i, "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(SEED_CALLS)
    ]
    response = chat_completion(tool_calls=entries, text="")
    response.body["choices"][0]["message"]["reasoning_content"] = "thinking..."
    response.body["x_groq"] = {"id": "req_1"}
    fake.push(response)
    calls = ask(client)
    assert list(calls) == SEED_VALUES
    assert calls.text is None


# --- finish reasons -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason", ["tool_calls", "stop", "tool_call", "function_call", "eos", "end_turn", "STOP"]
)
def test_non_standard_finish_reasons_with_calls_are_a_normal_end(
    fake: FakeProvider, client: Any, reason: str
) -> None:
    fake.push(chat_completion(SEED_CALLS, finish_reason=reason))
    assert list(ask(client)) == SEED_VALUES


@pytest.mark.parametrize("reason", ["length", "max_tokens", "MAX_TOKENS"])
def test_cut_off_finish_reasons(fake: FakeProvider, client: Any, reason: str) -> None:
    fake.push(chat_completion(SEED_CALLS[:1], finish_reason=reason))
    with pytest.raises(IncompleteOutputError) as info:
        ask(client)
    assert info.value.reason == reason


def test_finish_reason_error_is_a_provider_error(fake: FakeProvider, client: Any) -> None:
    response = chat_completion(SEED_CALLS[:1], finish_reason="error")
    response.body["error"] = {"message": "upstream provider failed", "code": 502}
    fake.push(response)
    with pytest.raises(ProviderError, match="upstream provider failed"):
        ask(client)


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_a_legacy_function_call_answer_is_named(
    fake: FakeProvider, client: Any, streamed: bool
) -> None:
    """An old server that answers `tools` with one `function_call`, not `tool_calls`: a clear
    error saying so, not "the model answered without calling a tool"."""
    legacy = {"name": "GoogleSearch", "arguments": '{"query": "x"}'}
    if streamed:
        fake.push(chat_sse([chat_chunk({"function_call": legacy}), chat_chunk({}, "function_call")]))
    else:
        response = chat_completion(finish_reason="function_call")
        response.body["choices"][0]["message"]["function_call"] = legacy
        fake.push(response)
    with pytest.raises(ProviderError, match="legacy `function_call`"):
        list(ask(client, stream=True)) if streamed else ask(client)


# --- tool_choice="required" refused -------------------------------------------------------


def test_required_refused_falls_back_to_auto_once_and_remembers(
    fake: FakeProvider, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake.push(chat_error(400, REFUSE_REQUIRED, param="tool_choice"), chat_completion(SEED_CALLS))
    with caplog.at_level(logging.WARNING, logger="polycall"):
        assert list(ask(client)) == SEED_VALUES
    assert [r.json["tool_choice"] for r in fake.requests] == ["required", "auto"]
    assert "tool_choice" in caplog.text and "auto" in caplog.text
    fake.push(chat_completion(SEED_CALLS))
    assert list(ask(client)) == SEED_VALUES
    assert len(fake.requests) == 3 and fake.last.json["tool_choice"] == "auto"


async def test_async_required_refused_falls_back_to_auto(fake: FakeProvider) -> None:
    client = make_client(fake, is_async=True)
    fake.push(
        chat_error(400, REFUSE_REQUIRED), chat_completion(SEED_CALLS), chat_completion(SEED_CALLS)
    )
    assert list(await ask(client)) == SEED_VALUES
    assert list(await ask(client)) == SEED_VALUES
    assert [r.json["tool_choice"] for r in fake.requests] == ["required", "auto", "auto"]


def test_required_refused_on_a_stream_falls_back_too(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_error(422, "Invalid tool choice: required"), chat_stream(SEED_CALLS))
    assert (
        list(client.create_iterable(model=MODEL, messages=SEED_MESSAGES, response_model=SEED_MODEL))
        == SEED_VALUES
    )
    assert [r.json["tool_choice"] for r in fake.requests] == ["required", "auto"]
    assert all(r.json["stream"] is True for r in fake.requests)


def test_user_set_required_is_never_changed(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_error(400, REFUSE_REQUIRED))
    with pytest.raises(ProviderError, match="not supported") as info:
        ask(client, tool_choice="required")
    assert isinstance(info.value.__cause__, openai.BadRequestError)
    assert len(fake.requests) == 1 and fake.last.json["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "messages must not be empty"),
        (500, "tool_choice handler crashed"),
        (401, "bad tool_choice key"),
    ],
    ids=["other 400", "500", "401"],
)
def test_other_errors_do_not_fall_back(
    fake: FakeProvider, client: Any, status: int, message: str
) -> None:
    fake.push(chat_error(status, message))
    with pytest.raises(ProviderError, match=message):
        ask(client)
    assert len(fake.requests) == 1


def test_the_fallback_is_per_client(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_error(400, REFUSE_REQUIRED), chat_completion(SEED_CALLS))
    ask(client)
    fake.push(chat_completion(SEED_CALLS))
    ask(make_client(fake))
    assert fake.last.json["tool_choice"] == "required"


def test_auto_refused_after_the_fallback_is_a_provider_error(
    fake: FakeProvider, client: Any
) -> None:
    fake.push(
        chat_error(400, REFUSE_REQUIRED),
        chat_error(400, '"auto" tool choice requires --enable-auto-tool-choice'),
    )
    with pytest.raises(ProviderError, match="enable-auto-tool-choice"):
        ask(client)
    assert [r.json["tool_choice"] for r in fake.requests] == ["required", "auto"]


def test_refused_stream_options_are_dropped_and_remembered(fake: FakeProvider, client: Any) -> None:
    fake.push(
        chat_error(400, "Unrecognized request argument supplied: stream_options"),
        chat_stream(SEED_CALLS, usage=None),
        chat_stream(SEED_CALLS, usage=None),
    )
    kwargs = {"model": MODEL, "messages": SEED_MESSAGES, "response_model": SEED_MODEL}
    assert list(client.create_iterable(**kwargs)) == SEED_VALUES
    assert list(client.create_iterable(**kwargs)) == SEED_VALUES
    assert ["stream_options" in r.json for r in fake.requests] == [True, False, False]
    assert all(r.json["tool_choice"] == "required" for r in fake.requests)


def test_user_stream_options_are_never_dropped(fake: FakeProvider, client: Any) -> None:
    fake.push(chat_error(400, "Unrecognized request argument supplied: stream_options"))
    stream = client.create_iterable(
        model=MODEL,
        messages=SEED_MESSAGES,
        response_model=SEED_MODEL,
        stream_options={"include_usage": True},
    )
    with pytest.raises(ProviderError, match="stream_options"):
        list(stream)
    assert len(fake.requests) == 1
