"""Shared fixtures: the fake provider, the recorded responses, the seed's models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from polycall.testing import FakeProvider

RECORDED = Path(os.environ.get("POLYCALL_RECORDED", Path(__file__).resolve().parents[2] / "shared" / "recorded"))


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """A started fake provider, stopped after the test."""
    with FakeProvider() as server:
        yield server


@pytest.fixture
def recorded() -> Path:
    """The folder of recorded provider responses; the test is skipped when it is absent."""
    if not RECORDED.is_dir():
        pytest.skip(f"recorded responses not found at {RECORDED}")
    return RECORDED
