"""The version matrix's skip rule: a test module that needs an SDK its cell lacks is
skipped with the reason; any other import error still fails."""

from __future__ import annotations

import pytest

import conftest


def test_a_missing_sdk_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(conftest.OPTIONAL, "polycall_absent_sdk", "absent")
    monkeypatch.setitem(conftest.OPTIONAL, "polycall_absent.genai", "absent")
    missing = ModuleNotFoundError("No module named 'polycall_absent_sdk'", name="polycall_absent_sdk")
    assert conftest.missing_package(missing) == "polycall_absent_sdk"
    inner = ModuleNotFoundError("No module named 'polycall_absent_sdk.x'", name="polycall_absent_sdk.x")
    assert conftest.missing_package(inner) == "polycall_absent_sdk"
    parent = ModuleNotFoundError("No module named 'polycall_absent'", name="polycall_absent")
    assert conftest.missing_package(parent) == "polycall_absent.genai"


def test_an_installed_or_unknown_module_is_not_skipped() -> None:
    installed = ImportError("cannot import name 'nope' from 'pytest'", name="pytest")
    assert conftest.missing_package(installed) is None
    unknown = ModuleNotFoundError("No module named 'typo_module'", name="typo_module")
    assert conftest.missing_package(unknown) is None
    if conftest.installed("openai"):  # a broken import inside an installed SDK still fails
        broken = ModuleNotFoundError("No module named 'openai.nope'", name="openai.nope")
        assert conftest.missing_package(broken) is None
