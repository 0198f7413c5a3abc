"""What an ingest run did: `IngestSummary` (one `SourceReport` per source), and the summary
printed at the end of `newswatch run` (plain text, one line per source).

`source_rows` is the per-source table both the text summary and the Prefect artifact
(`flows/orchestration/artifacts.py`) print.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from core.text import shorten


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
    notes: list[str] = field(default_factory=list)  # what discovery did that the reader should know
    rejected: dict[str, int] = field(default_factory=dict)  # pages that did not become articles, by reason
    warning: str | None = None  # why a source that yields nothing is not "ok" (one line)
    waiting: int = 0  # candidates beyond max_new_per_run, kept for the next runs
    unchanged: bool = False  # every discovery document answered 304
    failed: str | None = None  # the source could not be processed at all
    skipped: str | None = None  # another ingest run was working on it
    new_articles: list[NewArticle] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def state(self) -> str:
        return source_state(asdict(self))

    def counts(self) -> dict[str, int]:
        """What `source_runs` keeps of the run (storage.health judges the source on it)."""
        return {
            "discovered": self.discovered,
            "new": self.new,
            "duplicates": sum(self.duplicates.values()),
            "not_articles": self.not_articles,
            "errors": len(self.errors),
        }


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
        """The summary as plain data (the flow's result, `newswatch run --json`): each source
        with its `state`, and `attention`, why the run needs attention (empty: it does not)."""
        data = asdict(self)
        for source in data["sources"]:
            source["state"] = source_state(source)
        data["attention"] = attention(data)
        return data


class SourceRow(NamedTuple):
    source: str
    discovered: int
    new: int
    duplicates: dict[str, int]  # kind -> count
    not_articles: int
    errors: int
    state: str  # skipped, failed, warning, unchanged, ok (see source_state)
    detail: str | None  # why it was skipped, failed or is a warning


# A source's state after a run, worst first:
#   skipped    another ingest run was working on it;
#   failed     not one of its discovery documents could be read (or a stage crashed);
#   warning    it yields nothing: its first run stored no article, or it used to yield
#              articles and now finds no article link at all (the reason says which);
#   unchanged  every discovery document answered 304;
#   ok         the rest.


def state_label(state: str) -> str:
    """A state as the summary, the artifact and `newswatch sources` show it: the states that
    need a look in capitals (SKIPPED, FAILED, WARNING), the others as they are."""
    return state.upper() if state in ("skipped", "failed", "warning") else state


def source_state(s: dict) -> str:
    if s.get("skipped"):
        return "skipped"
    if s.get("failed"):
        return "failed"
    if s.get("warning"):
        return "warning"
    return "unchanged" if s.get("unchanged") else "ok"


def attention(summary: dict) -> list[str]:
    """Why a completed run needs attention, one short reason each (empty: it does not): a
    source FAILED or in WARNING, alert emails that did not go out (SMTP refused or down, no
    smtp: section), an alert rule set aside, feeds not written. `newswatch run` exits 3 then;
    the summary's lines say what happens next."""
    reasons = [
        f"{s['source']}: {source_state(s).upper()}"
        for s in summary["sources"]
        if source_state(s) in ("failed", "warning")
    ]
    box = summary.get("outbox") or {}
    unsent = len(summary.get("alert_errors") or [])
    if box.get("pending_emails") and (not box.get("sending") or box.get("last_error")):
        unsent = max(unsent, box["pending_emails"])
    if unsent:
        reasons.append(f"{unsent} email(s) not sent")
    if summary.get("rule_errors"):
        reasons.append(f"{len(summary['rule_errors'])} alert rule(s) set aside")
    if summary.get("feed_errors"):
        reasons.append("feeds not written")
    return reasons


def source_rows(sources: list[dict]) -> list[SourceRow]:
    """One row per source of a summary (`SourceReport`s as dicts)."""
    rows = []
    for s in sources:
        state = source_state(s)
        detail = {"skipped": s.get("skipped"), "failed": s.get("failed"), "warning": s.get("warning")}.get(state)
        # A source that failed outright counts its failure as an error, as its log line does.
        errors = len(s["errors"]) + (1 if s["failed"] else 0)
        rows.append(
            SourceRow(s["source"], s["discovered"], s["new"], s["duplicates"], s["not_articles"], errors, state, detail)
        )
    return rows


def source_findings(s: dict, *, with_state: bool = True) -> list[str]:
    """What a summary says about one source beyond its row, one line each (the errors apart);
    `with_state`: the reason of a skipped, failed or warning state first."""
    name = s["source"]
    state = source_state(s) if with_state else None
    lines = []
    if state == "skipped":
        lines.append(f"{name}: {s['skipped']}")
    elif state == "failed":
        lines.append(f"{name}: FAILED: {s['failed']}")
    elif state == "warning":
        lines.append(f"{name}: WARNING: {s['warning']}")
    lines += [f"{name}: note: {note}" for note in s.get("notes") or []]
    if s.get("waiting"):
        lines.append(
            f"{name}: {s['waiting']} more new page(s) wait for the next runs (max_new_per_run); "
            "they are taken newest first"
        )
    rejected = s.get("rejected") or {}
    if rejected:
        counts = ", ".join(f"{n} {reason}" for reason, n in rejected.items())
        lines.append(
            f"{name}: {sum(rejected.values())} page(s) rejected ({counts}); "
            f"`newswatch rejected --source {name}` lists them"
        )
    return lines


TABLE_ROWS = 20  # a summary with more sources shows counts, then the rows of those that need attention
FINDINGS_MAX = 50  # lines about sources (failures, notes, rejections), errors: at most this many each
NEW_ARTICLES_SHOWN = 30


def needs_attention(row: SourceRow) -> bool:
    return row.state in ("skipped", "failed", "warning")


def state_counts(rows: list[SourceRow]) -> str:
    """`998 ok, 1 unchanged, 1 FAILED`: the sources by state, in the order states are judged."""
    counts = Counter(r.state for r in rows)
    order = ("ok", "unchanged", "failed", "warning", "skipped")
    return ", ".join(f"{counts[state]} {state_label(state)}" for state in order if counts[state])


def totals_line(rows: list[SourceRow]) -> str:
    dups = sum(sum(r.duplicates.values()) for r in rows)
    return (
        f"{len(rows)} sources ({state_counts(rows)}): {sum(r.discovered for r in rows)} discovered, "
        f"{sum(r.new for r in rows)} new, {dups} duplicate(s), {sum(r.not_articles for r in rows)} not article(s), "
        f"{sum(r.errors for r in rows)} error(s)"
    )


def needs_attention_line(report: SourceReport) -> str | None:
    """`NAME: FAILED: reason` or `NAME: WARNING: reason` for a source that needs attention (the
    message of its Prefect task run's Failed state); None for the others."""
    data = asdict(report)
    if source_state(data) not in ("failed", "warning"):
        return None
    return shorten(source_findings(data)[0])


def shard_attention(reports: list[SourceReport]) -> str | None:
    """`N of M source(s) need attention: a: FAILED: ...; b: WARNING: ...` for a shard of a
    large run (the message of its task run's Failed state); None when none does."""
    lines = [line for line in map(needs_attention_line, reports) if line]
    if not lines:
        return None
    return shorten(f"{len(lines)} of {len(reports)} source(s) need attention: " + "; ".join(lines))


def source_line_of(report: SourceReport) -> str:
    """One line for a source's run (a large run's log has one per source)."""
    row = source_rows([asdict(report)])[0]
    counts = (
        f"{row.discovered} discovered, {row.new} new, {sum(row.duplicates.values())} duplicate(s), "
        f"{row.not_articles} not article(s), {row.errors} error(s)"
    )
    state = state_label(row.state) + (f": {row.detail}" if row.detail else "")
    return shorten(f"{row.source}: {counts}: {state}")


def format_summary(summary: dict) -> str:
    """The summary `newswatch run` prints. Up to `TABLE_ROWS` sources: one row each; more:
    the counts, then the rows of the sources that need attention (every row is in `run
    --json` and the run's `ingest-sources` artifact). Every line is shortened to `LINE_MAX`."""
    all_rows = source_rows(summary["sources"])
    rows = all_rows
    lines: list[str] = []
    if len(all_rows) > TABLE_ROWS:
        lines.append(totals_line(all_rows))
        rows = [r for r in all_rows if needs_attention(r)]
    table = [("source", "discovered", "new", "dupl.", "not art.", "errors", "state")]
    for r in rows[:TABLE_ROWS]:
        table.append(
            (
                shorten(r.source, 60),
                str(r.discovered),
                str(r.new),
                str(sum(r.duplicates.values())),
                str(r.not_articles),
                str(r.errors),
                state_label(r.state),
            )
        )
    if rows or len(all_rows) <= TABLE_ROWS:
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        lines += [
            "  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in table
        ]
    if len(rows) > TABLE_ROWS:
        lines.append(
            f"... and {len(rows) - TABLE_ROWS} more source(s) that need attention "
            "(`newswatch run --json` and the run's ingest-sources artifact list every source)"
        )
    # Failures and warnings first, then what discovery noted and what was rejected.
    states = [
        line
        for s in summary["sources"]
        for line in source_findings(s)[:1]
        if source_state(s) in ("skipped", "failed", "warning")
    ]
    findings = states + [line for s in summary["sources"] for line in source_findings(s, with_state=False)]
    errors = [(s["source"], e) for s in summary["sources"] for e in s["errors"]]
    if findings or errors:
        lines.append("")
        lines += findings[:FINDINGS_MAX]
        if len(findings) > FINDINGS_MAX:
            lines.append(f"... and {len(findings) - FINDINGS_MAX} more line(s) about sources (`newswatch run --json`)")
        lines += [f"{src}: {msg}" for src, msg in errors[:FINDINGS_MAX]]
        if len(errors) > FINDINGS_MAX:
            lines.append(
                f"... and {len(errors) - FINDINGS_MAX} more errors (newswatch sources shows the state per source)"
            )
    new = [a for s in summary["sources"] for a in s["new_articles"]]
    if new:
        lines += ["", f"{len(new)} new article(s):"]
        lines += [f"  #{a['id']} {a['title'] or a['url']}" for a in new[:NEW_ARTICLES_SHOWN]]
        if len(new) > NEW_ARTICLES_SHOWN:
            lines.append(f"  ... and {len(new) - NEW_ARTICLES_SHOWN} more (`newswatch search`, the reading room)")
    lines += delivery_lines(summary)
    if summary.get("feeds_written"):
        lines.append(f"feeds: {summary['feeds_written']} Atom feed(s) rewritten")
    lines += [f"FAILED: {e}" for e in summary.get("feed_errors", [])]
    from alerts.settings import set_aside_notice

    lines += [f"alerts: {set_aside_notice(e)}" for e in summary.get("rule_errors", [])]
    if summary.get("ui_url"):
        lines += ["", f"this run in the Prefect UI: {summary['ui_url']}"]
    from core.text import inert

    # Page text cannot drive the terminal, nor fill it: a 2 MB link is one short line.
    return "\n".join(shorten(inert(line)) for line in lines)


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
            lines.append(
                f"{head}: not sent: the config has no smtp: section (or no alert rule); "
                "add it, then `newswatch alerts retry` sends them"
            )
        elif box.get("last_error"):
            lines.append(f"{head}: {box['last_error']}")
            errors = [e for e in errors if not e.endswith(box["last_error"])]
        else:
            lines.append(f"{head}: matched after this run's delivery; the next run sends them")
    lines += [f"alerts: FAILED: {e} (pending; the next run or `newswatch alerts retry` sends it)" for e in errors]
    if box.get("digest_queued"):
        lines.append(
            f"digest: {box['digest_queued']} match(es) queued by this run "
            f"({box['digest_pending']} waiting in all); the digest sends them "
            "(its schedule, or `newswatch digest` now)"
        )
    if summary.get("health_alerts_sent"):
        lines.append(f"source health: {summary['health_alerts_sent']} email(s) sent about unhealthy sources")
    return lines
