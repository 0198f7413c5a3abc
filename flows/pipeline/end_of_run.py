"""The end of an ingest run: source health judged, the alert outbox sent, the feeds written,
health problems emailed, what waits in the outbox."""

from __future__ import annotations

from pathlib import Path

from alerts.settings import AlertRule, HealthAlertSettings, SmtpSettings
from flows.pipeline.context import Archives, RunSource
from flows.pipeline.runner import Delivery
from storage.archive import Archive


def judge_health(archive: Archive, sources: list[RunSource], log) -> list[dict]:
    from storage.health import source_health

    health = source_health(archive, [(s.name, s.expected_interval) for s in sources])
    for h in health:
        for problem in h.problems:
            log.warning("%s: unhealthy: %s", h.source, problem)
    return [h.to_dict() for h in health]


def outbox_snapshot(archives: Archives, since: str, *, sending: bool) -> dict:
    """What waits in the outbox after the run (pending emails and why, digest matches
    queued), for the summary; `sending`: this run could send (smtp: and rules set)."""
    from dataclasses import asdict

    from storage.outbox import outbox_state

    return {**asdict(outbox_state(archives.here(), since=since)), "sending": sending}


def deliver_alerts(archives: Archives, smtp: SmtpSettings, delivery: Delivery = Delivery()) -> tuple[int, list[str]]:
    """Send every pending immediate alert (this run's, and any an earlier run could not send)."""
    from alerts.deliver import deliver_immediate

    report = deliver_immediate(
        archives.here(), smtp, send=delivery.send, retry_delay=delivery.retry_delay, now=delivery.now
    )
    return len(report.sent), [f"{f.recipient}: {f.error}" for f in report.failed]


def write_feeds(
    archives: Archives, rules: list[AlertRule], feeds_dir: Path, feeds_url: str | None = None
) -> tuple[int, list[str]]:
    """Rewrite the Atom feeds (one per rule, one of all new articles), each atomically."""
    from alerts.atom import write_feeds as write

    try:
        written = write(archives.here(), rules, feeds_dir, feeds_url=feeds_url)
    except OSError as e:
        return 0, [f"feeds: cannot write to {feeds_dir} ({e.strerror or e}): check feeds_dir: in the config"]
    return len(written), []


def send_health_alerts(
    archives: Archives,
    smtp: SmtpSettings,
    settings: HealthAlertSettings,
    health: list[dict],
    delivery: Delivery = Delivery(),
) -> tuple[int, list[str]]:
    """Email the unhealthy sources not yet notified (one email per recipient), clear the recovered."""
    from alerts.health_notices import notify_unhealthy

    report = notify_unhealthy(
        archives.here(), smtp, settings, health, send=delivery.send, retry_delay=delivery.retry_delay, now=delivery.now
    )
    return len(report.sent), [f"health alert to {e}" for e in report.errors]
