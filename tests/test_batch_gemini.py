"""Batches on the Gemini API's batch mode (google-genai, inline requests) through the real SDK
against the fake Batch API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

import polycall
import polycall.batch
from batching import N, SecretRetrieval, check_round_trip, kind, prompts, sent_then_batched
from helpers import endpoint
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall.batch import BatchItemError
from polycall.testing import FakeProvider, json_response
from polycall.testing.batch import BatchItem, FakeBatches, ItemError, Outcome
from polycall.testing.gemini import genai_client, generate_content, response_body

pytest.importorskip("google.genai")

MODEL = "gemini-2.5-flash"


def sync_client(fake: FakeProvider) -> polycall.Client:
    return polycall.from_genai(genai_client(fake), model=MODEL)


@pytest.fixture
async def aclient(fake: FakeProvider) -> AsyncIterator[polycall.AsyncClient]:
    async with genai_client(fake).aio as aio:  # closes its aiohttp session
        yield polycall.from_genai(aio, model=MODEL)


def mixed(item: BatchItem) -> Outcome:
    """Ten fates, one per last digit."""
    fate = item.index % 10
    if fate == 1:
        return ItemError("Request payload size exceeds the limit", status=400)
    if fate == 2:
        return None
    if fate == 3:
        return json.dumps(response_body(block_reason="SAFETY")).encode()
    if fate == 4:
        return generate_content([("Weather", {"location": "Oslo", "units": "kelvin"})])
    if fate == 5:
        return generate_content(text="No tools needed.")
    if fate == 6:
        return generate_content(text="It is", finish_reason="MAX_TOKENS")
    if fate == 7:
        return json_response({"error": {"code": 500, "message": "Internal error"}}, status=500)
    return generate_content(SEED_CALLS, usage=(item.index, 1))


EXPECTED_KINDS = {
    0: "ToolCalls", 1: "errored", 2: "missing", 3: "RefusalError", 4: "ValidationFailed",
    5: "NoToolCallsError", 6: "IncompleteOutputError", 7: "errored", 8: "ToolCalls", 9: "ToolCalls",
}


def test_thousand_prompt_round_trip(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    job = sync_client(fake).batch.submit(prompts(), response_model=SEED_MODEL)
    assert job.id.startswith("batches/") and job.last_status.state == "pending"
    status = job.wait(poll_interval=0)
    assert (status.state, status.provider_state, status.total) == ("completed", "JOB_STATE_SUCCEEDED", N)
    assert (status.succeeded, status.failed) == (700, 200)
    check_round_trip(list(job.results()), EXPECTED_KINDS, 300)


async def test_thousand_prompt_round_trip_async(fake: FakeProvider, aclient: polycall.AsyncClient) -> None:
    fake.respond_with(FakeBatches(mixed))
    job = await aclient.batch.submit(prompts(), response_model=SEED_MODEL)
    assert (await job.wait(poll_interval=0)).state == "completed"
    check_round_trip([result async for result in job.results()], EXPECTED_KINDS, 300)


async def test_use_async_on_a_sync_sdk_client(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS)))
    sdk = genai_client(fake)
    client = polycall.from_genai(sdk, model=MODEL, use_async=True)
    job = await client.batch.submit(prompts(2), response_model=SEED_MODEL)
    await job.wait(poll_interval=0)
    assert [list(r) async for _, r in job.results()] == [SEED_VALUES] * 2
    await sdk.aio.aclose()


def test_inline_request_is_the_generate_content_request(fake: FakeProvider) -> None:
    client = sync_client(fake)
    sent, _ = sent_then_batched(
        fake, client, generate_content(SEED_CALLS), mixed, messages=SEED_MESSAGES, temperature=0.5
    )
    assert endpoint(fake.last.path) == f"/models/{MODEL}:batchGenerateContent"
    [entry] = fake.last.json["batch"]["inputConfig"]["requests"]["requests"]
    assert entry["metadata"] == {"custom_id": "a"}
    assert entry["request"] == sent
    assert sent["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"
    assert sent["systemInstruction"]["parts"] == [{"text": "You must always use tools"}]


def test_one_model_per_batch(fake: FakeProvider) -> None:
    with pytest.raises(polycall.ConfigurationError, match="Gemini batch runs one model"):
        sync_client(fake).batch.submit(
            [{"custom_id": "a", "messages": SEED_MESSAGES},
             {"custom_id": "b", "messages": SEED_MESSAGES, "model": "gemini-2.5-pro"}],
            response_model=SEED_MODEL,
        )
    assert fake.requests == []


def test_results_are_sdk_responses_with_generated_ids(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS)))
    job = sync_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL)
    job.wait(poll_interval=0)
    [(_, calls)] = list(job.results())
    from google.genai import types

    assert isinstance(calls.raw, types.GenerateContentResponse)
    ids = [call.id for call in calls.calls]
    assert len(set(ids)) == 3 and all(ids)
    [content] = calls.tool_results(["a", "b", "c"])
    assert [p.function_response.name for p in content.parts] == ["Weather", "Weather", "GoogleSearch"]


def test_recorded_response_as_a_batch_result(fake: FakeProvider, recorded: Path) -> None:
    body = json.loads((recorded / "gemini_generatecontent_json_two_secret_retrieval_calls.json").read_text())
    fake.respond_with(FakeBatches(lambda item: json_response(body)))
    job = sync_client(fake).batch.submit(prompts(2), response_model=Iterable[SecretRetrieval])
    job.wait(poll_interval=0)
    results = list(job.results())
    assert len(results) == 2
    for _, calls in results:
        assert isinstance(calls, polycall.ToolCalls)  # finishReason STOP on a call turn is fine
        assert len(calls) == 2 and all(c.password for c in calls)


def test_error_entries_carry_code_and_message(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: ItemError("Quota exceeded", status=429)))
    job = sync_client(fake).batch.submit(prompts(1), response_model=SEED_MODEL)
    job.wait(poll_interval=0)
    [(_, error)] = list(job.results())
    assert isinstance(error, BatchItemError) and error.status_code == 429
    assert str(error) == "batch request q-0 errored: 429: Quota exceeded"


def test_statuses(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS)))
    job = sync_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL)
    seen = [job.last_status] + [job.status() for _ in range(3)]
    assert [s.provider_state for s in seen] == [
        "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED", "JOB_STATE_SUCCEEDED",
    ]
    assert [s.state for s in seen] == ["pending", "in_progress", "completed", "completed"]
    assert seen[0].total == 2 and seen[-1].succeeded == 2


def test_expired_job_reports_the_unprocessed_requests(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS), end="expired", processed=1))
    job = sync_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL)
    assert job.wait(poll_interval=0).state == "expired"
    results = list(job.results())
    assert [kind(r) for _, r in results] == ["ToolCalls", "expired", "expired"]
    assert "JOB_STATE_EXPIRED" in str(results[1][1])


def test_cancelled_job(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS), polls=3, processed=1))
    job = sync_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL)
    status = job.cancel()  # google-genai's cancel returns nothing: polycall asks for the state
    assert [endpoint(r.path) for r in fake.requests[-2:]] == [f"/{job.id}:cancel", f"/{job.id}"]
    assert (status.state, status.provider_state) == ("cancelled", "JOB_STATE_CANCELLED")
    assert job.wait(poll_interval=0).state == "cancelled"
    assert [kind(r) for _, r in job.results()] == ["ToolCalls", "cancelled", "cancelled"]


async def test_cancelled_job_async(fake: FakeProvider, aclient: polycall.AsyncClient) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS), polls=3))
    job = await aclient.batch.submit(prompts(2), response_model=SEED_MODEL)
    await job.cancel()
    assert (await job.wait(poll_interval=0)).state == "cancelled"
    assert [kind(r) async for _, r in job.results()] == ["cancelled", "cancelled"]


def test_failed_job(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS), end="failed"))
    job = sync_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL)
    assert job.wait(poll_interval=0).state == "failed"
    results = list(job.results())
    assert [kind(r) for _, r in results] == ["failed", "failed"]
    assert "JOB_STATE_FAILED" in str(results[0][1])


def test_resume_matches_results_by_metadata(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(mixed))
    job = sync_client(fake).batch.submit(prompts(10), response_model=SEED_MODEL)
    resumed = polycall.batch.resume(sync_client(fake), job.id, response_model=SEED_MODEL)
    resumed.wait(poll_interval=0)
    results = dict(resumed.results())
    assert set(results) == {f"q-{i}" for i in range(10)} - {"q-2"}  # q-2 is not in the output
    assert [kind(results[f"q-{i}"]) for i in (0, 1, 3, 4)] == ["ToolCalls", "errored", "RefusalError", "ValidationFailed"]
    # The SDK's job keeps neither the requests nor their count: given the submitted ids, the
    # resumed job reports the one its output leaves out.
    named = polycall.batch.resume(sync_client(fake), job.id, response_model=SEED_MODEL, custom_ids=job.custom_ids)
    named.wait(poll_interval=0)
    assert kind(dict(named.results())["q-2"]) == "missing"


def test_resumed_expired_job_with_its_ids_reports_what_was_not_processed(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS), end="expired", processed=1, polls=3))
    job = sync_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL)
    job.wait(poll_interval=0)
    resumed = polycall.batch.resume(sync_client(fake), job.id, response_model=SEED_MODEL, custom_ids=job.custom_ids)
    resumed.wait(poll_interval=0)
    assert [(custom_id, kind(result)) for custom_id, result in resumed.results()] == [
        ("q-0", "ToolCalls"), ("q-1", "expired"), ("q-2", "expired")
    ]


@pytest.mark.parametrize("ids", ["q-0", ["q-0", ""], ["q-0", "q-0"], [1]])
def test_resume_refuses_ids_that_are_not_the_submitted_ones(fake: FakeProvider, ids: Any) -> None:
    with pytest.raises(polycall.ConfigurationError, match="custom_ids="):
        polycall.batch.resume(sync_client(fake), "batches/1", response_model=SEED_MODEL, custom_ids=ids)


async def test_resume_async(fake: FakeProvider, aclient: polycall.AsyncClient) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS)))
    job = await aclient.batch.submit(prompts(2), response_model=SEED_MODEL)
    resumed = polycall.batch.resume(aclient, job.id, response_model=SEED_MODEL)
    await resumed.wait(poll_interval=0)
    assert [list(r) async for _, r in resumed.results()] == [SEED_VALUES] * 2


def test_vertex_ai_batches_are_not_supported_yet(fake: FakeProvider) -> None:
    client = polycall.from_genai(genai_client(fake, vertexai=True), model=MODEL)
    with pytest.raises(polycall.ConfigurationError, match="Vertex AI .* not supported yet"):
        client.batch.submit(prompts(1), response_model=SEED_MODEL)
    with pytest.raises(polycall.ConfigurationError, match="Vertex AI"):
        polycall.batch.resume(client, "projects/p/locations/l/batchPredictionJobs/1", response_model=SEED_MODEL)
    assert fake.requests == []


def test_resumed_failed_job_says_every_request_failed(fake: FakeProvider) -> None:
    fake.respond_with(FakeBatches(lambda item: generate_content(SEED_CALLS), end="failed"))
    job = sync_client(fake).batch.submit(prompts(2), response_model=SEED_MODEL)
    resumed = polycall.batch.resume(sync_client(fake), job.id, response_model=SEED_MODEL)
    assert resumed.wait(poll_interval=0).state == "failed"
    with pytest.raises(polycall.batch.BatchError, match="JOB_STATE_FAILED.*every request of it failed"):
        resumed.results()


@pytest.mark.parametrize("unlabelled", ["all", "one"])
def test_responses_without_their_custom_id(fake: FakeProvider, unlabelled: str) -> None:
    """Without any labels the responses' order tells their requests; with some labelled, an
    unlabelled one is matched to nothing rather than guessed by its place (here the output
    is also out of order, so its place would give it another request's answer)."""
    batches = FakeBatches(lambda item: generate_content([("Weather", {"location": item.custom_id, "units": "metric"})]))

    def respond(request: Any) -> Any:
        response = batches(request)
        body = response.body
        if isinstance(body, dict) and body.get("done") and "response" in body:
            output = body["response"]["output"]["inlinedResponses"]["inlinedResponses"]
            if unlabelled == "one":
                output.reverse()
            for inlined in output if unlabelled == "all" else output[:1]:
                inlined.pop("metadata", None)
        return response

    fake.respond_with(respond)
    job = sync_client(fake).batch.submit(prompts(3), response_model=SEED_MODEL)
    job.wait(poll_interval=0)
    results = dict(job.results())
    located = {cid: r[0].location for cid, r in results.items() if isinstance(r, polycall.ToolCalls)}
    if unlabelled == "all":
        assert located == {"q-0": "q-0", "q-1": "q-1", "q-2": "q-2"}
    else:
        assert located == {"q-0": "q-0", "q-1": "q-1"}  # each its own answer
        assert isinstance(results["q-2"], BatchItemError) and "no result" in str(results["q-2"])
