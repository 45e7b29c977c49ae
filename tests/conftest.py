"""Shared fixtures: the fake provider, the recorded responses, the seed's models; a test
module whose SDK is not installed is skipped, saying which extra installs it."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from helpers import installed, openai_client
from polycall.providers.registry import PROVIDERS
from polycall.testing import FakeProvider, server

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
def client(fake: FakeProvider) -> Any:
    """The seed's client, OpenAI Chat Completions, over the fake (a module testing another
    provider defines its own `client`)."""
    return openai_client(fake)


@pytest.fixture
def aclient(fake: FakeProvider) -> Any:
    """`client` over the async SDK client."""
    return openai_client(fake, is_async=True)


@pytest.fixture
def never() -> Iterator[threading.Event]:
    """An event no handler sees fire while the test runs; set afterwards to free threads."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def short_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream held at a gate goes on after 3 s, so a failing ordering test fails fast."""
    monkeypatch.setattr(server, "GATE_TIMEOUT", 3.0)


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



#: The packages a test module may need that an extra installs, and that extra: each
#: provider's SDK (from its descriptor), and the tools the docs and type checks use. A module
#: that fails to import for want of one of them is skipped, so each extra can be tested alone.
OPTIONAL = {
    **{provider.sdk: provider.extra for provider in PROVIDERS},
    "google.cloud.aiplatform": "vertexai",
    "aiobotocore": "bedrock-async",
    "mkdocs": "docs",
    "mypy": "test",
}


def missing_package(error: ImportError) -> str | None:
    """The optional package whose absence `error` reports, if it is one and is absent."""
    name = error.name or ""
    imported = re.match(r"cannot import name '(\w+)' from '([\w.]+)'", str(error))
    if imported:  # `from google import genai` with another google package installed
        name = f"{imported[2]}.{imported[1]}"
    for package in OPTIONAL:
        related = name == package or name.startswith(package + ".") or package.startswith(name + ".")
        if related and not installed(package):
            return package
    return None


class _OptionalModule(pytest.Module):
    """A test module skipped, with the reason, when it imports an SDK that is not installed."""

    def _getobj(self) -> Any:
        try:
            return super()._getobj()
        except pytest.Collector.CollectError as error:
            cause = error.__cause__
            package = missing_package(cause) if isinstance(cause, ImportError) else None
            if package is None:
                raise
            extra = OPTIONAL[package]
            pytest.skip(f"{package} is not installed (polycall[{extra}])", allow_module_level=True)


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module:
    return _OptionalModule.from_parent(parent, path=module_path)
