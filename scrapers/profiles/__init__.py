"""Site profiles: the per-site knowledge, one small module per site.

A profile is plain data (`Profile`). Unknown sites get `GENERIC`: the generic heuristics.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from errors import ProfileError


@dataclass(frozen=True)
class Profile:
    name: str
    hosts: tuple[str, ...] = ()  # host names without "www."
    # --- HTML level (scrapers.html) ---
    article_xpath: str | None = None  # the article container; None: generic extractor
    drop_xpaths: tuple[str, ...] = ()  # site boilerplate inside the container
    # --- text level (scrapers.textclean) ---
    label_lines: tuple[str, ...] = ()  # regexes of whole lines that are labels, not text
    # --- discovery / URLs (scrapers.discover, storage.dedup) ---
    article_path: re.Pattern | None = None  # paths that are articles on this site
    tracking_params: tuple[str, ...] = ()  # query parameters that never change the page
    extra: dict = field(default_factory=dict)


GENERIC = Profile(name="generic")

_REGISTRY: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    _REGISTRY[profile.name] = profile
    return profile


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
