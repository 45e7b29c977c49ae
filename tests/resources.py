"""A pytest plugin: a test that leaves anything open fails, and is the one blamed.

An unclosed socket, transport or HTTP connection is reported only when it is garbage
collected: a `ResourceWarning` from its `__del__`, which pytest turns into a
`PytestUnraisableExceptionWarning`, an error by `filterwarnings` in pyproject.toml. So that
it is reported at the test that left it open, not at whichever test the collector happens to
run in, a full collection runs as each test ends; what survives it is frozen (`gc.freeze`),
so that each later collection looks only at what the next test made.

aiohttp also reports an unclosed session or connector only when it is garbage collected, through
the event loop's exception handler (logged by `asyncio`), not as a warning; so each session
a test opens is tracked and must be closed when the test ends, and any such report logged
during a test, or by the end of the run, fails it too. (`ResourceWarning`s are errors by
`filterwarnings` in pyproject.toml.)
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from typing import Any

import pytest

_MESSAGES = ("Unclosed client session", "Unclosed connector")


class _Reports(logging.Handler):
    """The aiohttp reports logged by `asyncio` since the last `take()`."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(_MESSAGES):
            self.seen.append(message.splitlines()[0])

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


_reports = _Reports()
_opened: list[Any] = []  # the aiohttp sessions opened by the running test


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()  # the SDKs and test modules imported: never garbage, never looked at again


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").addHandler(_reports)
    try:
        import aiohttp
    except ImportError:
        return
    init = aiohttp.ClientSession.__init__

    def tracked(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        _opened.append(self)

    aiohttp.ClientSession.__init__ = tracked  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _nothing_left_open() -> Iterator[None]:
    # What the test before left to its fixtures is garbage only now, after its teardown: it
    # is collected (and reported) here, before what survives is frozen out of later
    # collections' way.
    gc.collect()
    gc.freeze()
    _reports.take()
    yield
    gc.collect()  # what the test itself left open is reported now, at this test's teardown
    left = [session for session in _opened if not session.closed]
    _opened.clear()
    reports = _reports.take()
    if left or reports:
        pytest.fail(
            f"the test left {len(left)} aiohttp session(s) open (close the SDK client: "
            f"`await client.aio.aclose()` for google-genai); reports: {reports}",
            pytrace=False,
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    gc.unfreeze()
    gc.collect()
    reports = _reports.take()
    if reports:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\naiohttp sessions were left open by the run: {reports}")
