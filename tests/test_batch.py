"""Batches on OpenAI (Chat Completions and Responses) through the real SDK against the fake
Batch API: per-item results and failures, every request accounted for, sync and async."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import openai
import pytest
from pydantic import BaseModel, ValidationInfo, field_validator

import polycall
import polycall.batch
from batching import N, SecretRetrieval, check_round_trip, kind, prompts, sent_then_batched
from helpers import openai_client
from models import SEED_CALLS, SEED_MODEL, SEED_VALUES, Weather
from polycall import Mode
from polycall.batch import BatchError, BatchItemError, BatchStatus, BatchTimeoutError
from polycall.providers.openai_chat import OpenAIChat
from polycall.testing import FakeProvider, json_response
from polycall.testing.batch import BatchItem, FakeBatches, ItemError, Outcome
from polycall.testing.openai import chat_completion
from polycall.testing.openai_responses import response_body


def mixed(item: BatchItem) -> Outcome:
    """Ten fates, one per last digit: answers, invalid calls, provider errors, gaps, garbage."""
    fate = item.index % 10
    if fate == 1:
        return ItemError("Invalid 'messages': too long", status=400)
    if fate == 2:
        return None  # left out of the output
    if fate == 3:
        return f'{{"custom_id": "{item.custom_id}", "respo'.encode()  # cut-off line
    if fate == 4:
        return chat_completion([("Weather", {"location": "Oslo", "units": "kelvin"})])
    if fate == 5:
        return chat_completion(text="I'd rather not use tools.")
    if fate == 6:
        return chat_completion([("Weather", {"location": "Oslo", "units": "metric"})], finish_reason="length")
    return chat_completion(SEED_CALLS, usage=(item.index, 1))


EXPECTED_KINDS = {
    0: "ToolCalls", 1: "errored", 2: "missing", 3: "unreadable", 4: "ValidationFailed",
    5: "NoToolCallsError", 6: "IncompleteOutputError", 7: "ToolCalls", 8: "ToolCalls", 9: "ToolCalls",
}


def test_thousand_prompt_round_trip(fake: FakeProvider) -> None:
    batches = FakeBatches(mixed)
    fake.respond_with(batches)
    client = openai_client(fake)
    job = client.batch.submit(prompts(), response_model=SEED_MODEL, model="gpt-4o-mini")
    assert job.last_status.state == "pending"
    status = job.wait(poll_interval=0)
    assert (status.state, status.total, status.succeeded, status.failed) == ("completed", N, 800, 100)
    check_round_trip(list(job.results()), EXPECTED_KINDS, 400)


async def test_thousand_prompt_round_trip_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    client = openai_client(fake, is_async=True)
    job = await client.batch.submit(prompts(), response_model=SEED_MODEL, model="gpt-4o-mini")
    status = await job.wait(poll_interval=0)
    assert status.state == "completed"
    check_round_trip([result async for result in job.results()], EXPECTED_KINDS, 400)


def test_each_line_is_exactly_the_create_request(fake: FakeProvider) -> None:
    client = openai_client(fake)
    kwargs = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    sent, batches = sent_then_batched(fake, client, chat_completion(SEED_CALLS), mixed, **kwargs)
    line = json.loads(next(iter(batches.files.values())))
    assert line == {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": sent}
    assert sent["tool_choice"] == "required" and len(sent["tools"]) == 2


def test_submit_writes_only_the_providers_input_file(
    fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake.respond_with(FakeBatches(mixed))
    job = openai_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL, model="m")
    assert [(r.method, r.path) for r in fake.requests] == [("POST", "/v1/files"), ("POST", "/v1/batches")]
    assert b'name="purpose"' in fake.requests[0].body and b"batch" in fake.requests[0].body
    job.wait(poll_interval=0)
    list(job.results())
    assert list(tmp_path.iterdir()) == []


def test_shared_kwargs_go_to_every_request(fake: FakeProvider) -> None:
    batches = FakeBatches(lambda item: chat_completion(SEED_CALLS))
    fake.respond_with(batches)
    requests = [
        {"custom_id": "a", "messages": [{"role": "user", "content": "a"}]},
        {"custom_id": "b", "messages": [{"role": "user", "content": "b"}], "temperature": 1.0},
    ]
    job = openai_client(fake).batch.submit(requests, response_model=SEED_MODEL, model="m", temperature=0.0)
    assert job.custom_ids == ["a", "b"]
    items = next(iter(batches.jobs.values())).items
    assert [(i.custom_id, i.body["model"], i.body["temperature"]) for i in items] == [
        ("a", "m", 0.0), ("b", "m", 1.0),
    ]
    job.wait(poll_interval=0)
    assert [custom_id for custom_id, _ in job.results()] == ["a", "b"]


def test_extra_body_is_merged_into_the_line(fake: FakeProvider) -> None:
    batches = FakeBatches(lambda item: chat_completion(SEED_CALLS))
    fake.respond_with(batches)
    openai_client(fake).batch.submit(
        [{"custom_id": "a", "messages": [{"role": "user", "content": "a"}], "extra_body": {"seed": 7}}],
        response_model=SEED_MODEL, model="m",
    )
    assert next(iter(batches.jobs.values())).items[0].body["seed"] == 7


def test_results_are_the_sdk_types_with_ids_and_usage(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS, ids=["c1", "c2", "c3"])))
    job = openai_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(_, calls)] = list(job.results())
    assert isinstance(calls.raw, openai.types.chat.ChatCompletion)
    assert [c.id for c in calls.calls] == ["c1", "c2", "c3"]
    assert calls.usage.total_tokens == 30
    assert calls.tool_results(["a", "b", "c"])[2] == {"role": "tool", "tool_call_id": "c3", "content": "c"}


def test_recorded_response_as_a_batch_result(fake: FakeProvider, recorded: Path) -> None:
    body = json.loads((recorded / "openai_chat_json_two_secret_retrieval_calls.json").read_text())
    fake.respond_with(FakeBatches(lambda item: json_response(body)))
    job = openai_client(fake).batch.submit(prompts(2), response_model=Iterable[SecretRetrieval], model="m")
    job.wait(poll_interval=0)
    for _, calls in job.results():
        assert [c.password for c in calls] == ["mellon", "radiance"]
        assert [c.id for c in calls.calls] == ["call_v6LacIrChvs6ITVpIZqy5tFc", "call_onyWzk4mLTGKzW9cthmf4Llq"]
        assert calls.usage.input_tokens == 75


def parallel_wrapper() -> Any:
    uses = [{"recipient_name": "functions.Weather", "parameters": {"location": "Rome", "units": "metric"}},
            {"recipient_name": "functions.GoogleSearch", "parameters": {"query": "pasta"}}]
    return chat_completion([("multi_tool_use.parallel", {"tool_uses": uses})])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (parallel_wrapper, "ToolCalls"),
        (lambda: chat_completion([("Weather", {"location": "Rome", "units": "metric"})], ids=[""]), "ToolCalls"),
        (lambda: chat_completion([("Weather", '{"location": "Rome", "units": "metric"}')]), "ToolCalls"),
        (lambda: chat_completion([("Forecast", {"day": "today"})]), "UnknownToolError"),
        (lambda: chat_completion([("Weather", "{not json")]), "ValidationFailed"),
        (lambda: chat_completion(refusal="I can't help with that."), "RefusalError"),
        (lambda: chat_completion(text="done", finish_reason="content_filter"), "RefusalError"),
        (lambda: chat_completion(text="Sunny."), "NoToolCallsError"),
        (lambda: chat_completion([("Weather", {"location": "R"})], finish_reason="length"), "IncompleteOutputError"),
    ],
)
def test_same_parsing_and_errors_as_create(fake: FakeProvider, answer: Any, expected: str) -> None:
    fake.respond_with(FakeBatches(lambda item: answer()))
    job = openai_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(custom_id, result)] = list(job.results())
    assert type(result).__name__ == expected
    assert custom_id == "q-0"
    if isinstance(result, polycall.ToolCalls):
        assert result[0] == Weather(location="Rome", units="metric")
        assert all(call.id for call in result.calls)
    else:
        assert result.custom_id == "q-0"


@pytest.mark.parametrize("choices", [[], "oops"])
def test_a_response_with_nothing_to_read_is_an_unreadable_item(fake: FakeProvider, choices: Any) -> None:
    """A 200 whose body holds no choices is that request's `BatchItemError`, kind
    "unreadable", with the body as `.raw`; the other requests are read as usual."""
    odd = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": choices}
    fake.respond_with(FakeBatches(lambda item: json_response(odd) if item.index == 0 else chat_completion(SEED_CALLS)))
    job = openai_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    results = dict(job.results())
    error = results["q-0"]
    assert isinstance(error, BatchItemError) and error.kind == "unreadable"
    assert error.custom_id == "q-0" and "no choices" in str(error) and error.raw is not None
    assert list(results["q-1"]) == SEED_VALUES


def test_validation_failure_keeps_the_valid_calls(fake: FakeProvider) -> None:
    calls = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
    fake.respond_with(FakeBatches(lambda item: chat_completion(calls)))
    job = openai_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(_, error)] = list(job.results())
    assert isinstance(error, polycall.ValidationFailed)
    assert error.valid == [SEED_VALUES[0], SEED_VALUES[2]]
    assert list(error.errors) == ["call_1"] and "kelvin" in str(error)
    assert error.attempts == 1


class Strict(BaseModel):
    city: str

    @field_validator("city")
    @classmethod
    def known(cls, value: str, info: ValidationInfo) -> str:
        if value not in (info.context or {}).get("cities", ()):
            raise ValueError(f"unknown city {value}")
        return value


def test_validation_context_reaches_the_validators(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion([("Strict", {"city": "Oslo"})])))
    client = openai_client(fake)
    job = client.batch.submit(prompts(1), response_model=Iterable[Strict], model="m",
                              validation_context={"cities": ["Oslo"]})
    job.wait(poll_interval=0)
    assert [[v.city for v in r] for _, r in job.results()] == [["Oslo"]]
    other = polycall.batch.resume(client, job.id, response_model=Iterable[Strict], context={"cities": []})
    [(_, error)] = list(other.results())
    assert isinstance(error, polycall.ValidationFailed) and "unknown city Oslo" in str(error)


def test_provider_error_lines_carry_status_and_body(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: ItemError("Rate limit reached", status=429, type="rate_limit")))
    job = openai_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    status = job.wait(poll_interval=0)
    assert (status.succeeded, status.failed) == (0, 2)
    for custom_id, error in job.results():
        assert isinstance(error, BatchItemError) and isinstance(error, polycall.ProviderError)
        assert (error.kind, error.status_code) == ("errored", 429)
        assert error.body["error"]["type"] == "rate_limit"
        assert str(error) == f"batch request {custom_id} errored: HTTP 429: Rate limit reached"


def test_unreadable_line_without_an_id_is_named_in_the_missing_error(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: b"\x00garbage" if item.index == 1 else chat_completion(SEED_CALLS)))
    job = openai_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    results = dict(job.results())
    assert isinstance(results["q-0"], polycall.ToolCalls) and isinstance(results["q-2"], polycall.ToolCalls)
    error = results["q-1"]
    assert isinstance(error, BatchItemError) and error.kind == "missing"
    assert "1 unreadable line(s)" in str(error) and "batch_" in str(error)


def test_an_id_nobody_submitted_is_reported_not_dropped(fake: FakeProvider) -> None:
    stray = json.dumps({"custom_id": "stray", "response": {"status_code": 200, "body": chat_completion(SEED_CALLS).body}})
    fake.respond_with(FakeBatches(lambda item: stray.encode()))
    job = openai_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    results = dict(job.results())
    assert set(results) == {"stray", "q-0"}
    assert list(results["stray"]) == SEED_VALUES
    assert isinstance(results["q-0"], BatchItemError) and results["q-0"].kind == "missing"


def test_statuses_follow_the_provider_states(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=2))
    job = openai_client(fake).batch.submit(prompts(10), response_model=SEED_MODEL, model="m")
    seen = [job.last_status] + [job.status() for _ in range(6)]
    assert [s.provider_state for s in seen] == [
        "validating", "validating", "in_progress", "in_progress", "finalizing", "finalizing", "completed",
    ]
    assert [s.state for s in seen][1:5] == ["pending", "in_progress", "in_progress", "finalizing"]
    assert [s.processed for s in seen[2:4]] == [3, 5]
    assert not seen[-2].done and seen[-1].done
    assert isinstance(seen[-1].raw, openai.types.Batch)


def test_results_before_the_end_is_a_batch_error(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=5))
    job = openai_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    with pytest.raises(BatchError, match=r"batch batch_\w+ is pending \(validating\).*wait\(\)"):
        job.results()


def test_wait_times_out_and_the_job_goes_on(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=3))
    job = openai_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    with pytest.raises(BatchTimeoutError, match=r"still pending .* after 0s; it goes on") as caught:
        job.wait(poll_interval=0, timeout=0)
    assert caught.value.status.provider_state == "validating"
    assert job.wait(poll_interval=0).state == "completed"


async def test_wait_times_out_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=3))
    client = openai_client(fake, is_async=True)
    job = await client.batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    with pytest.raises(BatchTimeoutError):
        await job.wait(poll_interval=0, timeout=0)
    assert (await job.wait(poll_interval=0)).done


def test_expired_job_answers_what_it_processed(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), end="expired", processed=6))
    job = openai_client(fake).batch.submit(prompts(10), response_model=SEED_MODEL, model="m")
    status = job.wait(poll_interval=0)
    assert (status.state, status.succeeded, status.failed) == ("expired", 6, 4)
    results = dict(job.results())
    assert all(isinstance(results[f"q-{i}"], polycall.ToolCalls) for i in range(6))
    for i in range(6, 10):
        error = results[f"q-{i}"]
        assert isinstance(error, BatchItemError) and error.kind == "expired"
        assert "batch_expired" in str(error)


def test_cancelled_job(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=3, processed=2))
    job = openai_client(fake).batch.submit(prompts(5), response_model=SEED_MODEL, model="m")
    assert job.cancel().state == "cancelling"
    assert job.wait(poll_interval=0).state == "cancelled"
    kinds = [kind(result) for _, result in job.results()]
    assert kinds == ["ToolCalls", "ToolCalls", "cancelled", "cancelled", "cancelled"]


async def test_cancelled_job_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=3))
    client = openai_client(fake, is_async=True)
    job = await client.batch.submit(prompts(3), response_model=SEED_MODEL, model="m")
    assert (await job.cancel()).state == "cancelling"
    await job.wait(poll_interval=0)
    assert [kind(r) async for _, r in job.results()] == ["cancelled"] * 3


def test_failed_job_fails_every_request_with_the_providers_reason(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), end="failed",
                                  failure="model gpt-9 does not exist"))
    job = openai_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL, model="gpt-9")
    assert job.wait(poll_interval=0).state == "failed"
    results = list(job.results())
    assert [custom_id for custom_id, _ in results] == ["q-0", "q-1", "q-2"]
    for custom_id, error in results:
        assert isinstance(error, BatchItemError) and error.kind == "failed"
        assert "model gpt-9 does not exist (line 1)" in str(error) and custom_id in str(error)


def test_resume_after_a_restart_accounts_for_every_request(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    job = openai_client(fake).batch.submit(prompts(20), response_model=SEED_MODEL, model="m")
    job_id = job.id
    del job
    fresh = openai_client(fake)  # a new process: a new SDK client, nothing kept
    resumed = polycall.batch.resume(fresh, job_id, response_model=SEED_MODEL)
    assert isinstance(resumed, polycall.batch.BatchJob) and resumed.custom_ids is None
    assert resumed.wait(poll_interval=0).state == "completed"
    results = list(resumed.results())
    assert sorted(custom_id for custom_id, _ in results) == sorted(f"q-{i}" for i in range(20))
    assert kind(dict(results)["q-12"]) == "missing"
    assert resumed.custom_ids == [f"q-{i}" for i in range(20)]  # read back from the input file


async def test_resume_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS)))
    client = openai_client(fake, is_async=True)
    job = await client.batch.submit(prompts(4), response_model=SEED_MODEL, model="m")
    resumed = polycall.batch.resume(openai_client(fake, is_async=True), job.id, response_model=SEED_MODEL)
    assert isinstance(resumed, polycall.batch.AsyncBatchJob)
    await resumed.wait(poll_interval=0)
    assert [list(r) async for _, r in resumed.results()] == [SEED_VALUES] * 4


def test_resume_without_response_model_follows_and_cancels_the_job(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=3))
    job_id = openai_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL, model="m").id
    sent = len(fake.requests)
    resumed = polycall.batch.resume(openai_client(fake), job_id)  # as DESIGN.md writes it
    match = r"without a response_model: pass .*response_model="
    with pytest.raises(polycall.ConfigurationError, match=match):
        resumed.results()
    assert len(fake.requests) == sent  # refused before asking the provider anything
    assert resumed.status().state == "pending"
    assert resumed.cancel().state == "cancelling"
    assert resumed.wait(poll_interval=0).state == "cancelled"
    with pytest.raises(polycall.ConfigurationError, match="response_model="):
        resumed.results()
    again = polycall.batch.resume(openai_client(fake), job_id, response_model=SEED_MODEL)
    assert [kind(r) for _, r in again.results()] == ["cancelled"] * 3


async def test_resume_without_response_model_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=3))
    client = openai_client(fake, is_async=True)
    job = await client.batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    sent = len(fake.requests)
    resumed = openai_client(fake, is_async=True).batch.resume(job.id)
    with pytest.raises(polycall.ConfigurationError, match="response_model="):
        resumed.results()  # at the call, as on a sync client, not when iterated
    assert len(fake.requests) == sent
    assert (await resumed.status()).state == "pending"
    assert (await resumed.cancel()).state == "cancelling"
    assert (await resumed.wait(poll_interval=0)).state == "cancelled"


def test_resume_needs_a_job_id(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="job id"):
        polycall.batch.resume(openai_client(fake), "", response_model=SEED_MODEL)


@pytest.mark.parametrize("client", [None, "sdk"])
def test_resume_needs_the_polycall_client(fake: FakeProvider, client: Any) -> None:
    sdk = openai.OpenAI(api_key="k", base_url=fake.url + "/v1") if client else None
    with pytest.raises(polycall.ConfigurationError, match="takes the polycall client .* got "):
        polycall.batch.resume(sdk, "batch_1", response_model=SEED_MODEL)  # type: ignore[arg-type]


def test_responses_mode_uses_the_responses_endpoint(fake: FakeProvider) -> None:
    batches = FakeBatches(lambda item: response_body(SEED_CALLS, call_ids=["c1", "c2", "c3"]))
    fake.respond_with(batches)
    client = openai_client(fake, mode=Mode.RESPONSES_PARALLEL_TOOLS)
    job = client.batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    results = list(job.results())
    line = json.loads(batches.files["file-0001"].splitlines()[0])
    assert line["url"] == "/v1/responses" and line["body"]["input"][0]["content"] == "question 0"
    assert [list(r) for _, r in results] == [SEED_VALUES] * 2
    assert isinstance(results[0][1].raw, openai.types.responses.Response)
    assert [c.id for c in results[0][1].calls] == ["c1", "c2", "c3"]


DROP = object()  # a key left out of the request


@pytest.mark.parametrize(
    ("requests", "shared", "match"),
    [
        ([], {}, "at least one request"),
        ([{"custom_id": "a"}, {"custom_id": "a"}], {}, "'a' is used twice"),
        ([{"custom_id": 3}], {}, "custom_id must be a non-empty string"),
        ([{"custom_id": "request-1"}, {"custom_id": DROP}], {}, "batch request #1 has no custom_id"),
        ([{}], {"custom_id": "x"}, "not to submit"),
        (["hello"], {}, "must be a dict"),
        ([{"max_retries": 2}], {}, "max_retries= does not apply to batches"),
        ([{}], {"stream": True}, "stream= does not apply"),
        ([{"response_model": SEED_MODEL}], {}, "response_model= is given once"),
        ([{"model": "a"}, {"model": "b"}], {}, "one model"),
        ([{"extra_headers": {"x": "y"}}], {}, "extra_headers= is an SDK call option"),
        ([{"tools": []}], {}, "batch request 'r0': tools come from response_model"),
        ([{}, {"messages": DROP}], {}, "batch request 'r1': .*messages"),
        ([{"messages": [{"role": "user", "content": object()}]}], {}, "cannot be written as JSON"),
    ],
)
def test_bad_requests_fail_before_anything_is_sent(
    fake: FakeProvider, requests: list[Any], shared: dict[str, Any], match: str
) -> None:
    fake.respond_with(FakeBatches(mixed))
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    requests = [
        {k: v for k, v in {**base, "custom_id": f"r{i}", **r}.items() if v is not DROP}
        if isinstance(r, dict) else r
        for i, r in enumerate(requests)
    ]
    with pytest.raises(polycall.ConfigurationError, match=match):
        openai_client(fake).batch.submit(requests, response_model=SEED_MODEL, **shared)
    assert fake.requests == []


@pytest.mark.parametrize("wait", [{"poll_interval": -1}, {"timeout": -5}], ids=["poll_interval", "timeout"])
def test_a_negative_wait_is_a_configuration_error(fake: FakeProvider, wait: dict[str, float]) -> None:
    fake.respond_with(FakeBatches(mixed))
    job = openai_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    with pytest.raises(polycall.ConfigurationError, match="0 or more seconds"):
        job.wait(**wait)


def test_bad_response_model_fails_before_anything_is_sent(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="response_model"):
        openai_client(fake).batch.submit(prompts(1), response_model=Weather, model="m")
    assert fake.requests == []


def test_provider_refusing_the_upload_is_a_provider_error(fake: FakeProvider) -> None:
    fake.push(json_response({"error": {"message": "Invalid API key", "type": "auth"}}, status=401))
    with pytest.raises(polycall.ProviderError, match="Invalid API key") as caught:
        openai_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    assert caught.value.status_code == 401  # type: ignore[attr-defined]


def test_unknown_job_is_a_provider_error(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    job = polycall.batch.resume(openai_client(fake), "batch_nope", response_model=SEED_MODEL)
    with pytest.raises(polycall.ProviderError, match="batch_nope"):
        job.status()


class _VertexLike(OpenAIChat):
    mode = Mode.VERTEXAI_PARALLEL_TOOLS


def test_modes_without_a_batch_api_say_so() -> None:
    client = polycall.Client(_VertexLike(openai.OpenAI(api_key="test")))
    with pytest.raises(polycall.ConfigurationError, match="VERTEXAI_PARALLEL_TOOLS has no Batch API.*from_openai"):
        client.batch.submit(prompts(1), response_model=SEED_MODEL)


# -- progress bars ---------------------------------------------------------------------------


class FakeTqdm:
    """Records what polycall asks of `tqdm.tqdm`."""

    made: ClassVar[list[FakeTqdm]] = []

    def __init__(self, *, total: Any, desc: str, unit: str) -> None:
        self.total, self.desc, self.n = total, desc, 0
        self.shown: list[tuple[Any, int, str]] = []
        self.closed = False
        FakeTqdm.made.append(self)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def refresh(self) -> None:
        self.shown.append((self.total, self.n, self.postfix))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def tqdm_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeTqdm]]:
    FakeTqdm.made = []
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    yield FakeTqdm


def test_long_wait_shows_a_tqdm_bar(fake: FakeProvider, tqdm_module: type[FakeTqdm]) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=2))
    job = openai_client(fake).batch.submit(prompts(10), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [bar] = tqdm_module.made
    assert bar.desc == f"batch {job.id}" and bar.closed
    assert bar.shown[0] == (10, 0, "pending")
    assert [n for _, n, _ in bar.shown] == [0, 3, 5, 6, 8, 10]
    assert bar.shown[-1] == (10, 10, "completed")


def test_no_bar_when_the_job_has_already_ended(fake: FakeProvider, tqdm_module: type[FakeTqdm]) -> None:
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS)))
    job = openai_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0, progress=False)
    assert tqdm_module.made == []
    job.wait(poll_interval=0)  # ended already: nothing to show
    assert tqdm_module.made == []


def test_rich_bar_when_tqdm_is_missing(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    updates: list[dict[str, Any]] = []
    events: list[str] = []

    class Progress:
        def __init__(self, transient: bool) -> None:
            events.append("made")

        def start(self) -> None:
            events.append("start")

        def add_task(self, title: str, total: Any) -> int:
            events.append(title)
            return 1

        def update(self, task: int, **values: Any) -> None:
            updates.append(values)

        def stop(self) -> None:
            events.append("stop")

    monkeypatch.setitem(sys.modules, "tqdm", None)  # not installed
    monkeypatch.setitem(sys.modules, "rich.progress", types.SimpleNamespace(Progress=Progress))
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS)))
    job = openai_client(fake).batch.submit(prompts(4), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    assert events == ["made", "start", f"batch {job.id}", "stop"]
    assert updates[-1] == {"completed": 4, "total": 4}


def test_no_progress_library_no_bar(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    fake.respond_with(FakeBatches(lambda item: chat_completion(SEED_CALLS), polls=2))
    job = openai_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    assert job.wait(poll_interval=0).state == "completed"


def test_status_is_neutral_and_printable() -> None:
    status = BatchStatus(id="b", state="in_progress", provider_state="in_progress", total=None, raw=object())
    assert not status.done and status.processed == 0
    assert "raw" not in repr(status)


def test_batch_module_is_reachable_from_a_bare_import() -> None:
    code = "import polycall; print(polycall.batch.resume.__name__)"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "resume"
