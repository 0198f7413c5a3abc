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

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.settings import HealthAlertSettings, SmtpSettings
from flows.config.model import Config, Source
from flows.pipeline.claims import UrlClaims
from flows.pipeline.cleaner import Cleaner
from flows.pipeline.context import Archives, RunContext, RunSource
from flows.pipeline.early_alerts import AlertsAsCommitted
from flows.pipeline.end_of_run import deliver_alerts, judge_health, outbox_snapshot, send_health_alerts, write_feeds
from flows.pipeline.remote import Desk, RemoteRun
from flows.pipeline.rescue import count_shares, rescue_claims
from flows.pipeline.runner import Delivery, Runner
from flows.pipeline.source import run_source
from flows.pipeline.stopping import stop_work_on_signals
from flows.pipeline.summary import IngestSummary, SourceReport
from flows.pipeline.writer import ArchiveWriter
from scrapers.fetch import Fetcher
from storage import fetchstate
from storage.db import utc_iso


@dataclass
class IngestRun:
    """One run's context and state, from `start_run` to `finish_run`."""

    context: RunContext
    holder: str  # who holds the leases (the flow run, or this process)
    smtp: SmtpSettings | None  # for the alert emails; None: no rules or no smtp:
    health_alerts: HealthAlertSettings | None
    summary: IngestSummary
    started: datetime
    leased: list[RunSource] = field(default_factory=list)

    @property
    def sources(self) -> list[RunSource]:
        """The sources chosen for this run."""
        return self.context.chosen

    @property
    def archives(self) -> Archives:
        return self.context.archives


def selected_sources(config: Config, names: list[str] | None) -> list[Source]:
    if names:
        return [config.source(n) for n in names]
    return config.enabled_sources()


def start_run(context: RunContext, *, holder: str | None = None, runner: Runner | None = None) -> IngestRun:
    """Check the archive can be written (its first open migrates it), lease the sources."""
    runner = runner or Runner()
    log = runner.logger()
    health_alerts = context.health_alerts
    if health_alerts is not None and context.smtp is None:
        log.warning("health_alerts: is set but smtp: is not: no health email can be sent")
        health_alerts = None
    started = datetime.now(UTC)
    run = IngestRun(
        context=context,
        holder=holder or f"process:{os.getpid()}",
        smtp=context.smtp if context.rules else None,
        health_alerts=health_alerts,
        summary=IngestSummary(started_at=utc_iso(started)),
        started=started,
    )
    context.archives.here()  # opened, migrated and checked writable: a run fails here, early
    run.summary.rule_errors = list(context.rule_errors)
    for e in run.summary.rule_errors:
        log.warning("alert rule skipped: %s", e)
    _lease(run, log)
    runner.checkpoint("leased")
    return run


def _lease(run: IngestRun, log) -> None:
    """Lease each source for this run (one transaction); a source another live run is working
    on is skipped."""
    archive = run.archives.here()
    leases = fetchstate.acquire_leases(archive, [s.name for s in run.sources], run.holder)
    for source, lease in zip(run.sources, leases, strict=True):
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
    fetchstate.release_leases(run.archives.here(), [s.name for s in run.leased], run.holder)


def run_sources(
    run: IngestRun, *, recheck: bool = False, runner: Runner | None = None, delivery: Delivery = Delivery()
) -> None:
    """Every leased source through `run_source` (in parallel if the runner does so), their
    writes through the run's one `ArchiveWriter`, immediate alerts sent as their matches are
    committed (`AlertsAsCommitted`)."""
    runner = runner or Runner()
    claims = UrlClaims()  # one fetch per URL per run, whichever source lists it
    context = run.context
    log = runner.logger()
    with (
        Fetcher(context.fetch) as fetcher,
        Cleaner(context.clean_processes) as cleaner,
        ArchiveWriter(context.archives.path) as writer,
        AlertsAsCommitted(context.archives.path, run.smtp, delivery, log) as alerts,
    ):
        if context.dask:
            remote = RemoteRun(
                run.leased,
                Desk(context.sources, context.archives, claims, recheck),
                context.fetch,
                context.rules,
                writer,
                runner,
                alerts.committed,
            )
            run.summary.sources += runner.on_cluster(context.dask, remote)
        else:
            cleaner.expect_sources(len(run.leased))
            run.summary.sources += runner.each_source(
                lambda source: run_source(
                    source,
                    fetcher,
                    context.archives,
                    context.rules,
                    recheck=recheck,
                    runner=runner,
                    claims=claims,
                    cleaner=cleaner,
                    writer=writer,
                    committed=alerts.committed,
                ),
                run.leased,
            )
        # Nothing lost behind a claim: a page whose fetch failed is tried under the other
        # sources' spellings of it, then every source counts the pages others took for it.
        rescue_claims(
            claims,
            context.sources,
            run.summary.sources,
            fetcher,
            context.archives,
            context.rules,
            runner,
            writer,
            cleaner,
            alerts.committed,
        )
    for report in run.summary.sources:
        count_shares(report, claims, context.archives)
    run.summary.alerts_sent += alerts.sent
    if cleaner.started:
        log.info("clean: %d page(s) cleaned in %d worker process(es)", cleaner.pool_pages, cleaner.workers)


def finish_run(run: IngestRun, *, runner: Runner | None = None, delivery: Delivery = Delivery()) -> IngestSummary:
    """Record each source's run, judge source health, then send the alert outbox, write the
    feeds and email new health problems. The leases stay held until `release`."""
    runner = runner or Runner()
    log = runner.logger()
    summary = run.summary
    context = run.context
    archive = run.archives.here()
    with archive.transaction():  # one commit for every source of the run
        for report in summary.sources:
            if not report.skipped:
                fetchstate.record_run(
                    archive,
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
        sent, summary.alert_errors = runner.stage("alerts", None, deliver_alerts, run.archives, run.smtp, delivery)
        summary.alerts_sent += sent
        log.info("alerts: %d email(s) sent, %d failed", sent, len(summary.alert_errors))
    if context.feeds_dir is not None:
        summary.feeds_written, summary.feed_errors = runner.stage(
            "feeds", None, write_feeds, run.archives, context.rules, context.feeds_dir, context.feeds_url
        )
        for error in summary.feed_errors:
            log.error(error)
        if not summary.feed_errors:
            log.info("feeds: %d Atom feed(s) written to %s", summary.feeds_written, context.feeds_dir)
    if run.health_alerts is not None and context.smtp is not None:
        # Only the sources this run worked on: a source another run holds is that run's to report.
        held = {s.name for s in run.leased}
        sent, errors = runner.stage(
            "health-alerts",
            None,
            send_health_alerts,
            run.archives,
            context.smtp,
            run.health_alerts,
            [h for h in summary.health if h["source"] in held],
            delivery,
        )
        log.info("health alerts: %d email(s) sent, %d failed", sent, len(errors))
        summary.health_alerts_sent = sent
        summary.alert_errors += errors
    summary.outbox = outbox_snapshot(run.archives, summary.started_at, sending=run.smtp is not None)
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
    delivery = delivery.for_run()  # an SMTP server that times out is tried once per run
    context = RunContext.build(config, names)  # the config is read here, and only here
    with stop_work_on_signals():  # a SIGTERM or Ctrl-C stops the fetches in hand at once
        try:
            run = start_run(context, holder=holder, runner=runner)
            try:
                run_sources(run, recheck=recheck, runner=runner, delivery=delivery)
                return finish_run(run, runner=runner, delivery=delivery)
            finally:
                release(run)
        finally:
            context.archives.close()
