"""A local HTTP server that serves scripted provider responses and records every request."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from typing_extensions import Self

#: How long a `Gate` holds a stream before it gives up and goes on (seconds).
GATE_TIMEOUT = 10.0


@dataclass
class Request:
    """One request the fake provider received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


class Gate:
    """A point in a stream where the server waits until the test calls `open()`.

    If nobody opens it within `GATE_TIMEOUT` seconds the stream goes on and `timed_out`
    is set, so a test can assert that its client acted before the stream went on.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.timed_out = False
        self.reached = threading.Event()

    def open(self) -> None:
        self._event.set()

    def wait(self) -> None:
        self.reached.set()  # already set when a chunk came before the gate
        if not self._event.wait(GATE_TIMEOUT):
            self.timed_out = True


def text_pieces(text: str | Sequence[str | Gate] | None) -> tuple[str, list[str | Gate]]:
    """A streamed text as (the whole text, its pieces in order): a string is one piece; a
    sequence is the pieces to send one by one, a `Gate` in it holding the stream there."""
    if text is None or isinstance(text, str):
        return text or "", [text] if text else []
    pieces = list(text)
    return "".join(piece for piece in pieces if isinstance(piece, str)), pieces


@dataclass
class Response:
    """A scripted response: a JSON body, or a stream of byte chunks and `Gate`s."""

    status: int = 200
    body: Any = None  # JSON-able; sent whole
    chunks: list[bytes | Gate] | None = None  # sent with chunked transfer encoding
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Request], Response]


def check_script(calls: Sequence[Any], ids: Sequence[Any] | None, gates: Any = None) -> None:
    """A `ValueError` for ids or gates that do not fit `calls`: a scripted response that
    silently left them out would let the test pass without testing anything."""
    if ids is not None and len(ids) != len(calls):
        raise ValueError(f"{len(ids)} id(s) for {len(calls)} call(s): give one per call")
    stray = [k for k in gates or {} if not (isinstance(k, int) and 0 <= k < len(calls))]
    if stray:
        raise ValueError(
            f"gates at {stray}: gates[k] holds the stream after call k, "
            f"for k in 0..{len(calls) - 1} here"
        )


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A whole JSON body."""
    return Response(status=status, body=body, headers=dict(headers or {}))


def sse_response(events: Iterable[Any]) -> Response:
    """A `text/event-stream`: each item is a dict (sent as `data: <json>`), a ready-made SSE
    event string, a `(event_name, dict)` pair, or a `Gate`."""
    chunks: list[bytes | Gate] = []
    for event in events:
        if isinstance(event, Gate):
            chunks.append(event)
        elif isinstance(event, str):
            chunks.append((event if event.endswith("\n\n") else event + "\n\n").encode())
        elif isinstance(event, tuple):
            name, data = event
            chunks.append(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        else:
            chunks.append(f"data: {json.dumps(event)}\n\n".encode())
    return Response(chunks=chunks, content_type="text/event-stream")


def stream_response(chunks: Iterable[bytes | str | Gate], content_type: str = "application/json") -> Response:
    """Raw chunks (e.g. a streamed JSON array), sent as they are."""
    return Response(
        chunks=[c.encode() if isinstance(c, str) else c for c in chunks], content_type=content_type
    )


class FakeProvider:
    """A local server speaking the providers' wire formats from a script.

    Queue responses with `push()` (served first in, first out, whatever the path) or
    answer with a function of the request via `respond_with()`. Every request is kept in
    `requests`. Use it as a context manager, or `start()` / `stop()`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep_alive: bool = True) -> None:
        self.keep_alive = keep_alive  # False: each connection is closed after its response
        self.requests: list[Request] = []
        self._queue: deque[Response | Responder] = deque()
        self._failed: str | None = None  # why the last response that failed to script did
        self._responder: Responder | None = None
        self._lock = threading.Lock()
        self._server = _QuietServer((host, port), _handler(self))
        self._connections = threading.Condition()
        self._open = 0
        self._server.counted = self._counted
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base address, e.g. `http://127.0.0.1:54321`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *responses: Response | Responder) -> FakeProvider:
        """Queue responses (or functions of the request) to serve in order."""
        for response in responses:
            if not (isinstance(response, Response) or callable(response)):
                raise TypeError(
                    f"push() takes Responses (json_response, sse_response, a wire builder's) or "
                    f"functions of the request, got {type(response).__name__}"
                )
        with self._lock:
            self._queue.extend(responses)
        return self

    def respond_with(self, responder: Responder | None) -> FakeProvider:
        """Answer every request the queue does not, with `responder(request)`."""
        self._responder = responder
        return self

    @property
    def open_connections(self) -> int:
        """How many client connections are open now (idle keep-alive ones included)."""
        with self._connections:
            return self._open

    def wait_connections(self, at_most: int = 0, timeout: float = GATE_TIMEOUT) -> bool:
        """Wait until at most `at_most` client connections are open; False on timeout."""
        with self._connections:
            return self._connections.wait_for(lambda: self._open <= at_most, timeout)

    def _counted(self, change: int) -> None:
        with self._connections:
            self._open += change
            self._connections.notify_all()

    @property
    def last(self) -> Request:
        """The last request received."""
        if not self.requests:
            raise LookupError("the fake provider has received no request yet")
        return self.requests[-1]

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _next(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            scripted = self._queue.popleft() if self._queue else self._responder
        if scripted is None:
            earlier = f" (an earlier one failed: {self._failed})" if self._failed else ""
            return _failure(f"no scripted response for {request.method} {request.path}{earlier}")
        return scripted(request) if callable(scripted) else scripted

    def _answer(self, request: Request) -> tuple[Response, bytes | None]:
        """The response to `request` and its whole body, encoded; a 500 naming the error
        when scripting it failed (a responder that raised, a body JSON cannot hold), so the
        test sees why rather than a dropped connection."""
        try:
            response = self._next(request)
            if not isinstance(response, Response):
                raise TypeError(f"a responder returned {type(response).__name__}, not a Response")
            return response, None if response.chunks is not None else _encode(response.body)
        except Exception as exc:  # noqa: BLE001 - reported to the client, whose test fails
            self._failed = f"scripting the response failed: {exc!r}"
            error = _failure(self._failed)
            return error, _encode(error.body)


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-response (a closed stream) are expected, not worth a traceback.

    Counts open connections (`counted(+1 / -1)`), and queues many at once (hundreds of
    concurrent clients) rather than making them retry."""

    request_queue_size = 1024
    counted: Callable[[int], None]  # set by FakeProvider

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.counted(1)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.counted(-1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


def _handler(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
            response, data = fake._answer(request)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            if not fake.keep_alive:
                self.send_header("Connection", "close")
                self.close_connection = True
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.chunks is None:
                data = data or b""
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                chunks = response.chunks
                for i, chunk in enumerate(chunks):
                    if isinstance(chunk, Gate):
                        chunk.wait()
                        continue
                    following = chunks[i + 1] if i + 1 < len(chunks) else None
                    if isinstance(following, Gate):
                        following.reached.set()  # before the client can see this chunk
                    if chunk:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def _failure(message: str) -> Response:
    """The HTTP 500 the fake answers with when it cannot serve a request as scripted."""
    body = {"error": {"message": f"polycall FakeProvider: {message}", "type": "fake_provider"}}
    return json_response(body, status=500)


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()
