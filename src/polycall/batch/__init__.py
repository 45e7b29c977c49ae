"""Batches through the providers' Batch APIs (OpenAI Batch, Anthropic Message Batches, Gemini
batch mode): `client.batch.submit(requests, response_model=...)`, `job.wait()`, `job.results()`,
and `polycall.batch.resume(client, job_id, response_model=...)` after a restart.

Each result goes through the same adapter parsing and validation as `create`; retries do not
apply (a batch is answered once).
"""

from __future__ import annotations

from .common import BatchError, BatchItemError, BatchStatus, BatchTimeoutError
from .jobs import AsyncBatches, AsyncBatchJob, Batches, BatchJob, resume

__all__ = [
    "AsyncBatchJob",
    "AsyncBatches",
    "BatchError",
    "BatchItemError",
    "BatchJob",
    "BatchStatus",
    "BatchTimeoutError",
    "Batches",
    "resume",
]
