"""A site profile's data (`Profile`), the generic one, and the registry each site module adds itself to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    hosts: tuple[str, ...] = ()  # host names without "www."
    # --- HTML level (scrapers.html) ---
    article_xpath: str | None = None  # the article container; None: generic extractor
    drop_xpaths: tuple[str, ...] = ()  # site boilerplate inside the container
    # --- text level (scrapers.textclean) ---
    label_lines: tuple[str, ...] = ()  # regexes of whole lines that are labels, not text
    # --- discovery / URLs (scrapers.discover, core.urls) ---
    # Listing pages: the paths that are articles on this site (None: generic link scoring).
    # Feeds and sitemaps list articles: every same-site entry is taken, except `exclude_path`.
    article_path: re.Pattern | None = None
    exclude_path: re.Pattern | None = None  # never articles, whatever lists them (None: NON_ARTICLE_PATHS)
    tracking_params: tuple[str, ...] = ()  # query parameters that never change the page
    extra: dict = field(default_factory=dict)


# A class of pages, not a list of examples: taxonomy, author, search, login and pager pages
# (one of these path segments, at the root or after a language prefix, followed by at most
# two more segments). A permalink that merely starts with its category
# (`/category/world/2024/03/12/title`) has more segments and is kept.
NON_ARTICLE_PATHS = re.compile(
    r"^(?:/[a-z]{2}(?:[-_][a-zA-Z]{2})?)?/(?:taxonomy/term|tags?|tagged|topics?|categor(?:y|ies|ie)|"
    r"authors?|auteurs?|search|recherche|rechercher|login|user|users|page|feed|rss)(?:/[^/]+){0,2}/?$",
    re.I,
)


def excluded_path(profile: Profile, path: str) -> bool:
    """A path the profile (else the generic rule) says is never an article."""
    pattern = profile.exclude_path or NON_ARTICLE_PATHS
    return bool(pattern.search(path))


GENERIC = Profile(name="generic")

_REGISTRY: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    _REGISTRY[profile.name] = profile
    return profile
