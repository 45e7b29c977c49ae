"""The providers' Batch APIs for the fake provider: OpenAI Batch, Anthropic Message Batches and
Gemini batch mode, each with its own wire format, served by one stateful responder.

```python
from polycall.testing import FakeProvider
from polycall.testing.batch import FakeBatches
from polycall.testing.openai import chat_completion

batches = FakeBatches(lambda item: chat_completion([("Weather", {"location": "Paris", "units": "metric"})]))
with FakeProvider() as fake:
    fake.respond_with(batches)
    ...  # submit through the real SDK, poll, read the results
```

`answer(item)` decides each request's fate when the job finishes: a `Response` (from a wire
builder such as `chat_completion`; a non-200 status makes it a failed item), an `ItemError`,
raw `bytes` (OpenAI and Anthropic: the item's output line as it is, for unreadable output;
Gemini, whose responses are inline JSON: the response's JSON text), or `None` (the item is
left out of the output). Jobs move through the provider's states one retrieve at a time
(`polls` retrieves per intermediate state; `polls=0` ends every job at once), then end as
`end` says: `"completed"`, `"expired"` (only the first `processed` requests were answered)
or `"failed"` (the provider rejected the batch: a failed job on OpenAI and Gemini, a 400 on
create for Anthropic). A cancel request ends the job as cancelled the same way.

Paths served: OpenAI `/v1/files`, `/v1/files/{id}/content`, `/v1/batches[/{id}[/cancel]]`;
Anthropic `/v1/messages/batches[/{id}[/results|/cancel]]`; Gemini
`/v1beta/models/{model}:batchGenerateContent`, `/v1beta/batches/{id}[:cancel]` (or `/v1/`,
as google-genai 3 calls them).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .server import Request, Response, json_response

End = Literal["completed", "expired", "failed"]

_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TIME = "2025-01-01T00:00:00Z"
_STAMP = 1735689600


@dataclass(frozen=True)
class BatchItem:
    """One request of a batch as the provider received it."""

    custom_id: str
    body: dict[str, Any]  # OpenAI: the line's body; Anthropic: params; Gemini: the request
    index: int


@dataclass(frozen=True)
class ItemError:
    """A request the provider failed on its own (e.g. a 400 for that request only)."""

    message: str
    status: int = 400
    type: str = "invalid_request_error"


Outcome = Response | ItemError | bytes | None
Answer = Callable[[BatchItem], Outcome]


@dataclass
class FakeJob:
    """A batch held by the fake: its requests, where it is in its timeline, its output."""

    provider: Literal["openai", "anthropic", "gemini"]
    id: str
    items: list[BatchItem]
    timeline: list[str]
    end: str
    extra: dict[str, Any] = field(default_factory=dict)
    position: int = 0
    cancelled: bool = False
    outcomes: list[tuple[BatchItem, Outcome | str]] | None = None  # str: "expired"/"cancelled"

    @property
    def state(self) -> str:
        return self.timeline[self.position]

    @property
    def ended(self) -> bool:
        return self.position == len(self.timeline) - 1

    def advance(self) -> None:
        self.position = min(self.position + 1, len(self.timeline) - 1)

    def cancel(self, cancelling: str, cancelled: str) -> None:
        if self.ended or self.cancelled:
            return
        self.cancelled = True
        self.timeline = [*self.timeline[: self.position], cancelling, cancelled]
        self.position = len(self.timeline) - 2

    def progress(self) -> float:
        """How far the job is, 0 to 1, for the in-progress request counts."""
        return self.position / max(len(self.timeline) - 1, 1)


class FakeBatches:
    """A stateful responder for `FakeProvider.respond_with()` serving the three Batch APIs.

    `jobs` and `files` hold what was received, for assertions.
    """

    def __init__(
        self,
        answer: Answer,
        *,
        polls: int = 1,
        end: End = "completed",
        processed: int = 0,
        failure: str = "the batch input is invalid",
    ) -> None:
        self.answer = answer
        self.polls = polls
        self.end = end
        self.processed = processed
        self.failure = failure
        self.jobs: dict[str, FakeJob] = {}
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            for method, pattern, provider, handler in self._routes():
                match = re.fullmatch(pattern, request.path)
                if not match or request.method != method:
                    continue
                job = self.jobs.get(match.groupdict().get("job_id") or "")
                if job is not None and job.provider != provider:
                    continue  # another API's job on a shared path: `/v1/batches/{id}` (genai 3)
                if handler in (self._poll, self._cancel):
                    return handler(request, provider=provider, **match.groupdict())
                return handler(request, **match.groupdict())
        return _error(404, f"FakeBatches: no route for {request.method} {request.path}")

    def _routes(self) -> list[tuple[str, str, str, Callable[..., Response]]]:
        """(method, path pattern, provider, handler) of each route."""
        return [
            ("POST", r"(?:/v1)?/files", "openai", self._openai_upload),
            ("GET", r"(?:/v1)?/files/(?P<file_id>[^/]+)/content", "openai", self._openai_content),
            ("POST", r"(?:/v1)?/batches", "openai", self._openai_create),
            ("GET", r"(?:/v1)?/batches/(?P<job_id>[^/]+)", "openai", self._poll),
            ("POST", r"(?:/v1)?/batches/(?P<job_id>[^/]+)/cancel", "openai", self._cancel),
            ("POST", r"/v1/messages/batches", "anthropic", self._anthropic_create),
            ("GET", r"/v1/messages/batches/(?P<job_id>[^/]+)", "anthropic", self._poll),
            ("GET", r"/v1/messages/batches/(?P<job_id>[^/]+)/results", "anthropic", self._anthropic_results),
            ("POST", r"/v1/messages/batches/(?P<job_id>[^/]+)/cancel", "anthropic", self._cancel),
            ("POST", r"/v1(?:beta)?/models/(?P<model>[^/:]+):batchGenerateContent", "gemini", self._gemini_create),
            ("GET", r"/v1(?:beta)?/batches/(?P<job_id>[^/:]+)", "gemini", self._poll),
            ("POST", r"/v1(?:beta)?/batches/(?P<job_id>[^/:]+):cancel", "gemini", self._cancel),
        ]

    # -- shared ---------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    def _timeline(self, steps: list[str], terminal: dict[End, str]) -> list[str]:
        return [step for step in steps for _ in range(self.polls)] + [terminal[self.end]]

    def _job(self, job_id: str, provider: str) -> FakeJob | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.provider == provider else None

    def _poll(self, request: Request, job_id: str, provider: str) -> Response:
        """A job's status in its provider's form, one poll further on."""
        api = _APIS[provider]
        job = self._job(job_id, provider)
        if job is None:
            return api.missing(job_id)
        job.advance()
        return json_response(api.status(self, job))

    def _cancel(self, request: Request, job_id: str, provider: str) -> Response:
        """Cancel a job; its provider's answer to the cancel request."""
        api = _APIS[provider]
        job = self._job(job_id, provider)
        if job is None:
            return api.missing(job_id)
        job.cancel(*api.cancel_states)
        return json_response(api.status(self, job) if api.cancel_answers_status else {})

    def _outcomes(self, job: FakeJob) -> list[tuple[BatchItem, Outcome | str]]:
        """Each request's fate, decided once, when the job has ended."""
        if job.outcomes is None:
            interrupted = "cancelled" if job.cancelled else "expired" if self.end == "expired" else None
            job.outcomes = [
                (item, interrupted if interrupted and item.index >= self.processed else self.answer(item))
                for item in job.items
            ]
        return job.outcomes

    # -- OpenAI ---------------------------------------------------------------------------

    def _openai_upload(self, request: Request) -> Response:
        fields = _multipart(request)
        data = fields.get("file")
        if data is None or fields.get("purpose") != b"batch":
            return _error(400, "upload a file with purpose=batch")
        file_id = self._new_id("file-")
        self.files[file_id] = data
        return json_response(_file_object(file_id, len(data), "batch"))

    def _openai_content(self, request: Request, file_id: str) -> Response:
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}")
        return Response(body=self.files[file_id], content_type="application/octet-stream")

    def _openai_create(self, request: Request) -> Response:
        params = request.json or {}
        data = self.files.get(params.get("input_file_id", ""))
        if data is None:
            return _error(400, f"No such File object: {params.get('input_file_id')}")
        if params.get("completion_window") != "24h":
            return _error(400, "completion_window must be 24h")
        endpoint = params.get("endpoint", "")
        items, problem = _openai_items(data, endpoint)
        job = FakeJob(
            "openai",
            self._new_id("batch_"),
            items,
            self._timeline(["validating", "in_progress", "finalizing"], _OPENAI_ENDS),
            self.end,
            extra={"input_file_id": params["input_file_id"], "endpoint": endpoint},
        )
        if problem or self.end == "failed":
            job.timeline = [*(["validating"] * self.polls), "failed"]
            job.extra["errors"] = [problem or {"code": "invalid_request", "message": self.failure, "line": 1}]
        self.jobs[job.id] = job
        return json_response(self._openai_batch(job))

    def _openai_batch(self, job: FakeJob) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": job.id,
            "object": "batch",
            "endpoint": job.extra["endpoint"],
            "input_file_id": job.extra["input_file_id"],
            "completion_window": "24h",
            "status": job.state,
            "created_at": _STAMP,
            "output_file_id": None,
            "error_file_id": None,
            "errors": None,
            "request_counts": {"total": len(job.items), "completed": 0, "failed": 0},
        }
        if job.state == "failed":
            body["errors"] = {"object": "list", "data": job.extra["errors"]}
            body["request_counts"]["total"] = 0
        elif job.ended:
            self._openai_files(job, body)
        elif job.state in ("in_progress", "finalizing"):
            body["request_counts"]["completed"] = int(len(job.items) * job.progress())
        return body

    def _openai_files(self, job: FakeJob, body: dict[str, Any]) -> None:
        if "output_file_id" not in job.extra:
            done: list[bytes] = []
            failed: list[bytes] = []
            for item, outcome in self._outcomes(job):
                line, ok = _openai_line(item, outcome)
                if line is not None:
                    (done if ok else failed).append(line)
            for key, lines in (("output_file_id", done), ("error_file_id", failed)):
                job.extra[key] = None
                if lines:
                    job.extra[key] = self._new_id("file-")
                    self.files[job.extra[key]] = b"".join(lines)
            job.extra["counts"] = (len(done), len(failed))
        body["output_file_id"] = job.extra["output_file_id"]
        body["error_file_id"] = job.extra["error_file_id"]
        body["request_counts"]["completed"], body["request_counts"]["failed"] = job.extra["counts"]

    # -- Anthropic ------------------------------------------------------------------------

    def _anthropic_create(self, request: Request) -> Response:
        if self.end == "failed":
            return _anthropic_error(400, self.failure)
        requests = (request.json or {}).get("requests")
        if not isinstance(requests, list) or not requests:
            return _anthropic_error(400, "requests: at least one request is required")
        items: list[BatchItem] = []
        seen: set[str] = set()
        for index, entry in enumerate(requests):
            custom_id = entry.get("custom_id", "")
            params = entry.get("params")
            if not _CUSTOM_ID.fullmatch(custom_id) or custom_id in seen:
                return _anthropic_error(400, f"requests.{index}.custom_id: invalid or repeated")
            if not isinstance(params, dict) or not {"model", "max_tokens", "messages"} <= params.keys():
                return _anthropic_error(400, f"requests.{index}.params: model, max_tokens and messages are required")
            seen.add(custom_id)
            items.append(BatchItem(custom_id, params, index))
        job = FakeJob(
            "anthropic",
            self._new_id("msgbatch_"),
            items,
            self._timeline(["in_progress"], {"completed": "ended", "expired": "ended", "failed": "ended"}),
            self.end,
            extra={"host": request.headers.get("Host", "127.0.0.1")},
        )
        self.jobs[job.id] = job
        return json_response(self._anthropic_batch(job))

    def _anthropic_results(self, request: Request, job_id: str) -> Response:
        job = self._job(job_id, "anthropic")
        if job is None or not job.ended:
            return _anthropic_error(404, f"results of message batch {job_id} are not available")
        lines = [_anthropic_line(item, outcome) for item, outcome in self._outcomes(job)]
        body = b"".join(line for line in lines if line is not None)
        return Response(body=body, content_type="application/binary")

    def _anthropic_batch(self, job: FakeJob) -> dict[str, Any]:
        counts = {"processing": len(job.items), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        body: dict[str, Any] = {
            "id": job.id,
            "type": "message_batch",
            "processing_status": job.state,
            "created_at": _TIME,
            "expires_at": "2025-01-02T00:00:00Z",
            "ended_at": None,
            "cancel_initiated_at": _TIME if job.cancelled else None,
            "archived_at": None,
            "results_url": None,
            "request_counts": counts,
        }
        if job.ended:
            counts["processing"] = 0
            for _, outcome in self._outcomes(job):
                counts[_anthropic_kind(outcome)] += 1
            body["ended_at"] = _TIME
            body["results_url"] = f"http://{job.extra['host']}/v1/messages/batches/{job.id}/results"
        return body

    # -- Gemini ---------------------------------------------------------------------------

    def _gemini_create(self, request: Request, model: str) -> Response:
        batch = (request.json or {}).get("batch") or {}
        entries = ((batch.get("inputConfig") or {}).get("requests") or {}).get("requests")
        if not isinstance(entries, list) or not entries:
            return _gemini_error(400, "batch.input_config.requests: at least one request is required")
        items: list[BatchItem] = []
        for index, entry in enumerate(entries):
            body = entry.get("request")
            if not isinstance(body, dict) or not body.get("contents"):
                return _gemini_error(400, f"batch.input_config.requests[{index}].request.contents is required")
            custom_id = (entry.get("metadata") or {}).get("custom_id", str(index))
            items.append(BatchItem(custom_id, {**body, "metadata": entry.get("metadata")}, index))
        job = FakeJob(
            "gemini",
            self._new_id("batch-"),
            items,
            self._timeline(
                ["BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"],
                {"completed": "BATCH_STATE_SUCCEEDED", "expired": "BATCH_STATE_EXPIRED",
                 "failed": "BATCH_STATE_FAILED"},
            ),
            self.end,
            extra={"model": f"models/{model}", "display_name": batch.get("displayName", "")},
        )
        self.jobs[job.id] = job
        return json_response(self._gemini_operation(job))

    def _gemini_operation(self, job: FakeJob) -> dict[str, Any]:
        name = f"batches/{job.id}"
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": job.extra["model"],
            "displayName": job.extra["display_name"],
            "name": name,
            "state": job.state,
            "createTime": _TIME,
            "updateTime": _TIME,
            "batchStats": {"requestCount": str(len(job.items))},
        }
        operation: dict[str, Any] = {"name": name, "metadata": metadata, "done": job.ended}
        if job.ended and job.state != "BATCH_STATE_FAILED":
            responses = [
                line
                for item, outcome in self._outcomes(job)
                if (line := _gemini_line(item, outcome)) is not None
            ]
            output = {"inlinedResponses": {"inlinedResponses": responses}}
            metadata["output"] = output
            operation["response"] = {"@type": metadata["@type"], "output": output}
        elif job.state == "BATCH_STATE_FAILED":
            operation["error"] = {"code": 3, "message": self.failure}
        return operation


_OPENAI_ENDS: dict[End, str] = {"completed": "completed", "expired": "expired", "failed": "failed"}

_INTERRUPTED = {
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
    "cancelled": ("batch_cancelled", "This request was cancelled before it was executed."),
}


def _openai_items(data: bytes, endpoint: str) -> tuple[list[BatchItem], dict[str, Any] | None]:
    """The requests of an input file, or the first problem the provider would report."""
    items: list[BatchItem] = []
    seen: set[str] = set()
    models: set[str] = set()
    for index, text in enumerate(data.decode().removesuffix("\n").split("\n")):  # JSONL: "\n" only
        try:
            line = json.loads(text)
        except ValueError:
            return items, {"code": "invalid_json_line", "message": "line is not valid JSON", "line": index + 1}
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or custom_id in seen:
            return items, {"code": "duplicate_custom_id", "message": "custom_id is missing or repeated",
                           "line": index + 1}
        if line.get("method") != "POST" or line.get("url") != endpoint or not isinstance(line.get("body"), dict):
            return items, {"code": "invalid_request", "message": f"each line must POST to {endpoint}",
                           "line": index + 1}
        models.add(line["body"].get("model", ""))
        if len(models) > 1:
            return items, {"code": "mismatched_model", "message": "one model per batch", "line": index + 1}
        seen.add(custom_id)
        items.append(BatchItem(custom_id, line["body"], index))
    if not items:
        return items, {"code": "empty_file", "message": "the input file has no requests", "line": None}
    return items, None


def _openai_line(item: BatchItem, outcome: Outcome | str) -> tuple[bytes | None, bool]:
    """One output line and whether it belongs in the output file (True) or the error file."""
    if outcome is None:
        return None, True
    if isinstance(outcome, bytes):
        return outcome if outcome.endswith(b"\n") else outcome + b"\n", True
    line: dict[str, Any] = {"id": f"batch_req_{item.index}", "custom_id": item.custom_id,
                            "response": None, "error": None}
    if isinstance(outcome, str):
        code, message = _INTERRUPTED[outcome]
        line["error"] = {"code": code, "message": message}
    elif isinstance(outcome, ItemError):
        line["response"] = {"status_code": outcome.status, "request_id": f"req_{item.index}",
                            "body": {"error": {"message": outcome.message, "type": outcome.type,
                                               "param": None, "code": None}}}
    else:
        line["response"] = {"status_code": outcome.status, "request_id": f"req_{item.index}",
                            "body": outcome.body}
    ok = line["response"] is not None and line["response"]["status_code"] == 200
    return (json.dumps(line) + "\n").encode(), ok


def _anthropic_kind(outcome: Outcome | str) -> str:
    if outcome in ("expired", "cancelled"):
        return "canceled" if outcome == "cancelled" else "expired"
    if isinstance(outcome, Response) and outcome.status == 200 or isinstance(outcome, bytes):
        return "succeeded"
    return "errored"


def _anthropic_line(item: BatchItem, outcome: Outcome | str) -> bytes | None:
    if outcome is None:
        return None
    if isinstance(outcome, bytes):
        return outcome if outcome.endswith(b"\n") else outcome + b"\n"
    kind = _anthropic_kind(outcome)
    result: dict[str, Any] = {"type": kind}
    if isinstance(outcome, Response) and kind == "succeeded":
        result["message"] = outcome.body
    elif isinstance(outcome, Response):
        result["error"] = outcome.body
    elif isinstance(outcome, ItemError):
        result["error"] = {"type": "error", "error": {"type": outcome.type, "message": outcome.message}}
    return (json.dumps({"custom_id": item.custom_id, "result": result}) + "\n").encode()


def _gemini_line(item: BatchItem, outcome: Outcome | str) -> dict[str, Any] | None:
    if outcome is None or isinstance(outcome, str):
        return None  # unprocessed requests are left out of the output
    line: dict[str, Any] = {"metadata": item.body.get("metadata") or {}}
    if isinstance(outcome, bytes):  # inlined responses are JSON: bytes give the response as is
        try:
            line["response"] = json.loads(outcome)
        except ValueError:
            line["error"] = {"code": 500, "message": "the response could not be written"}
    elif isinstance(outcome, ItemError):
        line["error"] = {"code": outcome.status, "message": outcome.message}
    elif outcome.status != 200:
        line["error"] = (outcome.body or {}).get("error") or {"code": outcome.status, "message": "error"}
    else:
        line["response"] = outcome.body
    return line


def _multipart(request: Request) -> dict[str, bytes]:
    """The fields of a multipart/form-data body."""
    head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True)
            fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields


def _file_object(file_id: str, size: int, purpose: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": size, "created_at": _STAMP,
            "filename": "batch.jsonl", "purpose": purpose, "status": "processed"}


def _error(status: int, message: str) -> Response:
    return json_response({"error": {"message": message, "type": "invalid_request_error",
                                    "param": None, "code": None}}, status=status)


def _anthropic_error(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    return json_response({"type": "error", "error": {"type": kind, "message": message}}, status=status)


def _gemini_error(status: int, message: str, kind: str = "INVALID_ARGUMENT") -> Response:
    return json_response({"error": {"code": status, "message": message, "status": kind}}, status=status)


@dataclass(frozen=True)
class _Api:
    """How one provider's batch API answers a poll or a cancel."""

    missing: Callable[[str], Response]  # its 404 for a job id
    status: Callable[[FakeBatches, FakeJob], dict[str, Any]]  # a job's status body
    cancel_states: tuple[str, str]  # the job's status while cancelling, and once cancelled
    cancel_answers_status: bool = True  # a cancel returns the job's status (else `{}`)


_APIS = {
    "openai": _Api(
        lambda job_id: _error(404, f"No batch found with id '{job_id}'"),
        FakeBatches._openai_batch,
        ("cancelling", "cancelled"),
    ),
    "anthropic": _Api(
        lambda job_id: _anthropic_error(404, f"message batch {job_id} not found", "not_found_error"),
        FakeBatches._anthropic_batch,
        ("canceling", "ended"),
    ),
    "gemini": _Api(
        lambda job_id: _gemini_error(404, f"batches/{job_id} not found", "NOT_FOUND"),
        FakeBatches._gemini_operation,
        ("BATCH_STATE_CANCELLING", "BATCH_STATE_CANCELLED"),
        cancel_answers_status=False,
    ),
}
