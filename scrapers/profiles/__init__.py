"""Site profiles: the per-site knowledge, one small module per site.

A profile is plain data (`Profile`). Unknown sites get `GENERIC`: the generic heuristics.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from errors import ProfileError
from scrapers.profiles.base import _REGISTRY, GENERIC, NON_ARTICLE_PATHS, Profile, excluded_path, register

__all__ = [
    "GENERIC",
    "NON_ARTICLE_PATHS",
    "Profile",
    "all_profiles",
    "excluded_path",
    "get_profile",
    "profile_for_url",
    "register",
]


def _load() -> None:
    # Imported for their register() side effect; one module per site.
    from scrapers.profiles import aprnews, iom, lexisveille  # noqa: F401


def get_profile(name: str) -> Profile:
    _load()
    if name == "generic":
        return GENERIC
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY) + ["generic"])
        raise ProfileError(f"unknown site profile {name!r}; known profiles: {known}") from None


def profile_for_url(url: str | None) -> Profile:
    if not url:
        return GENERIC
    _load()
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    for p in _REGISTRY.values():
        if any(host == h or host.endswith("." + h) for h in p.hosts):
            return p
    return GENERIC


def all_profiles() -> list[Profile]:
    _load()
    return list(_REGISTRY.values())
