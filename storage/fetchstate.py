"""What ingestion remembers between runs, next to the articles in the archive.

- `discovery_documents`: the ETag/Last-Modified of each listing page, feed or sitemap, so an
  unchanged source costs one conditional request answered 304.
- `pages`: every URL fetched that did not become an article, with its `reason` (not-article,
  unreadable, too-large, not-html, gone, client-error, robots, redirect, bad-url, failing), the
  message, the HTTP status and how discovery found it. Pages that can never become one are not
  requested again (`newswatch recheck` asks for them again); pages that failed for a transient
  reason are retried on later runs at a growing interval, then given up.
- `waiting_pages`: candidates found beyond a source's `max_new_per_run`, taken on its next
  runs (newest first), even when its discovery documents answer 304 by then.
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
from datetime import UTC, datetime, timedelta

from errors import NotAnArticle, PermanentError
from storage.db import Database, holder_gone, in_chunks, stored_message, utc_iso
from storage.forget import NOT_FORGOTTEN
from storage.outcomes import PageOutcome

_REJECTED_COLUMNS = (
    "url",
    "source",
    "reason",
    "status",
    "error",
    "outcome",
    "attempts",
    "first_seen",
    "last_attempt",
    "next_attempt",
    "found_via",
)
RETRY_BASE = timedelta(hours=1)  # first re-try of a failing page; doubled each time
RETRY_MAX = timedelta(days=7)
MAX_ATTEMPTS = 6  # then the page is given up (a re-check still retries it)
LEASE_TTL = timedelta(hours=2)  # longer than any run; only matters when the holder's host differs


@dataclass
class RejectedPage:
    """A row of `pages`: a URL fetched that did not become an article."""

    url: str
    source: str
    reason: str
    status: int | None
    error: str | None  # the message: what happened, and the cleaner's reason for not-article
    outcome: str  # not_article | gave_up (never asked again) | failed (retried at next_attempt)
    attempts: int
    first_seen: str
    last_attempt: str
    next_attempt: str | None
    found_via: str | None


@dataclass
class SourceState:
    source: str
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    runs: int
    articles: int
    failing_pages: int
    rejected_pages: int = 0  # never asked for again (not articles, gone, too large...)
    last_state: str | None = None  # of the last run: ok, unchanged, warning, failed
    last_warning: str | None = None  # why it yields nothing, when last_state is warning


@dataclass
class YieldHistory:
    runs: int  # recorded runs before this one
    articles: int  # articles archived from it or folded into archived ones (sightings)
    last_state: str | None
    last_warning: str | None


# --------------------------------------------------------------------- discovery ---


def validators(db: Database, source: str) -> dict[str, tuple[str | None, str | None]]:
    """url -> (etag, last_modified) of the source's discovery documents."""
    rows = db.conn.execute("SELECT url, etag, last_modified FROM discovery_documents WHERE source = ?", (source,))
    return {url: (etag, modified) for url, etag, modified in rows}


def save_validators(
    db: Database, source: str, documents: Mapping[str, tuple[str | None, str | None]], now: datetime | None = None
) -> None:
    checked = utc_iso(now)
    with db.transaction():
        db.conn.executemany(
            "INSERT INTO discovery_documents (url, source, etag, last_modified, checked_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET source = excluded.source, "
            "etag = excluded.etag, last_modified = excluded.last_modified, "
            "checked_at = excluded.checked_at",
            [(url, source, etag, modified, checked) for url, (etag, modified) in documents.items()],
        )


# ------------------------------------------------------------------------- pages ---


def not_due(db: Database, urls: Iterable[str], now: datetime | None = None) -> set[str]:
    """The URLs not to request this run: never articles, given up, or failing and not due."""
    now_iso = utc_iso(now)
    skip: set[str] = set()
    for chunk, marks in in_chunks(urls):
        skip.update(
            url
            for (url,) in db.conn.execute(
                f"SELECT url FROM pages WHERE url IN ({marks}) AND (outcome != 'failed' OR next_attempt > ?)",
                [*chunk, now_iso],
            )
        )
    return skip


def record_pages(db: Database, source: str, outcomes: Iterable[PageOutcome], now: datetime | None = None) -> None:
    moment = now or datetime.now(UTC)
    with db.transaction():
        for o in outcomes:
            row = db.conn.execute("SELECT attempts FROM pages WHERE url = ?", (o.url,)).fetchone()
            attempts = (row[0] + 1) if row else 1
            if isinstance(o.error, NotAnArticle):
                outcome, next_attempt = "not_article", None
            elif isinstance(o.error, PermanentError) or attempts >= MAX_ATTEMPTS:
                outcome, next_attempt = "gave_up", None
            else:
                wait = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX)
                outcome, next_attempt = "failed", utc_iso(moment + wait)
            db.conn.execute(
                "INSERT INTO pages (url, source, outcome, error_kind, error, attempts, first_seen, "
                "last_attempt, next_attempt, reason, status, found_via) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET outcome = excluded.outcome, "
                "error_kind = excluded.error_kind, error = excluded.error, attempts = excluded.attempts, "
                "last_attempt = excluded.last_attempt, next_attempt = excluded.next_attempt, "
                "reason = excluded.reason, status = excluded.status, "
                "found_via = coalesce(excluded.found_via, pages.found_via)",
                (
                    o.url,
                    source,
                    outcome,
                    o.kind,
                    stored_message(o.message),
                    attempts,
                    utc_iso(moment),
                    utc_iso(moment),
                    next_attempt,
                    o.reason,
                    o.status,
                    o.found_via,
                ),
            )


def forget_pages(db: Database, urls: Iterable[str]) -> None:
    """Pages that became articles are no longer failing."""
    urls = list(urls)
    with db.transaction():
        db.conn.executemany("DELETE FROM pages WHERE url = ?", [(u,) for u in urls])


def rejected(
    db: Database,
    *,
    urls: Iterable[str] | None = None,
    source: str | None = None,
    since: str | None = None,
    reason: str | None = None,
    limit: int | None = None,
) -> list[RejectedPage]:
    """Pages that did not become articles, newest attempt first. `since`: an ISO date or
    time (last attempt at or after it); `reason`: one of REASONS' (`not_article` = `not-article`)."""
    where, params = _rejected_filter(urls, source, since, reason)
    sql = f"SELECT {', '.join(_REJECTED_COLUMNS)} FROM pages{where} ORDER BY last_attempt DESC, url"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [RejectedPage(*row) for row in db.conn.execute(sql, params)]


def rejected_counts(
    db: Database, *, source: str | None = None, since: str | None = None, reason: str | None = None
) -> dict[str, int]:
    """reason -> pages, most frequent first."""
    where, params = _rejected_filter(None, source, since, reason)
    return dict(
        db.conn.execute(
            f"SELECT reason, count(*) FROM pages{where} GROUP BY reason ORDER BY count(*) DESC, reason", params
        )
    )


def _rejected_filter(urls, source, since, reason) -> tuple[str, list]:
    clauses, params = [], []
    if urls is not None:
        urls = list(urls)
        clauses.append(f"url IN ({','.join('?' * len(urls))})")
        params += urls
    if source:
        clauses.append("source = ?")
        params.append(source)
    if since:
        clauses.append("last_attempt >= ?")
        params.append(since)
    if reason:
        clauses.append("reason = ?")
        params.append(reason.replace("_", "-"))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


# ----------------------------------------------------------------- waiting pages ---


def waiting(db: Database, source: str) -> list[tuple[str, str | None, str | None]]:
    """(url, lastmod, title) of the candidates kept for this source's next runs, in order."""
    return list(
        db.conn.execute("SELECT url, lastmod, title FROM waiting_pages WHERE source = ? ORDER BY position", (source,))
    )


def keep_waiting(
    db: Database, source: str, entries: Iterable[tuple[str, str | None, str | None]], now: datetime | None = None
) -> None:
    """The source's waiting candidates are now `entries` (url, lastmod, title), in this order."""
    moment = utc_iso(now)
    with db.transaction():
        first_seen = dict(db.conn.execute("SELECT url, first_seen FROM waiting_pages WHERE source = ?", (source,)))
        db.conn.execute("DELETE FROM waiting_pages WHERE source = ?", (source,))
        db.conn.executemany(
            "INSERT OR IGNORE INTO waiting_pages (source, url, lastmod, title, position, first_seen) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (source, url, lastmod, title, i, first_seen.get(url, moment))
                for i, (url, lastmod, title) in enumerate(entries)
            ],
        )


# ----------------------------------------------------------------------- sources ---


def record_run(
    db: Database,
    source: str,
    *,
    started_at: datetime,
    ok: bool,
    counts: Mapping[str, int],
    error: str | None = None,
    flow_run: str | None = None,
    finished_at: datetime | None = None,
    state: str | None = None,
    warning: str | None = None,
) -> None:
    """One row of `source_runs` (in a transaction of its own, or the caller's)."""
    with db.transaction():
        db.conn.execute(
            "INSERT INTO source_runs (source, flow_run, started_at, finished_at, ok, counts, error, state, warning) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                source,
                flow_run,
                utc_iso(started_at),
                utc_iso(finished_at),
                int(ok),
                json.dumps(dict(counts)),
                stored_message(error),
                state or ("ok" if ok else "failed"),
                stored_message(warning),
            ),
        )


def yield_history(db: Database, source: str) -> YieldHistory:
    """What the source has yielded so far (this run's stored articles included) and how its
    last recorded run ended: what a run needs to tell a quiet source from a silent failure."""
    sightings = db.conn.execute("SELECT count(*) FROM sightings WHERE source = ?", (source,)).fetchone()[0]
    last = db.conn.execute(
        "SELECT state, warning FROM source_runs WHERE source = ? ORDER BY finished_at DESC, id DESC LIMIT 1",
        (source,),
    ).fetchone()
    runs = db.conn.execute("SELECT count(*) FROM source_runs WHERE source = ?", (source,)).fetchone()[0]
    return YieldHistory(runs, sightings, last[0] if last else None, last[1] if last else None)


def source_states(db: Database, names: Iterable[str]) -> list[SourceState]:
    states = []
    for name in names:
        last_ok = db.conn.execute(
            "SELECT max(finished_at) FROM source_runs WHERE source = ? AND ok", (name,)
        ).fetchone()[0]
        last_err = db.conn.execute(
            "SELECT error, finished_at FROM source_runs WHERE source = ? AND error IS NOT NULL "
            "ORDER BY finished_at DESC, id DESC LIMIT 1",
            (name,),
        ).fetchone()
        runs = db.conn.execute("SELECT count(*) FROM source_runs WHERE source = ?", (name,)).fetchone()[0]
        articles = db.conn.execute(  # a forgotten one (storage/forget.py) not counted
            f"SELECT count(*) FROM articles a WHERE source = ? AND {NOT_FORGOTTEN}", (name,)
        ).fetchone()[0]
        failing, rejected = db.conn.execute(
            "SELECT coalesce(sum(outcome = 'failed'), 0), coalesce(sum(outcome != 'failed'), 0) "
            "FROM pages WHERE source = ?",
            (name,),
        ).fetchone()
        last = db.conn.execute(
            "SELECT state, warning FROM source_runs WHERE source = ? ORDER BY finished_at DESC, id DESC LIMIT 1",
            (name,),
        ).fetchone() or (None, None)
        states.append(
            SourceState(
                name,
                last_ok,
                last_err[0] if last_err else None,
                last_err[1] if last_err else None,
                runs,
                articles,
                failing,
                rejected,
                *last,
            )
        )
    return states


# ------------------------------------------------------------------------ leases ---


def acquire_lease(
    db: Database, source: str, holder: str, ttl: timedelta = LEASE_TTL, now: datetime | None = None
) -> Lease:
    """Take the source for this run; if a live run already has it, that run's lease
    (`held_by_other`), and nothing is taken."""
    moment = now or datetime.now(UTC)
    me = (holder, socket.gethostname(), os.getpid())
    with db.transaction():
        row = db.conn.execute(
            "SELECT holder, host, pid, acquired_at, expires_at FROM source_leases WHERE source = ?", (source,)
        ).fetchone()
        if row and (row[0], row[1], row[2]) != me and not _lease_is_stale(row, moment):
            return Lease(source, row[0], row[1], row[2], row[3], held_by_other=True)
        db.conn.execute(
            "INSERT OR REPLACE INTO source_leases (source, holder, host, pid, acquired_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (source, *me, utc_iso(moment), utc_iso(moment + ttl)),
        )
    return Lease(source, *me, utc_iso(moment))


def acquire_leases(db: Database, sources: Iterable[str], holder: str, ttl: timedelta = LEASE_TTL) -> list[Lease]:
    """`acquire_lease` for each source, in one transaction (a run of a thousand sources
    commits once, not a thousand times)."""
    with db.transaction():
        return [acquire_lease(db, source, holder, ttl) for source in sources]


def release_lease(db: Database, source: str, holder: str) -> None:
    release_leases(db, [source], holder)


def release_leases(db: Database, sources: Iterable[str], holder: str) -> None:
    with db.transaction():
        db.conn.executemany(
            "DELETE FROM source_leases WHERE source = ? AND holder = ? AND pid = ?",
            [(source, holder, os.getpid()) for source in sources],
        )


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
