"""Anthropic Message Batches: `/v1/messages/batches`, results as JSONL at the batch's `results_url`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigurationError
from ..providers.base import Adapter
from .common import Backend, BatchStatus, Item, Outcome, Output, item_error
from .requests import request_body
from .results import read_jsonl, to_sdk, unreadable

_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")

_STATES = {"in_progress": "in_progress", "canceling": "cancelling"}

_INTERRUPTED = {"canceled": "cancelled", "expired": "expired"}

#: The anthropic SDK clients of clouds that have no Message Batches API: class name -> cloud.
_NO_BATCHES = {
    "AnthropicBedrock": "Amazon Bedrock",
    "AsyncAnthropicBedrock": "Amazon Bedrock",
    "AnthropicVertex": "Vertex AI",
    "AsyncAnthropicVertex": "Vertex AI",
    "AnthropicFoundry": "Microsoft Foundry",
    "AsyncAnthropicFoundry": "Microsoft Foundry",
}


class AnthropicBatch(Backend):
    """`client.messages.batches.create`; results read line by line from the results file."""

    def __init__(self, adapter: Adapter) -> None:
        super().__init__(adapter)
        import anthropic

        for name, cloud in _NO_BATCHES.items():
            sdk_class = getattr(anthropic, name, None)  # absent from older SDK versions
            if sdk_class is not None and isinstance(self.client, sdk_class):
                raise ConfigurationError(
                    f"batches are not supported on {cloud}: anthropic.{name} has no Message "
                    "Batches API; use an anthropic.Anthropic client (the Anthropic API) for batches"
                )

    def check(self, items: list[Item]) -> None:
        for item in items:
            if not _CUSTOM_ID.fullmatch(item.custom_id):
                raise ConfigurationError(
                    f"Anthropic batch custom_id {item.custom_id!r} must be 1-64 letters, digits, "
                    "'_' or '-'"
                )

    def _requests(self, items: list[Item]) -> list[dict[str, Any]]:
        return [{"custom_id": item.custom_id, "params": request_body(item)} for item in items]

    def submit(self, items: list[Item]) -> BatchStatus:
        return status_of(self.client.messages.batches.create(requests=self._requests(items)))

    async def asubmit(self, items: list[Item]) -> BatchStatus:
        return status_of(await self.client.messages.batches.create(requests=self._requests(items)))

    def retrieve(self, job_id: str) -> BatchStatus:
        return status_of(self.client.messages.batches.retrieve(job_id))

    async def aretrieve(self, job_id: str) -> BatchStatus:
        return status_of(await self.client.messages.batches.retrieve(job_id))

    def cancel(self, job_id: str) -> BatchStatus:
        return status_of(self.client.messages.batches.cancel(job_id))

    async def acancel(self, job_id: str) -> BatchStatus:
        return status_of(await self.client.messages.batches.cancel(job_id))

    def output(self, status: BatchStatus, custom_ids: list[str] | None) -> Output:
        with self.client.messages.batches.with_streaming_response.results(status.id) as response:
            text = response.text()
        return Output(_outcomes(text))

    async def aoutput(self, status: BatchStatus, custom_ids: list[str] | None) -> Output:
        async with self.client.messages.batches.with_streaming_response.results(status.id) as response:
            text = await response.text()
        return Output(_outcomes(text))


def status_of(batch: Any) -> BatchStatus:
    counts = getattr(batch, "request_counts", None)

    def count(name: str) -> int:
        return int(getattr(counts, name, 0) or 0)

    provider_state = str(getattr(batch, "processing_status", ""))
    state = _STATES.get(provider_state, "in_progress")
    if provider_state == "ended":
        if getattr(batch, "cancel_initiated_at", None):
            state = "cancelled"
        elif count("expired"):
            state = "expired"
        else:
            state = "completed"
    names = ("processing", "succeeded", "errored", "canceled", "expired")
    return BatchStatus(
        id=batch.id,
        state=state,
        provider_state=provider_state,
        total=sum(count(name) for name in names) if counts is not None else None,
        succeeded=count("succeeded"),
        failed=count("errored") + count("canceled") + count("expired"),
        raw=batch,
    )


def _outcomes(text: str) -> Iterator[Outcome]:
    from anthropic.types import Message

    for number, line, parsed in read_jsonl(text):
        yield _outcome(number, line, parsed, Message)


def _outcome(number: int, line: str, parsed: Any, message_type: type[Any]) -> Outcome:
    if not isinstance(parsed, dict) or not isinstance(parsed.get("custom_id"), str):
        return unreadable(number, line, "not a JSON object with a custom_id")
    custom_id: str = parsed["custom_id"]
    result = parsed.get("result")
    kind = result.get("type") if isinstance(result, dict) else None
    if kind == "succeeded" and isinstance(result, dict) and isinstance(result.get("message"), dict):
        return custom_id, to_sdk(message_type, result["message"])
    if kind in _INTERRUPTED:
        return custom_id, item_error(
            custom_id, _INTERRUPTED[kind], f"the request was {kind} before it was processed"
        )
    if kind == "errored" and isinstance(result, dict):
        error = result.get("error")
        detail = error.get("error") if isinstance(error, dict) else None
        detail = detail if isinstance(detail, dict) else {}
        message = f"{detail.get('type', 'error')}: {detail.get('message', error)}"
        return custom_id, item_error(custom_id, "errored", message, body=error)
    return unreadable(number, line, f"unknown result type {kind!r}")
