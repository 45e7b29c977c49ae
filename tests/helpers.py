"""Helpers the test modules share: polycall clients over the real SDKs talking to the fake
provider, reading streams held at a gate, reading Gemini contents, Vertex AI set up against
the fake."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import re
import sys
from collections.abc import AsyncIterable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import polycall
from polycall.testing import FakeProvider, Gate
from polycall.testing.gemini import generate_content, init_vertexai


def installed(package: str) -> bool:
    """Whether `package` (e.g. "google.genai") can be imported."""
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # its parent package is missing
        return False


def endpoint(path: str) -> str:
    """A request path without its API version segment (`/v1beta/models/m:x` -> `/models/m:x`):
    which version an SDK release calls is the SDK's business, not polycall's."""
    return re.sub(r"^/v\d+(?:(?:alpha|beta)\d*)?(?=/)", "", path)


def openai_client(fake: FakeProvider, *, is_async: bool = False, **options: Any) -> Any:
    """`from_openai(sdk, **options)`, the SDK client talking to `fake` and never retrying itself."""
    openai = pytest.importorskip("openai")
    sdk = openai.AsyncOpenAI if is_async else openai.OpenAI
    return polycall.from_openai(
        sdk(base_url=fake.url + "/v1", api_key="test", max_retries=0), **options
    )


def seed_request(**extra: Any) -> dict[str, Any]:
    """The seed's request to OpenAI (model, messages, response_model), with `extra` kwargs."""
    from models import SEED_MESSAGES, SEED_MODEL

    return {"model": "gpt-4o-mini", "messages": SEED_MESSAGES, "response_model": SEED_MODEL, **extra}


def anthropic_client(fake: FakeProvider, *, is_async: bool = False, **options: Any) -> Any:
    """`from_anthropic(sdk, **options)` with an anthropic SDK client for `fake`."""
    anthropic = pytest.importorskip("anthropic")
    sdk = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return polycall.from_anthropic(sdk(base_url=fake.url, api_key="test"), **options)


def http_client(sdk: Any, *, is_async: bool, **limits: Any) -> Any:
    """The SDK's own default HTTP client class (over httpx or its successor, whichever this
    SDK version uses), with these connection pool `limits`."""
    client = sdk.DefaultAsyncHttpxClient if is_async else sdk.DefaultHttpxClient
    library = importlib.import_module(client.__mro__[1].__module__.split(".")[0])
    return client(limits=library.Limits(**limits))


def gated_values(stream: Iterable[Any], gate: Gate) -> list[Any]:
    """Every value of `stream`; the first must come before the server has gone past `gate`
    (it may come before the server even reaches it), which is let through only then."""
    seen: list[Any] = []
    for value in stream:
        if not seen:
            assert not gate.timed_out
            gate.open()
        seen.append(value)
    return seen


def gated_each(stream: Iterable[Any], gates: dict[int, Gate]) -> list[Any]:
    """Every value of `stream`; the value at each index of `gates` must come before the server
    has gone past that gate, which is let through only then."""
    seen: list[Any] = []
    for value in stream:
        seen.append(value)
        if len(seen) - 1 in gates:
            assert not gates[len(seen) - 1].timed_out
            gates[len(seen) - 1].open()
    return seen


async def agated_values(stream: AsyncIterable[Any], gate: Gate) -> list[Any]:
    """Async `gated_values`."""
    seen: list[Any] = []
    async for value in stream:
        if not seen:
            assert not gate.timed_out
            await asyncio.to_thread(gate.open)
        seen.append(value)
    return seen


def first_texts(request: Any) -> list[tuple[str, str]]:
    """The role and first part's text of each content a Gemini request sent."""
    return [(c["role"], c["parts"][0]["text"]) for c in request.json["contents"]]


def sent_texts(fake: FakeProvider, client: Any, messages: Any) -> list[tuple[str, str]]:
    """`first_texts` of the request a Gemini `client` sends for `messages` (the fake answers
    with the seed's calls)."""
    from models import SEED_CALLS, SEED_MODEL

    fake.push(generate_content(SEED_CALLS))
    client.create(messages=messages, response_model=SEED_MODEL)
    return first_texts(fake.last)


def function_calls(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The `functionCall` parts of a Gemini content, as sent."""
    return [part["functionCall"] for part in content["parts"] if "functionCall" in part]


def function_responses(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The `functionResponse` parts of a Gemini content, as sent."""
    return [part["functionResponse"] for part in content["parts"] if "functionResponse" in part]


def gemini_candidate(parts: list[Any], index: int = 0, finish: str | None = None) -> dict[str, Any]:
    """One Gemini candidate (camelCase, as on the wire)."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
    if finish:
        candidate["finishReason"] = finish
    return candidate


def two_candidates(first: Any, second: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A response of two candidates (`candidate_count=2`), each a whole function call part:
    whole, and as the stream chunks that hold one candidate each (the second finishing first)."""
    usage = {"promptTokenCount": 1, "candidatesTokenCount": 2}
    whole = {"candidates": [gemini_candidate([first], 0, "STOP"), gemini_candidate([second], 1, "STOP")],
             "usageMetadata": usage}
    streamed = [
        {"candidates": [gemini_candidate([first])]},
        {"candidates": [gemini_candidate([second], 1)]},
        {"candidates": [gemini_candidate([{"text": ""}], 1, "STOP")]},
        {"candidates": [gemini_candidate([{"text": ""}], 0, "STOP")], "usageMetadata": usage},
    ]
    return whole, streamed


@contextmanager
def vertexai_at(fake: FakeProvider) -> Iterator[None]:
    """`vertexai` initialised against `fake`; its global settings are restored afterwards."""
    pytest.importorskip("vertexai")
    from google.cloud.aiplatform import initializer

    saved = dict(vars(initializer.global_config))
    init_vertexai(fake)
    try:
        yield
    finally:
        vars(initializer.global_config).clear()
        vars(initializer.global_config).update(saved)


@contextmanager
def async_generators_started() -> Iterator[list[Any]]:
    """The async generators first iterated inside the block, in that order: closed in
    reverse, they are closed innermost first, the worst of the orders in which asyncio may
    close the ones a program left open as it shuts down."""
    hooks = sys.get_asyncgen_hooks()
    started: list[Any] = []

    def first_iteration(generator: Any) -> None:
        started.append(generator)
        if hooks.firstiter is not None:
            hooks.firstiter(generator)

    sys.set_asyncgen_hooks(first_iteration, hooks.finalizer)
    try:
        yield started
    finally:
        sys.set_asyncgen_hooks(*hooks)
