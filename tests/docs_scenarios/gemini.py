"""Scenarios for the Google GenAI and Vertex AI pages: the seed's three calls on Gemini.

`genai.Client()` built with default arguments reads GOOGLE_GEMINI_BASE_URL and
GOOGLE_API_KEY, which these scenarios point at the fake. The Vertex AI SDK reads its
settings from `vertexai.init(...)`, so the Vertex scenarios initialise it against the fake
first (a later bare `vertexai.init()` keeps those settings) and restore it afterwards.
"""

from __future__ import annotations

import pytest

from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.gemini import gemini_stream, generate_content, init_vertexai, vertex_stream

ANSWER = "Toronto is at 18°C, Dallas at 75°F, and the Kansas City Chiefs won the Super Bowl."
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


def genai_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's answer on the Gemini API: Weather, Weather, GoogleSearch."""
    genai_env(fake, monkeypatch)
    fake.push(generate_content(SEED_CALLS, usage=(52, 31)))


def genai_seed_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls streamed (SSE), one chunk each."""
    genai_env(fake, monkeypatch)
    fake.push(gemini_stream(SEED_CALLS, usage=(52, 31)))


def genai_seed_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls, then a text answer once the tool results are sent back."""
    genai_env(fake, monkeypatch)
    fake.push(generate_content(SEED_CALLS), generate_content(text=ANSWER))


def genai_one_bad_call_then_fixed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dallas in kelvin first; the retry brings Dallas in imperial units."""
    genai_env(fake, monkeypatch)
    fake.push(
        generate_content([SEED_CALLS[0], DALLAS_IN_KELVIN, SEED_CALLS[2]], usage=(52, 31)),
        generate_content([SEED_CALLS[1]], usage=(120, 12)),
    )


def vertexai_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's answer on Vertex AI."""
    vertexai_env(fake, monkeypatch)
    fake.push(generate_content(SEED_CALLS, usage=(52, 31)))


def vertexai_seed_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls streamed as Vertex AI's JSON array."""
    vertexai_env(fake, monkeypatch)
    fake.push(vertex_stream(SEED_CALLS, usage=(52, 31)))


def vertexai_seed_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls on Vertex AI, then a text answer to the tool results."""
    vertexai_env(fake, monkeypatch)
    fake.push(generate_content(SEED_CALLS), generate_content(text=ANSWER))
