"""What an ingest run did: `IngestSummary` (one `SourceReport` per source), and the summary
printed at the end of `newswatch run` (plain text, one line per source).

`source_rows` is the per-source table both the text summary and the Prefect artifact
(`flows/report.py`) print.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple


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

    def counts(self) -> dict[str, int]:
        """What `source_runs` keeps of the run (storage.health judges the source on it)."""
        return {"discovered": self.discovered, "new": self.new, "duplicates": sum(self.duplicates.values()),
                "not_articles": self.not_articles, "errors": len(self.errors)}


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
    # storage.outbox.OutboxState after the run, and whether this run could send (smtp: set).
    outbox: dict = field(default_factory=dict)
    rule_errors: list[str] = field(default_factory=list)
    health: list[dict] = field(default_factory=list)  # storage.health.SourceHealth of each source run

    def to_dict(self) -> dict:
        return asdict(self)


class SourceRow(NamedTuple):
    source: str
    discovered: int
    new: int
    duplicates: dict[str, int]  # kind -> count
    not_articles: int
    errors: int
    state: str  # skipped, failed, unchanged, ok
    detail: str | None  # why it was skipped or failed


def source_rows(sources: list[dict]) -> list[SourceRow]:
    """One row per source of a summary (`SourceReport`s as dicts)."""
    rows = []
    for s in sources:
        state, detail = (("skipped", s["skipped"]) if s.get("skipped") else ("failed", s["failed"]) if s["failed"]
                         else ("unchanged", None) if s["unchanged"] else ("ok", None))
        # A source that failed outright counts its failure as an error, as its log line does.
        errors = len(s["errors"]) + (1 if s["failed"] else 0)
        rows.append(SourceRow(s["source"], s["discovered"], s["new"], s["duplicates"], s["not_articles"],
                              errors, state, detail))
    return rows


def format_summary(summary: dict) -> str:
    rows = [("source", "discovered", "new", "dupl.", "not art.", "errors", "state")]
    for r in source_rows(summary["sources"]):
        state = r.state.upper() if r.state in ("skipped", "failed") else r.state
        rows.append((r.source, str(r.discovered), str(r.new), str(sum(r.duplicates.values())),
                     str(r.not_articles), str(r.errors), state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    failures = [(s["source"], s["failed"]) for s in summary["sources"] if s["failed"]]
    failures += [(s["source"], s["skipped"]) for s in summary["sources"] if s.get("skipped")]
    errors = [(s["source"], e) for s in summary["sources"] for e in s["errors"]]
    if failures or errors:
        lines.append("")
        lines += [f"{src}: {msg}" if msg.startswith("skipped") else f"{src}: FAILED: {msg}"
                  for src, msg in failures]
        lines += [f"{src}: {msg}" for src, msg in errors[:50]]
        if len(errors) > 50:
            lines.append(f"... and {len(errors) - 50} more errors (newswatch sources shows the state per source)")
    new = [a for s in summary["sources"] for a in s["new_articles"]]
    if new:
        lines += ["", f"{len(new)} new article(s):"]
        lines += [f"  #{a['id']} {a['title'] or a['url']}" for a in new[:30]]
    lines += delivery_lines(summary)
    if summary.get("feeds_written"):
        lines.append(f"feeds: {summary['feeds_written']} Atom feed(s) rewritten")
    lines += [f"FAILED: {e}" for e in summary.get("feed_errors", [])]
    for e in summary.get("rule_errors", []):
        lines.append(f"alert rule skipped: {e}")
    if summary.get("ui_url"):
        lines += ["", f"this run in the Prefect UI: {summary['ui_url']}"]
    return "\n".join(lines)


def delivery_lines(summary: dict) -> list[str]:
    """Alert, digest and health emails: what was sent, what waits and why, what happens next."""
    lines = []
    box = summary.get("outbox") or {}
    sent, pending = summary.get("alerts_sent") or 0, box.get("pending_emails") or 0
    errors = list(summary.get("alert_errors") or [])
    if sent or pending or errors:
        lines.append("")
    if sent:
        lines.append(f"alerts: {sent} email(s) sent")
    if pending:
        head = f"alerts: {pending} alert email(s) pending ({box['pending_matches']} match(es))"
        if not box.get("sending"):
            lines.append(f"{head}: not sent: the config has no smtp: section (or no alert rule); "
                         "add it, then `newswatch alerts retry` sends them")
        elif box.get("last_error"):
            lines.append(f"{head}: {box['last_error']}")
            errors = [e for e in errors if not e.endswith(box["last_error"])]
        else:
            lines.append(f"{head}: matched after this run's delivery; the next run sends them")
    lines += [f"alerts: FAILED: {e} (pending; the next run or `newswatch alerts retry` sends it)"
              for e in errors]
    if box.get("digest_queued"):
        lines.append(f"digest: {box['digest_queued']} match(es) queued by this run "
                     f"({box['digest_pending']} waiting in all); the digest sends them "
                     "(its schedule, or `newswatch digest` now)")
    if summary.get("health_alerts_sent"):
        lines.append(f"source health: {summary['health_alerts_sent']} email(s) sent about unhealthy sources")
    return lines
