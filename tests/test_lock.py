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
