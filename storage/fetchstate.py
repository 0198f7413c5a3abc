"""What ingestion remembers between runs, next to the articles in the archive.

- `discovery_documents`: the ETag/Last-Modified of each listing page, feed or sitemap, so an
  unchanged source costs one conditional request answered 304.
- `pages`: URLs fetched that did not become an article (not an article, not HTML, too large,
  failing). Pages that can never become one are not requested again (unless a re-check is
  asked for); pages that failed for a transient reason are retried on later runs at a growing
  interval, then given up.
- `source_runs`: one row per source and ingest run: counts and the error, for
  `newswatch sources` and health checks.
- `source_leases`: which run is working on a source now, so two overlapping ingest runs never
  work on the same source (the second one skips it). A lease whose process is gone (same
  machine) or that has expired is taken over, so a killed run does not block the next one.

Order matters for "nothing is ever lost": the flow stores the articles of a batch first, then
the page outcomes and the discovery validators. A crash in between costs a re-fetch of the
discovery documents on the next run, never a missed article.
"""
from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from errors import FetchError, NewswatchError, NotAnArticle, PermanentError
from storage.db import Database, holder_gone, utc_iso


RETRY_BASE = timedelta(hours=1)  # first re-try of a failing page; doubled each time
RETRY_MAX = timedelta(days=7)
MAX_ATTEMPTS = 6  # then the page is given up (a re-check still retries it)
LEASE_TTL = timedelta(hours=2)  # longer than any run; only matters when the holder's host differs


@dataclass
class PageOutcome:
    """A fetched URL that did not become an article, and why.

    `error`: the fetch error, the clean error, or `errors.NotAnArticle` with the cleaner's
    reason. A `PermanentError` is never asked for again; any other is retried later.
    """

    url: str
    error: NewswatchError

    @property
    def kind(self) -> str:
        return self.error.kind

    @property
    def message(self) -> str:
        """One line naming the URL: a fetch error names it already, the others get it in front."""
        if isinstance(self.error, FetchError):
            return str(self.error)
        return f"{self.url}: {self.error}"


@dataclass
class SourceState:
    source: str
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    runs: int
    articles: int
    failing_pages: int


class FetchState:
    """Reads and writes the ingestion state of one archive (an open `storage.archive.Archive`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.conn

    # --------------------------------------------------------------------- discovery ---

    def validators(self, source: str) -> dict[str, tuple[str | None, str | None]]:
        """url -> (etag, last_modified) of the source's discovery documents."""
        rows = self.conn.execute(
            "SELECT url, etag, last_modified FROM discovery_documents WHERE source = ?", (source,))
        return {url: (etag, modified) for url, etag, modified in rows}

    def save_validators(self, source: str, documents: Mapping[str, tuple[str | None, str | None]],
                        now: datetime | None = None) -> None:
        checked = utc_iso(now)
        with self.db.transaction():
            self.conn.executemany(
                "INSERT INTO discovery_documents (url, source, etag, last_modified, checked_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET source = excluded.source, "
                "etag = excluded.etag, last_modified = excluded.last_modified, "
                "checked_at = excluded.checked_at",
                [(url, source, etag, modified, checked) for url, (etag, modified) in documents.items()],
            )

    # ------------------------------------------------------------------------- pages ---

    def not_due(self, urls: Iterable[str], now: datetime | None = None) -> set[str]:
        """The URLs not to request this run: never articles, given up, or failing and not due."""
        now_iso = utc_iso(now)
        urls = list(urls)
        skip: set[str] = set()
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            marks = ",".join("?" * len(chunk))
            skip.update(url for (url,) in self.conn.execute(
                f"SELECT url FROM pages WHERE url IN ({marks}) AND "
                f"(outcome != 'failed' OR next_attempt > ?)", [*chunk, now_iso]))
        return skip

    def record_pages(self, source: str, outcomes: Iterable[PageOutcome],
                     now: datetime | None = None) -> None:
        moment = now or datetime.now(timezone.utc)
        with self.db.transaction():
            for o in outcomes:
                row = self.conn.execute("SELECT attempts FROM pages WHERE url = ?", (o.url,)).fetchone()
                attempts = (row[0] + 1) if row else 1
                if isinstance(o.error, NotAnArticle):
                    outcome, next_attempt = "not_article", None
                elif isinstance(o.error, PermanentError) or attempts >= MAX_ATTEMPTS:
                    outcome, next_attempt = "gave_up", None
                else:
                    wait = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX)
                    outcome, next_attempt = "failed", utc_iso(moment + wait)
                self.conn.execute(
                    "INSERT INTO pages (url, source, outcome, error_kind, error, attempts, first_seen, "
                    "last_attempt, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(url) DO UPDATE SET outcome = excluded.outcome, "
                    "error_kind = excluded.error_kind, error = excluded.error, attempts = excluded.attempts, "
                    "last_attempt = excluded.last_attempt, next_attempt = excluded.next_attempt",
                    (o.url, source, outcome, o.kind, o.message, attempts, utc_iso(moment), utc_iso(moment),
                     next_attempt),
                )

    def forget_pages(self, urls: Iterable[str]) -> None:
        """Pages that became articles are no longer failing."""
        urls = list(urls)
        with self.db.transaction():
            self.conn.executemany("DELETE FROM pages WHERE url = ?", [(u,) for u in urls])

    # ----------------------------------------------------------------------- sources ---

    def record_run(self, source: str, *, started_at: datetime, ok: bool, counts: Mapping[str, int],
                   error: str | None = None, flow_run: str | None = None,
                   finished_at: datetime | None = None) -> None:
        """One row of `source_runs` (commits: never call it inside a transaction)."""
        self.db.utils["source_runs"].insert({
            "source": source, "flow_run": flow_run, "started_at": utc_iso(started_at),
            "finished_at": utc_iso(finished_at), "ok": int(ok), "counts": json.dumps(dict(counts)),
            "error": error})

    def source_states(self, names: Iterable[str]) -> list[SourceState]:
        states = []
        for name in names:
            last_ok = self.conn.execute(
                "SELECT max(finished_at) FROM source_runs WHERE source = ? AND ok", (name,)).fetchone()[0]
            last_err = self.conn.execute(
                "SELECT error, finished_at FROM source_runs WHERE source = ? AND error IS NOT NULL "
                "ORDER BY finished_at DESC, id DESC LIMIT 1", (name,)).fetchone()
            runs = self.conn.execute("SELECT count(*) FROM source_runs WHERE source = ?", (name,)).fetchone()[0]
            articles = self.conn.execute("SELECT count(*) FROM articles WHERE source = ?", (name,)).fetchone()[0]
            failing = self.conn.execute(
                "SELECT count(*) FROM pages WHERE source = ? AND outcome = 'failed'", (name,)).fetchone()[0]
            states.append(SourceState(name, last_ok, last_err[0] if last_err else None,
                                      last_err[1] if last_err else None, runs, articles, failing))
        return states

    def recent_runs(self, source: str, limit: int = 10) -> list[dict]:
        rows = self.conn.execute(
            "SELECT finished_at, ok, counts, error FROM source_runs WHERE source = ? "
            "ORDER BY finished_at DESC, id DESC LIMIT ?", (source, limit))
        return [{"finished_at": f, "ok": bool(ok), "counts": json.loads(c), "error": e} for f, ok, c, e in rows]

    # ------------------------------------------------------------------------ leases ---

    def acquire_lease(self, source: str, holder: str, ttl: timedelta = LEASE_TTL,
                      now: datetime | None = None) -> Lease | None:
        """Take the source for this run; None (and who holds it) if a live run already has it."""
        moment = now or datetime.now(timezone.utc)
        me = (holder, socket.gethostname(), os.getpid())
        with self.db.transaction():
            row = self.conn.execute(
                "SELECT holder, host, pid, acquired_at, expires_at FROM source_leases WHERE source = ?",
                (source,)).fetchone()
            if row and (row[0], row[1], row[2]) != me and not _lease_is_stale(row, moment):
                return Lease(source, row[0], row[1], row[2], row[3], held_by_other=True)
            self.conn.execute(
                "INSERT OR REPLACE INTO source_leases (source, holder, host, pid, acquired_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (source, *me, utc_iso(moment), utc_iso(moment + ttl)))
        return Lease(source, *me, utc_iso(moment))

    def release_lease(self, source: str, holder: str) -> None:
        with self.db.transaction():
            self.conn.execute("DELETE FROM source_leases WHERE source = ? AND holder = ? AND pid = ?",
                              (source, holder, os.getpid()))



@dataclass
class Lease:
    source: str
    holder: str  # the flow run (or process) working on the source
    host: str
    pid: int
    acquired_at: str
    held_by_other: bool = False


def _lease_is_stale(row, moment: datetime) -> bool:
    """Expired, or taken by a run whose process is gone from this host (killed)."""
    _holder, host, pid, _acquired, expires = row
    return expires <= utc_iso(moment) or holder_gone(host, pid)
