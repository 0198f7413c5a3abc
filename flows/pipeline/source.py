"""One source through every stage (`run_source`): discover, then fetch, clean and store
overlapping; what it did (`source_report`), and whether a source that yields nothing is a
warning (`zero_yield`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from alerts.settings import (
    AlertRule,
)
from errors import Gone, NewswatchError, NotAnArticle
from flows.pipeline.channels import Channel, Stage, StageFailed
from flows.pipeline.claims import Plan, UrlClaims
from flows.pipeline.cleaner import Cleaner
from flows.pipeline.context import Archives, RunSource, UrlLedger
from flows.pipeline.runner import Runner
from flows.pipeline.stages import (
    Cleaned,
    Stored,
    clean_stream,
    discover_source,
    fetch_stream,
    plan_source,
    remember_pages,
    store_stream,
    template_of,
)
from flows.pipeline.summary import SourceReport
from flows.pipeline.writer import ArchiveWriter
from scrapers.discover import Discovery
from scrapers.fetch import Fetcher, FetchResult
from storage import fetchstate
from storage.fetchstate import YieldHistory
from storage.outbox import OutboxEntry
from storage.outcomes import PageOutcome
from storage.records import Incoming

PAGES_WAITING = 8  # fetched pages waiting for the cleaner (each up to max_page_bytes)
CLEANED_WAITING = 64  # cleaned pages waiting for the store stage


def run_source(
    source: RunSource,
    fetcher: Fetcher,
    archives: Archives,
    rules: list[AlertRule],
    *,
    recheck: bool = False,
    runner: Runner | None = None,
    claims: UrlClaims | None = None,
    cleaner: Cleaner | None = None,
    writer: ArchiveWriter | None = None,
    committed: Callable[[list[OutboxEntry]], None] | None = None,
) -> SourceReport:
    """One source through every stage: discover, then fetch, clean and store overlapping. A
    stage that raises fails this source only: the report names the stage, and the other
    sources go on. `claims`: the URLs the run's sources share (one fetch per URL per run);
    `cleaner`: the run's (its worker processes), else one for this source; `writer`: the
    run's one writer of the archive, else one for this source; `committed(matches)`: told
    of the alert matches of each committed batch."""
    runner = runner or Runner()
    claims = claims if claims is not None else UrlClaims()
    name = source.name
    fetcher = fetcher.for_source(source.url)  # the networks its fetches may reach
    with ExitStack() as own:
        cleaner = cleaner or own.enter_context(Cleaner())
        writer = writer or own.enter_context(ArchiveWriter(archives.path))
        try:
            found, plan, cleaned, stored = _run_stages(
                source, fetcher, archives, rules, recheck, runner, claims, cleaner, writer, committed
            )
        except StageFailed as e:  # the source failed; the other sources go on
            return _failed(runner, name, e.stage, e.error)
    return reported(runner, archives, name, found, plan, cleaned, stored)


def reported(
    runner: Runner, archives: Archives, name: str, found: Discovery, plan: Plan, cleaned: Cleaned, stored: Stored
) -> SourceReport:
    """The source's report once its stages are done, logged; a source that yields nothing is
    a warning (`zero_yield`)."""
    log = runner.logger()
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
        with archives.reading() as archive:
            history = fetchstate.yield_history(archive, name)
        report.warning = zero_yield(report, found, history)
        if report.warning:
            log.warning("%s: WARNING: %s", name, report.warning)
    return report


def _failed(runner: Runner, name: str, stage: str, e: BaseException) -> SourceReport:
    return failed_report(runner, name, stage_failure(stage, e))


def stage_failure(stage: str, e: BaseException) -> str:
    """What the summary says of a stage that raised `e`."""
    detail = str(e) if isinstance(e, NewswatchError) else f"{type(e).__name__}: {e}"
    return f"{stage} stage failed: {detail}"


def failed_report(runner: Runner, name: str, message: str) -> SourceReport:
    runner.logger().error("%s: %s", name, message)
    return SourceReport(source=name, failed=message)


def _run_stages(
    source: RunSource,
    fetcher: Fetcher,
    archives: Archives,
    rules: list[AlertRule],
    recheck: bool,
    runner: Runner,
    claims: UrlClaims,
    cleaner: Cleaner,
    writer: ArchiveWriter,
    committed: Callable[[list[OutboxEntry]], None] | None,
) -> tuple[Discovery, Plan, Cleaned, Stored]:
    log = runner.logger()
    name = source.name
    ledger = UrlLedger(source, archives, claims, recheck=recheck)  # "is this URL new?", once per URL
    with stage_of("discover"):
        found = runner.stage("discover", name, discover_source, source, fetcher, archives, ledger, recheck)
        log_discovery(log, name, found)
        runner.checkpoint("discovered", f"{name} {len(found.candidates)}")
        plan = plan_source(source, found, archives, ledger, claims)
        log_plan(log, source, plan)
    with stage_of("clean"), archives.reading() as archive:
        learned = template_of(archive, name)
    # Fetch, clean and store at the same time, joined by bounded channels.
    pages: Channel[FetchResult] = Channel(PAGES_WAITING)
    outcomes: Channel[tuple[str, Incoming | PageOutcome]] = Channel(CLEANED_WAITING)
    (fetched, failed), _, (cleaned, stored, owed) = runner.overlap(
        name,
        [
            Stage("fetch", fetch_stream, (fetcher, plan.urls, pages), done="fetched"),
            Stage(
                "clean",
                clean_stream,
                (source, pages, outcomes, found.kind, learned, cleaner, len(plan.urls)),
                done="cleaned",
            ),
            Stage("store", store_stream, (writer, source, outcomes, rules, ledger, claims, plan, runner, committed)),
        ],
        [pages, outcomes],
    )
    log.info("%s: fetch: %d page(s), %d failed", name, fetched - failed, failed)
    log.info(
        "%s: clean: %d article(s), %d not article(s) or unreadable", name, len(cleaned.items), len(cleaned.outcomes)
    )
    with stage_of("store"):
        writer.call(remember_pages, source, found, plan.waiting, owed)
    runner.checkpoint("state", name)
    return found, plan, cleaned, stored


def log_discovery(log, name: str, found: Discovery) -> None:
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


def log_plan(log, source: RunSource, plan: Plan) -> None:
    if plan.shared or plan.waiting:
        log.info(
            "%s: plan: %d page(s) to fetch, %d fetched by another source of this run, %d waiting (max_new_per_run %d)",
            source.name,
            len(plan.fetch),
            len(plan.shared),
            len(plan.waiting),
            source.max_new_per_run,
        )


@contextmanager
def stage_of(name: str) -> Iterator[None]:
    """What raises inside is a failure of stage `name`."""
    try:
        yield
    except Exception as e:
        raise StageFailed(name, e) from e


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
        # `beyond_cap`: new links past max_entries, left for later runs as those past max_new_per_run
        discovered=len(plan.fetch) + len(plan.shared) + len(plan.waiting) + found.beyond_cap,
        unchanged=found.unchanged,
        errors=list(found.errors),
        notes=list(found.notes),
        waiting=len(plan.waiting) + found.beyond_cap,
    )
    if found.errors and not found.seen and not found.unchanged:
        # Not one discovery document could be read: the source is down, not merely quiet.
        report.failed, report.errors = found.errors[0], found.errors[1:]
    count_pages(report, cleaned, stored)
    if plan.shared:  # listed by another source of this run too: fetched once, a sighting here
        report.duplicates["shared"] = len(plan.shared)
    return report


def count_pages(report: SourceReport, cleaned: Cleaned, stored: Stored) -> None:
    """Add pages the source fetched, cleaned and stored to its report."""
    counts = stored.result.counts
    report.fetched += len(cleaned.items) + len(cleaned.outcomes)
    report.new += counts["new"]
    for kind in ("same_url", "exact", "near"):
        if counts[kind]:
            report.duplicates[kind] = report.duplicates.get(kind, 0) + counts[kind]
    report.not_articles += sum(1 for o in cleaned.outcomes if isinstance(o.error, NotAnArticle))
    rejected = Counter(report.rejected) + Counter(o.reason for o in cleaned.outcomes)
    report.rejected = dict(rejected.most_common())
    # A page that is gone (404, 410) is recorded as such: no error of the source.
    report.errors += [o.message for o in cleaned.outcomes if not isinstance(o.error, (NotAnArticle, Gone))]
    report.new_articles += stored.new_articles
