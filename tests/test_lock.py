"""The dependency lock (constraints.txt, made by `make lock`) covers pyproject.toml, and the
environment the tests run in was installed from it: same versions, package by package.

An unpinned transitive upgrade (SQLAlchemy 2.1) once stopped every scheduled run; these
checks make a dependency added without re-locking, or an install that ignored the lock, fail
here with the command that fixes it.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from import_walk import imported_modules
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"


def _locked() -> dict[str, list[Requirement]]:
    """name -> its pins (several when the version depends on the platform or Python)."""
    pins: dict[str, list[Requirement]] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(("#", " ", "-")):
            continue
        req = Requirement(line)
        pins.setdefault(canonicalize_name(req.name), []).append(req)
    return pins


def _pinned_version(req: Requirement) -> Version:
    (spec,) = req.specifier
    assert spec.operator == "==", f"{LOCK.name}: {req} is not an exact pin"
    return Version(spec.version)


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def test_every_dependency_in_pyproject_is_locked_within_its_range():
    pins = _locked()
    for req in _pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, (
            f"{req.name} is in pyproject.toml but not in {LOCK.name}: run `make lock` and commit both files"
        )
        for pin in pins[name]:
            assert req.specifier.contains(_pinned_version(pin), prereleases=True), (
                f"{LOCK.name} pins {pin} but pyproject.toml asks for {req}: run `make lock`"
            )


def test_installed_packages_are_the_locked_versions():
    """Walks newswatch's installed requirement tree (with the dev extra, as `make install`)."""
    pins = _locked()
    env = default_environment()
    seen: set[str] = set()
    todo: list[tuple[str, set[str]]] = [("newswatch", {"dev"})]
    wrong: list[str] = []
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        if key != "newswatch":
            applicable = [p for p in pins.get(key, []) if p.marker is None or p.marker.evaluate(env)]
            if not applicable:
                wrong.append(f"{name} {dist.version} is installed but not locked")
            elif Version(dist.version) != _pinned_version(applicable[0]):
                wrong.append(f"{name} {dist.version} is installed, {LOCK.name} says {_pinned_version(applicable[0])}")
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
                continue
            todo.append((req.name, set(req.extras)))
    assert not wrong, (
        "the environment was not installed from the lock (run `make install`, "
        "which uses `pip install -c constraints.txt`):\n" + "\n".join(wrong)
    )
    assert "sqlalchemy" in seen and "prefect" in seen


CODE_DIRS = ("core", "flows", "scrapers", "storage", "alerts")
OURS = {*CODE_DIRS, "errors"}


def _imports(paths: list[Path], local: set[str]) -> dict[str, str]:
    """Top-level name of every third-party module imported by `paths` -> one file importing it
    (imports inside functions included: a lazy import is still a dependency)."""
    import sys

    found: dict[str, str] = {}
    for path in paths:
        for name, _line in imported_modules(path):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in OURS or top in local or top == "__future__":
                continue
            found.setdefault(top, str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name)
    return found


def _declared(*groups: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"]) if "main" in groups else []
    for extra, extra_reqs in project.get("optional-dependencies", {}).items():
        if extra in groups:
            reqs += extra_reqs
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def _undeclared(imports: dict[str, str], declared: set[str]) -> list[str]:
    distributions = metadata.packages_distributions()
    wrong = []
    for top, where in sorted(imports.items()):
        dists = {canonicalize_name(d) for d in distributions.get(top, [])}
        if not dists:
            wrong.append(f"{where} imports {top}, which no installed distribution provides")
        elif not dists & declared:
            wrong.append(f"{where} imports {top} ({', '.join(sorted(dists))}), not declared in pyproject.toml")
    return wrong


def test_every_package_newswatch_imports_is_declared():
    """A package that arrives only through another one (ruamel.yaml through Prefect, httpcore
    through httpx) disappears the day that one drops it: whatever newswatch imports is declared
    itself (the main dependencies, or the extra of the feature that imports it)."""
    paths = [ROOT / "errors.py"] + [p for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    imports = _imports(paths, set())
    assert {"httpx", "pydantic", "prefect"} <= set(imports), "the walk found the imports"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wrong = _undeclared(imports, _declared("main", *(set(project["optional-dependencies"]) - {"dev"})))
    assert not wrong, "declare them in pyproject.toml, then `make lock`:\n" + "\n".join(wrong)


def test_every_package_the_tests_and_benches_import_is_declared():
    local = {p.stem for d in ("tests", "bench") for p in (ROOT / d).glob("*.py")}
    paths = [p for d in ("tests", "bench") for p in sorted((ROOT / d).rglob("*.py"))]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wrong = _undeclared(_imports(paths, local), _declared("main", *project["optional-dependencies"]))
    assert not wrong, "declare them in pyproject.toml (the dev extra), then `make lock`:\n" + "\n".join(wrong)


def test_the_import_walk_flags_an_undeclared_package(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom flows.cli import main\n\ndef f():\n    import ruamel.yaml\n    from httpx import Client\n"
    )
    imports = {top: "m.py" for top in _imports([module], set())}
    assert imports == {"ruamel": "m.py", "httpx": "m.py"}  # stdlib and newswatch's own left out
    assert _undeclared(imports, {"httpx"}) == [
        "m.py imports ruamel (ruamel-yaml, ruamel-yaml-clib), not declared in pyproject.toml"
    ]
    assert _undeclared(imports, {"httpx", "ruamel-yaml"}) == []
