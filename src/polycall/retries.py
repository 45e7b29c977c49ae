"""Attempts for `max_retries`: a count, or a tenacity `Retrying` / `AsyncRetrying` object."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from .errors import (
    ConfigurationError,
    MalformedOutputError,
    PolycallError,
    UserCodeError,
    ValidationFailed,
)

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


#: An attempt holds no state of a request: every attempt but the last is this one.
_RETRIED = _Attempt(last=False)
_LAST = (_Attempt(last=True),)
#: The attempts of the usual counts, kept.
_USUAL = tuple((_RETRIED,) * count + _LAST for count in range(8))


def counted_attempts(max_retries: MaxRetries) -> Iterator[AbstractContextManager[Any]] | None:
    """The attempts of a count (any count costs nothing up front: a large one's are made as
    they are reached); None for a tenacity object, which its driver iterates."""
    if isinstance(max_retries, int) and not isinstance(max_retries, bool):
        if 0 <= max_retries < len(_USUAL):
            return iter(_USUAL[max_retries])
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {max_retries}")
        return itertools.chain(itertools.repeat(_RETRIED, max_retries), _LAST)
    return None


def attempts(max_retries: MaxRetries) -> Iterable[AbstractContextManager[Any]]:
    """A tenacity `Retrying`'s attempts (context managers); the last one's error propagates."""
    _check_tenacity(max_retries, "Retrying")
    return _tenacity_attempts(max_retries.copy())  # its state is this request's alone


def _tenacity_attempts(retrying: Any) -> Iterator[AbstractContextManager[Any]]:
    from tenacity import RetryError

    try:
        yield from retrying
    except RetryError as exc:
        raise _last_error(exc) from None
    except PolycallError:  # the last attempt's error (`reraise=True`)
        raise
    except Exception as exc:
        raise _callback_error(exc) from exc


async def aattempts(max_retries: MaxRetries) -> AsyncIterator[AbstractContextManager[Any]]:
    """Async `attempts`, for a tenacity `AsyncRetrying`."""
    _check_tenacity(max_retries, "AsyncRetrying")
    from tenacity import RetryError

    try:  # a copy: `AsyncRetrying` keeps its state on itself, shared by concurrent requests
        async for attempt in max_retries.copy():
            yield attempt
    except RetryError as exc:
        raise _last_error(exc) from None
    except PolycallError:  # the last attempt's error (`reraise=True`)
        raise
    except Exception as exc:
        raise _callback_error(exc) from exc


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


def _callback_error(exc: Exception) -> UserCodeError:
    """What one of the tenacity object's callbacks (`before`, `after`, `before_sleep`, `stop`,
    `wait`, `retry`, `retry_error_callback`) raised: a bug in the user's code."""
    return UserCodeError(exc, where="a callback of the tenacity object given as max_retries")


def _last_error(exc: Any) -> BaseException:
    error: BaseException | None = exc.last_attempt.exception()
    return error if error is not None else exc

