"""The package's shape: no import circle, and every provider descriptor complete."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from polycall import Mode
from polycall.providers import registry

SRC = Path(__file__).resolve().parents[1] / "src" / "polycall"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """The polycall modules `path` imports, at module level or inside functions, leaving out
    imports made only for type checkers (`if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = importlib.util.resolve_name("." * child.level + base, package)
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in MODULES else base)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(tree)
    return {module for module in found if module in MODULES and module != name}


MODULES = {_module_name(path): path for path in SRC.rglob("*.py")}
#: Read at collection, before the suite leaves garbage: CPython 3.11 can fail a parse that a
#: garbage collection interrupts ("AST constructor recursion depth mismatch").
IMPORTS = {name: _imports(path, name) for name, path in MODULES.items()}


def test_no_module_imports_itself_back() -> None:
    # a package's __init__ re-exporting its modules is not a circle of theirs
    graph = {
        name: {m for m in imported if not name.startswith(m + ".")}
        for name, imported in IMPORTS.items()
    }
    state: dict[str, int] = {}
    trail: list[str] = []

    def walk(name: str) -> None:
        state[name] = 1
        trail.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circle = trail[trail.index(target) :] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                walk(target)
        trail.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)


def test_calls_is_a_leaf() -> None:
    """The neutral call types reach adapters and the runner only through protocols."""
    assert IMPORTS["polycall.calls"] <= {"polycall.errors"}


@pytest.mark.parametrize("provider", registry.PROVIDERS, ids=lambda p: p.name)
def test_each_descriptor_is_complete(provider: registry.Provider) -> None:
    import polycall

    assert callable(getattr(polycall, provider.factory))
    assert provider.modes and set(provider.wires) == set(provider.modes)
    assert provider.clients and provider.names
    for mode, reference in provider.modes.items():
        assert isinstance(mode, Mode)
        module, _, cls = reference.partition(":")
        assert (SRC / "providers" / f"{module}.py").is_file(), reference
        assert f"class {cls}(" in (SRC / "providers" / f"{module}.py").read_text()
    for wire in provider.wires.values():
        assert (SRC / "testing" / f"{wire}.py").is_file(), wire
    module, _, function = provider.build.partition(":")
    assert f"def {function}(" in (SRC / "providers" / f"{module}.py").read_text()
    if provider.batch is not None:
        module, _, cls = provider.batch.partition(":")
        assert f"class {cls}(" in (SRC / "batch" / f"{module}.py").read_text()
    assert provider.extra in _extras(), f"pyproject.toml has no extra {provider.extra!r}"


def test_every_mode_has_one_provider() -> None:
    owners = [mode for provider in registry.PROVIDERS for mode in provider.modes]
    assert sorted(owners) == sorted(Mode)


def _extras() -> set[str]:
    tomllib = pytest.importorskip("tomllib")

    pyproject = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())
    return set(pyproject["project"]["optional-dependencies"])



def test_every_mode_is_in_the_test_matrix() -> None:
    """A provider added without a client maker and wire builders in tests/providers.py fails
    here, rather than going untested by the cross-cutting suites."""
    from providers import BUILDERS, MATRIX

    modes = {mode for provider in registry.PROVIDERS for mode in provider.modes}
    assert {cell.mode for cell in MATRIX.values()} == modes
    for cell in MATRIX.values():
        assert cell.wire in BUILDERS, cell
        assert callable(cell._builder(BUILDERS[cell.wire][0])), cell


@pytest.mark.parametrize("provider", registry.PROVIDERS, ids=lambda p: p.name)
def test_each_factory_refuses_a_mode_of_another_provider(provider: registry.Provider) -> None:
    import polycall

    other = next(mode for mode in Mode if mode not in provider.modes)
    expected = ", ".join(f"Mode.{mode.name}" for mode in provider.modes)
    with pytest.raises(polycall.ConfigurationError, match=f"does not support mode.*use {expected}$"):
        provider.adapter(other)
