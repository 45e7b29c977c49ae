"""A server's word, over its error channel, that the model wrote a malformed function call
(Groq's `tool_use_failed`, as an HTTP 400 or a stream error event) is a retryable
`MalformedOutputError`, not a bare `ProviderError`."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import openai
import pytest

from helpers import openai_client, vertexai_at
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall import MalformedOutputError, ProviderError
from polycall.testing import FakeProvider, json_response
from polycall.testing.openai import chat_chunk, chat_completion, chat_sse, chat_stream
from providers import MATRIX, Cell

GENERATED = '<function=Weather>{"location": "Toronto"</function>'
FAILED = {
    "message": "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.",
    "type": "invalid_request_error",
    "code": "tool_use_failed",
    "failed_generation": GENERATED,
}


def groq_400() -> Any:
    return json_response({"error": FAILED}, status=400)


def groq_stream_error() -> Any:
    head = chat_chunk({"role": "assistant", "content": None})
    return chat_sse([head, {"error": FAILED}], done=False)


def ask(**extra: Any) -> dict[str, Any]:
    return {"model": "llama-3.3-70b", "messages": SEED_MESSAGES, "response_model": SEED_MODEL, **extra}


@pytest.mark.parametrize("stream", [False, True])
def test_without_retries_it_is_a_malformed_output_error(fake: FakeProvider, stream: bool) -> None:
    fake.push(groq_stream_error() if stream else groq_400())
    client = openai_client(fake)
    with pytest.raises(MalformedOutputError) as caught:
        if stream:
            list(client.create_iterable(**ask()))
        else:
            client.create(**ask())
    error = caught.value
    assert not isinstance(error, ProviderError)
    assert error.reason == "tool_use_failed" and error.raw["failed_generation"] == GENERATED
    assert "Failed to call a function" in str(error) and GENERATED in str(error)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("max_retries", [0, 1])
def test_the_sdk_error_stays_its_cause(fake: FakeProvider, stream: bool, max_retries: int) -> None:
    """Also when it is raised at the end of the retries, after the attempt loop caught it."""
    for _ in range(max_retries + 1):
        fake.push(groq_stream_error() if stream else groq_400())
    client = openai_client(fake)
    with pytest.raises(MalformedOutputError) as caught:
        if stream:
            list(client.create_iterable(**ask(max_retries=max_retries)))
        else:
            client.create(**ask(max_retries=max_retries))
    cause = caught.value.__cause__
    assert isinstance(cause, openai.APIError) and caught.value.__suppress_context__
    assert "Failed to call a function" in str(cause)


@pytest.mark.parametrize("stream", [False, True])
def test_max_retries_asks_again(fake: FakeProvider, stream: bool) -> None:
    client = openai_client(fake)
    retried: list[Any] = []
    errors: list[Any] = []
    client.on("retry", lambda **event: retried.append(event["error"]))
    client.on("error", lambda **event: errors.append(event["error"]))
    if stream:
        fake.push(groq_stream_error(), chat_stream(SEED_CALLS))
        calls = list(client.create_iterable(**ask(max_retries=1)))
    else:
        fake.push(groq_400(), chat_completion(SEED_CALLS))
        calls = client.create(**ask(max_retries=1))
    assert list(calls) == SEED_VALUES
    assert len(fake.requests) == 2
    assert fake.requests[1].json["messages"] == fake.requests[0].json["messages"]  # asked again as is
    assert [type(e) for e in retried] == [MalformedOutputError] and errors == []


async def test_async_both_forms_are_retried(fake: FakeProvider) -> None:
    client = openai_client(fake, is_async=True)
    fake.push(groq_400(), chat_completion(SEED_CALLS), groq_stream_error(), chat_stream(SEED_CALLS))
    assert list(await client.create(**ask(max_retries=1))) == SEED_VALUES
    assert [v async for v in client.create_iterable(**ask(max_retries=1))] == SEED_VALUES
    assert len(fake.requests) == 4


def test_the_last_attempt_raises_it_and_tells_the_error_hook(fake: FakeProvider) -> None:
    client = openai_client(fake)
    errors: list[Any] = []
    client.on("error", lambda **event: errors.append(event["error"]))
    fake.push(groq_400(), groq_400())
    with pytest.raises(MalformedOutputError) as caught:
        client.create(**ask(max_retries=1))
    assert errors == [caught.value] and len(fake.requests) == 2


def test_other_400s_stay_provider_errors(fake: FakeProvider) -> None:
    fake.push(json_response({"error": {**FAILED, "code": "invalid_value"}}, status=400))
    with pytest.raises(ProviderError) as caught:
        openai_client(fake).create(**ask(max_retries=2))
    assert caught.value.status_code == 400  # type: ignore[attr-defined]
    assert len(fake.requests) == 1


def groq_error_after_one_call() -> Any:
    """A stream that hands out call 1 whole, then reports the rest malformed."""
    call = {"index": 0, "id": "c0", "type": "function",
            "function": {"name": SEED_CALLS[0][0], "arguments": json.dumps(SEED_CALLS[0][1])}}
    return chat_sse([chat_chunk({"role": "assistant", "content": None}),
                     chat_chunk({"tool_calls": [call]}), {"error": FAILED}], done=False)


def malformed_after_one_call(cell: Cell) -> Any:
    if cell.wire == "openai":
        return groq_error_after_one_call()
    stop = {"gemini": {"finish_reason": "MALFORMED_FUNCTION_CALL"},
            "bedrock": {"stop_reason": "malformed_tool_use"}}[cell.wire]
    return cell.streamed(SEED_CALLS[:1], **stop)


@pytest.mark.parametrize("name", ["openai", "genai", "vertexai", "bedrock"])
def test_a_stream_retried_after_a_malformed_turn_hands_out_each_call_once(
    fake: FakeProvider, name: str
) -> None:
    cell = MATRIX[name]
    fake.push(malformed_after_one_call(cell), cell.streamed(SEED_CALLS))
    with vertexai_at(fake) if cell.needs_setup else contextlib.nullcontext():
        stream = cell.client(fake).create_iterable(
            messages=SEED_MESSAGES, response_model=SEED_MODEL, max_retries=1
        )
        handed_out = list(stream.calls())
    assert [call.value for call in handed_out] == SEED_VALUES  # call 1 once, though asked twice
    assert stream.result.calls == handed_out and len(fake.requests) == 2


def test_a_call_the_retry_does_not_repeat_stays_with_those_it_makes(fake: FakeProvider) -> None:
    fake.push(groq_error_after_one_call(), chat_stream(SEED_CALLS[1:]))
    stream = openai_client(fake).create_iterable(**ask(max_retries=1))
    assert list(stream) == SEED_VALUES  # call 1 from the malformed turn, then the retry's two
    assert stream.result.calls[0].id == "c0"
