"""The version matrix: every SDK extra alone at its newest release, the tested floors, `[all]`.

`python noxfile.py` runs every cell (as `nox` does) and closes with the totals over all cells;
`nox -l` lists the cells, `nox -s floors` runs one, `nox -s floors -- -x tests/test_core.py`
passes arguments to its pytest. Cells install with uv when it is there, else virtualenv + pip.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from xml.etree import ElementTree

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True

#: One cell per extra: that extra alone, with the test tools, resolves its SDK's newest
#: release (`google` alone gets google-genai 3.x, which `vertexai` caps below 3 in `[all]`).
#: A new extra is one more name here.
EXTRAS = ["openai", "anthropic", "google", "vertexai", "bedrock"]

CONSTRAINTS = Path("tests/constraints")
REPORTS = Path(".nox/reports")


def _pytest(session: nox.Session) -> None:
    """The suite, its results kept for the totals. pytest exits 5 when it ran no test: nox
    takes that, like any non-zero exit, as the cell failing (each cell runs the core tests,
    which need no SDK, so a cell that runs nothing is broken)."""
    report = REPORTS / f"{_file_name(session.name)}.xml"
    session.run("pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *session.posargs)


@nox.session
@nox.parametrize("extra", EXTRAS, ids=EXTRAS)
def newest(session: nox.Session, extra: str) -> None:
    """One extra alone at its newest release, with the test tools (no other SDK)."""
    session.install("-e", f".[{extra},test-base]")
    _pytest(session)


@nox.session
def floors(session: nox.Session) -> None:
    """Every SDK at its tested floor (tests/constraints/floors.txt), the whole suite."""
    session.install("-e", ".[test]", "-c", str(CONSTRAINTS / "floors.txt"))
    _pytest(session)


@nox.session
def floors_core(session: nox.Session) -> None:
    """polycall's own floors (pydantic 2.7, jiter 0.5, httpx 0.27) with the SDKs that allow them."""
    session.install("-e", ".[openai,anthropic,test-base]", "-c", str(CONSTRAINTS / "floors-core.txt"))
    _pytest(session)


@nox.session(name="all")
def all_extras(session: nox.Session) -> None:
    """`[all]` with the docs tools: the whole suite on one resolved set (`pip install -e .[test]`)."""
    session.install("-e", ".[test]")
    _pytest(session)


def _file_name(session_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in session_name).strip("_")


def totals() -> tuple[int, int, int]:
    """(passed, failed, skipped) over the cells' reports; errors count as failed."""
    passed = failed = skipped = 0
    for path in sorted(REPORTS.glob("*.xml")):
        for suite in ElementTree.parse(path).getroot().iter("testsuite"):
            tests, skips = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
            fails = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            print(f"{path.stem}: {tests - fails - skips} passed, {fails} failed, {skips} skipped")
            passed, failed, skipped = passed + tests - fails - skips, failed + fails, skipped + skips
    return passed, failed, skipped


if __name__ == "__main__":
    shutil.rmtree(REPORTS, ignore_errors=True)
    try:
        nox.main()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    passed, failed, skipped = totals()
    print(f"matrix: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    sys.exit(code or (1 if failed or not passed else 0))
