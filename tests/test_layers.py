"""The import direction of the packages (issues 15, 24): a test walks every module's imports.

    flows    ->  alerts, storage, scrapers, core, errors
    alerts   ->  storage, core, errors
    scrapers ->  core, errors
    storage  ->  core, errors
    core     ->  errors
    errors   ->  (nothing of newswatch)

Imports inside functions count too: a lazy import is still a dependency. And no module
imports itself back through others: the graph of module imports has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from import_walk import imported_modules

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "alerts", "storage", "scrapers", "core", "errors")
ALLOWED = {
    "flows": {"flows", "alerts", "storage", "scrapers", "core", "errors"},
    "alerts": {"alerts", "storage", "core", "errors"},
    "scrapers": {"scrapers", "core", "errors"},
    "storage": {"storage", "core", "errors"},
    "core": {"core", "errors"},
    "errors": {"errors"},
}


def modules() -> list[Path]:
    files = [ROOT / "errors.py"]
    for package in PACKAGES[:-1]:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(our top-level package, line) for every import statement of the module."""
    return {(name.split(".")[0], line) for name, line in imported_modules(path) if name.split(".")[0] in PACKAGES}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way(path: Path) -> None:
    layer = path.relative_to(ROOT).parts[0].removesuffix(".py")
    wrong = sorted(
        f"line {line}: {package}" for package, line in imported_packages(path) if package not in ALLOWED[layer]
    )
    assert not wrong, f"{layer} may import only {sorted(ALLOWED[layer])}; {path.name} imports {wrong}"


def test_the_walk_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from alerts.outbox import record_matches\n    import storage.db\n")
    assert imported_packages(module) == {("alerts", 2), ("storage", 3)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the newswatch modules it imports (a name imported from a package is the
    package's submodule when there is one, else the package itself)."""
    known = {module_name(p): p for p in modules()}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
                targets = [t for t in targets[:-1] if t in known] or [node.module]
            else:
                continue
            edges |= {t for t in targets if t in known and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_module_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["scrapers.discover"], "the walk found the modules and their imports"
    cycle = find_cycle(graph)
    assert cycle is None, "modules import each other in a cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
