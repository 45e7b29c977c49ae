"""Gemini API batch mode: `client.batches.create` with inline requests; inline responses back.

Vertex AI batch prediction (files in Cloud Storage or BigQuery) is not supported yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import ConfigurationError
from ..providers.base import Adapter
from .common import Backend, BatchItemError, BatchStatus, Item, Outcome, Output, item_error
from .requests import single_model
from .results import to_sdk

_STATES = {
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}

#: The request keys an inline batch request carries (the model is the batch's own).
_REQUEST_KEYS = ("model", "contents", "config")


class GeminiBatch(Backend):
    """`client.batches.create(model=..., src=[InlinedRequest, ...])` on the Gemini API."""


    def __init__(self, adapter: Adapter) -> None:
        super().__init__(adapter)
        api_client = getattr(self.client, "_api_client", None)
        if getattr(self.client, "vertexai", None) or getattr(api_client, "vertexai", False):
            raise ConfigurationError(
                "batches on Vertex AI (batch prediction from Cloud Storage or BigQuery) are not "
                "supported yet; use a Gemini API client (genai.Client(api_key=...)) for batches"
            )

    def check(self, items: list[Item]) -> None:
        single_model(items, "Gemini")
        for item in items:
            extra = sorted(set(item.request) - set(_REQUEST_KEYS))
            if extra:
                raise ConfigurationError(
                    f"batch request {item.custom_id!r}: {', '.join(extra)} cannot go into a Gemini "
                    "batch request (only contents and config do)"
                )

    def _create_args(self, items: list[Item]) -> dict[str, Any]:
        from google.genai import types

        src = [
            types.InlinedRequest(
                contents=item.request["contents"],
                config=item.request.get("config"),
                metadata={"custom_id": item.custom_id},
            )
            for item in items
        ]
        return {"model": items[0].request["model"], "src": src}

    @property
    def _async(self) -> Any:
        return getattr(self.client, "aio", self.client).batches

    def submit(self, items: list[Item]) -> BatchStatus:
        return status_of(self.client.batches.create(**self._create_args(items)))

    async def asubmit(self, items: list[Item]) -> BatchStatus:
        return status_of(await self._async.create(**self._create_args(items)))

    def retrieve(self, job_id: str) -> BatchStatus:
        return status_of(self.client.batches.get(name=job_id))

    async def aretrieve(self, job_id: str) -> BatchStatus:
        return status_of(await self._async.get(name=job_id))

    def cancel(self, job_id: str) -> BatchStatus:
        self.client.batches.cancel(name=job_id)
        return self.retrieve(job_id)

    async def acancel(self, job_id: str) -> BatchStatus:
        await self._async.cancel(name=job_id)
        return await self.aretrieve(job_id)

    def output(self, status: BatchStatus, custom_ids: list[str] | None) -> Output:
        return Output(_outcomes(_responses(status.raw), custom_ids))

    async def aoutput(self, status: BatchStatus, custom_ids: list[str] | None) -> Output:
        return self.output(status, custom_ids)


def status_of(job: Any) -> BatchStatus:
    state = getattr(job, "state", None)
    provider_state = str(getattr(state, "value", state) or "")
    responses = _responses(job)
    failed = sum(1 for r in responses if getattr(r, "error", None) is not None)
    return BatchStatus(
        id=str(job.name),
        state=_STATES.get(provider_state, "in_progress"),
        provider_state=provider_state,
        succeeded=len(responses) - failed,
        failed=failed,
        raw=job,
    )


def _responses(job: Any) -> list[Any]:
    return list(getattr(getattr(job, "dest", None), "inlined_responses", None) or [])


def _outcomes(responses: list[Any], custom_ids: list[str] | None) -> Iterator[Outcome]:
    from google.genai.types import GenerateContentResponse

    labels = [(getattr(inlined, "metadata", None) or {}).get("custom_id") for inlined in responses]
    # Responses come in request order: with no labels at all, the order tells; with some, an
    # unlabelled one cannot be told apart from a request whose answer came back elsewhere.
    positional = custom_ids is not None and len(custom_ids) == len(responses) and not any(labels)
    for index, (inlined, custom_id) in enumerate(zip(responses, labels)):
        if custom_id is None and positional and custom_ids is not None:
            custom_id = custom_ids[index]
        if custom_id is None:
            shown = f"<unlabelled response {index}>"
            yield None, BatchItemError(
                f"batch response #{index} carries no custom_id in its metadata and cannot be "
                "matched to its request",
                custom_id=shown,
                kind="unreadable",
            )
            continue
        error = getattr(inlined, "error", None)
        response = getattr(inlined, "response", None)
        if error is not None:
            code = getattr(error, "code", None)
            message = getattr(error, "message", None) or "no message"
            yield custom_id, item_error(custom_id, "errored", f"{code}: {message}", status_code=code, body=error)
        elif response is not None:
            yield custom_id, to_sdk(GenerateContentResponse, response)
        else:
            yield custom_id, item_error(custom_id, "unreadable", "the response holds neither a response nor an error")
