"""What the batch tests of every provider share: the prompts, one request sent whole and as a
batch, checking a 1000-request round trip."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

import polycall
from models import SEED_MODEL, SEED_VALUES
from polycall.batch import BatchItemError
from polycall.testing import FakeProvider, Response
from polycall.testing.batch import FakeBatches

N = 1000


class SecretRetrieval(BaseModel):
    """The tool of the recorded two-call responses."""

    model_config = ConfigDict(title="secret_retrieval_tool")
    password: str


def prompts(n: int = N) -> list[dict[str, Any]]:
    return [
        {"custom_id": f"q-{i}", "messages": [{"role": "user", "content": f"question {i}"}]}
        for i in range(n)
    ]


def sent_then_batched(
    fake: FakeProvider, client: Any, whole: Response, answer: Any, **request: Any
) -> tuple[dict[str, Any], FakeBatches]:
    """The body `client.create(**request)` sends for the seed's tools (the fake answering
    `whole`); then the same request submitted as a batch of one (custom_id "a") to a
    `FakeBatches(answer)`, which is returned with it."""
    fake.push(whole)
    client.create(response_model=SEED_MODEL, **request)
    sent: dict[str, Any] = fake.last.json
    batches = FakeBatches(answer)
    fake.respond_with(batches)
    client.batch.submit([{"custom_id": "a", **request}], response_model=SEED_MODEL)
    return sent, batches


def kind(result: Any) -> str:
    return result.kind if isinstance(result, BatchItemError) else type(result).__name__


def check_round_trip(
    results: list[tuple[str, Any]],
    expected_kinds: dict[int, str],
    tool_calls: int,
    *,
    text: str | None = None,
) -> None:
    """Every one of the N prompts answered exactly once, with the kind its last digit's fate
    gives; each answer is its own request's (input tokens = index) and `tool_calls` of them are
    the seed's calls (with `text`, when given); each failure names its request."""
    assert sorted(custom_id for custom_id, _ in results) == sorted(f"q-{i}" for i in range(N))
    for custom_id, result in results:
        index = int(custom_id.split("-")[1])
        assert kind(result) == expected_kinds[index % 10], (custom_id, result)
        if isinstance(result, polycall.ToolCalls):
            assert list(result) == SEED_VALUES
            if text is not None:
                assert result.text == text
            assert result.usage.input_tokens == index
        else:
            assert isinstance(result, polycall.PolycallError)
            assert result.custom_id == custom_id
    assert Counter(kind(r) for _, r in results)["ToolCalls"] == tool_calls
