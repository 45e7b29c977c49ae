"""Careless input gets a clear `PolycallError` naming what was wrong, before anything is
sent, never a raw Python error or a quietly wrong request; and what polycall raises itself
carries the attributes its class documents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import polycall
from helpers import anthropic_client, openai_client
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall import ConfigurationError, ProviderError, UserCodeError
from polycall.testing import FakeProvider, json_response
from polycall.testing.openai import chat_completion, chat_stream
from providers import MATRIX

KELVIN = ("Weather", {"location": "Oslo", "units": "kelvin"})


def ask(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": SEED_MESSAGES, "response_model": SEED_MODEL, **extra}


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"call_0": "a", "call_1": "b", "call_2": "c"}, r"got a dict; from a dict by call id"),
        ("abc", "got a str"),
        ({"a", "b", "c"}, "got a set"),
        (None, "got a NoneType"),
    ],
)
def test_tool_results_takes_one_output_per_call_in_order(
    fake: FakeProvider, outputs: Any, message: str
) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls = openai_client(fake).create(**ask())
    with pytest.raises(ConfigurationError, match=message):
        calls.tool_results(outputs)
    sent = calls.tool_results(output for output in ["a", "b", "c"])  # read once
    assert [m["content"] for m in sent] == ["a", "b", "c"]


def test_messages_given_as_a_generator_reach_every_request(fake: FakeProvider) -> None:
    fake.push(chat_completion([SEED_CALLS[0], KELVIN]), chat_completion([SEED_CALLS[1]]))
    client = openai_client(fake)
    calls = client.create(**ask(messages=(m for m in SEED_MESSAGES), max_retries=1))
    assert list(calls) == SEED_VALUES[:2]
    first, retry = (request.json["messages"] for request in fake.requests)
    assert first == SEED_MESSAGES and retry[: len(SEED_MESSAGES)] == SEED_MESSAGES


def test_a_tool_loop_keeps_messages_given_as_a_generator(fake: FakeProvider) -> None:
    fake.push(chat_stream([SEED_CALLS[2]]), chat_stream([], text="Kansas City."))
    run = openai_client(fake).run_tools(
        messages=(m for m in SEED_MESSAGES), response_model=SEED_MODEL, model="m",
        handlers={"GoogleSearch": lambda search: "Kansas City", "Weather": str},
    )
    assert run.messages[: len(SEED_MESSAGES)] == SEED_MESSAGES
    assert fake.requests[0].json["messages"] == SEED_MESSAGES


@pytest.mark.parametrize("messages", ["hello", {"role": "user", "content": "hi"}])
def test_a_tool_loop_takes_a_list_of_messages(fake: FakeProvider, messages: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"run_tools\(\) takes the conversation \(messages=, or contents= / input=\) as a list"):
        openai_client(fake).run_tools(
            messages=messages, response_model=SEED_MODEL, model="m", handlers={}
        )
    assert fake.requests == []


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ({"messages": None}, "messages="),
        ({}, "messages="),
        ({"messages": SEED_MESSAGES, "response_model": None}, "response_model="),
        ({"messages": SEED_MESSAGES, "handlers": None}, "handlers="),
    ],
)
def test_a_tool_loop_names_what_it_needs(fake: FakeProvider, options: dict[str, Any], missing: str) -> None:
    """Not a TypeError naming a private method: a ConfigurationError naming the argument."""
    given = {"response_model": SEED_MODEL, "handlers": {}, "model": "m", **options}
    with pytest.raises(ConfigurationError, match=f"run_tools\\(\\) needs {missing}"):
        openai_client(fake).run_tools(**given)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("messages", "extra", "message"),
    [
        ([{"role": "system", "content": 5}, SEED_MESSAGES[1]], {}, r"messages\[0\]\.content must be"),
        ([SEED_MESSAGES[1], {"role": "assistant", "content": 5, "tool_calls": [{}]}], {},
         r"messages\[1\]\.content must be"),
        ([SEED_MESSAGES[1], {"role": "assistant", "content": "x", "tool_calls": 5}], {},
         r"messages\[1\]\.tool_calls must be a list"),
        (SEED_MESSAGES, {"thinking": True}, "thinking= takes a dict"),
    ],
)
def test_anthropic_refuses_malformed_messages(
    fake: FakeProvider, messages: Any, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        anthropic_client(fake).create(**ask(messages=messages, **extra))
    assert fake.requests == []


def test_anthropic_takes_a_system_block_given_alone(fake: FakeProvider) -> None:
    from polycall.testing.anthropic import message

    fake.push(message(SEED_CALLS))
    system = {"role": "system", "content": {"type": "text", "text": "Use tools."}}
    anthropic_client(fake).create(**ask(messages=[system, SEED_MESSAGES[1]]))
    assert fake.last.json["system"] == [{"type": "text", "text": "Use tools."}]


def test_provider_errors_polycall_raises_carry_the_documented_attributes(
    fake: FakeProvider,
) -> None:
    body = chat_completion([]).body
    body["choices"] = []
    fake.push(json_response(body))
    with pytest.raises(ProviderError) as caught:
        openai_client(fake).create(**ask())
    error = caught.value
    assert error.status_code is None and error.original is None
    assert error.raw is not None and error.raw.choices == []  # the response it was about


def test_any_max_retries_costs_nothing_up_front(fake: FakeProvider) -> None:
    fake.push(chat_completion(SEED_CALLS))
    assert openai_client(fake).create(**ask(max_retries=10**15)) == SEED_VALUES


def test_a_timeout_is_a_number(fake: FakeProvider) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls = openai_client(fake).create(**ask())
    with pytest.raises(ConfigurationError, match="timeout must be a positive number"):
        calls.run({"Weather": str, "GoogleSearch": str}, timeout="1")  # type: ignore[arg-type]


def _broken_schema(schema: dict[str, Any]) -> None:
    raise RuntimeError("schema bug")


class BrokenSchema(BaseModel):
    model_config = ConfigDict(json_schema_extra=_broken_schema)
    a: int


def test_tool_models_with_a_bad_title_or_schema_code(fake: FakeProvider) -> None:
    client = openai_client(fake)
    with pytest.raises(UserCodeError, match="the JSON schema of BrokenSchema raised RuntimeError"):
        client.create(**ask(response_model=Iterable[BrokenSchema]))
    try:  # pydantic before 2.10 refuses such a title itself, as the class is made
        titled = type("NumberTitled", (BaseModel,), {
            "model_config": ConfigDict(title=5), "__annotations__": {"a": int},  # type: ignore[typeddict-item]
        })
    except Exception:  # noqa: BLE001 - pydantic's own error, at the class statement
        titled = None
    if titled is not None:
        with pytest.raises(ConfigurationError, match="gives the tool name 5"):
            client.create(**ask(response_model=Iterable[titled]))  # type: ignore[valid-type]
    assert fake.requests == []


def test_anthropic_takes_the_sdks_own_markers_and_tuples(fake: FakeProvider) -> None:
    anthropic = pytest.importorskip("anthropic")
    from polycall.testing.anthropic import message

    fake.push(message(SEED_CALLS), message(SEED_CALLS))
    client = anthropic_client(fake)
    system = {"role": "system", "content": ({"type": "text", "text": "Use tools."},)}
    client.create(**ask(messages=[system, SEED_MESSAGES[1]], thinking=anthropic.NOT_GIVEN))
    assert fake.last.json["system"] == [{"type": "text", "text": "Use tools."}]
    assert fake.last.json["tool_choice"]["type"] == "any" and "thinking" not in fake.last.json
    calls = client.create(**ask())
    answered = [
        *SEED_MESSAGES, calls.assistant_message(),
        {"role": "tool", "tool_call_id": calls.calls[0].id,
         "content": ({"type": "text", "text": "sunny"},)},
    ]
    fake.push(message(SEED_CALLS))
    client.create(**ask(messages=answered))
    result = fake.last.json["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["content"] == [{"type": "text", "text": "sunny"}]


class OldStyle:
    """A sequence by the old protocol: `__len__` and `__getitem__` only."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> str:
        if index >= 3:
            raise IndexError(index)
        return "abc"[index]


def test_tool_results_takes_any_ordered_collection(fake: FakeProvider) -> None:
    fake.push(chat_completion(SEED_CALLS))
    calls = openai_client(fake).create(**ask())
    for outputs in (("a", "b", "c"), OldStyle(), iter(["a", "b", "c"])):
        assert [m["content"] for m in calls.tool_results(outputs)] == ["a", "b", "c"]
    with pytest.raises(ConfigurationError, match="got a int"):
        calls.tool_results(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [name for name, cell in MATRIX.items() if not cell.needs_setup])
def test_content_json_cannot_hold_is_a_configuration_error_before_sending(fake: FakeProvider, name: str) -> None:
    """Not a ProviderError: the SDK could not write the request, and nothing was sent."""
    with pytest.raises(ConfigurationError, match="object"):
        MATRIX[name].client(fake).create(messages=[{"role": "user", "content": [object()]}], response_model=SEED_MODEL)
    assert fake.requests == []


@pytest.mark.parametrize("name", [name for name, cell in MATRIX.items() if not cell.needs_setup])
@pytest.mark.parametrize(
    ("method", "stream"),
    [("create_with_completion", True), ("create_iterable", False), ("create_partial", False)],
)
def test_stream_against_the_methods_own_choice_is_refused(
    fake: FakeProvider, name: str, method: str, stream: bool
) -> None:
    """`stream=` the method does not do is refused before sending, on every provider alike
    (not sent to the SDK, whose stream would be read as a whole response and left open)."""
    client = MATRIX[name].client(fake)
    with pytest.raises(ConfigurationError, match=r"create\(\)|create_iterable\(\)"):
        getattr(client, method)(model="m", messages=SEED_MESSAGES, response_model=SEED_MODEL, stream=stream)
    assert fake.requests == []


@pytest.mark.parametrize("given", ["None", "NOT_GIVEN"])
@pytest.mark.parametrize("name", [name for name, cell in MATRIX.items() if not cell.needs_setup])
def test_stream_the_method_does_anyway_or_none_is_taken(
    fake: FakeProvider, name: str, given: str
) -> None:
    """`stream=None`, or the SDK's `NOT_GIVEN`, says nothing: the method's choice stands."""
    cell = MATRIX[name]
    unsaid = None if given == "None" else pytest.importorskip("openai").NOT_GIVEN
    fake.push(cell.whole(SEED_CALLS), cell.streamed(SEED_CALLS))
    fake.push(cell.whole(SEED_CALLS), cell.streamed(SEED_CALLS))
    client = cell.client(fake)
    ask = {"model": "m", "messages": SEED_MESSAGES, "response_model": SEED_MODEL}
    for whole, streamed in ((False, True), (unsaid, unsaid)):
        calls, _ = client.create_with_completion(**ask, stream=whole)
        assert list(calls) == SEED_VALUES
        assert list(client.create_iterable(**ask, stream=streamed)) == SEED_VALUES


@pytest.mark.parametrize(
    ("factory", "option"),
    [
        ("from_genai", "use_async"),
        ("from_vertexai", "use_async"),
        ("from_vertexai", "_async"),
        ("from_bedrock", "use_async"),
        ("from_bedrock", "async_client"),
        ("from_provider", "async_client"),
    ],
)
def test_a_yes_or_no_option_takes_a_bool(
    factory: str, option: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`"false"` (read from a setting) is refused, not taken as true: checked first, so
    said also where the provider's SDK is missing."""

    def missing(sdk: str) -> None:
        raise ConfigurationError(f"{sdk} is not installed")

    monkeypatch.setattr(polycall.providers.registry, "require", missing)
    client = "openai/gpt-4o" if factory == "from_provider" else object()
    with pytest.raises(ConfigurationError, match=f"{option}= takes True or False, got str"):
        getattr(polycall, factory)(client, **{option: "false"})


@pytest.mark.parametrize(
    ("factory", "option", "other"),
    [
        ("from_vertexai", "_async", "use_async"),
        ("from_vertexai", "use_async", "_async"),
        ("from_bedrock", "async_client", "use_async"),
        ("from_bedrock", "use_async", "async_client"),
    ],
)
def test_both_spellings_of_use_async_are_checked(factory: str, option: str, other: str) -> None:
    """With the other spelling set to True, a wrong value is still refused, not passed over."""
    with pytest.raises(ConfigurationError, match=f"{option}= takes True or False, got str"):
        getattr(polycall, factory)(object(), **{option: "false", other: True})


@pytest.mark.parametrize("messages", [None, "hi", {"role": "user", "content": "hi"}])
def test_chat_messages_that_are_no_list_are_refused_before_sending(
    fake: FakeProvider, messages: Any
) -> None:
    with pytest.raises(ConfigurationError, match="messages must be a list of messages"):
        openai_client(fake).create(**ask(messages=messages))
    assert fake.requests == []


def test_chat_without_messages_names_only_what_is_missing(fake: FakeProvider) -> None:
    with pytest.raises(ConfigurationError) as caught:
        openai_client(fake).create(model="m", response_model=SEED_MODEL)
    assert str(caught.value) == "chat.completions.create needs messages="
