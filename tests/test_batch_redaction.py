"""SDK errors on the batch paths (submit, status, results download) are `ProviderError`s
with the client's credentials cleared from the message, exactly as `create`'s are; and
what else the three providers' batches must do alike (requests read as `create` reads them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

import polycall
from batching import prompts
from models import SEED_CALLS, SEED_MODEL
from polycall.testing import FakeProvider, Response, json_response
from polycall.testing.batch import FakeBatches
from polycall.testing.gemini import genai_client
from polycall.testing.openai import chat_completion

SECRET = "sk-SENTINEL-51c0ffee9d2a"
CORE = "SENTINEL-51c0ffee9d2a"


def echoing() -> Response:
    """An error quoting the key back, as some servers do."""
    error = {"message": f"Incorrect API key provided: {SECRET}", "type": "auth", "code": 403,
             "status": "PERMISSION_DENIED"}
    return json_response({"error": error}, status=403)


CLIENTS: dict[str, Callable[[FakeProvider], Any]] = {
    "openai": lambda fake: polycall.from_openai(
        openai.OpenAI(base_url=fake.url + "/v1", api_key=SECRET, max_retries=0)
    ),
    "anthropic": lambda fake: polycall.from_anthropic(
        anthropic.Anthropic(base_url=fake.url, api_key=SECRET, max_retries=0)
    ),
    "genai": lambda fake: polycall.from_genai(_genai(fake)),
}


def _genai(fake: FakeProvider) -> Any:
    pytest.importorskip("google.genai")
    return genai_client(fake, api_key=SECRET)


def check(error: pytest.ExceptionInfo[polycall.ProviderError]) -> None:
    assert "Incorrect API key provided" in str(error.value)
    assert CORE not in str(error.value) and CORE not in repr(error.value)


@pytest.mark.parametrize("name", CLIENTS)
def test_submit(fake: FakeProvider, name: str) -> None:
    fake.push(echoing())
    with pytest.raises(polycall.ProviderError) as caught:
        CLIENTS[name](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    check(caught)


@pytest.mark.parametrize("name", CLIENTS)
def test_status_and_cancel(fake: FakeProvider, name: str) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=5))
    job = CLIENTS[name](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    fake.push(echoing())
    with pytest.raises(polycall.ProviderError) as caught:
        job.status()
    check(caught)
    fake.push(echoing())
    with pytest.raises(polycall.ProviderError) as caught:
        job.cancel()
    check(caught)


def test_results_download(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS)))
    job = CLIENTS["openai"](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    fake.push(echoing())  # the output file's download
    with pytest.raises(polycall.ProviderError) as caught:
        job.results()
    check(caught)


async def test_async_paths(fake: FakeProvider) -> None:
    sdk = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key=SECRET, max_retries=0)
    client = polycall.from_openai(sdk)
    fake.push(echoing())
    with pytest.raises(polycall.ProviderError) as caught:
        await client.batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    check(caught)
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS)))
    job = await client.batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    await job.wait(poll_interval=0)
    fake.push(echoing())
    with pytest.raises(polycall.ProviderError) as caught:
        async for _ in job.results():
            pass
    check(caught)


@pytest.mark.parametrize("name", CLIENTS)
def test_one_requests_error(fake: FakeProvider, name: str) -> None:
    """The provider's error for one request of the batch, quoting the key."""
    from polycall.testing.batch import ItemError

    fake.respond_with(FakeBatches(lambda item: ItemError(f"Incorrect API key provided: {SECRET}", status=401)))
    job = CLIENTS[name](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    ((_, result),) = job.results()
    assert isinstance(result, polycall.ProviderError)
    assert "Incorrect API key provided: [redacted]" in str(result)
    assert CORE not in str(result) and CORE not in repr(result)
    # The provider's own error, kept in `.body` (a dict, or the SDK's model of it), too.
    assert result.body is not None and "[redacted]" in repr(result.body)
    assert CORE not in repr(result.body)


@pytest.mark.parametrize("name", CLIENTS)
def test_messages_given_as_a_generator_are_sent(fake: FakeProvider, name: str) -> None:
    """A conversation given as a generator, as `create` takes it, is read into the request."""
    bodies: list[Any] = []

    def answer(item: Any) -> Any:
        bodies.append(item.body)
        return chat_completion(SEED_CALLS)

    fake.respond_with(FakeBatches(answer))
    turns = ({"role": "user", "content": text} for text in ["hi"])
    CLIENTS[name](fake).batch.submit(
        [{"custom_id": "a", "messages": turns}], response_model=SEED_MODEL, model="m"
    ).wait(poll_interval=0)
    assert len(bodies) == 1 and "hi" in json.dumps(bodies[0], default=str)


def test_a_body_given_as_an_sdk_model_is_redacted_in_every_field(fake: FakeProvider) -> None:
    """The extra fields the SDKs' models allow too; what was unset stays unset."""
    from pydantic import BaseModel, ConfigDict

    from polycall.batch.common import item_error
    from polycall.batch.results import to_calls
    from polycall.toolset import tool_set

    class Body(BaseModel):
        model_config = ConfigDict(extra="allow")
        message: str
        request_id: str | None = None

    client = CLIENTS["anthropic"](fake)
    error = item_error("a", "errored", "no", body=Body(message=f"key {SECRET}", detail=f"echo {SECRET}"))
    result = to_calls(client.adapter, tool_set(SEED_MODEL), "a", error)
    assert isinstance(result, polycall.ProviderError) and CORE not in repr(result.body)
    assert result.body.model_dump(exclude_unset=True) == {"message": "key [redacted]", "detail": "echo [redacted]"}


def test_an_unreadable_response_quoting_the_key_is_redacted(fake: FakeProvider) -> None:
    """A 200 with no choices whose own `error` quotes the key: the item's message, which
    tells what could not be read, does not."""
    odd = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [],
           "error": {"message": f"Incorrect API key provided: {SECRET}"}}
    fake.respond_with(FakeBatches(lambda item: json_response(odd)))
    job = CLIENTS["openai"](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(_, error)] = list(job.results())
    assert isinstance(error, polycall.batch.BatchItemError) and error.kind == "unreadable"
    assert "Incorrect API key provided: [redacted]" in str(error)
    assert CORE not in str(error) and CORE not in repr(error)


def test_an_unreadable_line_cut_inside_the_key_shows_none_of_it(fake: FakeProvider) -> None:
    """The message quotes the line's start; a key the cut falls inside is left out whole,
    not shown in part (whole, it would have been redacted)."""
    head = '{"custom_id": "q-0", "response": {"status_code": 401, "body": {"error": {"message": "key '
    line = head + "x" * (194 - len(head)) + " " + SECRET + '"}}, cut off'
    fake.respond_with(FakeBatches(lambda item: line.encode()))
    job = CLIENTS["openai"](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(custom_id, error)] = list(job.results())
    assert isinstance(error, polycall.batch.BatchItemError) and error.kind == "unreadable"
    assert custom_id == "q-0" and "xxxxx" in str(error) and SECRET[:4] not in str(error)


def _body(response: Response) -> Any:
    return response.body if isinstance(response.body, dict) else json.loads(response.body)


@pytest.mark.parametrize("separator", ["\u2028", "\u0085"], ids=["U+2028", "U+0085"])
@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_an_answer_holding_a_unicode_line_separator_is_one_line(
    fake: FakeProvider, name: str, separator: str
) -> None:
    """JSON Lines end at "\\n": U+2028 and U+0085 are valid unescaped in a JSON string."""
    from polycall.testing.anthropic import message

    text = f"Here{separator}you go"

    def answer(item: Any) -> bytes:
        if name == "openai":
            response = {"status_code": 200, "request_id": "r", "body": _body(chat_completion(SEED_CALLS[:1], text=text))}
            line = {"id": "b", "custom_id": item.custom_id, "response": response, "error": None}
        else:
            line = {"custom_id": item.custom_id,
                    "result": {"type": "succeeded", "message": _body(message(SEED_CALLS[:1], text=text))}}
        return json.dumps(line, ensure_ascii=False).encode()

    fake.respond_with(FakeBatches(answer, polls=0))
    job = CLIENTS[name](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(custom_id, calls)] = list(job.results())
    assert custom_id == "q-0" and isinstance(calls, polycall.ToolCalls) and calls.text == text


def test_a_resumed_job_names_a_missing_request_whose_prompt_holds_a_line_separator(fake: FakeProvider) -> None:
    """Its id is read back from the input file, whose lines end at "\\n" only."""
    requests = [*prompts(1), {"custom_id": "pasted", "messages": [{"role": "user", "content": "a\u2028b"}]}]
    fake.respond_with(FakeBatches(lambda item: None if item.custom_id == "pasted" else chat_completion(SEED_CALLS[:1])))
    job = CLIENTS["openai"](fake).batch.submit(requests, response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    resumed = polycall.batch.resume(CLIENTS["openai"](fake), job.id, response_model=SEED_MODEL)
    results = dict(resumed.results())
    assert resumed.custom_ids == ["q-0", "pasted"]
    assert isinstance(results["pasted"], polycall.batch.BatchItemError) and results["pasted"].kind == "missing"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda job: job.wait(poll_interval=None), "poll_interval=None"),
        (lambda job: job.wait(poll_interval=0, timeout="5"), "timeout='5'"),
        (lambda job: job.wait(poll_interval=float("nan")), "poll_interval=nan"),
        (lambda job: job.wait(poll_interval=True), "poll_interval=True"),
        (lambda job: job.wait(poll_interval=float("inf")), "poll_interval=inf"),
    ],
)
def test_wait_refuses_what_is_not_a_number_of_seconds(
    fake: FakeProvider, call: Callable[[Any], Any], message: str
) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS[:1])))
    job = CLIENTS["openai"](fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    with pytest.raises(polycall.ConfigurationError, match=message):
        call(job)


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("requests", [None, "q-0", {"custom_id": "q-0"}], ids=["None", "str", "dict"])
def test_submit_refuses_what_is_not_a_list_of_requests(fake: FakeProvider, name: str, requests: Any) -> None:
    with pytest.raises(polycall.ConfigurationError, match="submit\\(\\) takes a list of requests"):
        CLIENTS[name](fake).batch.submit(requests, response_model=SEED_MODEL, model="m")
    assert fake.requests == []


@pytest.mark.parametrize("name", CLIENTS)
def test_content_json_cannot_hold_is_refused_before_anything_is_sent(fake: FakeProvider, name: str) -> None:
    requests = [{"custom_id": "q-0", "messages": [{"role": "user", "content": [object()]}]}]
    with pytest.raises(polycall.ConfigurationError, match="object"):
        CLIENTS[name](fake).batch.submit(requests, response_model=SEED_MODEL, model="m")
    assert fake.requests == []


def test_what_the_anthropic_sdk_writes_itself_is_sent(fake: FakeProvider) -> None:
    """A set (or a file, a date) the SDK turns into JSON is its to write, in a batch as in create."""
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS[:1])))
    requests = [{"custom_id": "q-0", "messages": [{"role": "user", "content": "hi"}], "stop_sequences": {"END"}}]
    CLIENTS["anthropic"](fake).batch.submit(requests, response_model=SEED_MODEL, model="m")
    assert fake.last.json["requests"][0]["params"]["stop_sequences"] == ["END"]
