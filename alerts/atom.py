"""Atom feeds of matches: one per alert rule (one entry per story it alerted, the later versions
it matched listed inside: "Also in" with their outlet and language), one of all new articles.

`render_feed` is pure (items in, Atom XML bytes out); `write_feeds` writes every feed of a
config into `feeds_dir`, each file atomically (a temporary file in the same directory, then
`os.replace`), so a feed reader polling the directory never reads half a feed.

Ids are stable: a feed's id names the rule, an entry's id is derived from the article's
content hash (unique in the archive, the same on every run), so readers never show an entry
twice. Page text is hostile: it is written as XML text (escaped by the serializer), with the
characters XML 1.0 forbids removed, and snippets become escaped HTML (`type="html"`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

from alerts.match import HIGHLIGHT_END, HIGHLIGHT_START
from core.files import write_atomically
from storage.reading import FeedItem, new_article_items, rule_feed_items

ATOM = "http://www.w3.org/2005/Atom"
NEW_ARTICLES = "new-articles"  # the file name (without .atom) of the feed of all new articles
FEED_ENTRIES = 50
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")

ET.register_namespace("", ATOM)


@dataclass(frozen=True)
class Feed:
    key: str  # the file name without .atom
    title: str
    feed_id: str
    items: list[FeedItem]
    highlighted: bool  # summaries are alert snippets with highlight markers


def feed_file_name(rule: str) -> str:
    """`rule-<name>.atom`, the name made safe for a file (a rule named `new-articles` or
    `../x` cannot overwrite another feed or leave the directory)."""
    return "rule-" + (_UNSAFE_NAME.sub("-", rule).strip(".-") or "unnamed") + ".atom"


def rule_feed(db, rule: str, limit: int = FEED_ENTRIES) -> Feed:
    return Feed(
        feed_file_name(rule)[:-5],
        f"newswatch: {rule}",
        f"urn:newswatch:feed:rule:{_xml_text(rule)}",
        rule_feed_items(db, rule, limit),
        highlighted=True,
    )


def new_articles_feed(db, limit: int = FEED_ENTRIES) -> Feed:
    return Feed(
        NEW_ARTICLES,
        "newswatch: new articles",
        "urn:newswatch:feed:new-articles",
        new_article_items(db, limit),
        highlighted=False,
    )


def _xml_text(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def _rfc3339(value: str | None) -> str | None:
    """An ISO date or datetime as an Atom date (UTC, `Z`); None if it cannot be read."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary_html(item: FeedItem, highlighted: bool) -> str:
    text = html.escape(_xml_text(item.summary))
    if highlighted:
        # <strong>, not <mark>: feed readers sanitise summaries, and <mark> is not on their lists.
        text = text.replace(HIGHLIGHT_START, "<strong>").replace(HIGHLIGHT_END, "</strong>")
    else:
        text = text.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")
        text = "<br>".join(p for p in text.split("\n\n") if p.strip()) + ("…" if len(item.summary) >= 600 else "")
    meta = " · ".join(html.escape(_xml_text(x)) for x in (item.source, item.published) if x)
    parts = [f"<p><small>{meta}</small></p>", f"<p>{text}</p>"]
    if item.also_published_by:
        parts.append(
            f"<p><small>Also published by {html.escape(_xml_text(', '.join(item.also_published_by)))}</small></p>"
        )
    if item.versions:
        parts.append("<p><small>Also in:</small></p><ul>")
        for v in item.versions:
            outlet = html.escape(_xml_text(v.source)) + (
                f" ({html.escape(_xml_text(v.language))})" if v.language else ""
            )
            title = html.escape(_xml_text(v.title) or "(untitled)")
            if urlsplit(v.link).scheme in ("http", "https"):
                title = f'<a href="{html.escape(_xml_text(v.link))}">{title}</a>'
            parts.append(f"<li>{outlet}: {title}</li>")
        parts.append("</ul>")
    return "".join(parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def render_feed(feed: Feed, *, now: datetime | None = None, self_url: str | None = None) -> bytes:
    """The feed as Atom 1.0 (RFC 4287) XML, UTF-8; `self_url`: where it is read from (its
    rel="self" link, which feed readers and validators expect)."""
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, "id", feed.feed_id)
    _sub(root, "title", _xml_text(feed.title))
    if self_url:
        _sub(root, "link", rel="self", type="application/atom+xml", href=_xml_text(self_url))
    # A feed's `updated` is its newest entry's, so an unchanged feed is rewritten byte for byte.
    newest = max((_rfc3339(i.updated) or "" for i in feed.items), default="")
    _sub(root, "updated", newest or _rfc3339((now or datetime.now(UTC)).isoformat()))
    author = _sub(root, "author")
    _sub(author, "name", "newswatch")
    _sub(root, "generator", "newswatch")
    for item in feed.items:
        entry = _sub(root, "entry")
        _sub(entry, "id", f"urn:newswatch:article:{item.content_hash[:40]}")
        _sub(entry, "title", _xml_text(item.title) or "(untitled)")
        updated = _rfc3339(item.updated) or newest
        _sub(entry, "updated", updated)
        published = _rfc3339(item.published)
        if published:
            _sub(entry, "published", published)
        entry_author = _sub(entry, "author")
        _sub(entry_author, "name", _xml_text(item.source))  # the source: where the story comes from
        if urlsplit(item.link).scheme in ("http", "https"):
            _sub(entry, "link", rel="alternate", type="text/html", href=_xml_text(item.link))
        else:  # a local file has no web address: the entry carries its text instead
            _sub(entry, "content", _xml_text(item.summary), type="text")
        _sub(entry, "category", term=_xml_text(item.source))
        _sub(entry, "summary", _summary_html(item, feed.highlighted), type="html")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def all_feeds(db, rules) -> list[Feed]:
    """The feed of all new articles, then one per rule (`rules`: AlertRules or names)."""
    names = [getattr(r, "name", r) for r in rules]
    return [new_articles_feed(db)] + [rule_feed(db, name) for name in names]


def feed_location(key: str, feeds_dir: Path | None, feeds_url: str | None) -> str | None:
    """Where the feed `key` is read from: under `feeds_url` (the config's, where feeds_dir is
    served), else its file in `feeds_dir` (file://), else unknown (None)."""
    if feeds_url:
        return feeds_url.rstrip("/") + "/" + quote(f"{key}.atom")
    if feeds_dir is not None:
        return (Path(feeds_dir) / f"{key}.atom").resolve().as_uri()
    return None


def write_feeds(db, rules, feeds_dir: Path, *, now: datetime | None = None, feeds_url: str | None = None) -> list[Path]:
    """Write every feed into `feeds_dir` (atomically, each); returns the paths written."""
    written = []
    for feed in all_feeds(db, rules):
        path = Path(feeds_dir) / f"{feed.key}.atom"
        write_atomically(path, render_feed(feed, now=now, self_url=feed_location(feed.key, feeds_dir, feeds_url)))
        written.append(path)
    return written
