"""Batch jobs: submit many `create` requests at once, wait, and read one result per request."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..calls import ToolCalls
from ..engine import provider_errors
from ..errors import ConfigurationError, PolycallError
from ..providers import registry
from ..session import check_strict, pick_context
from ..toolset import ToolSet, tool_set
from .common import Backend, BatchError, BatchStatus, BatchTimeoutError, Item, Output
from .progress import Progress
from .requests import items_of
from .results import account, status_detail, to_calls

if TYPE_CHECKING:
    from ..client import AsyncClient, Client
    from ..providers.base import Adapter

Result = tuple[str, "ToolCalls[Any] | PolycallError"]

#: How often `wait()` asks the provider, in seconds, unless told otherwise.
POLL_INTERVAL = 30.0


def backend_for(adapter: Adapter) -> Backend:
    """The Batch API of the adapter's provider, as its descriptor names it."""
    reference = registry.for_mode(adapter.mode).batch
    if reference is None:
        served = ", ".join(f"{p.factory}()" for p in registry.PROVIDERS if p.batch)
        raise ConfigurationError(
            f"Mode.{adapter.mode.name} has no Batch API in polycall; batches work with {served}"
        )
    backend: type[Backend] = registry.load(f"polycall.batch.{reference}")
    return backend(adapter)


class _Job:
    """What the sync and async jobs share: identity, tools, and reading results."""

    def __init__(
        self,
        backend: Backend,
        status: BatchStatus,
        response_model: Any,
        *,
        custom_ids: list[str] | None = None,
        context: Any = None,
        strict: bool | None = None,
        client: Any = None,
    ) -> None:
        self.id = status.id
        self.response_model = response_model
        self._backend = backend
        self._tools = None if response_model is None else tool_set(response_model)
        self._custom_ids = custom_ids
        self.last_status = self._seen(status)
        self._context = context
        self._strict = strict
        self._limits = getattr(client, "limits", None)

    @property
    def custom_ids(self) -> list[str] | None:
        """The submitted ids, in order: a job submitted here, or resumed with `custom_ids=` or
        (OpenAI, whose input file lists them) once its results are read; else None."""
        return self._custom_ids

    def _seen(self, status: BatchStatus) -> BatchStatus:
        """Keep the latest status; its total is the number submitted where the provider omits it."""
        if status.total is None and self._custom_ids is not None:
            status = replace(status, total=len(self._custom_ids))
        self.last_status = status
        return status

    def _model(self) -> ToolSet:
        """The tools of `response_model`, which reading results needs."""
        if self._tools is None:
            raise ConfigurationError(
                f"batch {self.id} was resumed without a response_model: pass "
                "resume(..., response_model=...) with the one it was submitted with (the provider "
                "does not keep it) to read its results"
            )
        return self._tools

    def _ended(self, status: BatchStatus) -> BatchStatus:
        if not status.done:
            raise BatchError(
                f"batch {self.id} is {status.state} ({status.provider_state}); its results are "
                "ready once it has ended: call wait() first"
            )
        return status

    def _results(self, tools: ToolSet, status: BatchStatus, output: Output) -> Iterator[Result]:
        if self._custom_ids is None:
            self._custom_ids = output.custom_ids
        if self._custom_ids is None and status.state == "failed":
            detail = status_detail(status)
            raise BatchError(
                f"batch {self.id} failed ({status.provider_state}{': ' + detail if detail else ''}) "
                "and the provider keeps no list of its requests: every request of it failed"
            )
        return self._each(tools, status, output)

    def _each(self, tools: ToolSet, status: BatchStatus, output: Output) -> Iterator[Result]:
        for custom_id, result in account(output.outcomes, self._custom_ids, status):
            yield custom_id, to_calls(
                self._backend.adapter, tools, custom_id, result,
                context=self._context, strict=self._strict, limits=self._limits,
            )

    def _timeout(self, status: BatchStatus, timeout: float) -> BatchTimeoutError:
        return BatchTimeoutError(
            f"batch {self.id} is still {status.state} ({status.provider_state}, "
            f"{status.processed}/{status.total if status.total is not None else '?'} processed) "
            f"after {timeout:g}s; it goes on at the provider: wait again, resume it later, or cancel()",
            status=status,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, state={self.last_status.state!r})"


_J = TypeVar("_J", bound=_Job)


class BatchJob(_Job):
    """A submitted batch, on a sync client."""

    def status(self) -> BatchStatus:
        """Ask the provider where the job is."""
        with provider_errors(self._backend.adapter):
            return self._seen(self._backend.retrieve(self.id))

    def wait(
        self, *, poll_interval: float = POLL_INTERVAL, timeout: float | None = None, progress: bool = True
    ) -> BatchStatus:
        """Poll until the job has ended; `BatchTimeoutError` after `timeout` seconds.

        With `progress=True` a bar shows once a poll finds the job still running, if `tqdm`
        or `rich` is installed.
        """
        with _Waiting(self, poll_interval, timeout, progress) as waiting:
            while (pause := waiting.pause(status := self.status())) is not None:
                time.sleep(pause)
        return status

    def cancel(self) -> BatchStatus:
        """Ask the provider to stop the job; requests already answered keep their results."""
        with provider_errors(self._backend.adapter):
            return self._seen(self._backend.cancel(self.id))

    def results(self) -> Iterator[Result]:
        """`(custom_id, ToolCalls | PolycallError)` for every request of the ended job
        (an ended job does not change: the status `wait()` saw last is reused)."""
        tools = self._model()
        status = self._ended(self.last_status if self.last_status.done else self.status())
        with provider_errors(self._backend.adapter):
            output = self._backend.output(status, self._custom_ids)
        return self._results(tools, status, output)


class AsyncBatchJob(_Job):
    """A submitted batch, on an async client: the same methods, awaited."""

    async def status(self) -> BatchStatus:
        """Ask the provider where the job is."""
        with provider_errors(self._backend.adapter):
            return self._seen(await self._backend.aretrieve(self.id))

    async def wait(
        self, *, poll_interval: float = POLL_INTERVAL, timeout: float | None = None, progress: bool = True
    ) -> BatchStatus:
        """Poll until the job has ended; `BatchTimeoutError` after `timeout` seconds."""
        with _Waiting(self, poll_interval, timeout, progress) as waiting:
            while (pause := waiting.pause(status := await self.status())) is not None:
                await asyncio.sleep(pause)
        return status

    async def cancel(self) -> BatchStatus:
        """Ask the provider to stop the job; requests already answered keep their results."""
        with provider_errors(self._backend.adapter):
            return self._seen(await self._backend.acancel(self.id))

    def results(self) -> AsyncIterator[Result]:
        """`(custom_id, ToolCalls | PolycallError)` for every request of the ended job, as
        an async iterator (an ended job does not change: the status `wait()` saw last is
        reused). A missing `response_model` is refused at once; a job not ended yet, as
        the iteration starts, once the provider has said so."""
        return self._each_result(self._model())

    async def _each_result(self, tools: ToolSet) -> AsyncIterator[Result]:
        status = self._ended(self.last_status if self.last_status.done else await self.status())
        with provider_errors(self._backend.adapter):
            output = await self._backend.aoutput(status, self._custom_ids)
        for result in self._results(tools, status, output):
            yield result


class _Waiting(AbstractContextManager["_Waiting"]):
    """One `wait()`: its deadline, its progress bar, and what each poll's status means."""

    def __init__(self, job: _Job, poll_interval: float, timeout: float | None, progress: bool) -> None:
        if not _seconds(poll_interval) or not (timeout is None or _seconds(timeout)):
            raise ConfigurationError(
                f"wait() needs poll_interval and timeout of 0 or more seconds, got "
                f"poll_interval={poll_interval!r}, timeout={timeout!r}"
            )
        self.job = job
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.bar = Progress(progress)

    def pause(self, status: BatchStatus) -> float | None:
        """Seconds to sleep before the next poll; None once the job has ended;
        `BatchTimeoutError` once the deadline has passed."""
        self.bar.update(status)
        if status.done:
            return None
        if self.deadline is None:
            return self.poll_interval
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.job._timeout(status, self.timeout or 0.0)
        return min(self.poll_interval, left)

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


class _Batches(Generic[_J]):
    """What the sync and async `client.batch` share: checking requests, making job objects,
    resuming a job."""

    _job_type: type[_J]

    def __init__(self, client: Client | AsyncClient) -> None:
        self._client = client

    def _prepared(
        self,
        requests: Iterable[Mapping[str, Any]],
        response_model: Any,
        shared: Mapping[str, Any],
        strict: bool | None,
    ) -> tuple[Backend, list[Item]]:
        """The Batch API to use and every request prepared for it, all checked before sending."""
        check_strict(strict)
        backend = backend_for(self._client.adapter)
        items = items_of(requests, backend.adapter, tool_set(response_model), shared)
        backend.check(items)
        return backend, items

    def resume(
        self,
        job_id: str,
        *,
        response_model: Any = None,
        validation_context: Any = None,
        context: Any = None,
        strict: bool | None = None,
        custom_ids: Sequence[str] | None = None,
    ) -> _J:
        """Reattach to a job submitted earlier (e.g. before a restart), by its id; nothing is
        sent until you ask. Reading its results needs the `response_model` it was submitted
        with; its status, `wait()` and `cancel()` do not. `custom_ids` (the submitted job's
        `custom_ids`) names every request its output leaves out."""
        return self._job(
            backend_for(self._client.adapter), _unknown(job_id), response_model,
            pick_context(validation_context, context), check_strict(strict), _ids(custom_ids),
        )

    def _job(
        self,
        backend: Backend,
        status: BatchStatus,
        response_model: Any,
        context: Any,
        strict: bool | None,
        custom_ids: list[str] | None = None,
    ) -> _J:
        return self._job_type(
            backend, status, response_model,
            custom_ids=custom_ids,
            context=context,
            strict=strict,
            client=self._client,
        )


class Batches(_Batches[BatchJob]):
    """`client.batch`: the provider's Batch API."""

    _job_type = BatchJob

    def __init__(self, client: Client) -> None:
        super().__init__(client)

    def submit(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        response_model: Any,
        validation_context: Any = None,
        context: Any = None,
        strict: bool | None = None,
        **shared: Any,
    ) -> BatchJob:
        """Send every request as one batch job. Each request holds the kwargs of one `create`
        plus its `custom_id` (required: its result comes back under it); `shared` kwargs go
        to every one."""
        context = pick_context(validation_context, context)  # before anything is sent
        backend, items = self._prepared(requests, response_model, shared, strict)
        with provider_errors(adapter=backend.adapter):
            status = backend.submit(items)
        return self._job(
            backend, status, response_model, context, strict, [item.custom_id for item in items]
        )


class AsyncBatches(_Batches[AsyncBatchJob]):
    """`client.batch` on an async client: the same methods, awaited."""

    _job_type = AsyncBatchJob

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)

    async def submit(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        response_model: Any,
        validation_context: Any = None,
        context: Any = None,
        strict: bool | None = None,
        **shared: Any,
    ) -> AsyncBatchJob:
        """Send every request as one batch job (see `Batches.submit`)."""
        context = pick_context(validation_context, context)  # before anything is sent
        backend, items = self._prepared(requests, response_model, shared, strict)
        with provider_errors(adapter=backend.adapter):
            status = await backend.asubmit(items)
        return self._job(
            backend, status, response_model, context, strict, [item.custom_id for item in items]
        )


def resume(
    client: Client | AsyncClient,
    job_id: str,
    *,
    response_model: Any = None,
    validation_context: Any = None,
    context: Any = None,
    strict: bool | None = None,
    custom_ids: Sequence[str] | None = None,
) -> BatchJob | AsyncBatchJob:
    """Reattach to a batch job by its id after a restart. Reading its results needs the same
    `response_model` it was submitted with (the provider does not keep it); its status,
    `wait()` and `cancel()` do not. `custom_ids` (the submitted job's `custom_ids`) names
    every request its output leaves out. Nothing is sent until you ask."""
    batches = getattr(client, "batch", None)
    if not isinstance(batches, _Batches):  # (e.g. the SDK's client, not polycall's)
        raise ConfigurationError(
            f"resume() takes the polycall client the job was submitted with, got "
            f"{type(client).__module__}.{type(client).__qualname__}"
        )
    job: BatchJob | AsyncBatchJob = batches.resume(
        job_id, response_model=response_model, validation_context=validation_context,
        context=context, strict=strict, custom_ids=custom_ids,
    )
    return job


def _ids(custom_ids: Any) -> list[str] | None:
    """`resume(custom_ids=...)`: None, or the submitted ids, each a non-empty string, once."""
    if custom_ids is None:
        return None
    if isinstance(custom_ids, (str, bytes)) or not isinstance(custom_ids, Sequence):
        raise ConfigurationError(
            f"resume() takes custom_ids= as a list of the ids submitted (job.custom_ids), "
            f"got {type(custom_ids).__name__}"
        )
    ids = list(custom_ids)
    wrong = [i for i in ids if not isinstance(i, str) or not i]
    if wrong:
        raise ConfigurationError(
            f"resume() takes custom_ids= as the ids submitted, each a non-empty string; got {wrong[0]!r}"
        )
    if len(set(ids)) != len(ids):
        raise ConfigurationError("resume() got custom_ids= with an id given twice")
    return ids


def _unknown(job_id: str) -> BatchStatus:
    if not isinstance(job_id, str) or not job_id:
        raise ConfigurationError(f"resume() takes the job id submit() gave (job.id), got {job_id!r}")
    return BatchStatus(id=job_id, state="unknown", provider_state="unknown")


def _seconds(value: Any) -> bool:
    """Whether `value` is a number of seconds `wait()` takes: 0 or more, finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf
