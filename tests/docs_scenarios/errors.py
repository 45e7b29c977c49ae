"""Scenarios for the Errors page: each way a response can fail, on OpenAI Chat Completions."""

from __future__ import annotations

import pytest

from docs_scenarios.common import openai_env
from models import SEED_CALLS
from polycall.testing import FakeProvider, json_response
from polycall.testing.openai import chat_completion

DALLAS_IN_KELVIN = ("Weather", {"location": "Dallas", "units": "kelvin"})


def openai_text_only(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model answers in prose instead of calling a tool."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion(text="I can't look up live weather, sorry."))


def openai_one_bad_call(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's calls, with Dallas asked for in kelvin (not a valid `units`)."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion([SEED_CALLS[0], DALLAS_IN_KELVIN, SEED_CALLS[2]]))


def openai_unknown_tool(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call to a tool that was never offered."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion([SEED_CALLS[0], ("get_time", {"timezone": "America/Chicago"})]))


def openai_cut_off(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The output hits `max_tokens` in the middle of the calls."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion([("Weather", '{"location": "Toro')], finish_reason="length"))


def openai_refusal(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model refuses."""
    openai_env(fake, monkeypatch)
    fake.push(chat_completion(refusal="I can't help with that request."))


def openai_bad_key(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider rejects the API key (HTTP 401)."""
    openai_env(fake, monkeypatch)
    error = {"message": "Incorrect API key provided", "type": "invalid_request_error",
             "code": "invalid_api_key"}
    fake.push(json_response({"error": error}, status=401))
