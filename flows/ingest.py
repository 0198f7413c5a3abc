"""The `ingest` Prefect flow: discover -> fetch -> clean -> dedup/store -> alert, per source.

Prefect wraps stages, it does not live inside them: each task below is a thin call into
`scrapers/`, `storage/` or `alerts/`, and can be called without Prefect as `task.fn(...)`.
There is one task per stage and source (tens per run, never one per article or request:
the Prefect server records only ~25-30 task runs/s on this project's machines); per-article
detail goes into the run's artifacts.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.utilities.annotations import opaque

from alerts.config import (AlertRule, HealthAlertSettings, SmtpSettings, load_alert_rules,
                           load_health_alerts, load_smtp_settings)
from errors import NewswatchError, NotAnArticle, UnexpectedFetchError
from flows.config import Config, Source, load_config
from scrapers.clean import clean_page
from scrapers.discover import Discovery, discover
from scrapers.fetch import FetchResult, Fetcher, Validators
from storage.archive import Archive, Incoming
from storage.fetchstate import FetchState, PageOutcome
from storage.outbox import OutboxEntry


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("newswatch.ingest")


# ----------------------------------------------------------------------------- results ---


@dataclass
class NewArticle:
    id: int
    title: str | None
    url: str
    published: str | None


@dataclass
class SourceReport:
    """What one source did in one run: the per-source line of the summary and the artifact."""

    source: str
    discovered: int = 0  # candidate URLs found not yet in the archive
    fetched: int = 0
    new: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # same_url / exact / near
    not_articles: int = 0
    errors: list[str] = field(default_factory=list)  # one line each: URL and what happened
    unchanged: bool = False  # every discovery document answered 304
    failed: str | None = None  # the source could not be processed at all
    skipped: str | None = None  # another ingest run was working on it
    new_articles: list[NewArticle] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None


@dataclass
class Cleaned:
    items: list[Incoming] = field(default_factory=list)
    outcomes: list[PageOutcome] = field(default_factory=list)


@dataclass
class IngestSummary:
    started_at: str
    finished_at: str | None = None
    sources: list[SourceReport] = field(default_factory=list)
    alerts_sent: int = 0
    alert_errors: list[str] = field(default_factory=list)
    health_alerts_sent: int = 0  # emails about unhealthy sources (errors go to alert_errors)
    feeds_written: int = 0  # Atom feeds rewritten in feeds_dir
    feed_errors: list[str] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)
    health: list[dict] = field(default_factory=list)  # storage.health.SourceHealth of each source run

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------ stages ---


@task(name="discover", cache_policy=NO_CACHE, persist_result=False)
def discover_stage(source: Source, fetcher: Fetcher, archive_path: Path, recheck: bool = False) -> Discovery:
    """New candidate URLs of one source: not archived, not known as non-articles, not failing."""
    with Archive.open(archive_path) as archive:
        state = FetchState(archive)
        stored = {} if recheck else state.validators(source.name)
        validators = {url: Validators(etag, modified) for url, (etag, modified) in stored.items()}

        def is_known(urls: list[str]) -> set[str]:
            if recheck:
                return set()
            return archive.known_urls(urls) | state.not_due(urls)

        found = discover(source.spec(), fetcher, validators=validators, is_known=is_known)
    _log().info("%s: discover: %d new candidate(s), %d link(s) seen%s%s", source.name,
                len(found.candidates), found.seen, ", unchanged (304)" if found.unchanged else "",
                f", {len(found.errors)} error(s)" if found.errors else "")
    return found


@task(name="fetch", cache_policy=NO_CACHE, persist_result=False)
def fetch_stage(source: Source, fetcher: Fetcher, found: Discovery) -> list[FetchResult]:
    results = fetcher.fetch_many(found.urls)
    failed = sum(1 for r in results if not r.ok)
    _log().info("%s: fetch: %d page(s), %d failed", source.name, len(results) - failed, failed)
    return results


@task(name="clean", cache_policy=NO_CACHE, persist_result=False)
def clean_stage(source: Source, results: list[FetchResult]) -> Cleaned:
    cleaned = Cleaned()
    fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in results:
        if not r.ok:  # an error, or no body at all (a 304 nobody asked for)
            cleaned.outcomes.append(PageOutcome(r.url, r.error or UnexpectedFetchError(
                r.url, f"the server sent no page (HTTP {r.status})")))
            continue
        try:
            article = clean_page(r.body, url=r.final_url, content_type=r.content_type, profile=source.profile)
        except NewswatchError as e:
            cleaned.outcomes.append(PageOutcome(r.url, e))
            continue
        if not article.is_article:
            cleaned.outcomes.append(PageOutcome(r.url, NotAnArticle(article.reason or "not an article")))
            continue
        cleaned.items.append(Incoming(article=article, source=source.name, url=r.final_url,
                                      fetched_at=fetched_at))
    _log().info("%s: clean: %d article(s), %d not article(s) or unreadable", source.name,
                len(cleaned.items), len(cleaned.outcomes))
    return cleaned


@task(name="store", cache_policy=NO_CACHE, persist_result=False)
def store_stage(source: Source, archive_path: Path, found: Discovery, cleaned: Cleaned,
                rules: list[AlertRule]) -> SourceReport:
    """Dedup + store the batch (and its alert matches) in one transaction, then the fetch state."""
    from alerts.outbox import archive_batch_with_alerts

    report = SourceReport(source=source.name, discovered=len(found.candidates),
                          unchanged=found.unchanged, errors=list(found.errors))
    if found.errors and not found.seen and not found.unchanged:
        # Not one discovery document could be read: the source is down, not merely quiet.
        report.failed, report.errors = found.errors[0], found.errors[1:]
    with Archive.open(archive_path) as archive:
        result, matches = archive_batch_with_alerts(archive, cleaned.items, rules)
        state = FetchState(archive)
        # Only now that the articles are committed may the validators say "nothing new".
        state.record_pages(source.name, cleaned.outcomes)
        state.forget_pages([i.url for i in cleaned.items if i.url])
        state.save_validators(source.name, {url: (v.etag, v.last_modified) for url, v in found.documents.items()})
        for item, r in zip(cleaned.items, result.items):
            if r.status == "new" and r.article_id is not None:
                report.new_articles.append(NewArticle(r.article_id, item.article.title, r.link or item.url or "",
                                                      item.article.date))
    if matches:
        # After the commit: an event must never announce a match that a rollback undid.
        emit_match_events(matches)
    counts = result.counts
    report.fetched = len(cleaned.items) + len(cleaned.outcomes)
    report.new = counts["new"]
    report.duplicates = {k: counts[k] for k in ("same_url", "exact", "near") if counts[k]}
    report.not_articles = sum(1 for o in cleaned.outcomes if isinstance(o.error, NotAnArticle))
    report.errors += [o.message for o in cleaned.outcomes if not isinstance(o.error, NotAnArticle)]
    _log().info("%s: store: %d new, %d duplicate(s), %d not article(s), %d error(s)", source.name,
                report.new, sum(report.duplicates.values()), report.not_articles, len(report.errors))
    return report


@task(name="alerts", cache_policy=NO_CACHE, persist_result=False)
def alert_stage(archive_path: Path, smtp: SmtpSettings | None) -> tuple[int, list[str]]:
    """Send every pending immediate alert (this run's, and any an earlier run could not send)."""
    from alerts.deliver import deliver_immediate

    if smtp is None:
        return 0, []
    with Archive.open(archive_path) as archive:
        report = deliver_immediate(archive, smtp)
    errors = [f"{f.recipient}: {f.error}" for f in report.failed]
    _log().info("alerts: %d email(s) sent, %d failed", len(report.sent), len(errors))
    return len(report.sent), errors


@task(name="feeds", cache_policy=NO_CACHE, persist_result=False)
def feeds_stage(archive_path: Path, rules: list[AlertRule], feeds_dir: Path) -> tuple[int, list[str]]:
    """Rewrite the Atom feeds (one per rule, one of all new articles), each atomically."""
    from alerts.feeds import write_feeds

    try:
        with Archive.open(archive_path) as archive:
            written = write_feeds(archive, rules, feeds_dir)
    except OSError as e:
        error = f"feeds: cannot write to {feeds_dir} ({e.strerror or e}): check feeds_dir: in the config"
        _log().error(error)
        return 0, [error]
    _log().info("feeds: %d Atom feed(s) written to %s", len(written), feeds_dir)
    return len(written), []


@task(name="health-alerts", cache_policy=NO_CACHE, persist_result=False)
def health_alert_stage(archive_path: Path, smtp: SmtpSettings, settings: HealthAlertSettings,
                       health: list[dict]) -> tuple[int, list[str]]:
    """Email the unhealthy sources not yet notified (one email per recipient), clear the recovered."""
    from alerts.health_notices import notify_unhealthy

    with Archive.open(archive_path) as archive:
        report = notify_unhealthy(archive, smtp, settings, health)
    errors = [f"health alert to {e}" for e in report.errors]
    _log().info("health alerts: %d email(s) sent, %d failed", len(report.sent), len(errors))
    return len(report.sent), errors


# -------------------------------------------------------------------------------- flow ---


def _run_name() -> str:
    return "ingest-" + datetime.now().strftime("%Y-%m-%dT%H:%M")


def selected_sources(config: Config, names: list[str] | None) -> list[Source]:
    if names:
        return [config.source(n) for n in names]
    return config.enabled_sources()


@flow(name="ingest", flow_run_name=_run_name, persist_result=False, log_prints=False)
def ingest(config_path: str | None = None, sources: list[str] | None = None,
           recheck: bool = False) -> dict:
    """One ingestion run of the configured sources; returns the summary (see IngestSummary)."""
    config = load_config(config_path)
    chosen = selected_sources(config, sources)
    _tag_run_with_sources(chosen)
    rules, rule_errors = load_alert_rules(config.alerts)
    smtp = load_smtp_settings(config.smtp) if config.smtp and rules else None
    health_alerts = load_health_alerts(config.health_alerts)
    if health_alerts is not None and not config.smtp:
        _log().warning("health_alerts: is set but smtp: is not: no health email can be sent")
        health_alerts = None
    archive_path = Path(config.archive)
    # Opening once up front migrates the archive and fails the run early if it is unwritable.
    with Archive.open(archive_path) as archive:
        archive.ensure_writable()

    summary = IngestSummary(started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    summary.rule_errors = [str(e) for e in rule_errors]
    for e in summary.rule_errors:
        _log().warning("alert rule skipped: %s", e)
    started = datetime.now(timezone.utc)
    holder = _run_holder()
    leased, skipped = _take_sources(archive_path, chosen, holder)
    summary.sources += skipped
    # The leases are held to the end of the run, health emails included: a run that took a
    # source over in between would judge it too, and could email the same problem again.
    try:
        with Fetcher(config.fetch_settings()) as fetcher:
            summary.sources += _run_sources(leased, fetcher, archive_path, rules, recheck)
        with Archive.open(archive_path) as archive:
            state = FetchState(archive)
            for report in summary.sources:
                if report.skipped:
                    continue
                state.record_run(report.source, started_at=started, ok=report.ok,
                                 counts={"discovered": report.discovered, "new": report.new,
                                         "duplicates": sum(report.duplicates.values()),
                                         "not_articles": report.not_articles, "errors": len(report.errors)},
                                 error=report.failed or (report.errors[0] if report.errors else None),
                                 flow_run=holder)
            summary.health = _health(archive, chosen)
        if smtp is not None:
            summary.alerts_sent, summary.alert_errors = alert_stage(archive_path, smtp)
        if config.feeds_dir is not None:
            summary.feeds_written, summary.feed_errors = feeds_stage(archive_path, rules, config.feeds_dir)
        if health_alerts is not None:
            # Only the sources this run worked on: a source another run holds is that run's to report.
            held = {s.name for s in leased}
            sent, errors = health_alert_stage(archive_path, load_smtp_settings(config.smtp), health_alerts,
                                              [h for h in summary.health if h["source"] in held])
            summary.health_alerts_sent = sent
            summary.alert_errors += errors
    finally:
        with Archive.open(archive_path) as archive:
            state = FetchState(archive)
            for source in leased:
                state.release_lease(source.name, holder)
    summary.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _publish_artifacts(summary)
    return summary.to_dict()


def _health(archive: Archive, sources: list[Source]) -> list[dict]:
    from storage.health import source_health

    health = source_health(archive, [(s.name, s.expected_interval) for s in sources])
    for h in health:
        for problem in h.problems:
            _log().warning("%s: unhealthy: %s", h.source, problem)
    return [h.to_dict() for h in health]


def _tag_run_with_sources(sources: list[Source]) -> None:
    """Tag this flow run `source:NAME` per source, however it was started (schedule, deployment
    run, `newswatch run`), so the UI finds a source's runs by tag."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    wanted = {f"source:{s.name}" for s in sources}
    with get_client(sync_client=True) as client:
        current = set(client.read_flow_run(flow_run.id).tags or [])
        if not wanted <= current:
            client.update_flow_run(flow_run.id, tags=sorted(current | wanted))


def _run_holder() -> str:
    from prefect.runtime import flow_run

    return f"flow-run:{flow_run.id}" if flow_run.id else f"process:{os.getpid()}"


def _take_sources(archive_path: Path, chosen: list[Source], holder: str) -> tuple[list[Source], list[SourceReport]]:
    """Lease each source for this run; a source another live run is working on is skipped."""
    leased, skipped = [], []
    with Archive.open(archive_path) as archive:
        state = FetchState(archive)
        for source in chosen:
            lease = state.acquire_lease(source.name, holder)
            if lease.held_by_other:
                why = (f"skipped: another ingest run ({lease.holder}, pid {lease.pid} on {lease.host}) "
                       f"has been working on it since {lease.acquired_at}")
                _log().warning("%s: %s", source.name, why)
                skipped.append(SourceReport(source=source.name, skipped=why))
            else:
                leased.append(source)
    return leased, skipped


def _run_sources(sources: list[Source], fetcher: Fetcher, archive_path: Path, rules: list[AlertRule],
                 recheck: bool) -> list[SourceReport]:
    """Submit every source's stage chain (sources run in parallel), then collect the reports."""
    pending = []
    for source in sources:
        # Task runs carry no tags: Prefect asks the server for a concurrency slot per tag of
        # every task run, and those requests serialised the sources (1,000-article bench:
        # 10.4 s with `source:` tags on the tasks, 7.3 s without). The flow run is tagged.
        # `opaque`: Prefect resolves the upstream future but does not walk the result (a
        # thousand pages and articles) looking for nested futures, which cost ~0.3 s per run.
        found = discover_stage.with_options(name=f"discover-{source.name}").submit(
            source, fetcher, archive_path, recheck)
        fetched = fetch_stage.with_options(name=f"fetch-{source.name}").submit(source, fetcher, opaque(found))
        cleaned = clean_stage.with_options(name=f"clean-{source.name}").submit(source, opaque(fetched))
        stored = store_stage.with_options(name=f"store-{source.name}").submit(
            source, archive_path, opaque(found), opaque(cleaned), rules)
        pending.append((source, [found, fetched, cleaned, stored]))
    return [_source_report(source, stages) for source, stages in pending]


def _source_report(source: Source, stages: list) -> SourceReport:
    """The store task's report, or a failed report naming the first stage that failed."""
    for future in stages:
        future.wait()
    if stages[-1].state.is_completed():
        return stages[-1].result()
    for stage, future in zip(("discover", "fetch", "clean", "store"), stages):
        if future.state.is_completed():
            continue
        try:
            future.result()
        except Exception as e:  # the source failed; the other sources go on
            detail = str(e) if isinstance(e, NewswatchError) else f"{type(e).__name__}: {e}"
        else:
            detail = f"ended in state {future.state.name}"
        message = f"{stage} stage failed: {detail}"
        break
    _log().error("%s: %s", source.name, message)
    return SourceReport(source=source.name, failed=message)


def emit_match_events(matches: list[OutboxEntry]) -> int:
    """Emit one Prefect event `newswatch.alert.matched` per (rule, article) just recorded, for
    Prefect automations; how many were emitted. Called after the commit that stored them."""
    from prefect.events import emit_event

    seen: set[tuple[str, int]] = set()
    for m in matches:
        if (m.rule, m.article_id) in seen:
            continue
        seen.add((m.rule, m.article_id))
        related = [{"prefect.resource.id": f"newswatch.rule.{m.rule}",
                    "prefect.resource.role": "alert-rule", "prefect.resource.name": m.rule}]
        if m.source:
            related.append({"prefect.resource.id": f"newswatch.source.{m.source}",
                            "prefect.resource.role": "source", "prefect.resource.name": m.source})
        emit_event(
            event="newswatch.alert.matched",
            resource={"prefect.resource.id": f"newswatch.article.{m.article_id}",
                      "prefect.resource.name": (m.title or "")[:200]},
            related=related,
            # What a webhook posts (flows/automations.py): the link is the clean canonical URL.
            payload={"rule": m.rule, "mode": m.mode, "story_id": m.story_id, "title": m.title or "",
                     "url": m.url or "", "source": m.source or ""},
        )
    return len(seen)


def _publish_artifacts(summary: IngestSummary) -> None:
    from flows.report import publish_ingest_artifacts

    publish_ingest_artifacts(summary)
