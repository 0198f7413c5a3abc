"""The plain data that flows between stages: what a cleaned page is."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Contact:
    """A press contact found on a page (kept as metadata, never in the body)."""

    name: str | None = None
    organisation: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)


@dataclass
class Article:
    """A page turned into an article (or recognised as not being one).

    `paragraphs` hold clean text: hard wraps joined, whitespace and NBSP runs collapsed.
    `is_article` is False for listing pages, project pages, menus only; `reason` says why.
    """

    title: str | None
    date: str | None  # ISO 8601 date (YYYY-MM-DD) or None
    paragraphs: list[str]
    author: str | None = None  # from the page's metadata, its byline or its signature
    contacts: list[Contact] = field(default_factory=list)
    language: str | None = None
    url: str | None = None
    canonical_url: str | None = None  # as declared by the page (<link rel=canonical>), else None
    translations: dict[str, str] = field(default_factory=dict)  # language -> URL (hreflang)
    is_article: bool = True
    reason: str | None = None
    profile: str = "generic"  # the site profile that cleaned it
    # Paragraphs the source's learned template removed (scrapers/template.py): not article
    # text, but the page had them, so they still count when the template is updated.
    template_removed: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["body"] = self.body
        return d


@dataclass
class PageMetadata:
    """What a page says about itself, before any text-level rule runs.

    Filled from HTML (meta tags, JSON-LD, <time>, <link rel=canonical|alternate>) by
    `scrapers.metadata`; empty for plain-text dumps.
    """

    title: str | None = None
    date: str | None = None  # ISO 8601 date
    author: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    translations: dict[str, str] = field(default_factory=dict)
    site_name: str | None = None
    page_type: str | None = None  # og:type / JSON-LD @type, e.g. "article", "website"
    og_type: str | None = None  # og:type alone, lower-case ("website", "profile", "article")
    # Every schema.org type the page declares (JSON-LD @type, microdata itemtype), as named:
    # "NewsArticle", "AboutPage", "WebSite"...
    schema_types: tuple[str, ...] = ()
    # Headline keys (casefolded words) of the page's link texts: a line of the main content
    # that is a link's whole text is a teaser headline or navigation, not running text.
    link_keys: frozenset[str] = frozenset()
    # A publication date printed outside the main content (a header or byline box), read
    # when the metadata has none; the main content's own date lines come first.
    page_date: str | None = None


@dataclass
class Removal:
    """A line a cleaning rule took out of the article, and the rule (`newswatch clean --explain`)."""

    rule: str
    text: str
