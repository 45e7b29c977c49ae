"""The provider matrix the cross-cutting suites run over, built from the registry: for every
mode of every descriptor, how to make a polycall client over the real SDK against the fake
provider (sync, and async where the SDK has it), and its wire's whole and streamed response
builders (from the descriptor's wire module). A provider's descriptor and wire, and its
client maker below, cover it in every suite that uses `MATRIX`; `test_layout.py` fails when
a mode of the registry has no entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

import polycall
from polycall import Mode
from polycall.providers.registry import PROVIDERS, load
from polycall.testing import FakeProvider, Response

#: A client maker: `(fake, *, key, is_async, **factory options)` -> a polycall client.
Maker = Callable[..., Any]


def _openai(mode: Mode) -> Maker:
    def make(
        fake: FakeProvider, *, key: str = "test", is_async: bool = False, **options: Any
    ) -> Any:
        openai = pytest.importorskip("openai")
        sdk = (openai.AsyncOpenAI if is_async else openai.OpenAI)(
            base_url=fake.url + "/v1", api_key=key, max_retries=0
        )
        return polycall.from_openai(sdk, mode, model="gpt-4o-mini", **options)

    return make


def _anthropic(
    fake: FakeProvider, *, key: str = "test", is_async: bool = False, **options: Any
) -> Any:
    anthropic = pytest.importorskip("anthropic")
    sdk = (anthropic.AsyncAnthropic if is_async else anthropic.Anthropic)(
        base_url=fake.url, api_key=key, max_retries=0
    )
    return polycall.from_anthropic(sdk, model="claude-sonnet-4-6", **options)


def _genai(fake: FakeProvider, *, key: str = "test", is_async: bool = False, **options: Any) -> Any:
    pytest.importorskip("google.genai")
    from polycall.testing.gemini import genai_client

    client = genai_client(fake, api_key=key)
    return polycall.from_genai(client, model="gemini-2.5-flash", use_async=is_async, **options)


def _vertexai(
    fake: FakeProvider, *, key: str = "test", is_async: bool = False, **options: Any
) -> Any:
    """Vertex AI reads its endpoint and credentials from `vertexai.init`: the caller sets it
    up against `fake` first (helpers.vertexai_at)."""
    generative_models = pytest.importorskip("vertexai.generative_models")
    model = generative_models.GenerativeModel("gemini-2.5-flash")
    return polycall.from_vertexai(model, **options)


def _bedrock(
    fake: FakeProvider, *, key: str = "test", is_async: bool = False, **options: Any
) -> Any:
    pytest.importorskip("boto3")
    from polycall.testing.bedrock import bedrock_client

    sdk = bedrock_client(fake, aws_secret_access_key=key, aws_session_token=key)  # both sent
    model = "anthropic.claude-sonnet-4-6-v1:0"
    if is_async:  # boto3 on worker threads (aiobotocore needs `async with`: test_bedrock.py)
        return polycall.from_bedrock(sdk, model=model, use_async=True, **options)
    return polycall.from_bedrock(sdk, model=model, **options)


#: Each mode's test name, client maker, whether it has an async client, and whether the
#: caller must set its SDK up against the fake first.
CLIENTS: dict[Mode, tuple[str, Maker, bool, bool]] = {
    Mode.PARALLEL_TOOLS: ("openai", _openai(Mode.PARALLEL_TOOLS), True, False),
    Mode.RESPONSES_PARALLEL_TOOLS: (
        "responses",
        _openai(Mode.RESPONSES_PARALLEL_TOOLS),
        True,
        False,
    ),
    Mode.ANTHROPIC_PARALLEL_TOOLS: ("anthropic", _anthropic, True, False),
    Mode.GENAI_PARALLEL_TOOLS: ("genai", _genai, True, False),
    Mode.VERTEXAI_PARALLEL_TOOLS: ("vertexai", _vertexai, False, True),
    Mode.BEDROCK_PARALLEL_TOOLS: ("bedrock", _bedrock, True, False),
}

#: Each wire module's whole and streamed response builders, and the streamed builder's
#: options (a stream whose arguments arrive in pieces, so a call grows while it streams).
BUILDERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "openai": ("chat_completion", "chat_stream", {}),
    "openai_responses": ("response_body", "response_stream", {}),
    "anthropic": ("message", "message_stream", {}),
    "gemini": ("generate_content", "gemini_stream", {"streamed_args": True}),
    "bedrock": ("converse", "converse_stream", {}),
}
#: A mode whose wire module reads streams another way: its streamed builder.
STREAMED = {Mode.VERTEXAI_PARALLEL_TOOLS: "vertex_stream"}


@dataclass(frozen=True)
class Cell:
    """One mode of one provider, as the cross-cutting suites drive it."""

    mode: Mode
    client: Maker  # (fake, *, key, is_async, **factory options) -> a polycall client
    wire: str  # the module under polycall.testing
    has_async: bool
    needs_setup: bool  # the caller sets the SDK up against the fake first

    def _builder(self, name: str) -> Callable[..., Response]:
        builder: Callable[..., Response] = load(f"polycall.testing.{self.wire}:{name}")
        return builder

    def whole(self, calls: Any = (), **options: Any) -> Response:
        """A whole response holding `calls`."""
        return self._builder(BUILDERS[self.wire][0])(calls, **options)

    def streamed(self, calls: Any = (), **options: Any) -> Response:
        """A streamed response holding `calls`."""
        _, streamed, defaults = BUILDERS[self.wire]
        name = STREAMED.get(self.mode, streamed)
        return partial(self._builder(name), **defaults)(calls, **options)


def _matrix() -> dict[str, Cell]:
    matrix = {}
    for provider in PROVIDERS:
        for mode in (mode for mode in provider.modes if mode in CLIENTS):  # the rest: test_layout
            name, client, has_async, needs_setup = CLIENTS[mode]
            matrix[name] = Cell(mode, client, provider.wires[mode], has_async, needs_setup)
    return matrix


#: Every mode of the registry, by test name.
MATRIX = _matrix()
