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

from alerts.settings import load_alert_rules
from flows.config.model import Config, Source
from flows.pipeline.stages import Cleaned, clean_pages, load_template, settle_pages, store_pages
from flows.pipeline.summary import NewArticle
from scrapers.fetch import Fetcher
from storage import fetchstate
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


def recheck(
    config: Config,
    *,
    urls: list[str] | None = None,
    source: str | None = None,
    reason: str | None = None,
    since: str | None = None,
) -> RecheckReport:
    report = RecheckReport()
    with Archive.open(config.archive) as archive:
        pages = fetchstate.rejected(archive, urls=urls, source=source, reason=reason, since=since)
    if urls is not None:
        found = {p.url for p in pages}
        report.unknown = [u for u in dict.fromkeys(urls) if u not in found]
    rules, _errors = load_alert_rules(config.alerts)
    by_source: dict[str, list[RejectedPage]] = {}
    for page in pages:
        by_source.setdefault(page.source, []).append(page)
    holder = f"recheck:{os.getpid()}"
    with Fetcher(config.fetch_settings()) as fetcher:
        for name, group in by_source.items():
            _recheck_source(config, _source(config, name, group[0].url), group, fetcher, rules, holder, report)
    return report


def _source(config: Config, name: str, url: str) -> Source:
    """The configured source, else (a source removed since) one with the profile of its host."""
    for s in config.sources:
        if s.name == name:
            return s
    return Source(name=name, url=url)


def _recheck_source(
    config: Config,
    source: Source,
    pages: list[RejectedPage],
    fetcher: Fetcher,
    rules,
    holder: str,
    report: RecheckReport,
) -> None:
    with Archive.open(config.archive) as archive:
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
        learned = load_template(config.archive, source.name)
        cleaned = Cleaned()
        for via in dict.fromkeys(p.found_via for p in pages):
            part = clean_pages(source, [results[p.url] for p in pages if p.found_via == via], via, learned)
            cleaned.items += part.items
            cleaned.outcomes += part.outcomes
            cleaned.item_urls += part.item_urls
        stored = store_pages(config.archive, cleaned, rules)
        with Archive.open(config.archive) as archive:
            settle_pages(archive, source.name, cleaned)
    finally:
        with Archive.open(config.archive) as archive:
            fetchstate.release_lease(archive, source.name, holder)
    report.checked += len(pages)
    report.recovered += [(source.name, a) for a in stored.new_articles]
    report.folded += sum(1 for r in stored.result.items if r.status == "duplicate")
    report.still.update(o.reason for o in cleaned.outcomes)
    report.matches += len(stored.matches)
