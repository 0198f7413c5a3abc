"""The import direction of the packages (issue 15): a test walks every module's imports.

    flows  ->  alerts, storage, scrapers, errors
    alerts ->  storage, errors
    scrapers ->  errors
    storage  ->  errors
    errors   ->  (nothing of newswatch)

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "alerts", "storage", "scrapers", "errors")
ALLOWED = {
    "flows": {"flows", "alerts", "storage", "scrapers", "errors"},
    "alerts": {"alerts", "storage", "errors"},
    "scrapers": {"scrapers", "errors"},
    "storage": {"storage", "errors"},
    "errors": {"errors"},
}


def modules() -> list[Path]:
    files = [ROOT / "errors.py"]
    for package in PACKAGES[:-1]:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(our top-level package, line) for every import statement of the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue  # relative imports stay inside their package
        found |= {(name.split(".")[0], node.lineno) for name in names if name.split(".")[0] in PACKAGES}
    return found


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
