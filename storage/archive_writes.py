"""Writing to the archive: a batch of incoming articles, deduplicated and stored in one transaction.

`Archive.add_batch(items)` (`storage.archive`); or `prepare(items)` before the write lock, then
`insert(batch)` inside the caller's transaction. Each article is compared by the three dedup
layers (same URL key, same content hash, near-duplicate MinHash whose figures agree:
`storage.story_decision.same_figures`); a new one is stored, indexed, and given its story
(`storage.story_assignment.add_article`), a copy is a sighting of the archived one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from core.text import inert, inert_line
from core.urls import UrlPolicy, url_key
from errors import ArchiveError
from storage import dedup, story_assignment, story_decision
from storage.db import Database, inserted_id, utc_iso
from storage.records import BatchResult, DedupKeys, Derived, Incoming, ItemResult, PreparedBatch


class ArchiveWrites(Database):
    """The writing methods of `storage.archive.Archive`."""

    near: dedup.NearConfig

    def add_batch(self, items: Iterable[Incoming]) -> BatchResult:
        """Deduplicate and store a batch, all in one transaction; one ItemResult per item."""
        batch = self.prepare(items)
        with self.transaction():
            return self.insert(batch)

    def prepare(self, items: Iterable[Incoming]) -> PreparedBatch:
        """Compute what deduplication compares (URL keys, content hash, MinHash) for a batch.

        The costly part of storing, done before the write lock: sources storing in parallel
        wait for each other's inserts only.
        """
        items = list(items)
        return PreparedBatch(items, [self._keys(item) for item in items])

    def insert(self, batch: PreparedBatch) -> BatchResult:
        """Deduplicate and store a prepared batch; call it inside `transaction()`."""
        if not self.conn.in_transaction:
            raise RuntimeError("Archive.insert runs inside `with archive.transaction():`")
        return BatchResult([self._add(item, key) for item, key in zip(batch.items, batch.keys, strict=True)])

    def _keys(self, item: Incoming) -> DedupKeys | None:
        """What the three dedup layers compare, for one incoming article (None: not an article)."""
        article = item.article
        if not article.is_article:
            return None
        seen_url = item.url or article.url or article.canonical_url
        if not seen_url:
            raise ArchiveError("an article needs the URL (or file) it was seen at")
        canonical = item.urls.canonical(seen_url, article.canonical_url)
        derived = self._derived(item)
        if derived is not None:
            body, text_keys = derived.body, (derived.content_hash, derived.signature)
        else:
            body = inert(article.body)  # stored, indexed and hashed without invisible characters
            text_keys = dedup.content_keys(body, min_words=self.near.min_words)
        return DedupKeys(
            seen_url, item.fetched_at or utc_iso(), item.urls, canonical, url_key(canonical), body, *text_keys
        )

    def _derived(self, item: Incoming) -> Derived | None:
        """`item.derived` when it was made with this archive's settings for this article."""
        derived = item.derived
        if derived is None or derived.min_words != self.near.min_words or not item.fetched_at:
            return None
        return derived

    def _add(self, item: Incoming, key: DedupKeys | None) -> ItemResult:
        article = item.article
        if key is None:
            return ItemResult("not_article", reason=article.reason)
        seen_url, seen_at, urls, canonical, body, chash, signature = (
            key.seen_url,
            key.seen_at,
            key.urls,
            key.canonical,
            key.body,
            key.content_hash,
            key.signature,
        )
        where = (canonical, key.url_key)

        if key.url_key:
            row = self.conn.execute(
                "SELECT id FROM articles WHERE url_key = ? "
                "UNION ALL SELECT article_id FROM sightings WHERE url_key = ? LIMIT 1",
                (key.url_key, key.url_key),
            ).fetchone()
            if row:
                return self._sighting(row[0], seen_url, where, item.source, "same_url", None, seen_at)
        row = self.conn.execute("SELECT id FROM articles WHERE content_hash = ?", (chash,)).fetchone()
        if row:
            return self._sighting(row[0], seen_url, where, item.source, "exact", None, seen_at)
        if signature is not None:
            matches = dedup.near_duplicates(
                self.conn, signature, threshold=self.near.threshold, language=article.language
            )
            matches = [m for m in matches if story_decision.same_figures(self.conn, m.article_id, body, article.title)]
            if matches:
                best = matches[0]
                return self._sighting(
                    best.article_id, seen_url, where, item.source, "near", round(best.similarity, 4), seen_at
                )

        cursor = self.conn.execute(
            "INSERT INTO articles (url, canonical_url, url_key, source, title, published, body, language, "
            "contacts, fetched_at, content_hash, profile, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seen_url,
                canonical,
                key.url_key,
                item.source,
                inert_line(article.title) or None,
                article.date,
                body,
                article.language,
                json.dumps([_inert_fields(asdict(c)) for c in article.contacts], ensure_ascii=False),
                seen_at,
                chash,
                article.profile,
                inert_line(article.author) or None,
            ),
        )
        article_id = inserted_id(cursor)
        dedup.index_signature(self.conn, article_id, signature)
        translations = []
        for lang, url in sorted(article.translations.items()):
            if lang != article.language and url:
                link = urls.canonical(url)
                translations.append((article_id, lang, url, link, url_key(link)))
        self.conn.executemany(
            "INSERT OR REPLACE INTO translations (article_id, language, url, canonical_url, url_key) "
            "VALUES (?, ?, ?, ?, ?)",
            translations,
        )
        self._sighting(article_id, seen_url, where, item.source, "original", None, seen_at)
        derived = self._derived(item)
        assignment = story_assignment.add_article(
            self.conn,
            article_id,
            title=article.title,
            body=body,
            published=article.date,
            fetched_at=seen_at,
            facts=(derived.day, derived.facts, derived.lead) if derived is not None else None,
        )
        return ItemResult("new", article_id, "original", link=canonical or seen_url, story_id=assignment.story_id)

    def _sighting(self, article_id, url, where, source, kind, similarity, seen_at) -> ItemResult:
        canonical, key = where
        updated = self.conn.execute(
            "UPDATE sightings SET last_seen = max(last_seen, ?) WHERE article_id = ? AND url = ? AND source = ?",
            (seen_at, article_id, url, source),
        ).rowcount
        if not updated:
            self.conn.execute(
                "INSERT INTO sightings (article_id, url, canonical_url, url_key, source, kind, similarity, "
                "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (article_id, url, canonical, key, source, kind, similarity, seen_at, seen_at),
            )
        return ItemResult("duplicate" if kind != "original" else "new", article_id, kind, similarity)

    def add_sighting(
        self,
        article_id: int,
        url: str,
        source: str,
        *,
        kind: str = "same_url",
        seen_at: str | None = None,
        urls: UrlPolicy = UrlPolicy(),
    ) -> None:
        """Record that `source` lists the archived article `article_id` at `url` (a page another
        source of the same run fetched: its URL is the same, so `same_url`); commits."""
        canonical = urls.canonical(url)
        with self.transaction():
            self._sighting(article_id, url, (canonical, url_key(canonical)), source, kind, None, seen_at or utc_iso())


def _inert_fields(value: Any) -> Any:
    """A contact (or any JSON-able value) with every string made inert."""
    if isinstance(value, str):
        return inert_line(value)
    if isinstance(value, dict):
        return {k: _inert_fields(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_inert_fields(v) for v in value]
    return value
