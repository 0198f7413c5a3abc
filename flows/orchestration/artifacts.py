"""The run log in the Prefect UI: what an ingest run did, as artifacts.

Titles, URLs and error messages come from pages strangers wrote. In the markdown artifact
every one of them is text: each ASCII punctuation character is backslash-escaped (no
emphasis, link, image, HTML, code, table cell break or autolink can start), invisible and
bidi characters are dropped (`core.text`), and the only links are the ones written here,
to http(s) addresses, percent-encoded. A link's own text is the one exception (see `md_link`).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from urllib.parse import quote, urlsplit

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from alerts.settings import set_aside_notice
from core.text import inert_line, inert_url
from flows.pipeline.summary import IngestSummary, delivery_lines, source_findings, source_rows

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
# What could start a construct inside a link's text (emphasis, code, HTML, an entity, a nested
# link or image, a table cell, an autolink), or end it early.
_LABEL_UNSAFE = re.compile(r"[\\\[\]`<>*_~&!|]|^[#+\-=]|www\.|://|@")
_PLAIN_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
# Kept as they are in a link destination; everything else (parentheses, spaces, quotes,
# angle brackets, backslashes, non-ASCII) is percent-encoded.
_URL_SAFE = "-._~:/?#@!$&'*+,;=%"


def md_text(text: str | None) -> str:
    """`text` as inert markdown text: one line, every markdown construct escaped."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", inert_line(text))


def md_link(text: str | None, url: str | None) -> str:
    """A link newswatch writes: only to an http(s) URL; anything else is shown as text.

    The Prefect UI shows a backslash escape inside a link's text as it is ("Mauritanie \\:",
    "d\\'euros"), though it renders escapes elsewhere. So a text with nothing that could start a
    construct is the link's text as it is; any other text is shown escaped beside a link
    named after the site."""
    try:
        parts = urlsplit(url or "")
        scheme = parts.scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        return md_text(text or url)
    href = quote(inert_url(url or ""), safe=_URL_SAFE)
    label = inert_line(text or url)
    if label and not _LABEL_UNSAFE.search(label):
        return f"[{label}]({href})"
    host = parts.hostname or ""
    return f"{md_text(label)} ([{host if _PLAIN_HOST.fullmatch(host) else 'link'}]({href}))"


def ingest_markdown(summary: IngestSummary) -> str:
    lines = [
        f"# Ingest run {summary.started_at} → {summary.finished_at}",
        "",
        "| source | discovered | new | duplicates | not articles | errors | state |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in source_rows([asdict(report) for report in summary.sources]):
        dups = ", ".join(f"{n} {k}" for k, n in r.duplicates.items()) or "0"
        state = {
            "skipped": md_text(r.detail),
            "failed": f"FAILED: {md_text(r.detail)}",
            "warning": f"WARNING: {md_text(r.detail)}",
            "unchanged": "unchanged (304)",
        }.get(r.state, r.state)
        lines.append(
            f"| {md_text(r.source)} | {r.discovered} | {r.new} | {dups} | {r.not_articles} | {r.errors} | {state} |"
        )
    # Sent and pending alerts (and why), digest matches queued, health emails: as `newswatch
    # run` says them, each once.
    delivery = [f"- {md_text(line)}" for line in delivery_lines(summary.to_dict()) if line]
    lines += ["", "Alerts:", *delivery] if delivery else ["", "Alerts: no email sent."]
    if getattr(summary, "feeds_written", 0):
        lines.append(f"Feeds: {summary.feeds_written} Atom feed(s) rewritten.")
    for e in getattr(summary, "feed_errors", []):
        lines.append(f"- {md_text(e)}")
    lines += [f"- alerts: {md_text(set_aside_notice(e))}" for e in summary.rule_errors]
    lines += _health_lines(getattr(summary, "health", None) or [])
    findings = [line for r in summary.sources for line in source_findings(asdict(r), with_state=False)]
    if findings:
        lines += ["", "## Sources", ""] + [f"- {md_text(line)}" for line in findings]
    errors = [(r.source, e) for r in summary.sources for e in r.errors]
    if errors:
        lines += ["", "## Errors", ""] + [f"- **{md_text(s)}**: {md_text(e)}" for s, e in errors]
    new = [(r.source, a) for r in summary.sources for a in r.new_articles]
    if new:
        lines += ["", "## New articles", "", "`newswatch show ID` prints one.", ""]
        lines += [
            f"- \\#{a.id} {md_link(a.title, a.url)} ({md_text(s)}, {md_text(a.published or 'undated')})" for s, a in new
        ]
    return "\n".join(lines)


def _health_lines(health: list[dict]) -> list[str]:
    """storage.health.SourceHealth dicts: every problem of an unhealthy source, then the rest."""
    if not health:
        return []
    lines = ["", "## Source health", ""]
    ok = [md_text(h["source"]) for h in health if h["healthy"]]
    if len(ok) == len(health):
        return lines + [f"All {len(ok)} source(s) healthy."]
    lines += [f"- **{md_text(h['source'])}** UNHEALTHY: {md_text(p)}" for h in health for p in h["problems"]]
    if ok:
        lines += ["", f"Healthy: {', '.join(ok)}."]
    return lines


def publish_ingest_artifacts(summary: IngestSummary) -> None:
    create_markdown_artifact(
        markdown=ingest_markdown(summary), key="ingest-summary", description="What each source did in this ingest run"
    )
    rows = [
        {
            "id": a.id,
            "source": r.source,
            "title": inert_line(a.title),
            "published": a.published or "",
            "url": inert_url(a.url),
        }
        for r in summary.sources
        for a in r.new_articles
    ]
    if rows:
        create_table_artifact(
            table=rows, key="ingest-new-articles", description="Articles archived by this run (newswatch show ID)"
        )
