"""Nothing lost behind a claim: once the sources of a run are done, the pages whose fetch
failed are fetched under the other sources' spellings of them (`rescue_claims`), and each
source's summary line counts the pages another source took where they belong (`count_shares`):
a duplicate only when the page became an archived article.

A rescued page is fetched, cleaned and stored as its source's own (the same stages as a run,
as `newswatch recheck` runs them), so its alerts, sightings and rejected-page record are that
source's; the failing records of the spellings that failed are dropped once it is archived.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from alerts.settings import AlertRule
from flows.pipeline.claims import Rescue, UrlClaims
from flows.pipeline.cleaner import Cleaner
from flows.pipeline.context import Archives, RunSource
from flows.pipeline.runner import Runner
from flows.pipeline.source import count_pages
from flows.pipeline.stages import (
    Cleaned,
    Sighting,
    Stored,
    claim_outcomes,
    clean_pages,
    record_sightings,
    template_of,
    write_batch,
)
from flows.pipeline.summary import SourceReport
from flows.pipeline.writer import ArchiveWriter
from scrapers.fetch import Fetcher
from storage import fetchstate
from storage.archive import Archive
from storage.outbox import OutboxEntry


def rescue_claims(
    claims: UrlClaims,
    sources: dict[str, RunSource],
    reports: list[SourceReport],
    fetcher: Fetcher,
    archives: Archives,
    rules: list[AlertRule],
    runner: Runner,
    writer: ArchiveWriter,
    cleaner: Cleaner,
    committed: Callable[[list[OutboxEntry]], None] | None = None,
) -> int:
    """Fetch every failed page again under another source's spelling, for that source, until
    one works or none is left (one spelling per page per round); each source's report counts
    what it rescued. Its writes go through the run's `writer`; `committed(matches)` is told of
    the alert matches (immediate emails). How many pages were tried."""
    log = runner.logger()
    by_name = {r.source: r for r in reports}
    tried = 0
    while rescues := claims.rescues():
        groups: dict[str, list[Rescue]] = defaultdict(list)
        for rescue in rescues:
            groups[rescue.source].append(rescue)
        for name, group in groups.items():
            tried += len(group)
            report = by_name.get(name)
            log.info(
                "%s: rescue: %d page(s) another source of this run failed to fetch, tried under its own address(es)",
                name,
                len(group),
            )
            try:
                work = (sources[name], group, fetcher, archives, rules, claims, writer, cleaner)
                cleaned, stored = runner.stage("rescue", name, rescue_pages, *work)
            except Exception as e:  # noqa: BLE001 - the other sources' rescues go on
                if report is not None:
                    report.errors.append(f"rescue of {len(group)} page(s) failed: {type(e).__name__}: {e}")
                continue
            if stored.matches:
                runner.matched(stored.matches)
                if committed is not None:
                    committed(stored.matches)
            if report is not None:
                count_pages(report, cleaned, stored)
                report.notes.append(
                    f"{len(group)} page(s) another source of this run failed to fetch were fetched under this "
                    f"source's address(es): {stored.result.counts['new']} new article(s)"
                )
    return tried


def rescue_pages(
    source: RunSource,
    rescues: list[Rescue],
    fetcher: Fetcher,
    archives: Archives,
    rules: list[AlertRule],
    claims: UrlClaims,
    writer: ArchiveWriter,
    cleaner: Cleaner,
) -> tuple[Cleaned, Stored]:
    """One source's spellings of pages that failed under another source's: fetched, cleaned
    (as found by that source's discovery), stored with the alert rules (one write of the run's
    writer, as a batch of the source's), settled in the claims."""
    results = fetcher.for_source(source.url).fetch_many(r.url for r in rescues)
    with archives.reading() as archive:
        learned = template_of(archive, source.name)
    cleaned = Cleaned()
    for via in dict.fromkeys(r.found_via for r in rescues):
        chosen = [result for r, result in zip(rescues, results, strict=True) if r.found_via == via]
        cleaned.extend(clean_pages(source, chosen, cleaner, via, learned))
    prepared = None
    if cleaned.items:
        with archives.reading() as archive:
            prepared = archive.prepare(cleaned.items)
    result, matches = writer.call(write_batch, source, cleaned, prepared, rules, [])
    keys = {r.url: r.key for r in rescues}
    outcomes, failed = claim_outcomes(cleaned, result, lambda url: keys[url])
    owed = claims.settle(source.name, outcomes, failed)
    # The page is archived now: the spellings that failed are no longer failing pages.
    archived = [key for key, article_id in outcomes.items() if article_id is not None]
    writer.call(_settled, source, owed, [url for key in archived for url in claims.tried(key)])
    stored = Stored()
    stored.add(cleaned.items, result, matches)
    return cleaned, stored


def _settled(archive: Archive, source: RunSource, sightings: list[Sighting], recovered: list[str]) -> None:
    record_sightings(archive, source, sightings)
    fetchstate.forget_pages(archive, recovered)


def count_shares(report: SourceReport, claims: UrlClaims, archives: Archives) -> None:
    """The pages the source listed that another source of the run took, counted where they
    belong: a duplicate (`shared`) when the page became an archived article, not an article
    when the other source's copy was judged so, an error when every spelling's fetch failed.
    A source that has never yielded an article, and yields none now, is a warning."""
    shares = claims.shares_of(report.source)
    if not shares:
        return
    yielded = bool(report.new or report.duplicates)
    archived = sum(1 for s in shares if s.state == "article")
    if archived:
        report.duplicates["shared"] = archived
    else:
        report.duplicates.pop("shared", None)
    for share in shares:
        if share.state == "not-article":
            report.not_articles += 1
        elif share.state != "article":
            report.errors.append(
                f"{share.url}: not archived: source {share.taken_by} fetched this page for the run and failed "
                f"({share.error or 'no answer'})"
            )
    if yielded and not (report.new or report.duplicates) and report.ok and report.warning is None:
        with archives.reading() as archive:
            history = fetchstate.yield_history(archive, report.source)
        if not history.articles:
            report.warning = (
                "no article archived from it yet: the pages it listed were fetched by other sources of this run, "
                "and failed"
            )
