"""Scenarios for the Batch page: the fake Batch APIs of OpenAI, Anthropic and Gemini.

Each answers by `custom_id`: "toronto" and "dallas" get valid calls, "paris" asks for kelvin
(not a valid `units`), anything else is an error the provider reports for that request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from polycall.testing import FakeProvider, Response
from polycall.testing.anthropic import message
from polycall.testing.batch import BatchItem, FakeBatches, ItemError, Outcome
from polycall.testing.gemini import generate_content
from polycall.testing.openai import chat_completion

CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "toronto": [("Weather", {"location": "Toronto", "units": "metric"})],
    "dallas": [
        ("Weather", {"location": "Dallas", "units": "imperial"}),
        ("GoogleSearch", {"query": "who won the super bowl"}),
    ],
    "paris": [("Weather", {"location": "Paris", "units": "kelvin"})],
}

Build = Callable[[Sequence[tuple[str, Any]]], Response]


def _answer(build: Build) -> Callable[[BatchItem], Outcome]:
    def answer(item: BatchItem) -> Outcome:
        calls = CALLS.get(item.custom_id)
        return build(calls) if calls else ItemError("The prompt is too long.")

    return answer


def _batches(fake: FakeProvider, build: Build, **options: Any) -> None:
    fake.respond_with(FakeBatches(_answer(build), polls=0, **options))


def batch_openai(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenAI Batch: every job has ended by the first look."""
    _batches(fake, chat_completion)


def batch_openai_slow(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenAI Batch: a job that stays in validation for a long time."""
    fake.respond_with(FakeBatches(_answer(chat_completion), polls=1000))


def batch_anthropic(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anthropic Message Batches: every job has ended by the first look."""
    _batches(fake, message)


def batch_gemini(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gemini batch mode: every job has ended by the first look."""
    _batches(fake, generate_content)
