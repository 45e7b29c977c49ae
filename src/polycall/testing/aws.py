"""AWS event-stream framing (`application/vnd.amazon.eventstream`), as botocore decodes it.

One message: a prelude (total length, headers length, the prelude's CRC32), the headers
(here every value a string: type 7), the payload, and the CRC32 of all that came before.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from .server import Gate, Response, json_response

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7  # the header value type of a UTF-8 string


def message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name)) + raw_name
        + struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    )


def event(kind: str, body: Any) -> bytes:
    """An event message: `kind` (e.g. `contentBlockDelta`) with a JSON body."""
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return message(headers, json.dumps(body).encode())


def exception(kind: str, text: str, **fields: Any) -> bytes:
    """An exception message in a stream, e.g. `exception("throttlingException", "Slow down")`."""
    headers = {
        ":exception-type": kind, ":content-type": "application/json", ":message-type": "exception",
    }
    return message(headers, json.dumps({"message": text, **fields}).encode())


def event_stream(messages: Iterable[bytes | Gate]) -> Response:
    """A streamed response of event-stream messages (and `Gate`s), one HTTP chunk each."""
    return Response(chunks=list(messages), content_type=CONTENT_TYPE)


def error(status: int, kind: str, text: str) -> Response:
    """An AWS JSON error: `{"message"}` with the error type in `x-amzn-errortype`, e.g.
    `error(429, "ThrottlingException", "Too many requests")`."""
    return json_response(
        {"message": text}, status=status, headers={"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/"}
    )
