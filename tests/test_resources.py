"""The suite's own guard (tests/resources.py and `filterwarnings`): a test that leaves a
socket for the garbage collector to find fails, and is the one blamed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

LEAKY = '''
import socket


class Cycle:
    """Freed only by the garbage collector, which finds its socket still open."""

    def __init__(self):
        self.me = self
        self.socket = socket.socket()


def test_leaves_a_socket_open():
    Cycle()


def test_after_it():
    pass
'''


@pytest.mark.skipif(sys.version_info < (3, 11), reason="reads pyproject.toml with tomllib")
def test_a_socket_left_open_fails_the_test_that_left_it(pytester: pytest.Pytester) -> None:
    import tomllib

    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n"
        + "".join(f"    {line}\n" for line in options["filterwarnings"])
    )
    pytester.makeconftest(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\npytest_plugins = ['resources']\n"
    )
    pytester.makepyfile(test_leaky=LEAKY)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["ERROR*test_leaves_a_socket_open*"])
