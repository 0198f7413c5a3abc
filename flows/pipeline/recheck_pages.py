"""Re-check rejected pages: fetch and clean them again, store those that pass now.

    report = recheck(load_config(), urls=[...])                  # these pages
    report = recheck(load_config(), source="apr", reason="not-article")

The same stages as an ingest run (`flows.pipeline`: fetch politely, `clean_result` with the
discovery kind recorded for the page and the source's learned template, `store_batch` with
the alert rules, then the pages settled), so a cleaner improved since a page was rejected
recovers it, with its alert matches. Each source is leased like an ingest run leases it: a
source an ingest run is working on is left alone and said so.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from alerts.settings import AlertRule
from flows.config.model import Config, Source
from flows.pipeline.cleaner import Cleaner
from flows.pipeline.context import RunContext, RunSource
from flows.pipeline.stages import Cleaned, clean_pages, settle_pages, store_pages, template_of
from flows.pipeline.summary import NewArticle
from scrapers.fetch import Fetcher
from storage import fetchstate, forget
from storage.archive import Archive
from storage.fetchstate import RejectedPage


@dataclass
class RecheckReport:
    checked: int = 0
    recovered: list[tuple[str, NewArticle]] = field(default_factory=list)  # (source, the new article)
    folded: int = 0  # now articles, but duplicates of archived ones (a sighting)
    still: Counter = field(default_factory=Counter)  # reason -> pages still rejected
    matches: int = 0  # alert matches recorded for the recovered articles
    skipped: list[str] = field(default_factory=list)  # one line per source left alone
    unknown: list[str] = field(default_factory=list)  # URLs asked for that are not rejected pages
    restored: list = field(default_factory=list)  # forgotten articles brought back (storage.forget.Forgotten)


def recheck(
    config: Config,
    *,
    urls: list[str] | None = None,
    source: str | None = None,
    reason: str | None = None,
    since: str | None = None,
) -> RecheckReport:
    report = RecheckReport()
    context = RunContext.build(config)
    try:
        archive = context.archives.here()
        pages = fetchstate.rejected(archive, urls=urls, source=source, reason=reason, since=since)
        if urls is not None:
            found = {p.url for p in pages}
            report.unknown = [u for u in dict.fromkeys(urls) if u not in found]
        # A forgotten article's page is archived already: a recheck brings the article back.
        report.restored = forget.undo_urls(archive, [p.url for p in pages if p.reason == forget.REASON])
        pages = [p for p in pages if p.reason != forget.REASON]
        by_source: dict[str, list[RejectedPage]] = {}
        for page in pages:
            by_source.setdefault(page.source, []).append(page)
        holder = f"recheck:{os.getpid()}"
        with Fetcher(context.fetch) as fetcher, Cleaner(config.clean_processes) as cleaner:
            for name, group in by_source.items():
                # The configured source, else (a source removed since) one with the profile of its host.
                run_source = context.sources.get(name) or RunSource.of(Source(name=name, url=group[0].url))
                _recheck_source(archive, run_source, group, fetcher, cleaner, context.rules, holder, report)
    finally:
        context.archives.close()
    return report


def _recheck_source(
    archive: Archive,
    source: RunSource,
    pages: list[RejectedPage],
    fetcher: Fetcher,
    cleaner: Cleaner,
    rules: list[AlertRule],
    holder: str,
    report: RecheckReport,
) -> None:
    lease = fetchstate.acquire_lease(archive, source.name, holder)
    if lease.held_by_other:
        report.skipped.append(
            f"{source.name}: left alone: an ingest run ({lease.holder}, pid {lease.pid} on "
            f"{lease.host}) is working on it; try again when it ends"
        )
        return
    try:
        # The networks the source's own url points to, as in an ingest run (transport.NetworkScope).
        scoped = fetcher.for_source(source.url)
        results = dict(zip([p.url for p in pages], scoped.fetch_many(p.url for p in pages), strict=True))
        learned = template_of(archive, source.name)
        cleaned = Cleaned()
        for via in dict.fromkeys(p.found_via for p in pages):
            chosen = [results[p.url] for p in pages if p.found_via == via]
            cleaned.extend(clean_pages(source, chosen, cleaner, via, learned))
        stored = store_pages(archive, cleaned, rules)
        settle_pages(archive, source.name, cleaned)
    finally:
        fetchstate.release_lease(archive, source.name, holder)
    report.checked += len(pages)
    report.recovered += [(source.name, a) for a in stored.new_articles]
    report.folded += sum(1 for r in stored.result.items if r.status == "duplicate")
    report.still.update(o.reason for o in cleaned.outcomes)
    report.matches += len(stored.matches)
