"""Every adapter closes its SDK stream on exit, whatever the SDK version gives it to close."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from polycall.providers.base import aclosing_stream, closing_stream, shut


class Counted:
    """Counts the times it is closed."""

    def __init__(self) -> None:
        self.closed = 0

    def _count(self) -> None:
        self.closed += 1


class Closable(Counted):
    """A stream with `close()` (openai/anthropic `Stream`, a generator)."""

    def close(self) -> None:
        self._count()


class AsyncClosable(Counted):
    """An async stream whose `close()` is a coroutine (openai/anthropic `AsyncStream`)."""

    async def close(self) -> None:
        self._count()


class AsyncResponse(Counted):
    """An async HTTP response: `aclose()`."""

    async def aclose(self) -> None:
        self._count()


class OnlyResponse:
    """An older SDK stream: no `close()`, only the HTTP `response` to close (a `Closable`, or
    an `AsyncResponse` for an async stream)."""

    def __init__(self, response: Counted) -> None:
        self.response = response


def test_close_is_called_on_exit() -> None:
    stream = Closable()
    with closing_stream(lambda: stream) as opened:
        assert opened is stream and stream.closed == 0
    assert stream.closed == 1


def test_close_is_called_when_the_body_raises() -> None:
    stream = Closable()
    with pytest.raises(KeyError), closing_stream(lambda: stream):
        raise KeyError("boom")
    assert stream.closed == 1


def test_older_sync_streams_close_their_response() -> None:
    stream = OnlyResponse(Closable())
    with closing_stream(lambda: stream):
        pass
    assert stream.response.closed == 1


def test_nothing_is_opened_before_the_with_block() -> None:
    opened: list[Closable] = []

    def open_stream() -> Closable:
        opened.append(Closable())
        return opened[-1]

    manager = closing_stream(open_stream)
    assert opened == []
    with manager:
        assert len(opened) == 1
    assert opened[0].closed == 1


async def _open(stream: Any) -> Any:
    return stream


async def test_async_close_is_awaited() -> None:
    stream = AsyncClosable()
    async with aclosing_stream(lambda: _open(stream)) as opened:
        assert opened is stream and stream.closed == 0
    assert stream.closed == 1


async def test_sync_close_works_in_the_async_manager_too() -> None:
    stream = Closable()
    async with aclosing_stream(lambda: _open(stream)):
        pass
    assert stream.closed == 1


async def test_async_generators_are_aclosed() -> None:
    finished: list[bool] = []

    async def chunks() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            finished.append(True)

    async with aclosing_stream(lambda: _open(chunks())) as stream:
        assert await stream.__anext__() == 1
        assert finished == []
    assert finished == [True]


async def test_older_async_streams_aclose_their_response_even_when_the_body_raises() -> None:
    stream = OnlyResponse(AsyncResponse())
    with pytest.raises(KeyError):
        async with aclosing_stream(lambda: _open(stream)):
            raise KeyError("boom")
    assert stream.response.closed == 1


def test_shut_frees_a_blocked_read_but_leaves_closed_and_shared_connections_alone() -> None:
    """`shut()` (how a tool loop frees its reader thread on an early exit) shuts an open
    HTTP/1.1 stream's socket down, and leaves a response the SDK already closed (its
    connection may be back in the pool) and an HTTP/2 connection (shared) as they are."""
    ours, peer = socket.socketpair()
    with ours, peer:

        def stream(closed: bool, version: str) -> Any:
            network = SimpleNamespace(get_extra_info=lambda name: ours if name == "socket" else None)
            response = SimpleNamespace(
                is_closed=closed, http_version=version, extensions={"network_stream": network}
            )
            return SimpleNamespace(response=response)

        assert shut(stream(True, "HTTP/1.1")) is True  # nothing is blocked on it
        assert shut(stream(False, "HTTP/2")) is False  # the reader closes it itself
        ours.sendall(b"x")
        assert peer.recv(1) == b"x"  # still open
        assert shut(stream(False, "HTTP/1.1")) is True
        assert peer.recv(1) == b""  # shut down: the other end reads the end of the stream
