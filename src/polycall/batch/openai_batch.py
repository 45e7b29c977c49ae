"""OpenAI Batch: a JSONL input file (`/v1/files`), a batch (`/v1/batches`), output files back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..modes import Mode
from .common import Backend, BatchStatus, Item, Outcome, Output, item_error
from .requests import json_line, request_body, single_model
from .results import read_jsonl, to_sdk, unreadable

_STATES = {
    "validating": "pending",
    "in_progress": "in_progress",
    "finalizing": "finalizing",
    "cancelling": "cancelling",
    "completed": "completed",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}

_INTERRUPTED = {"batch_expired": "expired", "batch_cancelled": "cancelled"}


class OpenAIBatch(Backend):
    """`client.files.create` + `client.batches.create`; results from the output and error files."""


    @property
    def endpoint(self) -> str:
        return "/v1/responses" if self.adapter.mode is Mode.RESPONSES_PARALLEL_TOOLS else "/v1/chat/completions"

    def check(self, items: list[Item]) -> None:
        single_model(items, "OpenAI")

    def _upload(self, items: list[Item]) -> tuple[str, bytes, str]:
        """The JSONL input file: one line per request, exactly the body `create` would send."""
        lines = [
            json_line(
                {"custom_id": item.custom_id, "method": "POST", "url": self.endpoint, "body": request_body(item)},
                item.custom_id,
            )
            for item in items
        ]
        return ("polycall-batch.jsonl", ("\n".join(lines) + "\n").encode(), "application/jsonl")

    def submit(self, items: list[Item]) -> BatchStatus:
        upload = self.client.files.create(file=self._upload(items), purpose="batch")
        batch = self.client.batches.create(
            input_file_id=upload.id, endpoint=self.endpoint, completion_window="24h"
        )
        return status_of(batch)

    async def asubmit(self, items: list[Item]) -> BatchStatus:
        upload = await self.client.files.create(file=self._upload(items), purpose="batch")
        batch = await self.client.batches.create(
            input_file_id=upload.id, endpoint=self.endpoint, completion_window="24h"
        )
        return status_of(batch)

    def retrieve(self, job_id: str) -> BatchStatus:
        return status_of(self.client.batches.retrieve(job_id))

    async def aretrieve(self, job_id: str) -> BatchStatus:
        return status_of(await self.client.batches.retrieve(job_id))

    def cancel(self, job_id: str) -> BatchStatus:
        return status_of(self.client.batches.cancel(job_id))

    async def acancel(self, job_id: str) -> BatchStatus:
        return status_of(await self.client.batches.cancel(job_id))

    def output(self, status: BatchStatus, custom_ids: list[str] | None) -> Output:
        texts = [self._text(file_id) for file_id in _files(status.raw)]
        submitted = None if custom_ids is not None else _custom_ids(self._text(status.raw.input_file_id))
        return Output(self._outcomes(texts), submitted)

    async def aoutput(self, status: BatchStatus, custom_ids: list[str] | None) -> Output:
        texts = [await self._atext(file_id) for file_id in _files(status.raw)]
        submitted = None if custom_ids is not None else _custom_ids(await self._atext(status.raw.input_file_id))
        return Output(self._outcomes(texts), submitted)

    def _text(self, file_id: str) -> str:
        return str(self.client.files.content(file_id).text)

    async def _atext(self, file_id: str) -> str:
        content = await self.client.files.content(file_id)
        return str(content.text)

    def _outcomes(self, texts: list[str]) -> Iterator[Outcome]:
        model = _response_type(self.adapter.mode)
        for text in texts:
            for number, line, parsed in read_jsonl(text):
                yield _outcome(number, line, parsed, model)


def status_of(batch: Any) -> BatchStatus:
    counts = getattr(batch, "request_counts", None)
    state = str(getattr(batch, "status", ""))
    return BatchStatus(
        id=batch.id,
        state=_STATES.get(state, "in_progress"),
        provider_state=state,
        total=getattr(counts, "total", None),
        succeeded=getattr(counts, "completed", 0) or 0,
        failed=getattr(counts, "failed", 0) or 0,
        raw=batch,
    )


def _files(batch: Any) -> list[str]:
    return [f for f in (getattr(batch, "output_file_id", None), getattr(batch, "error_file_id", None)) if f]


def _custom_ids(input_text: str) -> list[str]:
    """The ids of a batch's input file, in order (for a resumed job)."""
    return [
        parsed["custom_id"]
        for _, _, parsed in read_jsonl(input_text)
        if isinstance(parsed, dict) and isinstance(parsed.get("custom_id"), str)
    ]


def _response_type(mode: Mode) -> type[Any]:
    if mode is Mode.RESPONSES_PARALLEL_TOOLS:
        from openai.types.responses import Response

        return Response
    from openai.types.chat import ChatCompletion

    return ChatCompletion


def _outcome(number: int, line: str, parsed: Any, model: type[Any]) -> Outcome:
    if not isinstance(parsed, dict) or not isinstance(parsed.get("custom_id"), str):
        return unreadable(number, line, "not a JSON object with a custom_id")
    custom_id: str = parsed["custom_id"]
    error = parsed.get("error")
    if error:
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
        message = error.get("message") if isinstance(error, dict) else str(error)
        kind = _INTERRUPTED.get(code, "errored")
        return custom_id, item_error(custom_id, kind, f"{message} ({code or 'no code'})", body=error)
    response = parsed.get("response")
    if not isinstance(response, dict):
        return unreadable(number, line, "no response and no error")
    status_code = response.get("status_code")
    body = response.get("body")
    if status_code != 200:
        detail = body.get("error") if isinstance(body, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else body
        return custom_id, item_error(
            custom_id, "errored", f"HTTP {status_code}: {message}", status_code=status_code, body=body
        )
    if not isinstance(body, dict):
        return unreadable(number, line, "the response has no JSON body")
    return custom_id, to_sdk(model, body)
