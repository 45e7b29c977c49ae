"""Shared fixtures: the fake provider, the recorded responses, the seed's models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from polycall.testing import FakeProvider

pytest_plugins = ["resources"]  # a test that leaves an aiohttp session open fails

RECORDED = Path(os.environ.get("POLYCALL_RECORDED", Path(__file__).resolve().parents[2] / "shared" / "recorded"))


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """A started fake provider, stopped after the test. It closes each connection after its
    response, so an SDK client a test never closes keeps no idle socket; a response left
    unclosed (a stream polycall did not close) still leaves one, and fails the test."""
    with FakeProvider(keep_alive=False) as server:
        yield server


@pytest.fixture
def recorded() -> Path:
    """The folder of recorded provider responses; the test is skipped when it is absent."""
    if not RECORDED.is_dir():
        pytest.skip(f"recorded responses not found at {RECORDED}")
    return RECORDED


# Property tests: a short deterministic run by default (CI), thousands of random examples
# per test with `pytest --slow`.
_UNCHECKED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile(
    "fast", max_examples=50, deadline=None, derandomize=True, database=None,
    suppress_health_check=_UNCHECKED,
)
settings.register_profile(
    "slow", max_examples=2500, deadline=None, suppress_health_check=_UNCHECKED
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run the property tests long: thousands of examples each (hypothesis profile slow)",
    )


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("slow" if config.getoption("--slow") else "fast")

