"""Every recorded provider response is replayed by some test: a new recording cannot go untested."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent


def recordings(folder: Path) -> list[str]:
    """The recorded responses in `folder` (its README describes them; it is not one)."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and p.name != "README.md" and not p.name.startswith(".")
    )


def unreferenced(names: list[str], tests: Path) -> list[str]:
    """The names that no test module under `tests` mentions (this module aside)."""
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for p in tests.rglob("*.py")
        if p.resolve() != Path(__file__).resolve()
    )
    return [name for name in names if name not in sources]


def test_every_recording_is_replayed_by_a_test(recorded: Path) -> None:
    names = recordings(recorded)
    assert names, f"no recorded responses in {recorded}"
    missing = unreferenced(names, TESTS)
    assert not missing, (
        f"recorded responses no test replays (name them in a test module): {', '.join(missing)}"
    )


def test_an_unreferenced_recording_is_reported(tmp_path: Path) -> None:
    folder, tests = tmp_path / "recorded", tmp_path / "tests"
    folder.mkdir()
    tests.mkdir()
    (folder / "README.md").write_text("about the recordings")
    (folder / "openai_chat_json_never_replayed.json").write_text("{}")
    (tests / "test_one.py").write_text("")  # a test module that names no recording
    names = recordings(folder)
    assert names == ["openai_chat_json_never_replayed.json"]
    assert unreferenced(names, tests) == names
    (tests / "test_one.py").write_text('REPLAY = "openai_chat_json_never_replayed.json"\n')
    assert unreferenced(names, tests) == []
