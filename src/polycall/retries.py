"""Attempts for `max_retries`: a count, or a tenacity `Retrying` / `AsyncRetrying` object."""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from .errors import ConfigurationError, MalformedOutputError, ValidationFailed

#: The errors a retry may mend; everything else is raised at once.
RETRYABLE = (ValidationFailed, MalformedOutputError)

MaxRetries = Any  # int | tenacity.Retrying | tenacity.AsyncRetrying


class _Attempt(AbstractContextManager["_Attempt"]):
    """Swallows a retryable error unless it is the last attempt."""

    def __init__(self, last: bool) -> None:
        self.last = last

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return not self.last and isinstance(error, RETRYABLE)


def counted_attempts(max_retries: MaxRetries) -> Sequence[AbstractContextManager[Any]] | None:
    """The attempts of a count; None for a tenacity object, which its driver iterates."""
    if isinstance(max_retries, int) and not isinstance(max_retries, bool):
        return _counted(max_retries)
    return None


def attempts(max_retries: MaxRetries) -> Iterable[AbstractContextManager[Any]]:
    """A tenacity `Retrying`'s attempts (context managers); the last one's error propagates."""
    _check_tenacity(max_retries, "Retrying")
    return _tenacity_attempts(max_retries)


def _tenacity_attempts(retrying: Any) -> Iterator[AbstractContextManager[Any]]:
    from tenacity import RetryError

    try:
        yield from retrying
    except RetryError as exc:
        raise _last_error(exc) from None


async def aattempts(max_retries: MaxRetries) -> AsyncIterator[AbstractContextManager[Any]]:
    """Async `attempts`, for a tenacity `AsyncRetrying`."""
    _check_tenacity(max_retries, "AsyncRetrying")
    from tenacity import RetryError

    try:
        async for attempt in max_retries:
            yield attempt
    except RetryError as exc:
        raise _last_error(exc) from None


@functools.lru_cache(maxsize=16)
def _counted(max_retries: int) -> Sequence[_Attempt]:
    """The attempts of a count; kept, as an `_Attempt` holds no state of a request."""
    if max_retries < 0:
        raise ConfigurationError(f"max_retries must be >= 0, got {max_retries}")
    return tuple(_Attempt(last=n == max_retries) for n in range(max_retries + 1))


def _check_tenacity(max_retries: Any, kind: str) -> None:
    """`max_retries` must be tenacity's `Retrying` (sync) or `AsyncRetrying` (async client)."""
    try:
        expected = getattr(importlib.import_module("tenacity"), kind)
    except ImportError:
        expected = None
    if expected is None or not isinstance(max_retries, expected):
        raise ConfigurationError(
            f"max_retries must be an int or a tenacity {kind} object, got {max_retries!r}"
        )


def _last_error(exc: Any) -> BaseException:
    error: BaseException | None = exc.last_attempt.exception()
    return error if error is not None else exc

