"""The records the archive takes and gives: an incoming article, what storing did, what reading finds."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from core.article import Article
from core.urls import UrlPolicy


@dataclass
class Incoming:
    """An article on its way into the archive, with where and when it was seen."""

    article: Article
    source: str
    url: str | None = None  # where it was seen; defaults to article.url
    fetched_at: str | None = None  # ISO 8601 UTC; defaults to now
    urls: UrlPolicy = UrlPolicy()  # how the source's addresses compare (its tracking parameters)
    # What storing derives from the article alone (`storage.derived.derive`), computed
    # where the page was cleaned (a worker process) so that the run's one writer only compares
    # and inserts; None: the archive derives it itself.
    derived: Derived | None = None


@dataclass
class ItemResult:
    status: str  # "new", "duplicate", "not_article"
    article_id: int | None = None
    kind: str | None = None  # "original", "same_url", "exact", "near"
    similarity: float | None = None
    reason: str | None = None
    link: str | None = None  # a new article's clean address (canonical URL, else where it was seen)
    story_id: int | None = None  # a new article's story (storage/stories.py)


@dataclass
class BatchResult:
    items: list[ItemResult] = field(default_factory=list)

    @property
    def new_ids(self) -> list[int]:
        return [r.article_id for r in self.items if r.status == "new" and r.article_id is not None]

    @property
    def counts(self) -> dict[str, int]:
        """new, same_url, exact, near, not_article."""
        c = Counter(r.kind if r.status == "duplicate" else r.status for r in self.items)
        return {k: c.get(k, 0) for k in ("new", "same_url", "exact", "near", "not_article")}


@dataclass
class StoredArticle:
    id: int
    url: str
    canonical_url: str | None
    source: str
    title: str | None
    published: str | None
    body: str
    language: str | None
    contacts: list[dict]
    fetched_at: str
    content_hash: str
    profile: str | None = None

    @property
    def link(self) -> str:
        """Where to read it: the clean canonical URL, else where it was seen (a local file)."""
        return self.canonical_url or self.url

    def to_dict(self) -> dict:
        return {**asdict(self), "link": self.link}


@dataclass
class Sighting:
    article_id: int
    url: str
    canonical_url: str | None
    source: str
    kind: str
    similarity: float | None
    first_seen: str
    last_seen: str

    @property
    def link(self) -> str:
        return self.canonical_url or self.url


@dataclass
class Translation:
    language: str
    url: str
    article_id: int | None  # the archived article at that URL, if any


@dataclass
class SearchHit:
    id: int
    title: str | None
    published: str | None
    source: str
    url: str  # the clean canonical URL (else where it was seen)
    snippet: str


@dataclass
class ArchiveStats:
    articles: int
    sightings: int
    duplicates_folded: dict[str, int]  # kind -> count
    per_source: dict[str, int]
    per_day: dict[str, int]  # published day -> articles; "undated" last
    last_seen_per_source: dict[str, str]
    schema_version: int
    # Taken out by hand (`newswatch forget`): not in `articles`, `per_source` nor `per_day`.
    forgotten: int = 0


@dataclass
class Derived:
    """What an article's storing needs that depends on the article only: its body as stored, the
    dedup keys of its text, and its story facts (`storage.story_decision.facts_of_text`) and lead
    figures for its day."""

    body: str
    content_hash: str
    signature: bytes | None
    min_words: int  # the near-duplicate setting the signature was made with
    day: int
    facts: dict
    lead: dict


@dataclass
class DedupKeys:
    seen_url: str
    seen_at: str
    urls: UrlPolicy
    canonical: str | None
    url_key: str | None
    body: str
    content_hash: str
    signature: bytes | None


@dataclass
class PreparedBatch:
    """A batch with its dedup keys computed (`Archive.prepare`), ready for `Archive.insert`."""

    items: list[Incoming]
    keys: list[DedupKeys | None]
