"""Batches on Anthropic Message Batches through the real SDK against the fake Batch API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anthropic
import pytest

import polycall
import polycall.batch
from batching import N, SecretRetrieval, check_round_trip, kind, prompts, sent_then_batched
from helpers import anthropic_client
from models import SEED_CALLS, SEED_MODEL, SEED_VALUES
from polycall.batch import BatchItemError
from polycall.testing import FakeProvider, json_response
from polycall.testing.anthropic import error as anthropic_error
from polycall.testing.anthropic import message
from polycall.testing.batch import BatchItem, FakeBatches, ItemError, Outcome


def mixed(item: BatchItem) -> Outcome:
    """Ten fates, one per last digit."""
    fate = item.index % 10
    if fate == 1:
        return ItemError("prompt is too long", type="invalid_request_error")
    if fate == 2:
        return None
    if fate == 3:
        return f'{{"custom_id": "{item.custom_id}", "result": {{"type": "succ'.encode()
    if fate == 4:
        return message([("Weather", {"location": "Oslo", "units": "kelvin"})])
    if fate == 5:
        return message(text="No tools needed.")
    if fate == 6:
        return message([("Weather", {"location": "Oslo"})], stop_reason="max_tokens")
    if fate == 7:
        return anthropic_error(529, "Overloaded", "overloaded_error")
    return message(SEED_CALLS, text="Let me look.", usage=(item.index, 1))


EXPECTED_KINDS = {
    0: "ToolCalls", 1: "errored", 2: "missing", 3: "unreadable", 4: "ValidationFailed",
    5: "NoToolCallsError", 6: "IncompleteOutputError", 7: "errored", 8: "ToolCalls", 9: "ToolCalls",
}


def test_thousand_prompt_round_trip(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    client = anthropic_client(fake)
    job = client.batch.submit(prompts(), response_model=SEED_MODEL, model="claude-sonnet-4-6")
    assert job.last_status.state == "in_progress"
    status = job.wait(poll_interval=0)
    assert (status.state, status.provider_state, status.total) == ("completed", "ended", N)
    assert (status.succeeded, status.failed) == (700, 300)  # as the provider counts them
    check_round_trip(list(job.results()), EXPECTED_KINDS, 300, text="Let me look.")


async def test_thousand_prompt_round_trip_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    client = anthropic_client(fake, is_async=True)
    job = await client.batch.submit(prompts(), response_model=SEED_MODEL, model="claude-sonnet-4-6")
    assert (await job.wait(poll_interval=0)).state == "completed"
    check_round_trip([result async for result in job.results()], EXPECTED_KINDS, 300, text="Let me look.")


def test_params_are_exactly_the_create_request(fake: FakeProvider) -> None:
    client = anthropic_client(fake)
    kwargs = {
        "model": "claude-sonnet-4-6",
        "messages": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "hi"}],
    }
    sent, _ = sent_then_batched(fake, client, message(SEED_CALLS), mixed, **kwargs)
    assert fake.last.path.endswith("/messages/batches")
    assert fake.last.json == {"requests": [{"custom_id": "a", "params": sent}]}
    assert sent["system"] == "Use tools." and sent["tool_choice"] == {"type": "any"}


def test_error_result_carries_the_providers_error(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: anthropic_error(529, "Overloaded", "overloaded_error")))
    job = anthropic_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(_, error)] = list(job.results())
    assert isinstance(error, BatchItemError) and isinstance(error, polycall.ProviderError)
    assert str(error) == "batch request q-0 errored: overloaded_error: Overloaded"
    assert error.body["error"]["type"] == "overloaded_error"


def test_results_are_sdk_messages(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS, ids=["t1", "t2", "t3"])))
    job = anthropic_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL, model="m")
    job.wait(poll_interval=0)
    [(_, calls)] = list(job.results())
    assert isinstance(calls.raw, anthropic.types.Message)
    assert [c.id for c in calls.calls] == ["t1", "t2", "t3"]
    [turn] = calls.tool_results(["a", "b", "c"])
    assert [block["tool_use_id"] for block in turn["content"]] == ["t1", "t2", "t3"]


def test_recorded_message_as_a_batch_result(fake: FakeProvider, recorded: Path) -> None:
    body = json.loads((recorded / "anthropic_messages_json_text_then_two_secret_retrieval_calls.json").read_text())
    fake.respond_with(FakeBatches(lambda item: json_response(body)))
    client = anthropic_client(fake)
    job = client.batch.submit(prompts(2), response_model=Iterable[SecretRetrieval], model="m")
    job.wait(poll_interval=0)
    results = list(job.results())
    assert len(results) == 2
    for _, calls in results:
        assert isinstance(calls, polycall.ToolCalls)
        assert len(calls) == 2 and all(c.password for c in calls)
        assert all(call.id.startswith("toolu_") for call in calls.calls)


def test_statuses(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS), polls=2))
    job = anthropic_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL, model="m")
    seen = [job.last_status] + [job.status() for _ in range(3)]
    assert [s.provider_state for s in seen] == ["in_progress", "in_progress", "ended", "ended"]
    assert [s.state for s in seen] == ["in_progress", "in_progress", "completed", "completed"]
    assert seen[0].total == 3 and seen[0].processed == 0 and seen[-1].succeeded == 3
    assert isinstance(seen[-1].raw, anthropic.types.messages.MessageBatch)


def test_expired_requests(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS), end="expired", processed=2))
    job = anthropic_client(fake).batch.submit(prompts(4), response_model=SEED_MODEL, model="m")
    status = job.wait(poll_interval=0)
    assert (status.state, status.succeeded, status.failed) == ("expired", 2, 2)
    assert [kind(r) for _, r in job.results()] == ["ToolCalls", "ToolCalls", "expired", "expired"]


def test_cancelled_job(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS), polls=3, processed=1))
    job = anthropic_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL, model="m")
    cancelling = job.cancel()
    assert (cancelling.state, cancelling.provider_state) == ("cancelling", "canceling")
    assert job.wait(poll_interval=0).state == "cancelled"
    results = list(job.results())
    assert [kind(r) for _, r in results] == ["ToolCalls", "cancelled", "cancelled"]
    assert "canceled before it was processed" in str(results[1][1])


async def test_cancelled_job_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS), polls=3))
    client = anthropic_client(fake, is_async=True)
    job = await client.batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    await job.cancel()
    assert (await job.wait(poll_interval=0)).state == "cancelled"
    assert [kind(r) async for _, r in job.results()] == ["cancelled", "cancelled"]


def test_resume_reads_every_result_from_the_results_file(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    job = anthropic_client(fake).batch.submit(prompts(10), response_model=SEED_MODEL, model="m")
    resumed = polycall.batch.resume(anthropic_client(fake), job.id, response_model=SEED_MODEL)
    resumed.wait(poll_interval=0)
    results = dict(resumed.results())
    # The results file lists every request it holds; q-2 was left out of it by the fake, so a
    # resumed job (which has no list of submitted ids) cannot name it, but the job's count
    # says one is missing: it is reported, unnamed, not dropped.
    unnamed = "<unnamed request 1 of 1>"
    assert set(results) == {f"q-{i}" for i in range(10)} - {"q-2"} | {unnamed}
    assert kind(results[unnamed]) == "missing" and "custom_ids=job.custom_ids" in str(results[unnamed])
    assert kind(results["q-3"]) == "unreadable"  # its id is read from the cut-off line
    assert list(results["q-0"]) == SEED_VALUES
    # Given the submitted ids, the resumed job names it.
    named = polycall.batch.resume(
        anthropic_client(fake), job.id, response_model=SEED_MODEL, custom_ids=job.custom_ids
    )
    named.wait(poll_interval=0)
    assert kind(dict(named.results())["q-2"]) == "missing"


async def test_resume_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS)))
    client = anthropic_client(fake, is_async=True)
    job = await client.batch.submit(prompts(3), response_model=SEED_MODEL, model="m")
    restarted = anthropic_client(fake, is_async=True)
    resumed = polycall.batch.resume(restarted, job.id, response_model=SEED_MODEL)
    await resumed.wait(poll_interval=0)
    assert [list(r) async for _, r in resumed.results()] == [SEED_VALUES] * 3


def test_resume_without_response_model_follows_the_job(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS), polls=2))
    job = anthropic_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    sent = len(fake.requests)
    resumed = polycall.batch.resume(anthropic_client(fake), job.id)
    with pytest.raises(polycall.ConfigurationError, match="response_model="):
        resumed.results()
    assert len(fake.requests) == sent
    assert resumed.wait(poll_interval=0).state == "completed"
    with pytest.raises(polycall.ConfigurationError, match="response_model="):
        resumed.results()
    assert len(fake.requests) == sent + 2  # the two polls of wait(), no results download


async def test_resume_without_response_model_async(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: message(SEED_CALLS), polls=3))
    client = anthropic_client(fake, is_async=True)
    job = await client.batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    resumed = anthropic_client(fake, is_async=True).batch.resume(job.id)
    assert (await resumed.cancel()).state == "cancelling"
    assert (await resumed.wait(poll_interval=0)).state == "cancelled"
    sent = len(fake.requests)
    with pytest.raises(polycall.ConfigurationError, match="response_model="):
        [result async for result in resumed.results()]
    assert len(fake.requests) == sent


def _bedrock(fake: FakeProvider, is_async: bool) -> Any:
    sdk = anthropic.AsyncAnthropicBedrock if is_async else anthropic.AnthropicBedrock
    keys = {"aws_access_key": "AKIDTEST", "aws_secret_key": "secret"}
    return sdk(aws_region="us-east-1", base_url=fake.url, **keys)


def _vertex(fake: FakeProvider, is_async: bool) -> Any:
    sdk = anthropic.AsyncAnthropicVertex if is_async else anthropic.AnthropicVertex
    return sdk(region="us-east5", project_id="p", access_token="token", base_url=fake.url)


def _foundry(fake: FakeProvider, is_async: bool) -> Any:
    sdk = anthropic.AsyncAnthropicFoundry if is_async else anthropic.AnthropicFoundry
    return sdk(api_key="test", base_url=fake.url)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("make", "cloud"),
    [(_bedrock, "Amazon Bedrock"), (_vertex, "Vertex AI"), (_foundry, "Microsoft Foundry")],
    ids=["bedrock", "vertex", "foundry"],
)
async def test_clouds_without_message_batches_say_so_before_sending(
    fake: FakeProvider, make: Callable[[FakeProvider, bool], Any], cloud: str, is_async: bool
) -> None:
    client = polycall.from_anthropic(make(fake, is_async), model="m")
    match = f"batches are not supported on {cloud}: anthropic.*has no Message Batches API"
    with pytest.raises(polycall.ConfigurationError, match=match):
        submitted = client.batch.submit(prompts(1), response_model=SEED_MODEL)
        if is_async:
            await submitted
    with pytest.raises(polycall.ConfigurationError, match=match):
        polycall.batch.resume(client, "msgbatch_1")
    assert fake.requests == []


@pytest.mark.parametrize("custom_id", ["has space", "x" * 65, "é"])
def test_custom_ids_anthropic_refuses_fail_before_sending(fake: FakeProvider, custom_id: str) -> None:
    fake.respond_with(FakeBatches(mixed))
    with pytest.raises(polycall.ConfigurationError, match="1-64 letters, digits"):
        anthropic_client(fake).batch.submit(
            [{"custom_id": custom_id, "messages": [{"role": "user", "content": "x"}]}],
            response_model=SEED_MODEL, model="m",
        )
    assert fake.requests == []


def test_missing_model_fails_before_sending(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="model"):
        anthropic_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL)
    assert fake.requests == []


def test_rejected_batch_is_a_provider_error(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed, end="failed", failure="requests: too many requests"))
    with pytest.raises(polycall.ProviderError, match="too many requests") as caught:
        anthropic_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL, model="m")
    assert caught.value.status_code == 400  # type: ignore[attr-defined]
