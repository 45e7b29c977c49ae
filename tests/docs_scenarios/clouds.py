"""Scenarios for the cloud pages: Claude on Vertex AI and Foundry, Azure OpenAI. Each points
the cloud client's own environment variables at the fake and serves the seed's calls (for Claude,
through the fake's envelope check)."""

from __future__ import annotations

import pytest

from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.anthropic import checked, message, message_stream
from polycall.testing.openai_responses import response_body


def vertex_claude_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`AnthropicVertex(region=..., project_id=...)` reaches the fake."""
    monkeypatch.setenv("ANTHROPIC_VERTEX_BASE_URL", fake.url + "/v1")
    fake.push(checked(message(SEED_CALLS)))


def foundry_claude_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`AnthropicFoundry()` reaches the fake (base URL and key from the environment); the
    seed's two Weather calls, streamed."""
    monkeypatch.delenv("ANTHROPIC_FOUNDRY_RESOURCE", raising=False)
    monkeypatch.setenv("ANTHROPIC_FOUNDRY_BASE_URL", fake.url + "/anthropic/")
    monkeypatch.setenv("ANTHROPIC_FOUNDRY_API_KEY", "test")
    fake.push(checked(message_stream(SEED_CALLS[:2])))


def azure_responses_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """`AzureOpenAI()` reaches the fake (endpoint, key and API version from the environment);
    the seed's three calls as a Responses API body."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    fake.push(response_body(SEED_CALLS))
