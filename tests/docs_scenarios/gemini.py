"""Scenarios for the Google GenAI and Vertex AI pages: the seed's three calls on Gemini.

`genai.Client()` built with default arguments reads GOOGLE_GEMINI_BASE_URL and
GOOGLE_API_KEY, which these scenarios point at the fake. The Vertex AI SDK reads its
settings from `vertexai.init(...)`, so the Vertex scenarios initialise it against the fake
first (a later bare `vertexai.init()` keeps those settings) and restore it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from docs_scenarios.common import ANSWER
from models import SEED_CALLS
from polycall.testing import FakeProvider, Response
from polycall.testing.gemini import gemini_stream, generate_content, init_vertexai, vertex_stream

Env = Callable[[FakeProvider, pytest.MonkeyPatch], None]
Scenario = Env  # a scenario has the same signature: it scripts the fake as well
DALLAS_IN_KELVIN = ("Weather", {"location": "Dallas", "units": "kelvin"})


def genai_env(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`genai.Client()` with default arguments reaches the fake's Gemini API."""
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
    monkeypatch.setenv("GOOGLE_API_KEY", "test")
    for variable in ("GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(variable, raising=False)


def vertexai_env(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vertexai.init()` settings point at the fake, and are put back after the example."""
    from google.cloud.aiplatform import initializer

    config = initializer.global_config
    for name, value in list(vars(config).items()):
        monkeypatch.setattr(config, name, value)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    init_vertexai(fake)


def genai_one_bad_call_then_fixed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dallas in kelvin first; the retry brings Dallas in imperial units."""
    genai_env(fake, monkeypatch)
    fake.push(
        generate_content([SEED_CALLS[0], DALLAS_IN_KELVIN, SEED_CALLS[2]], usage=(52, 31)),
        generate_content([SEED_CALLS[1]], usage=(120, 12)),
    )


def _seed_scenarios(env: Env, stream: Callable[..., Response]) -> tuple[Scenario, Scenario, Scenario]:
    """The seed's scenarios on one Gemini SDK: `env` points it at the fake, `stream` is its
    streamed wire (the API's SSE or Vertex AI's JSON array)."""

    def seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
        """The seed's answer: Weather, Weather, GoogleSearch."""
        env(fake, monkeypatch)
        fake.push(generate_content(SEED_CALLS, usage=(52, 31)))

    def seed_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
        """The seed's three calls streamed, one chunk each."""
        env(fake, monkeypatch)
        fake.push(stream(SEED_CALLS, usage=(52, 31)))

    def seed_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
        """The seed's three calls, then a text answer once the tool results are sent back."""
        env(fake, monkeypatch)
        fake.push(generate_content(SEED_CALLS), generate_content(text=ANSWER))

    return seed, seed_stream, seed_then_answer


genai_seed, genai_seed_stream, genai_seed_then_answer = _seed_scenarios(genai_env, gemini_stream)
vertexai_seed, vertexai_seed_stream, vertexai_seed_then_answer = _seed_scenarios(
    vertexai_env, vertex_stream
)
