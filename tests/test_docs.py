"""The documentation site: every example on it runs, and the site builds with `--strict`.

Every ```python block in docs/**/*.md runs as its own `__main__` module (a fresh
namespace, as `python example.py` would), with the fake provider started and every SDK's
default address and key pointed at it. Comments on the lines right before a block steer it:

- `<!-- fake: NAME -->` first calls the scenario `NAME(fake, monkeypatch)`, a function
  defined in a module of `tests/docs_scenarios/` (several names: `fake: a, b`);
- `<!-- skip -->` does not run the block (only for code that needs a real account).

Lines `#> text` in a block are its expected output, in order; when a block has any, its
whole printed output must match them (`...` in a line matches any text). Top-level `await`
is allowed. Blocks share nothing: each one imports and defines what it uses.

`test_site_builds_strict` runs `mkdocs build --strict`; it is skipped, saying so, when the
docs toolchain (`pip install -e ".[docs]"`) is not installed.
"""

from __future__ import annotations

import ast
import asyncio
import difflib
import importlib
import inspect
import io
import os
import pkgutil
import re
import subprocess
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import installed
from polycall.providers.registry import PROVIDERS
from polycall.testing import FakeProvider

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TESTS = Path(__file__).resolve().parent
SEED = ROOT.parent / "shared" / "seed" / "parallel_tools.md"

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*(?P<body>.*?)\s*-->\s*$")
_OUTPUT = re.compile(r"^\s*#>(?: (?P<text>.*))?$")
_PYTHON = ("python", "py", "python3")

Scenario = Callable[[FakeProvider, pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Block:
    """One fenced code block of a docs page."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    scenarios: tuple[str, ...] = ()
    skip: bool = False

    @property
    def id(self) -> str:
        try:
            name = self.path.relative_to(ROOT).as_posix()
        except ValueError:
            name = self.path.name
        return f"{name}:{self.line}"


def parse(path: Path) -> list[Block]:
    """Every fenced block of a markdown file, dedented, with its directives."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [_dedent(line, indent) for line in lines[i + 1 : end]]
        scenarios, skip = _directives(lines, i)
        blocks.append(
            Block(path, i + 1, opening["lang"].lower(), "\n".join(body) + "\n", scenarios, skip)
        )
        i = end + 1
    return blocks


def _dedent(line: str, indent: str) -> str:
    return line[len(indent) :] if line.startswith(indent) else line.lstrip()


def _directives(lines: list[str], fence: int) -> tuple[tuple[str, ...], bool]:
    """The `fake:` / `skip` comments right above line `fence` (blank lines between allowed)."""
    scenarios: list[str] = []
    skip = False
    k = fence - 1
    while k >= 0 and (not lines[k].strip() or _DIRECTIVE.match(lines[k])):
        comment = _DIRECTIVE.match(lines[k])
        if comment:
            key, _, value = comment["body"].partition(":")
            if key.strip() == "fake":
                scenarios[:0] = [name.strip() for name in value.split(",") if name.strip()]
            elif key.strip() == "skip":
                skip = True
        k -= 1
    return tuple(scenarios), skip


def python_blocks() -> list[Block]:
    return [
        block
        for page in sorted(DOCS.rglob("*.md"))
        for block in parse(page)
        if block.lang in _PYTHON
    ]


def scenarios() -> dict[str, list[Scenario]]:
    """Every public function defined in a module of `tests/docs_scenarios`, by name."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    package = importlib.import_module("docs_scenarios")
    found: dict[str, list[Scenario]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"docs_scenarios.{info.name}")
        for name, fn in vars(module).items():
            if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_"):
                found.setdefault(name, []).append(fn)
    return found


def scenario(name: str) -> Scenario:
    found = scenarios()
    if name not in found:
        raise LookupError(
            f"no docs scenario {name!r} in tests/docs_scenarios/; known: {', '.join(sorted(found))}"
        )
    if len(found[name]) > 1:
        modules = ", ".join(fn.__module__ for fn in found[name])
        raise LookupError(f"docs scenario {name!r} is defined more than once: {modules}")
    return found[name][0]


#: The SDKs a block can import, and `from_provider("name/...")` -> the SDK it builds.
SDKS = [provider.sdk for provider in PROVIDERS] + ["aiobotocore"]
PROVIDER_SDKS = {name: provider.sdk for provider in PROVIDERS for name in provider.names}


def sdks_of(block: Block) -> list[str]:
    """The SDKs the block imports, or builds with `from_provider`."""
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile(block.source, str(block.path), "exec", flags=flags)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    for provider in re.findall(r"from_provider\(\s*[\"'](\w+)/", block.source):
        names.add(PROVIDER_SDKS.get(provider, provider))
    return [sdk for sdk in SDKS if any(_related(name, sdk) for name in names)]


def _related(name: str, sdk: str) -> bool:
    """`name` is the SDK's module, one inside it, or its package (`vertexai`)."""
    return name == sdk or name.startswith(sdk + ".") or sdk.startswith(name + ".")


def point_sdks_at(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SDK client built from the environment talks to the fake, never to a real service."""
    for variable in ("GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "ANTHROPIC_AUTH_TOKEN",
                     "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", fake.url)
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.setenv(key, "test")
    for provider in ("GROQ", "DEEPSEEK", "MISTRAL", "TOGETHER", "OPENROUTER", "OLLAMA"):
        monkeypatch.setenv(f"{provider}_BASE_URL", fake.url + "/v1")
        monkeypatch.setenv(f"{provider}_API_KEY", "test")


@contextmanager
def as_main(block: Block) -> Iterator[dict[str, Any]]:
    """A fresh `__main__` module for the block, installed in `sys.modules` while it runs
    (so pydantic and dataclasses resolve postponed annotations against it)."""
    module = types.ModuleType("__main__")
    module.__file__ = str(block.path)
    previous = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        yield module.__dict__
    finally:
        if previous is None:
            del sys.modules["__main__"]
        else:
            sys.modules["__main__"] = previous


def run(block: Block) -> str:
    """Execute the block (top-level `await` allowed) and return what it printed."""
    code = compile(
        "\n" * block.line + block.source,  # tracebacks point at the markdown file's lines
        str(block.path),
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    out = io.StringIO()
    with as_main(block) as namespace, redirect_stdout(out):
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            asyncio.run(_closing(result, namespace))
        else:
            for sdk in _sdk_clients(namespace):
                if not inspect.iscoroutinefunction(getattr(sdk, "close", None)):
                    _close(sdk)
    return out.getvalue()


async def _closing(main: Any, namespace: dict[str, Any]) -> None:
    """Run a block's top-level awaits, then close the SDK clients it left open, as a
    program's exit would, while their event loop still runs."""
    try:
        await main
    finally:
        for sdk in _sdk_clients(namespace):
            closed = _close(sdk)
            if inspect.isawaitable(closed):
                await closed


def _sdk_clients(namespace: dict[str, Any]) -> list[Any]:
    """The SDK clients a block's names hold, directly or inside a polycall client."""
    found: list[Any] = []
    for value in list(namespace.values()):
        adapter = getattr(value, "adapter", None)
        sdk = getattr(adapter, "client", value)
        if type(sdk).__module__.split(".")[0] in ("openai", "anthropic", "google") and sdk not in found:
            found.append(sdk)
    return found


def _close(sdk: Any) -> Any:
    """`close()` (or google-genai's `aclose()` on its async client); what it returns."""
    close = getattr(sdk, "aclose", None) or getattr(sdk, "close", None)
    return close() if callable(close) else None


def expected_output(source: str) -> list[str] | None:
    """The block's `#>` lines, in order (None when it shows no output)."""
    lines = [m["text"] or "" for line in source.splitlines() if (m := _OUTPUT.match(line))]
    return [line.rstrip() for line in lines] if lines else None


def output_mismatch(expected: list[str], printed: str) -> str | None:
    """A diff when the printed output does not match the `#>` lines, else None."""
    actual = [line.rstrip() for line in printed.splitlines()]
    patterns = [re.compile(".*".join(map(re.escape, line.split("...")))) for line in expected]
    if len(actual) == len(expected) and all(p.fullmatch(a) for p, a in zip(patterns, actual)):
        return None
    diff = difflib.unified_diff(expected, actual, "shown (#>)", "printed", lineterm="")
    return "\n".join(diff)


BLOCKS = python_blocks()
#: Each block's SDKs, read at collection: parsing to an AST while the suite runs can meet a
#: garbage collection that runs finalizers mid-parse, which CPython 3.11 reports as
#: "AST constructor recursion depth mismatch".
BLOCK_SDKS = {block.id: sdks_of(block) for block in BLOCKS}


@pytest.fixture
def docs_fake() -> Iterator[FakeProvider]:
    """A started fake provider; stopped in the background, since a stop waits out the
    server's poll interval and the docs have many examples."""
    server = FakeProvider().start()
    yield server
    threading.Thread(target=server.stop, daemon=True).start()


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in BLOCKS])
def test_example(block: Block, docs_fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = docs_fake
    if block.skip:
        pytest.skip("marked <!-- skip --> (needs a real account)")
    missing = [sdk for sdk in BLOCK_SDKS[block.id] if not installed(sdk)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    point_sdks_at(fake, monkeypatch)
    for name in block.scenarios:
        scenario(name)(fake, monkeypatch)
    printed = run(block)
    expected = expected_output(block.source)
    if expected is not None and (diff := output_mismatch(expected, printed)):
        pytest.fail(f"{block.id}: the printed output differs from the #> lines\n{diff}", pytrace=False)


def test_docs_have_examples() -> None:
    pages = {block.path.name for block in BLOCKS}
    assert {"index.md", "errors.md", "testing.md"} <= pages


def test_scenario_names_are_unique() -> None:
    twice = {name: [fn.__module__ for fn in fns] for name, fns in scenarios().items() if len(fns) > 1}
    assert not twice, f"docs scenarios defined in more than one module: {twice}"


def test_every_scenario_used_by_the_docs_exists() -> None:
    known = scenarios()
    missing = {f"{b.id}: {name}" for b in BLOCKS for name in b.scenarios if name not in known}
    assert not missing, f"unknown docs scenarios: {sorted(missing)}"


def test_getting_started_opens_with_the_seed() -> None:
    if not SEED.is_file():
        pytest.skip(f"seed page not found at {SEED}")
    seed = next(b for b in parse(SEED) if b.lang in _PYTHON)  # the OpenAI tab
    first = next(b for b in parse(DOCS / "index.md") if b.lang in _PYTHON)
    assert first.scenarios == ("seed_openai",)
    assert first.source == seed.source.replace("import instructor", "import polycall as instructor")


def test_every_page_is_in_the_nav() -> None:
    nav = set(re.findall(r"[\w./-]+\.md\b", (ROOT / "mkdocs.yml").read_text(encoding="utf-8")))
    pages = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")}
    assert pages <= nav, f"pages missing from the nav in mkdocs.yml: {sorted(pages - nav)}"


def test_runner_checks_output_and_directives(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '=== "Tab"\n\n'
        "    <!-- fake: seed_openai -->\n"
        "    ```python\n    for n in range(2):\n        print(n)\n        #> 0\n        #> 2\n    ```\n\n"
        "<!-- skip -->\n```python\nraise SystemExit\n```\n",
        encoding="utf-8",
    )
    shown, skipped = parse(page)
    assert (shown.line, shown.scenarios, shown.skip) == (4, ("seed_openai",), False)
    assert shown.source.startswith("for n in range(2):\n    print(n)\n")
    assert skipped.skip and skipped.scenarios == ()
    expected = expected_output(shown.source)
    assert expected == ["0", "2"]
    assert output_mismatch(expected, run(shown)) is not None
    assert output_mismatch(["0", "1"], run(shown)) is None
    assert output_mismatch(["took ... s"], "took 0.25 s\n") is None


def test_runner_resolves_postponed_annotations(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nfrom __future__ import annotations\nfrom typing import Literal\n"
        "from pydantic import BaseModel\n\nclass Units(BaseModel):\n"
        "    units: Literal['metric', 'imperial']\n\nprint(Units(units='metric'))\n"
        "#> units='metric'\n```\n",
        encoding="utf-8",
    )
    (block,) = parse(page)
    assert run(block) == "units='metric'\n"


_TOOLCHAIN = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def test_site_builds_strict(tmp_path: Path) -> None:
    missing = [name for name in _TOOLCHAIN if not installed(name)]
    if missing:
        pytest.skip(f"docs toolchain not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    result = subprocess.run(  # not --quiet: it hides the warnings --strict counts
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()
