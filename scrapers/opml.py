"""OPML, the subscription list feed readers (Miniflux, FreshRSS, Thunderbird...) export.

`opml_feeds(path)` lists every `<outline xmlUrl=...>` at any depth (folders are outlines too),
with a problem set for the ones that cannot become a source (no URL, not http(s)).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from errors import DocumentError


class OpmlError(DocumentError):
    """Not an OPML file, or unreadable."""


@dataclass(frozen=True)
class OpmlFeed:
    title: str | None
    url: str
    problem: str | None = None


def opml_feeds(path: str | Path) -> list[OpmlFeed]:
    try:
        # The file is the user's own export; expat refuses entity expansion bombs.
        root = ET.parse(path).getroot()
    except OSError as e:
        raise OpmlError(f"cannot read {path}: {e.strerror or e}") from None
    except ET.ParseError as e:
        raise OpmlError(f"{path} is not an OPML file (not XML: {e})") from None
    if root.tag.lower() != "opml":
        raise OpmlError(f"{path} is not an OPML file (its root element is <{root.tag}>, not <opml>)")
    feeds = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        title = (outline.get("title") or outline.get("text") or "").strip() or None
        if not url:
            if outline.get("type", "").lower() in ("rss", "atom"):
                feeds.append(OpmlFeed(title, "", "no xmlUrl"))
            continue  # a folder
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            feeds.append(OpmlFeed(title, url, f"not an http(s) URL: {url}"))
            continue
        feeds.append(OpmlFeed(title, url))
    return feeds


def source_name(title: str, taken: set[str]) -> str:
    """A source name from a feed title: ASCII, lower case, dashes; unique among `taken`."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].strip("-") or "feed"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name
