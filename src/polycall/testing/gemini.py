"""Gemini's wire format for the fake provider, and both Google SDKs pointed at it.

The fake serves whatever you push, on any path: the Gemini API
(`/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`) and Vertex AI
(`/v1/projects/*/locations/*/publishers/google/models/*:generateContent` and
`:streamGenerateContent`) alike. Bodies are built here:

- `generate_content(calls)`: a whole `GenerateContentResponse`;
- `gemini_stream(calls)`: a streamed one as SSE, as google-genai asks for it (Gemini API and
  Vertex AI);
- `vertex_stream(calls)`: a streamed one as a JSON array, as the Vertex AI SDK's REST
  transport reads it;
- `streamed_args=True` on either stream: each call's arguments arrive in pieces
  (`partialArgs` + `willContinue`, Vertex AI's `streamFunctionCallArguments`).

Point the SDKs at the fake:

```python
from google import genai
from google.genai.types import HttpOptions

# Gemini API: any API key, the fake as base URL
client = genai.Client(api_key="test", http_options=HttpOptions(base_url=fake.url))

# google-genai on Vertex AI: credentials that already hold a token
from google.oauth2.credentials import Credentials
client = genai.Client(vertexai=True, project="test-project", location="us-central1",
                      credentials=Credentials(token="test"),
                      http_options=HttpOptions(base_url=fake.url))

# Vertex AI SDK: REST transport, the fake as endpoint ("http://..." keeps plain HTTP)
import vertexai
from google.auth.credentials import AnonymousCredentials
vertexai.init(project="test-project", location="us-central1", api_endpoint=fake.url,
              api_transport="rest", credentials=AnonymousCredentials())
```

`genai_client(fake)` and `init_vertexai(fake)` do exactly that. A later bare
`vertexai.init()` keeps these settings. The Vertex AI SDK's async methods over REST also
need `aiohttp` installed (`init_vertexai` then gives them anonymous async credentials too).
Environment variables work for google-genai as well: `GOOGLE_GEMINI_BASE_URL` (or
`GOOGLE_VERTEX_BASE_URL`) and `GOOGLE_API_KEY`.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .server import (
    FakeProvider,
    Gate,
    Response,
    check_script,
    json_response,
    sse_response,
    stream_response,
    text_pieces,
)

Call = tuple[str, Any]  # (tool name, arguments as a dict)


def response_body(
    calls: Sequence[Call] = (),
    *,
    text: str | None = None,
    finish_reason: str | None = "STOP",
    finish_message: str | None = None,
    usage: tuple[int, int] | None = (10, 20),
    ids: Sequence[str | None] | None = None,
    thought_signature: str | None = None,
    block_reason: str | None = None,
    model_version: str = "gemini-2.5-flash",
) -> dict[str, Any]:
    """A `GenerateContentResponse` (camelCase, as on the wire) calling `calls` in order.

    `thought_signature` goes on the first call's part; `block_reason` blocks the prompt
    (no candidates, `promptFeedback.blockReason`)."""
    check_script(calls, ids)
    body: dict[str, Any] = {"modelVersion": model_version, "responseId": "fake-response"}
    if block_reason is not None:
        body["promptFeedback"] = {"blockReason": block_reason}
    else:
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        for i, (name, arguments) in enumerate(calls):
            function_call: dict[str, Any] = {"name": name, "args": arguments}
            if ids and ids[i]:
                function_call["id"] = ids[i]
            part: dict[str, Any] = {"functionCall": function_call}
            if i == 0 and thought_signature:
                part["thoughtSignature"] = thought_signature
            parts.append(part)
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish_reason:
            candidate["finishReason"] = finish_reason
        if finish_message:
            candidate["finishMessage"] = finish_message
        body["candidates"] = [candidate]
    if usage is not None:
        body["usageMetadata"] = _usage(usage)
    return body


def generate_content(calls: Sequence[Call] = (), **options: Any) -> Response:
    """A whole `generateContent` response; see `response_body` for the options."""
    return json_response(response_body(calls, **options))


def stream_chunks(
    calls: Sequence[Call] = (),
    *,
    text: str | Sequence[str | Gate] | None = None,
    finish_reason: str = "STOP",
    finish_message: str | None = None,
    usage: tuple[int, int] | None = (10, 20),
    streamed_args: bool = False,
    piece: int = 8,
    gates: Mapping[int, Gate] | None = None,
    thought_signature: str | None = None,
) -> list[dict[str, Any] | Gate]:
    """The chunks of a streamed response: the text (a chunk per piece of a sequence, a `Gate`
    in it holding the stream), then each call whole in its own chunk
    (or, with `streamed_args`, as a name chunk, `partialArgs` chunks of `piece` characters
    and an empty terminator), then a last chunk with the finish reason and usage.

    `gates[k]` holds the stream right after the chunk that completes call `k`."""
    check_script(calls, None, gates)
    gates = gates or {}
    chunks: list[dict[str, Any] | Gate] = []
    for text_piece in text_pieces(text)[1]:
        chunks.append(text_piece if isinstance(text_piece, Gate) else _chunk([{"text": text_piece}]))
    for i, (name, arguments) in enumerate(calls):
        signature = {"thoughtSignature": thought_signature} if i == 0 and thought_signature else {}
        if streamed_args:
            head = {"name": name, "willContinue": True, "args": _empties(arguments)}
            chunks.append(_chunk([{"functionCall": head, **signature}]))
            for path, value in _leaves(arguments):
                chunks.extend(_chunk([{"functionCall": {"partialArgs": [p], "willContinue": True}}])
                              for p in _pieces(path, value, piece))
            chunks.append(_chunk([{"functionCall": {}}]))
        else:
            chunks.append(_chunk([{"functionCall": {"name": name, "args": arguments}, **signature}]))
        if i in gates:
            chunks.append(gates[i])
    last = _chunk([{"text": ""}])
    candidate = last["candidates"][0]
    candidate["finishReason"] = finish_reason
    if finish_message:
        candidate["finishMessage"] = finish_message
    if usage is not None:
        last["usageMetadata"] = _usage(usage)
    chunks.append(last)
    return chunks


def gemini_stream(calls: Sequence[Call] = (), **options: Any) -> Response:
    """A `streamGenerateContent?alt=sse` response (google-genai, Gemini API or Vertex AI)."""
    return sse_response(stream_chunks(calls, **options))


def vertex_stream(calls: Sequence[Call] = (), **options: Any) -> Response:
    """A `streamGenerateContent` response as the JSON array the Vertex AI SDK reads."""
    return json_array_stream(stream_chunks(calls, **options))


def json_array_stream(chunks: Iterable[Mapping[str, Any] | str | Gate]) -> Response:
    """Chunks (dicts or JSON text) sent as one streamed JSON array, a network chunk each."""
    out: list[str | Gate] = ["["]
    first = True
    for chunk in chunks:
        if isinstance(chunk, Gate):
            out.append(chunk)
            continue
        out.append(("" if first else ",\r\n") + (chunk if isinstance(chunk, str) else json.dumps(chunk)))
        first = False
    out.append("]")
    return stream_response(out)


def replay_jsonl(path: str | Path, *, sse: bool) -> Response:
    """A recorded stream stored one chunk per line, as SSE (google-genai) or as a JSON
    array (the Vertex AI SDK)."""
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if sse:
        return sse_response(f"data: {line}" for line in lines)
    return json_array_stream(lines)


def replay_sse(path: str | Path) -> Response:
    """A recorded SSE stream, byte for byte."""
    return stream_response([Path(path).read_bytes()], content_type="text/event-stream")


def genai_client(fake: FakeProvider | str, *, vertexai: bool = False, **kwargs: Any) -> Any:
    """A `google.genai.Client` talking to the fake (Gemini API, or Vertex AI with `vertexai=True`)."""
    from google import genai
    from google.genai.types import HttpOptions

    options = HttpOptions(base_url=_url(fake))
    if vertexai:
        from google.oauth2.credentials import Credentials

        kwargs = {"project": "test-project", "location": "us-central1",
                  "credentials": Credentials(token="test"), **kwargs}  # type: ignore[no-untyped-call]
        return genai.Client(vertexai=True, http_options=options, **kwargs)
    return genai.Client(api_key=kwargs.pop("api_key", "test"), http_options=options, **kwargs)


def init_vertexai(
    fake: FakeProvider | str, *, project: str = "test-project", location: str = "us-central1"
) -> None:
    """`vertexai.init(...)` so every `GenerativeModel` built afterwards talks to the fake."""
    import vertexai
    from google.auth.credentials import AnonymousCredentials

    vertexai.init(
        project=project,
        location=location,
        api_endpoint=_url(fake),
        api_transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    if importlib.util.find_spec("aiohttp") is None:
        return
    try:  # async REST needs aiohttp and google-auth's async credentials
        from google.auth.aio.credentials import AnonymousCredentials as AsyncAnonymous
        from google.cloud.aiplatform import initializer

        initializer._set_async_rest_credentials(AsyncAnonymous())  # type: ignore[no-untyped-call]
    except (ImportError, AttributeError, ValueError):
        pass


def _url(fake: FakeProvider | str) -> str:
    return fake if isinstance(fake, str) else fake.url


def _chunk(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "modelVersion": "gemini-2.5-flash"}


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1], "totalTokenCount": sum(usage)}


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _leaves(value: Any, path: str = "$") -> Iterable[tuple[str, Any]]:
    """Every (jsonPath, scalar) of a JSON value; empty objects and lists have none."""
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _leaves(sub, f"{path}.{key}" if _NAME.match(key) else f"{path}[{json.dumps(key)}]")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _leaves(sub, f"{path}[{i}]")
    else:
        yield path, value


def _empties(arguments: Any) -> dict[str, Any]:
    """The top-level empty objects and lists, which have no leaves to stream."""
    if not isinstance(arguments, Mapping):
        return {}
    return {k: v for k, v in arguments.items() if isinstance(v, (dict, list)) and not v}


def _pieces(path: str, value: Any, size: int) -> list[dict[str, Any]]:
    if isinstance(value, str):
        cut = [value[i : i + size] for i in range(0, len(value), size)]
        return [*({"jsonPath": path, "stringValue": c, "willContinue": True} for c in cut),
                {"jsonPath": path, "stringValue": ""}]
    if isinstance(value, bool):
        return [{"jsonPath": path, "boolValue": value}]
    if value is None:
        return [{"jsonPath": path, "nullValue": "NULL_VALUE"}]
    return [{"jsonPath": path, "numberValue": value}]
