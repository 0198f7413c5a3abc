"""The run log in the Prefect UI: what an ingest run did, as artifacts."""
from __future__ import annotations

from dataclasses import asdict

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.summary import IngestSummary, delivery_lines, source_findings, source_rows


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def ingest_markdown(summary: IngestSummary) -> str:
    lines = [
        f"# Ingest run {summary.started_at} → {summary.finished_at}",
        "",
        "| source | discovered | new | duplicates | not articles | errors | state |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in source_rows([asdict(report) for report in summary.sources]):
        dups = ", ".join(f"{n} {k}" for k, n in r.duplicates.items()) or "0"
        state = {"skipped": _cell(r.detail), "failed": f"FAILED: {_cell(r.detail)}",
                 "warning": f"WARNING: {_cell(r.detail)}", "unchanged": "unchanged (304)"}.get(r.state, r.state)
        lines.append(f"| {r.source} | {r.discovered} | {r.new} | {dups} | {r.not_articles} | "
                     f"{r.errors} | {state} |")
    lines += ["", f"Alerts: {summary.alerts_sent} email(s) sent."]
    # Pending alerts and why, digest matches queued, health emails: as `newswatch run` says them.
    lines += [f"- {_cell(line)}" for line in delivery_lines(summary.to_dict()) if line]
    if getattr(summary, "feeds_written", 0):
        lines.append(f"Feeds: {summary.feeds_written} Atom feed(s) rewritten.")
    for e in getattr(summary, "feed_errors", []):
        lines.append(f"- {_cell(e)}")
    for e in summary.rule_errors:
        lines.append(f"- alert rule skipped: {_cell(e)}")
    lines += _health_lines(getattr(summary, "health", None) or [])
    findings = [line for r in summary.sources for line in source_findings(asdict(r), with_state=False)]
    if findings:
        lines += ["", "## Sources", ""] + [f"- {_cell(line)}" for line in findings]
    errors = [(r.source, e) for r in summary.sources for e in r.errors]
    if errors:
        lines += ["", "## Errors", ""] + [f"- **{s}**: {_cell(e)}" for s, e in errors]
    new = [(r.source, a) for r in summary.sources for a in r.new_articles]
    if new:
        lines += ["", "## New articles", "", "`newswatch show ID` prints one.", ""]
        lines += [f"- #{a.id} [{_cell(a.title) or a.url}]({a.url}) ({s}, {a.published or 'undated'})"
                  for s, a in new]
    return "\n".join(lines)


def _health_lines(health: list[dict]) -> list[str]:
    """storage.health.SourceHealth dicts: every problem of an unhealthy source, then the rest."""
    if not health:
        return []
    lines = ["", "## Source health", ""]
    ok = [h["source"] for h in health if h["healthy"]]
    if len(ok) == len(health):
        return lines + [f"All {len(ok)} source(s) healthy."]
    lines += [f"- **{h['source']}** UNHEALTHY: {_cell(p)}" for h in health for p in h["problems"]]
    if ok:
        lines += ["", f"Healthy: {', '.join(ok)}."]
    return lines


def publish_ingest_artifacts(summary: IngestSummary) -> None:
    create_markdown_artifact(markdown=ingest_markdown(summary), key="ingest-summary",
                             description="What each source did in this ingest run")
    rows = [{"id": a.id, "source": r.source, "title": a.title or "", "published": a.published or "",
             "url": a.url} for r in summary.sources for a in r.new_articles]
    if rows:
        create_table_artifact(table=rows, key="ingest-new-articles",
                              description="Articles archived by this run (newswatch show ID)")
