"""The imports a module's source names, found by walking its syntax tree (tests/test_layers.py,
tests/test_lock.py). Imports inside functions count: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def imported_modules(path: Path) -> Iterator[tuple[str, int]]:
    """(module name, line) for every absolute import statement of the file (relative imports
    stay inside their package)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
