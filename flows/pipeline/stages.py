"""The stages of a source, each taking the previous one's output and returning plain data:
discover, plan, fetch, clean, store (with the alert outbox), then the pages settled and
remembered."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime

from alerts.match import new_candidates, record_matches
from alerts.settings import (
    AlertRule,
)
from errors import FetchError
from flows.pipeline.channels import Channel
from flows.pipeline.claims import Plan, UrlClaims
from flows.pipeline.clean_stage import clean_result
from flows.pipeline.cleaner import Cleaner
from flows.pipeline.context import Archives, RunSource, UrlLedger
from flows.pipeline.runner import Runner
from flows.pipeline.summary import NewArticle
from flows.pipeline.writer import ArchiveWriter
from scrapers import template
from scrapers.discover import Discovery, discover
from scrapers.fetch import Fetcher, FetchResult, Validators
from scrapers.links import Candidate
from scrapers.template import SourceTemplate
from storage import fetchstate, learned_templates
from storage.archive import Archive
from storage.db import Database, utc_iso
from storage.fetchstate import PageOutcome
from storage.outbox import OutboxEntry
from storage.records import BatchResult, Incoming, PreparedBatch

BATCH_PAGES = 50  # cleaned pages per store transaction...
BATCH_SECONDS = 2.0  # ...or fewer, once the batch's first page has waited this long


@dataclass
class Cleaned:
    """The clean stage's output: articles to store, and the pages that did not become one."""

    items: list[Incoming] = field(default_factory=list)
    outcomes: list[PageOutcome] = field(default_factory=list)
    item_urls: list[str] = field(default_factory=list)  # the URLs asked for that gave `items` (before redirects)

    def add(self, url: str, out: Incoming | PageOutcome) -> None:
        """One page's result: `url` is the URL asked for."""
        if isinstance(out, Incoming):
            self.items.append(out)
            self.item_urls.append(url)
        else:
            self.outcomes.append(out)

    def extend(self, other: Cleaned) -> None:
        self.items += other.items
        self.outcomes += other.outcomes
        self.item_urls += other.item_urls


@dataclass
class Stored:
    """The store stage's output: what the archive did with each item, and the outbox rows added."""

    result: BatchResult = field(default_factory=BatchResult)
    matches: list[OutboxEntry] = field(default_factory=list)
    new_articles: list[NewArticle] = field(default_factory=list)

    def add(self, items: list[Incoming], result: BatchResult, matches: list[OutboxEntry]) -> None:
        """One stored batch."""
        self.result.items += result.items
        self.matches += matches
        self.new_articles += [
            NewArticle(r.article_id, item.article.title, r.link or item.url or "", item.article.date)
            for item, r in zip(items, result.items, strict=True)
            if r.status == "new" and r.article_id is not None
        ]


def discover_source(
    source: RunSource, fetcher: Fetcher, archives: Archives, ledger: UrlLedger, recheck: bool = False
) -> Discovery:
    """New candidate URLs of one source: not archived, not known as non-articles, not failing
    (`ledger.known`). A page another source of this run has taken stays a candidate: it
    becomes a sighting."""
    with archives.reading() as archive:
        stored = {} if recheck else fetchstate.validators(archive, source.name)
    validators = {url: Validators(etag, modified) for url, (etag, modified) in stored.items()}
    return discover(source.spec, fetcher, validators=validators, is_known=ledger.known)


def plan_source(source: RunSource, found: Discovery, archives: Archives, ledger: UrlLedger, claims: UrlClaims) -> Plan:
    """This run's share of the source's candidates: the new ones and those kept waiting by
    earlier runs (still unknown), newest first (by the date the feed or sitemap gives; listing
    order otherwise), up to `max_new_per_run`, less what another source of the run fetches."""
    found_urls = set(found.urls)
    with archives.reading() as archive:
        waiting = fetchstate.waiting(archive, source.name)
    kept = [Candidate(url, lastmod, title) for url, lastmod, title in waiting if url not in found_urls]
    if kept:
        known = ledger.known([c.url for c in kept], shared_stay=False)
        kept = [c for c in kept if c.url not in known]
    # A stable sort: undated candidates keep their order (a listing's is newest first), after
    # the dated ones.
    candidates = sorted(found.candidates + kept, key=lambda c: c.lastmod or "", reverse=True)
    return claims.take(
        source.name, [(ledger.key(c.url), c) for c in candidates], source.max_new_per_run, found_via=found.kind
    )


def fetch_stream(fetcher: Fetcher, urls: list[str], out: Channel[FetchResult]) -> tuple[int, int]:
    """The pages, hosts in parallel, politely, each passed on as it arrives; a failure is a
    result, not a raise. (pages, failed)."""
    pages = failed = 0
    with closing(fetcher.stream(urls, buffer=2)) as results:
        for result in results:
            pages += 1
            failed += not result.ok
            out.put(result)
    out.close()
    return pages, failed


def clean_stream(
    source: RunSource,
    pages: Channel[FetchResult],
    out: Channel[tuple[str, Incoming | PageOutcome]],
    found_via: str | None,
    learned: SourceTemplate,
    cleaner: Cleaner,
    expected: int,
) -> None:
    """Each page cleaned as it arrives (`clean_result`; in the run's worker processes once
    there is enough work for them), passed on in order with the URL asked for."""
    cleaner.expect(expected)
    args = (source.name, source.profile, source.spec.urls, utc_iso(), found_via, learned)
    for result, outcome in cleaner.clean(
        pages, clean_result, args, local=lambda r: not r.ok, backlog=lambda: pages.waiting
    ):
        out.put((result.url, outcome))
    out.close()


def template_of(archive: Archive, source: str) -> SourceTemplate:
    """The source's learned template as of now: every page of a run is cleaned with it."""
    counts = learned_templates.load(archive, source, template.WINDOW)
    return SourceTemplate(source, counts.version, counts.pages, counts.counts)


def clean_pages(
    source: RunSource,
    results: Iterable[FetchResult],
    cleaner: Cleaner,
    found_via: str | None = None,
    learned: SourceTemplate | None = None,
) -> Cleaned:
    """Pages fetched all at once (a rescue, a recheck) cleaned by the run's `cleaner`: each
    within its deadline, as the clean stage's."""
    cleaned = Cleaned()
    args = (source.name, source.profile, source.spec.urls, utc_iso(), found_via, learned)
    for result, outcome in cleaner.clean(results, clean_result, args, local=lambda r: not r.ok):
        cleaned.add(result.url, outcome)
    return cleaned


def store_batch(
    archive: Archive,
    items: list[Incoming],
    rules: list[AlertRule],
    *,
    now: datetime | None = None,
    prepared: PreparedBatch | None = None,
) -> tuple[BatchResult, list[OutboxEntry]]:
    """Dedup and store a batch and record its alert matches, in ONE transaction.

    Only articles new to the archive are matched (a folded duplicate never alerts again);
    hashing is done before the transaction takes the write lock (`prepared`: done already,
    by the source's thread, while the run's writer wrote other sources' batches).
    """
    batch = prepared if prepared is not None else archive.prepare(items)
    with archive.transaction():
        result = archive.insert(batch)
        matches = record_matches(archive, rules, new_candidates(batch.items, result), now=now)
    return result, matches


# (the source that records it, the URL it listed, the article that page became)
Sighting = tuple[str, str, int]


def write_batch(
    archive: Archive,
    source: RunSource,
    batch: Cleaned,
    prepared: PreparedBatch | None,
    rules: list[AlertRule],
    sightings: list[Sighting],
) -> tuple[BatchResult, list[OutboxEntry]]:
    """Everything one batch of a source writes, as one write of the run's `ArchiveWriter`:
    its articles with their alert matches (`store_batch`), the learned template, the pages
    settled, and the sightings owed to the sources that listed the same pages."""
    result = BatchResult()
    matches: list[OutboxEntry] = []
    if batch.items:
        result, matches = store_batch(archive, batch.items, rules, prepared=prepared)
        learn_template(archive, batch.items, result)
    settle_pages(archive, source.name, batch)
    record_sightings(archive, source, sightings)
    return result, matches


def store_stream(
    writer: ArchiveWriter,
    source: RunSource,
    pages: Channel[tuple[str, Incoming | PageOutcome]],
    rules: list[AlertRule],
    ledger: UrlLedger,
    claims: UrlClaims,
    plan: Plan,
    runner: Runner,
    committed: Callable[[list[OutboxEntry]], None] | None = None,
) -> tuple[Cleaned, Stored, list[Sighting]]:
    """The cleaned pages stored in batches as they come (`BATCH_PAGES`, or what `BATCH_SECONDS`
    gathered), each batch one write of the run's writer (`write_batch`: its articles and alert
    outbox rows in one transaction, its pages settled, the sightings it owes other sources).
    Hashing happens here, in the source's thread. A crash loses only the batches not
    committed, which the next run fetches again. Returns every page's outcome, what the
    archive did, and the sightings still owed (for the source's last write).
    `committed(matches)`: called with each committed batch's outbox rows."""
    cleaned, stored = Cleaned(), Stored()
    owed: list[Sighting] = [(source.name, url, article_id) for url, article_id in plan.settled]
    for pairs in pages.batches(BATCH_PAGES, BATCH_SECONDS):
        batch = Cleaned()
        for url, out in pairs:
            batch.add(url, out)
        prepared = prepare(batch.items, ledger) if batch.items else None
        result, matches = writer.call(write_batch, source, batch, prepared, rules, owed)
        outcomes, failed = claim_outcomes(batch, result, ledger.key)
        owed = claims.settle(source.name, outcomes, failed) if outcomes else []
        runner.checkpoint("stored", source.name)
        if matches:
            runner.matched(matches)  # after the commit: never a match a rollback undid
            if committed is not None:
                committed(matches)
        cleaned.extend(batch)
        stored.add(batch.items, result, matches)
    return cleaned, stored, owed


def claim_outcomes(
    cleaned: Cleaned, result: BatchResult, key: Callable[[str], str]
) -> tuple[dict[str, int | None], dict[str, str]]:
    """What a stored batch's pages became, for the run's claims: URL key -> the archived
    article (None: none), and the keys whose fetch failed, with the error (another source's
    spelling of those pages is tried in the same run: `UrlClaims`)."""
    outcomes: dict[str, int | None] = {key(o.url): None for o in cleaned.outcomes}
    failed = {key(o.url): o.message for o in cleaned.outcomes if isinstance(o.error, FetchError)}
    outcomes.update((key(url), r.article_id) for url, r in zip(cleaned.item_urls, result.items, strict=True))
    return outcomes, failed


def prepare(items: list[Incoming], ledger: UrlLedger) -> PreparedBatch:
    """What deduplication compares for a batch (URL keys, content hash, MinHash): the costly
    part of storing, done in the source's thread."""
    with ledger.archives.reading() as archive:
        return archive.prepare(items)


def store_pages(archive: Archive, cleaned: Cleaned, rules: list[AlertRule]) -> Stored:
    stored = Stored()
    result, matches = store_batch(archive, cleaned.items, rules)
    learn_template(archive, cleaned.items, result)
    stored.add(cleaned.items, result, matches)
    return stored


def learn_template(archive: Archive, items: list[Incoming], result: BatchResult) -> None:
    """The new articles join their source's learned template (the paragraphs the template
    removed from them too: the page had them). After the batch's commit, in a transaction of
    its own: a crash in between only leaves the template a few pages short."""
    pages: dict[str, list[list[int]]] = {}
    for item, r in zip(items, result.items, strict=True):
        if r.status == "new":
            article = item.article
            pages.setdefault(item.source, []).append(
                template.page_keys([*article.paragraphs, *article.template_removed])
            )
    for source, keys in pages.items():
        learned_templates.record(archive, source, keys, template.WINDOW)


def remember_pages(
    archive: Archive, source: RunSource, found: Discovery, waiting: Sequence[Candidate], sightings: list[Sighting]
) -> None:
    """The source's last write, after its last batch is committed: the sightings still owed,
    the candidates left for the next runs, and only then the validators that let the next
    run skip unchanged discovery documents."""
    record_sightings(archive, source, sightings)
    fetchstate.keep_waiting(archive, source.name, [(c.url, c.lastmod, c.title) for c in waiting])
    fetchstate.save_validators(
        archive, source.name, {url: (v.etag, v.last_modified) for url, v in found.documents.items()}
    )


def record_sightings(archive: Archive, source: RunSource, sightings: list[Sighting]) -> None:
    """Pages listed by two sources of the run: `(sharer, url, article)` each records that
    `sharer` lists `article` at `url` (the other source fetched it, once)."""
    for sharer, url, article_id in sightings:
        archive.add_sighting(article_id, url, sharer, urls=source.spec.urls)


def settle_pages(archive: Database, source: str, cleaned: Cleaned) -> None:
    """Record the pages that did not become articles; forget those that did (a page that
    failed before and passes now is no longer rejected)."""
    fetchstate.record_pages(archive, source, cleaned.outcomes)
    fetchstate.forget_pages(archive, cleaned.item_urls + [i.url for i in cleaned.items if i.url])
