"""The ingest run as plain code: discover -> fetch -> clean -> dedup/store -> alert.

    summary = ingest_run(load_config("newswatch.yaml"))           # the whole run, no Prefect

- `run_source(source, fetcher, archive_path, rules)` -> `SourceReport`: one source through
  the stages, in order, and what it did (counts, errors, new articles, outcome);
- `ingest_run(config, ...)`: lease the sources, `run_source` each, then `finish_run`: record
  each source's run, judge source health, send the alert outbox, write the feeds, email
  health problems; release the leases whatever happens.

`flows/ingest.py` is this code wrapped in Prefect (a `Runner` that makes each stage a task
and emits events); the fault suite, the benchmarks and `newswatch run` all execute it.

Stage boundaries: every stage takes the previous stage's output and returns plain data.
Within a source, fetch, clean and store overlap (`flows/streaming.py`): each page is passed on
through a bounded channel as soon as it is fetched, cleaned as it arrives (by `clean_result`,
from plain, picklable values: in worker processes when the run has enough pages to pay for
them), and stored in batches as they fill (`store_batch`: a batch's articles and their alert
outbox rows in one transaction). A batch's page outcomes are written after its commit, and
the discovery validators after the last batch, so a crash costs a re-fetch, never a missed
article.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alerts.config import (
    AlertRule,
    HealthAlertSettings,
    SmtpSettings,
    load_alert_rules,
    load_health_alerts,
    load_smtp_settings,
)
from alerts.email import send_email
from alerts.outbox import new_candidates, record_matches
from core.urls import UrlPolicy
from errors import Gone, NewswatchError, NotAnArticle, UnexpectedFetchError
from flows.config import Config, Source
from flows.stopping import stop_work_on_signals
from flows.streaming import Channel, Cleaner, Stage, StageFailed, overlap
from flows.summary import IngestSummary, NewArticle, SourceReport
from scrapers import template
from scrapers.clean import clean_page
from scrapers.discover import Discovery, discover
from scrapers.fetch import Fetcher, FetchResult, Validators
from scrapers.links import Candidate
from scrapers.template import SourceTemplate
from storage import fetchstate, learned_templates
from storage.archive import Archive, BatchResult, Incoming
from storage.db import Database, utc_iso
from storage.fetchstate import PageOutcome, YieldHistory
from storage.outbox import OutboxEntry

T = TypeVar("T")

PAGES_WAITING = 8  # fetched pages waiting for the cleaner (each up to max_page_bytes)
CLEANED_WAITING = 64  # cleaned pages waiting for the store stage
BATCH_PAGES = 50  # cleaned pages per store transaction...
BATCH_SECONDS = 2.0  # ...or fewer, once the batch's first page has waited this long

# ----------------------------------------------------------------------------- results ---


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


@dataclass
class Plan:
    """What a source fetches this run: its candidates, newest first, up to its
    `max_new_per_run`, less those another source of the run has taken."""

    fetch: list[Candidate] = field(default_factory=list)
    shared: list[Candidate] = field(default_factory=list)  # another source of this run fetches them
    settled: list[tuple[str, int]] = field(default_factory=list)  # of those, already archived: (url, article id)
    waiting: list[Candidate] = field(default_factory=list)  # beyond max_new_per_run: kept for the next runs

    @property
    def urls(self) -> list[str]:
        return [c.url for c in self.fetch]


@dataclass
class _Claim:
    source: str
    settled: bool = False
    article_id: int | None = None  # what the page became (None: not an article, or failed)
    sharers: list[tuple[str, str]] = field(default_factory=list)  # (source, its URL) to record a sighting for


class UrlClaims:
    """The URLs the sources of one run fetch: each one once. The first source to take a URL
    fetches it; another source listing it records a sighting of what it became instead, and
    waits for nothing: whichever of the two comes second records the sighting (the fetching
    source once its batch is stored, or the other one if that happened already). Thread-safe:
    the sources of a run go in parallel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, _Claim] = {}

    @staticmethod
    def key(url: str, urls: UrlPolicy = UrlPolicy()) -> str:
        return urls.key(url) or url

    def take(self, source: str, candidates: Iterable[Candidate], limit: int, urls: UrlPolicy = UrlPolicy()) -> Plan:
        """Split `candidates` (newest first) into what `source` fetches (at most `limit`), what
        another source fetches, and what waits for the next runs."""
        plan = Plan()
        with self._lock:
            for c in candidates:
                key = self.key(c.url, urls)
                claim = self._claims.get(key)
                if claim is not None and claim.source != source:
                    plan.shared.append(c)
                    if not claim.settled:
                        claim.sharers.append((source, c.url))
                    elif claim.article_id is not None:
                        plan.settled.append((c.url, claim.article_id))
                elif claim is not None:
                    continue  # listed twice by the same source
                elif len(plan.fetch) < limit:
                    self._claims[key] = _Claim(source)
                    plan.fetch.append(c)
                else:
                    plan.waiting.append(c)
        return plan

    def taken_by_others(self, source: str, pages: Iterable[str], urls: UrlPolicy = UrlPolicy()) -> set[str]:
        """The URLs another source of this run has taken (archived by now, or on their way)."""
        with self._lock:
            return {url for url in pages if (claim := self._claims.get(self.key(url, urls))) and claim.source != source}

    def settle(
        self, source: str, outcomes: dict[str, int | None], urls: UrlPolicy = UrlPolicy()
    ) -> list[tuple[str, str, int]]:
        """`source` stored its pages: URL -> the article it became (None: none). Returns the
        sightings it now records for the sources that listed them meanwhile: (source, url, article id)."""
        sightings = []
        with self._lock:
            for url, article_id in outcomes.items():
                claim = self._claims.get(self.key(url, urls))
                if claim is None or claim.source != source or claim.settled:
                    continue
                claim.settled, claim.article_id = True, article_id
                if article_id is not None:
                    sightings += [(sharer, seen, article_id) for sharer, seen in claim.sharers]
                claim.sharers = []
        return sightings


# ------------------------------------------------------------------------------ runner ---


class Runner:
    """How the stages of a run are executed. This one: directly, sources one after the other.

    `flows/ingest.py` subclasses it to make each stage a Prefect task and run the sources in
    parallel; the fault suite subclasses it to print `checkpoint`s, the points where a kill
    must leave a consistent archive.
    """

    def stage(self, name: str, source: str | None, fn: Callable[..., T], *args: Any) -> T:
        """Run one stage of one source (`source` None: a stage of the whole run)."""
        return fn(*args)

    def each_source(self, fn: Callable[[Source], SourceReport], sources: list[Source]) -> list[SourceReport]:
        return [fn(source) for source in sources]

    def overlap(self, source: str, stages: list[Stage], channels: list[Channel]) -> list[Any]:
        """One source's stages at the same time, each through `stage` in a thread of its own;
        their results. A stage that raises stops the others (`channels` are aborted) and is
        raised as `flows.streaming.StageFailed`."""

        def call(s: Stage) -> Any:
            result = self.stage(s.name, source, s.fn, *s.args)
            if s.done:
                self.checkpoint(s.done, source)
            return result

        return overlap([(s.name, functools.partial(call, s)) for s in stages], channels)

    def logger(self) -> logging.Logger | logging.LoggerAdapter:
        return logging.getLogger("newswatch.ingest")

    def matched(self, matches: list[OutboxEntry]) -> None:
        """Outbox rows a committed batch added (Prefect emits events for them)."""

    def checkpoint(self, step: str, source: str | None = None) -> None:
        """A step of the run is durable (`leased`, `discovered`, `stored`, `state`, `recorded`...)."""


@dataclass(frozen=True)
class Delivery:
    """How alert and health emails are sent: the SMTP call, the wait between retries, the clock."""

    send: Callable = send_email
    retry_delay: float = 5.0
    now: datetime | None = None


# ------------------------------------------------------------------------------ stages ---


def discover_source(
    source: Source, fetcher: Fetcher, archive_path: Path, recheck: bool = False, claims: UrlClaims | None = None
) -> Discovery:
    """New candidate URLs of one source: not archived, not known as non-articles, not failing.
    A page another source of this run has taken stays a candidate: it becomes a sighting."""
    spec = source.spec()
    params = spec.urls
    with Archive.open(archive_path) as archive:
        state = archive
        stored = {} if recheck else fetchstate.validators(state, source.name)
        validators = {url: Validators(etag, modified) for url, (etag, modified) in stored.items()}

        def is_known(urls: list[str]) -> set[str]:
            if recheck:
                return set()
            known = archive.known_urls(urls, params) | fetchstate.not_due(state, urls)
            return known - claims.taken_by_others(source.name, known, params) if claims and known else known

        return discover(spec, fetcher, validators=validators, is_known=is_known)


def plan_source(source: Source, found: Discovery, archive_path: Path, claims: UrlClaims, recheck: bool = False) -> Plan:
    """This run's share of the source's candidates: the new ones and those kept waiting by
    earlier runs (still unknown), newest first (by the date the feed or sitemap gives; listing
    order otherwise), up to `max_new_per_run`, less what another source of the run fetches."""
    spec = source.spec()
    found_urls = set(found.urls)
    with Archive.open(archive_path) as archive:
        state = archive
        kept = [
            Candidate(url, lastmod, title)
            for url, lastmod, title in fetchstate.waiting(state, source.name)
            if url not in found_urls
        ]
        if kept and not recheck:
            known = archive.known_urls([c.url for c in kept], spec.urls) | fetchstate.not_due(
                state, [c.url for c in kept]
            )
            kept = [c for c in kept if c.url not in known]
    # A stable sort: undated candidates keep their order (a listing's is newest first), after
    # the dated ones.
    candidates = sorted(found.candidates + kept, key=lambda c: c.lastmod or "", reverse=True)
    return claims.take(source.name, candidates, source.max_new_per_run, spec.urls)


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
    source: Source,
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
    args = (source.name, source.profile, source.spec().urls, utc_iso(), found_via, learned)
    for result, outcome in cleaner.clean(
        pages, clean_result, args, local=lambda r: not r.ok, backlog=lambda: pages.waiting
    ):
        out.put((result.url, outcome))
    out.close()


def clean_result(
    result: FetchResult,
    source: str,
    profile: str | None,
    urls: UrlPolicy,
    fetched_at: str,
    found_via: str | None = None,
    template: SourceTemplate | None = None,
) -> Incoming | PageOutcome:
    """One fetched page: the article to store, or why it did not become one (plain values in
    and out, so that it can run in another process). `found_via`: the discovery kind (a page
    a feed or sitemap announced gets the benefit of the doubt); `template`: the source's
    learned template."""

    def rejected(error: NewswatchError) -> PageOutcome:
        return PageOutcome(result.url, error, result.status, found_via)

    if not result.ok or result.body is None:  # an error, or no body at all (a 304 nobody asked for)
        return rejected(
            result.error or UnexpectedFetchError(result.url, f"the server sent no page (HTTP {result.status})")
        )
    try:
        article = clean_page(
            result.body,
            url=result.final_url,
            content_type=result.content_type,
            profile=profile,
            found_via=found_via,
            template=template,
        )
    except NewswatchError as e:
        return rejected(e)
    if not article.is_article:
        return rejected(NotAnArticle(article.reason or "not an article"))
    return Incoming(article=article, source=source, url=result.final_url, fetched_at=fetched_at, urls=urls)


def load_template(archive_path: Path, source: str) -> SourceTemplate:
    """The source's learned template as of now: every page of this run is cleaned with it."""
    with Archive.open(archive_path) as archive:
        return template_of(archive, source)


def template_of(archive: Archive, source: str) -> SourceTemplate:
    counts = learned_templates.load(archive, source, template.WINDOW)
    return SourceTemplate(source, counts.version, counts.pages, counts.counts)


def clean_pages(
    source: Source, results: Iterable[FetchResult], found_via: str | None = None, learned: SourceTemplate | None = None
) -> Cleaned:
    cleaned = Cleaned()
    fetched_at = utc_iso()
    params = source.spec().urls
    for r in results:
        cleaned.add(r.url, clean_result(r, source.name, source.profile, params, fetched_at, found_via, learned))
    return cleaned


def store_batch(
    archive: Archive, items: list[Incoming], rules: list[AlertRule], *, now: datetime | None = None
) -> tuple[BatchResult, list[OutboxEntry]]:
    """Dedup and store a batch and record its alert matches, in ONE transaction.

    Only articles new to the archive are matched (a folded duplicate never alerts again);
    hashing is done before the transaction takes the write lock.
    """
    batch = archive.prepare(items)
    with archive.transaction():
        result = archive.insert(batch)
        matches = record_matches(archive, rules, new_candidates(batch.items, result), now=now)
    return result, matches


def store_stream(
    archive_path: Path,
    source: Source,
    pages: Channel[tuple[str, Incoming | PageOutcome]],
    rules: list[AlertRule],
    claims: UrlClaims,
    plan: Plan,
    runner: Runner,
) -> tuple[Cleaned, Stored]:
    """The cleaned pages stored in batches as they come (`BATCH_PAGES`, or what `BATCH_SECONDS`
    gathered): each batch's articles and alert outbox rows in one transaction (`store_batch`),
    then its pages settled and the sightings it owes other sources. A crash loses only the
    batch in hand, which the next run fetches again. Returns every page's outcome and what
    the archive did."""
    cleaned, stored = Cleaned(), Stored()
    with Archive.open(archive_path) as archive:
        share_sightings(archive, source, claims, {}, plan.settled)
        for pairs in pages.batches(BATCH_PAGES, BATCH_SECONDS):
            batch, part = Cleaned(), Stored()
            for url, out in pairs:
                batch.add(url, out)
            if batch.items:
                result, matches = store_batch(archive, batch.items, rules)
                learn_template(archive, batch.items, result)
                part.add(batch.items, result, matches)
            settle_pages(archive, source.name, batch)
            outcomes: dict[str, int | None] = {o.url: None for o in batch.outcomes}
            outcomes.update((url, r.article_id) for url, r in zip(batch.item_urls, part.result.items, strict=True))
            share_sightings(archive, source, claims, outcomes, [])
            runner.checkpoint("stored", source.name)
            if part.matches:
                runner.matched(part.matches)  # after the commit: never a match a rollback undid
            cleaned.extend(batch)
            stored.add(batch.items, part.result, part.matches)
    return cleaned, stored


def store_pages(archive_path: Path, cleaned: Cleaned, rules: list[AlertRule]) -> Stored:
    stored = Stored()
    with Archive.open(archive_path) as archive:
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


def remember_pages(archive_path: Path, source: Source, found: Discovery, waiting: Sequence[Candidate] = ()) -> None:
    """After the last batch is committed: the candidates left for the next runs, and only then
    the validators that let the next run skip unchanged discovery documents."""
    with Archive.open(archive_path) as archive:
        state = archive
        fetchstate.keep_waiting(state, source.name, [(c.url, c.lastmod, c.title) for c in waiting])
        fetchstate.save_validators(
            state, source.name, {url: (v.etag, v.last_modified) for url, v in found.documents.items()}
        )


def share_sightings(
    archive: Archive, source: Source, claims: UrlClaims, outcomes: dict[str, int | None], settled: list[tuple[str, int]]
) -> int:
    """After a batch's commit: the sightings this source records for pages listed by two
    sources of the run: its own pages (`outcomes`: URL -> the article each became, None: none)
    another source listed meanwhile, and `settled`, pages another source stored before this
    one took them. How many."""
    params = source.spec().urls
    sightings = claims.settle(source.name, outcomes, params) if outcomes else []
    sightings += [(source.name, url, article_id) for url, article_id in settled]
    for sharer, url, article_id in sightings:
        archive.add_sighting(article_id, url, sharer, urls=params)
    return len(sightings)


def settle_pages(state: Database, source: str, cleaned: Cleaned) -> None:
    """Record the pages that did not become articles; forget those that did (a page that
    failed before and passes now is no longer rejected)."""
    fetchstate.record_pages(state, source, cleaned.outcomes)
    fetchstate.forget_pages(state, cleaned.item_urls + [i.url for i in cleaned.items if i.url])


# ------------------------------------------------------------------------- one source ---


def run_source(
    source: Source,
    fetcher: Fetcher,
    archive_path: Path,
    rules: list[AlertRule],
    *,
    recheck: bool = False,
    runner: Runner | None = None,
    claims: UrlClaims | None = None,
    cleaner: Cleaner | None = None,
) -> SourceReport:
    """One source through every stage: discover, then fetch, clean and store overlapping. A
    stage that raises fails this source only: the report names the stage, and the other
    sources go on. `claims`: the URLs the run's sources share (one fetch per URL per run);
    `cleaner`: the run's (its worker processes), else one for this source."""
    runner = runner or Runner()
    claims = claims if claims is not None else UrlClaims()
    log = runner.logger()
    name = source.name
    fetcher = fetcher.for_source(source.url)  # the networks its fetches may reach
    with ExitStack() as own:
        cleaner = cleaner or own.enter_context(Cleaner())
        try:
            found, plan, cleaned, stored = _run_stages(
                source, fetcher, archive_path, rules, recheck, runner, claims, cleaner
            )
        except StageFailed as e:  # the source failed; the other sources go on
            return _failed(runner, name, e.stage, e.error)
    report = source_report(name, found, cleaned, stored, plan)
    log.info(
        "%s: store: %d new, %d duplicate(s), %d not article(s), %d error(s)",
        name,
        report.new,
        sum(report.duplicates.values()),
        report.not_articles,
        len(report.errors),
    )
    if not report.failed:
        report.warning = zero_yield(report, found, yield_history(archive_path, name))
        if report.warning:
            log.warning("%s: WARNING: %s", name, report.warning)
    return report


def _failed(runner: Runner, name: str, stage: str, e: BaseException) -> SourceReport:
    detail = str(e) if isinstance(e, NewswatchError) else f"{type(e).__name__}: {e}"
    message = f"{stage} stage failed: {detail}"
    runner.logger().error("%s: %s", name, message)
    return SourceReport(source=name, failed=message)


def _run_stages(
    source: Source,
    fetcher: Fetcher,
    archive_path: Path,
    rules: list[AlertRule],
    recheck: bool,
    runner: Runner,
    claims: UrlClaims,
    cleaner: Cleaner,
) -> tuple[Discovery, Plan, Cleaned, Stored]:
    log = runner.logger()
    name = source.name
    with _stage("discover"):
        found = runner.stage("discover", name, discover_source, source, fetcher, archive_path, recheck, claims)
        log.info(
            "%s: discover: %d new candidate(s), %d article link(s) of %d link(s) to the site%s%s",
            name,
            len(found.candidates),
            found.seen,
            found.links,
            ", unchanged (304)" if found.unchanged else "",
            f", {len(found.errors)} error(s)" if found.errors else "",
        )
        for note in found.notes:
            log.warning("%s: discover: %s", name, note)
        runner.checkpoint("discovered", f"{name} {len(found.candidates)}")
        plan = plan_source(source, found, archive_path, claims, recheck)
        if plan.shared or plan.waiting:
            log.info(
                "%s: plan: %d page(s) to fetch, %d fetched by another source of this run, %d waiting "
                "(max_new_per_run %d)",
                name,
                len(plan.fetch),
                len(plan.shared),
                len(plan.waiting),
                source.max_new_per_run,
            )
    with _stage("clean"):
        learned = load_template(archive_path, name)
    # Fetch, clean and store at the same time, joined by bounded channels.
    pages: Channel[FetchResult] = Channel(PAGES_WAITING)
    outcomes: Channel[tuple[str, Incoming | PageOutcome]] = Channel(CLEANED_WAITING)
    (fetched, failed), _, (cleaned, stored) = runner.overlap(
        name,
        [
            Stage("fetch", fetch_stream, (fetcher, plan.urls, pages), done="fetched"),
            Stage(
                "clean",
                clean_stream,
                (source, pages, outcomes, found.kind, learned, cleaner, len(plan.urls)),
                done="cleaned",
            ),
            Stage("store", store_stream, (archive_path, source, outcomes, rules, claims, plan, runner)),
        ],
        [pages, outcomes],
    )
    log.info("%s: fetch: %d page(s), %d failed", name, fetched - failed, failed)
    log.info(
        "%s: clean: %d article(s), %d not article(s) or unreadable", name, len(cleaned.items), len(cleaned.outcomes)
    )
    with _stage("store"):
        remember_pages(archive_path, source, found, plan.waiting)
    runner.checkpoint("state", name)
    return found, plan, cleaned, stored


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """What raises inside is a failure of stage `name`."""
    try:
        yield
    except Exception as e:
        raise StageFailed(name, e) from e


def yield_history(archive_path: Path, source: str) -> YieldHistory:
    with Archive.open(archive_path) as archive:
        return fetchstate.yield_history(archive, source)


def zero_yield(report: SourceReport, found: Discovery, history: YieldHistory) -> str | None:
    """Why a source that yields nothing is not "ok" (None: it is).

    A source that has never yielded an article (its first run, and every run until one comes)
    is a warning, whatever the reason. One that used to yield articles is a warning when it
    now finds no article link at all: a quiet source still lists its old articles.
    """
    if report.new or report.duplicates:
        return None
    if history.articles:
        why = found.why_no_links()
        return (
            (
                f"{why}, though {history.articles} article(s) came from it before: has the site changed? "
                "check the profile or the URL"
            )
            if why
            else None
        )
    if found.unchanged:
        return history.last_warning or "no article archived from it yet, and its documents have not changed"
    why = found.why_no_links()
    if why:
        return why + (": check the profile or the URL" if found.links else "")
    rejected = report.rejected
    if report.fetched and set(rejected) == {"not-article"}:
        return f"all {report.fetched} fetched page(s) were not articles"
    if report.fetched:
        counts = ", ".join(f"{n} {reason}" for reason, n in rejected.items())
        return f"none of the {report.fetched} fetched page(s) became an article ({counts})"
    if found.seen and not found.candidates:
        return (
            f"its {found.seen} article link(s) were all rejected or failing in earlier runs: "
            f"`newswatch rejected --source {report.source}`"
        )
    return "no article archived from it yet"


def source_report(name: str, found: Discovery, cleaned: Cleaned, stored: Stored, plan: Plan) -> SourceReport:
    """The source's line of the summary, from what each stage returned."""
    report = SourceReport(
        source=name,
        discovered=len(plan.fetch) + len(plan.shared) + len(plan.waiting),
        unchanged=found.unchanged,
        errors=list(found.errors),
        notes=list(found.notes),
        waiting=len(plan.waiting),
    )
    if found.errors and not found.seen and not found.unchanged:
        # Not one discovery document could be read: the source is down, not merely quiet.
        report.failed, report.errors = found.errors[0], found.errors[1:]
    counts = stored.result.counts
    report.fetched = len(cleaned.items) + len(cleaned.outcomes)
    report.new = counts["new"]
    report.duplicates = {k: counts[k] for k in ("same_url", "exact", "near") if counts[k]}
    if plan.shared:  # listed by another source of this run too: fetched once, a sighting here
        report.duplicates["shared"] = len(plan.shared)
    report.not_articles = sum(1 for o in cleaned.outcomes if isinstance(o.error, NotAnArticle))
    report.rejected = dict(Counter(o.reason for o in cleaned.outcomes).most_common())
    # A page that is gone (404, 410) is recorded as such: no error of the source.
    report.errors += [o.message for o in cleaned.outcomes if not isinstance(o.error, (NotAnArticle, Gone))]
    report.new_articles = stored.new_articles
    return report


# ---------------------------------------------------------------------------- the run ---


@dataclass
class IngestRun:
    """One run's settings and state, from `start_run` to `finish_run`."""

    config: Config
    sources: list[Source]  # the sources chosen for this run
    holder: str  # who holds the leases (the flow run, or this process)
    rules: list[AlertRule]
    smtp: SmtpSettings | None  # for the alert emails; None: no rules or no smtp:
    health_alerts: HealthAlertSettings | None
    summary: IngestSummary
    started: datetime
    leased: list[Source] = field(default_factory=list)

    @property
    def archive_path(self) -> Path:
        return Path(self.config.archive)


def selected_sources(config: Config, names: list[str] | None) -> list[Source]:
    if names:
        return [config.source(n) for n in names]
    return config.enabled_sources()


def start_run(
    config: Config, names: list[str] | None = None, *, holder: str | None = None, runner: Runner | None = None
) -> IngestRun:
    """Validate the alert settings, check the archive can be written, lease the sources."""
    runner = runner or Runner()
    log = runner.logger()
    rules, rule_errors = load_alert_rules(config.alerts)
    health_alerts = load_health_alerts(config.health_alerts)
    if health_alerts is not None and not config.smtp:
        log.warning("health_alerts: is set but smtp: is not: no health email can be sent")
        health_alerts = None
    started = datetime.now(UTC)
    run = IngestRun(
        config=config,
        sources=selected_sources(config, names),
        holder=holder or f"process:{os.getpid()}",
        rules=rules,
        smtp=load_smtp_settings(config.smtp) if config.smtp and rules else None,
        health_alerts=health_alerts,
        summary=IngestSummary(started_at=utc_iso(started)),
        started=started,
    )
    # Opening once up front migrates the archive and fails the run early if it is unwritable.
    with Archive.open(run.archive_path) as archive:
        archive.ensure_writable()
    run.summary.rule_errors = [str(e) for e in rule_errors]
    for e in run.summary.rule_errors:
        log.warning("alert rule skipped: %s", e)
    _lease(run, log)
    runner.checkpoint("leased")
    return run


def _lease(run: IngestRun, log) -> None:
    """Lease each source for this run; a source another live run is working on is skipped."""
    with Archive.open(run.archive_path) as archive:
        state = archive
        for source in run.sources:
            lease = fetchstate.acquire_lease(state, source.name, run.holder)
            if lease.held_by_other:
                why = (
                    f"skipped: another ingest run ({lease.holder}, pid {lease.pid} on {lease.host}) "
                    f"has been working on it since {lease.acquired_at}"
                )
                log.warning("%s: %s", source.name, why)
                run.summary.sources.append(SourceReport(source=source.name, skipped=why))
            else:
                run.leased.append(source)


def release(run: IngestRun) -> None:
    with Archive.open(run.archive_path) as archive:
        state = archive
        for source in run.leased:
            fetchstate.release_lease(state, source.name, run.holder)


def run_sources(run: IngestRun, *, recheck: bool = False, runner: Runner | None = None) -> None:
    """Every leased source through `run_source` (in parallel if the runner does so)."""
    runner = runner or Runner()
    claims = UrlClaims()  # one fetch per URL per run, whichever source lists it
    with Fetcher(run.config.fetch_settings()) as fetcher, Cleaner(run.config.clean_processes) as cleaner:
        run.summary.sources += runner.each_source(
            lambda source: run_source(
                source,
                fetcher,
                run.archive_path,
                run.rules,
                recheck=recheck,
                runner=runner,
                claims=claims,
                cleaner=cleaner,
            ),
            run.leased,
        )
    if cleaner.started:
        runner.logger().info("clean: %d page(s) cleaned in %d worker process(es)", cleaner.pool_pages, cleaner.workers)


def finish_run(run: IngestRun, *, runner: Runner | None = None, delivery: Delivery = Delivery()) -> IngestSummary:
    """Record each source's run, judge source health, then send the alert outbox, write the
    feeds and email new health problems. The leases stay held until `release`."""
    runner = runner or Runner()
    log = runner.logger()
    summary = run.summary
    with Archive.open(run.archive_path) as archive:
        state = archive
        for report in summary.sources:
            if not report.skipped:
                fetchstate.record_run(
                    state,
                    report.source,
                    started_at=run.started,
                    ok=report.ok,
                    counts=report.counts(),
                    error=report.failed or (report.errors[0] if report.errors else None),
                    flow_run=run.holder,
                    state=report.state,
                    warning=report.warning,
                )
        summary.health = judge_health(archive, run.sources, log)
    runner.checkpoint("recorded")
    if run.smtp is not None:
        summary.alerts_sent, summary.alert_errors = runner.stage(
            "alerts", None, deliver_alerts, run.archive_path, run.smtp, delivery
        )
        log.info("alerts: %d email(s) sent, %d failed", summary.alerts_sent, len(summary.alert_errors))
    if run.config.feeds_dir is not None:
        summary.feeds_written, summary.feed_errors = runner.stage(
            "feeds", None, write_feeds, run.archive_path, run.rules, run.config.feeds_dir
        )
        for error in summary.feed_errors:
            log.error(error)
        if not summary.feed_errors:
            log.info("feeds: %d Atom feed(s) written to %s", summary.feeds_written, run.config.feeds_dir)
    if run.health_alerts is not None:
        # Only the sources this run worked on: a source another run holds is that run's to report.
        held = {s.name for s in run.leased}
        sent, errors = runner.stage(
            "health-alerts",
            None,
            send_health_alerts,
            run.archive_path,
            load_smtp_settings(run.config.smtp),
            run.health_alerts,
            [h for h in summary.health if h["source"] in held],
            delivery,
        )
        log.info("health alerts: %d email(s) sent, %d failed", sent, len(errors))
        summary.health_alerts_sent = sent
        summary.alert_errors += errors
    summary.outbox = outbox_snapshot(run.archive_path, summary.started_at, sending=run.smtp is not None)
    summary.finished_at = utc_iso()
    return summary


def ingest_run(
    config: Config,
    names: list[str] | None = None,
    *,
    recheck: bool = False,
    holder: str | None = None,
    runner: Runner | None = None,
    delivery: Delivery = Delivery(),
) -> IngestSummary:
    """One ingestion run of the configured sources (or of `names`), start to finish.

    The leases are held to the end of the run, health emails included: a run that took a
    source over in between would judge it too, and could email the same problem again. A
    signal stops the run's network work at once (`flows/stopping.py`): what was committed
    stays, the interrupted fetches are recorded nowhere, the leases are released.
    """
    runner = runner or Runner()
    with stop_work_on_signals():  # a SIGTERM or Ctrl-C stops the fetches in hand at once
        run = start_run(config, names, holder=holder, runner=runner)
        try:
            run_sources(run, recheck=recheck, runner=runner)
            return finish_run(run, runner=runner, delivery=delivery)
        finally:
            release(run)


# ---------------------------------------------------------------- end-of-run stages ---


def judge_health(archive: Archive, sources: list[Source], log) -> list[dict]:
    from storage.health import source_health

    health = source_health(archive, [(s.name, s.expected_interval) for s in sources])
    for h in health:
        for problem in h.problems:
            log.warning("%s: unhealthy: %s", h.source, problem)
    return [h.to_dict() for h in health]


def outbox_snapshot(archive_path: Path, since: str, *, sending: bool) -> dict:
    """What waits in the outbox after the run (pending emails and why, digest matches
    queued), for the summary; `sending`: this run could send (smtp: and rules set)."""
    from dataclasses import asdict

    from storage.outbox import outbox_state

    with Archive.open(archive_path) as archive:
        return {**asdict(outbox_state(archive, since=since)), "sending": sending}


def deliver_alerts(archive_path: Path, smtp: SmtpSettings, delivery: Delivery = Delivery()) -> tuple[int, list[str]]:
    """Send every pending immediate alert (this run's, and any an earlier run could not send)."""
    from alerts.deliver import deliver_immediate

    with Archive.open(archive_path) as archive:
        report = deliver_immediate(
            archive, smtp, send=delivery.send, retry_delay=delivery.retry_delay, now=delivery.now
        )
    return len(report.sent), [f"{f.recipient}: {f.error}" for f in report.failed]


def write_feeds(archive_path: Path, rules: list[AlertRule], feeds_dir: Path) -> tuple[int, list[str]]:
    """Rewrite the Atom feeds (one per rule, one of all new articles), each atomically."""
    from alerts.feeds import write_feeds as write

    try:
        with Archive.open(archive_path) as archive:
            written = write(archive, rules, feeds_dir)
    except OSError as e:
        return 0, [f"feeds: cannot write to {feeds_dir} ({e.strerror or e}): check feeds_dir: in the config"]
    return len(written), []


def send_health_alerts(
    archive_path: Path,
    smtp: SmtpSettings,
    settings: HealthAlertSettings,
    health: list[dict],
    delivery: Delivery = Delivery(),
) -> tuple[int, list[str]]:
    """Email the unhealthy sources not yet notified (one email per recipient), clear the recovered."""
    from alerts.health_notices import notify_unhealthy

    with Archive.open(archive_path) as archive:
        report = notify_unhealthy(
            archive, smtp, settings, health, send=delivery.send, retry_delay=delivery.retry_delay, now=delivery.now
        )
    return len(report.sent), [f"health alert to {e}" for e in report.errors]
