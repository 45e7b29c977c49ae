"""What every Batch API backend shares: the errors, the status, the items, the backend interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import PolycallError, ProviderError
from ..providers.base import Adapter

#: The states a job can end in; `BatchStatus.done` is true for these.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchError(PolycallError):
    """A batch job cannot do what was asked (e.g. its results are read before it has ended)."""


class BatchTimeoutError(BatchError):
    """`wait(timeout=...)` ran out before the job ended; the job goes on at the provider."""

    def __init__(self, message: str, *, status: BatchStatus) -> None:
        super().__init__(message)
        self.status = status


class BatchItemError(ProviderError):
    """The provider did not answer one request of a batch.

    `kind` says why: "errored" (the provider failed this request), "expired", "cancelled",
    "failed" (the whole batch was rejected), "missing" (absent from the output) or
    "unreadable" (its output could not be read). `status_code` and `body` hold the
    provider's own error, where it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        custom_id: str,
        kind: str,
        status_code: int | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.custom_id = custom_id
        self.kind = kind
        self.status_code = status_code
        self.body = body


@dataclass(frozen=True)
class BatchStatus:
    """Where a job is, in neutral terms, with the provider's own object in `raw`.

    `state` is one of "pending", "in_progress", "finalizing", "cancelling" (still running)
    or "completed", "failed", "expired", "cancelled" (ended). `total` is None where the
    provider does not say.
    """

    id: str
    state: str
    provider_state: str
    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    raw: Any = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed


@dataclass(frozen=True)
class Item:
    """One request of a batch: its custom id and the provider request `adapter.prepare` built."""

    custom_id: str
    request: dict[str, Any]


#: A result line: the custom id (None when it cannot be told) and the SDK response or an error.
Outcome = tuple[str | None, Any]


@dataclass
class Output:
    """What a finished job's output holds, as the backend read it."""

    outcomes: Iterable[Outcome]
    custom_ids: list[str] | None = None  # the submitted ids, where the provider keeps them


class Backend(ABC):
    """One provider's Batch API, over the SDK client the adapter holds."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.client = adapter.client

    def check(self, items: list[Item]) -> None:
        """Reject what the provider would reject, before anything is sent."""

    @abstractmethod
    def submit(self, items: list[Item]) -> BatchStatus: ...

    @abstractmethod
    async def asubmit(self, items: list[Item]) -> BatchStatus: ...

    @abstractmethod
    def retrieve(self, job_id: str) -> BatchStatus: ...

    @abstractmethod
    async def aretrieve(self, job_id: str) -> BatchStatus: ...

    @abstractmethod
    def cancel(self, job_id: str) -> BatchStatus: ...

    @abstractmethod
    async def acancel(self, job_id: str) -> BatchStatus: ...

    @abstractmethod
    def output(self, status: BatchStatus, custom_ids: list[str] | None) -> Output:
        """Download and read the output of an ended job."""

    @abstractmethod
    async def aoutput(self, status: BatchStatus, custom_ids: list[str] | None) -> Output: ...


def item_error(
    custom_id: str, kind: str, message: str, *, status_code: int | None = None, body: Any = None
) -> BatchItemError:
    """The error for a request the provider did not answer."""
    return BatchItemError(
        f"batch request {custom_id} {kind}: {message}",
        custom_id=custom_id,
        kind=kind,
        status_code=status_code,
        body=body,
    )
