"""Source health, from what the archive remembers (`source_runs`, `articles`).

A source is unhealthy when
- **failing**: its last run failed (not one discovery document could be read, or a stage
  crashed), and so did every run since its last good one: `FAILING_RUNS` in a row or more
  (the reading room's *Source health* query says FAILING on the same count);
- **yields nothing**: its last run ended in the `warning` state (flows/pipeline/
  `zero_yield`: it has never yielded an article, or it used to and now finds no article link);
- **silent**: it has produced nothing new for longer than its `expected_interval` (counted
  from its last run that archived something new, else from its first run);
- **empty pages**: the last run that fetched pages of it got many pages and not one article
  (extraction broken by a site redesign, an error page served with 200, ...);
- **tiny bodies**: the median body length of the articles its last productive run archived is
  far below the median of its earlier articles (extraction picks a teaser or a cookie banner).

Plain data in, plain data out: `source_health(db, [(name, expected_interval), ...])`.
A source that has never run is not judged (nothing to judge it on).

Health emails (`alerts/health_notices.py`) remember here, in `health_notices`, which problem
of which source was emailed to whom, so one problem emails once: `notified_kinds`,
`add_notices`, `clear_recovered`. A problem's kind is its text before the first colon
(`problem_kind`): the rest (durations, dates) changes from run to run.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from storage.db import Database, utc_iso

# Thresholds (module constants so tests and docs/user-guide.md can name them).
EMPTY_RUN_MIN_PAGES = 3  # a run that fetched at least this many pages and got no article
TINY_RATIO = 0.25  # last run's median body below this fraction of the history's median
MIN_HISTORY = 5  # earlier articles needed before the body-length check means anything
MIN_LAST = 2  # new articles in the last run needed for its median
FAILING_RUNS = 1  # failed runs in a row (the last ones) that make a source unhealthy


@dataclass
class SourceHealth:
    source: str
    healthy: bool
    problems: list[str] = field(default_factory=list)  # one sentence each
    runs: int = 0
    last_new_at: str | None = None  # end of the last run that archived something new
    expected_interval_seconds: float | None = None
    last_median_body: int | None = None  # of the last productive run's new articles
    history_median_body: int | None = None  # of the source's articles before that run

    def to_dict(self) -> dict:
        return asdict(self)


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}m"


def source_health(
    db: Database, sources: Iterable[tuple[str, timedelta | None]], *, now: datetime | None = None
) -> list[SourceHealth]:
    """The health of each (name, expected_interval) source, in the order given."""
    moment = now or datetime.now(UTC)
    return [_one(db.conn, name, interval, moment) for name, interval in sources]


def _one(conn, name: str, interval: timedelta | None, now: datetime) -> SourceHealth:
    rows = conn.execute(
        "SELECT started_at, finished_at, counts, warning, ok, error FROM source_runs "
        "WHERE source = ? ORDER BY finished_at, id",
        (name,),
    ).fetchall()
    runs = [(started, finished, json.loads(counts or "{}")) for started, finished, counts, *_ in rows]
    warning = rows[-1][3] if rows else None
    health = SourceHealth(
        source=name,
        healthy=True,
        runs=len(runs),
        expected_interval_seconds=interval.total_seconds() if interval else None,
    )
    if not runs:
        return health
    productive = [r for r in runs if r[2].get("new", 0) > 0]
    if productive:
        health.last_new_at = productive[-1][1]

    if interval is not None:
        since = health.last_new_at or runs[0][0]
        silent = now - _parse(since)
        if silent > interval:
            what = f"since {since}" if health.last_new_at else f"in any of its {len(runs)} run(s) since {since}"
            health.problems.append(
                f"silent: nothing new {what} ({_duration(silent.total_seconds())}; "
                f"expected every {_duration(interval.total_seconds())})"
            )

    failed = failed_in_a_row([ok for *_, ok, _ in rows])
    if failed >= FAILING_RUNS:
        error = rows[-1][5] or "no error recorded"
        what = (
            f"its last run failed (started {rows[-1][0]})"
            if failed == 1
            else f"{failed} consecutive runs failed since {rows[-failed][0]}"
        )
        health.problems.append(f"failing: {what}: {error}")

    if warning:
        health.problems.append(f"yields nothing: {warning}")

    fetching = [r for r in runs if _fetched(r[2]) > 0]
    if fetching and not warning:  # a warning of the last run says it better
        started, finished, counts = fetching[-1]
        pages = _fetched(counts)
        if pages >= EMPTY_RUN_MIN_PAGES and counts.get("new", 0) + counts.get("duplicates", 0) == 0:
            health.problems.append(
                f"empty pages: the run ending {finished} fetched {pages} page(s) and got no article "
                f"({counts.get('not_articles', 0)} not article(s), {counts.get('errors', 0)} error(s)): "
                "has the site changed?"
            )

    if productive:
        started, finished, _ = productive[-1]
        last = _lengths(conn, "source = ? AND fetched_at >= ? AND fetched_at <= ?", (name, started, finished))
        before = _lengths(conn, "source = ? AND fetched_at < ?", (name, started))
        if len(last) >= MIN_LAST:
            health.last_median_body = int(statistics.median(last))
        if len(before) >= MIN_HISTORY:
            health.history_median_body = int(statistics.median(before))
        if (
            health.last_median_body is not None
            and health.history_median_body
            and health.last_median_body < TINY_RATIO * health.history_median_body
        ):
            health.problems.append(
                f"tiny bodies: the {len(last)} article(s) of the run ending {finished} have a median "
                f"body of {health.last_median_body} characters, against {health.history_median_body} "
                "before: is extraction picking the wrong block?"
            )
    health.healthy = not health.problems
    return health


def failed_in_a_row(oks: list) -> int:
    """How many of the last runs (`ok` of each, oldest first) failed, counted back to the last good one."""
    count = 0
    for ok in reversed(oks):
        if ok:
            break
        count += 1
    return count


def _fetched(counts: dict) -> int:
    return counts.get("new", 0) + counts.get("duplicates", 0) + counts.get("not_articles", 0)


def _lengths(conn, where: str, params: tuple) -> list[int]:
    return [n for (n,) in conn.execute(f"SELECT length(body) FROM articles WHERE {where}", params)]


# ------------------------------------------------------------------------------ notices ---


def problem_kind(problem: str) -> str:
    """`failing`, `yields nothing`, `silent`, `empty pages`, `tiny bodies`: what stays the same
    from one run to the next."""
    return problem.partition(":")[0].strip()


def clear_recovered(db: Database, problems: dict[str, list[str]]) -> int:
    """Drop the notices of problem kinds the judged sources (source -> its current problems)
    no longer have, so a relapse emails again (commits); how many were dropped."""
    cleared = 0
    with db.transaction() as conn:
        for source, current in problems.items():
            kinds = sorted({problem_kind(p) for p in current})
            cleared += conn.execute(
                f"DELETE FROM health_notices WHERE source = ? AND kind NOT IN ({','.join('?' * len(kinds))})",
                (source, *kinds),
            ).rowcount
    return cleared


def notified_kinds(db: Database, source: str, recipient: str) -> set[str]:
    """The problem kinds of `source` already emailed to `recipient`."""
    return {
        kind
        for (kind,) in db.conn.execute(
            "SELECT kind FROM health_notices WHERE source = ? AND recipient = ?", (source, recipient)
        )
    }


def add_notices(
    db: Database, recipient: str, problems: Iterable[tuple[str, str]], message_id: str, now: datetime | None = None
) -> None:
    """Record that `recipient` was emailed these (source, problem) in `message_id` (never
    commits: call it inside the transaction that marks the email sent, `outbox.health_email_sent`)."""
    db.conn.executemany(
        "INSERT INTO health_notices (source, kind, recipient, problem, message_id, notified_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, kind, recipient) DO NOTHING",
        [(source, problem_kind(p), recipient, p, message_id, utc_iso(now)) for source, p in problems],
    )
