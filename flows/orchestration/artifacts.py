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
from core.text import inert_line, inert_url, shorten
from flows.pipeline.summary import (
    TABLE_ROWS,
    IngestSummary,
    delivery_lines,
    needs_attention,
    source_findings,
    source_rows,
    state_label,
    totals_line,
)

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


MARKDOWN_MAX = 200_000  # characters of the ingest-summary artifact, at most
TABLE_MAX = 5_000  # rows of a table artifact, at most
LISTED_MAX = 100  # sources' lines, errors, new articles: at most this many each in the markdown


def ingest_markdown(summary: IngestSummary) -> str:
    """The `ingest-summary` artifact. Up to `TABLE_ROWS` sources: one row each; more: the
    counts, then the rows of the sources that need attention, the full table being the
    `ingest-sources` artifact. Every entry is shortened (`core.text.shorten`), every list
    capped (`LISTED_MAX`), the whole at most `MARKDOWN_MAX` characters."""
    rows = source_rows([asdict(report) for report in summary.sources])
    lines = [f"# Ingest run {summary.started_at} → {summary.finished_at}", ""]
    shown = rows
    if len(rows) > TABLE_ROWS:
        attention = [r for r in rows if needs_attention(r)]
        lines += [
            md_text(totals_line(rows)),
            "",
            "Every source's row: the table artifact `ingest-sources` of this run (Artifacts tab).",
            "",
            f"Sources that need attention: {len(attention) or 'none'}.",
            "",
        ]
        shown = attention[:LISTED_MAX]
    if shown:
        lines += [
            "| source | discovered | new | duplicates | not articles | errors | state |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
    for r in shown:
        dups = ", ".join(f"{n} {k}" for k, n in r.duplicates.items()) or "0"
        state = {
            "skipped": md_text(shorten(r.detail)),
            "failed": f"FAILED: {md_text(shorten(r.detail))}",
            "warning": f"WARNING: {md_text(shorten(r.detail))}",
            "unchanged": "unchanged (304)",
        }.get(r.state, r.state)
        lines.append(
            f"| {md_text(shorten(r.source, 100))} | {r.discovered} | {r.new} | {dups} | {r.not_articles} "
            f"| {r.errors} | {state} |"
        )
    if len(rows) > TABLE_ROWS and len(shown) < sum(1 for r in rows if needs_attention(r)):
        lines.append("\n... and more: the table artifact `ingest-sources` has every source's row.")
    # Sent and pending alerts (and why), digest matches queued, health emails: as `newswatch
    # run` says them, each once.
    delivery = [f"- {md_text(shorten(line))}" for line in delivery_lines(summary.to_dict()) if line]
    lines += ["", "Alerts:", *delivery] if delivery else ["", "Alerts: no email sent."]
    if getattr(summary, "feeds_written", 0):
        lines.append(f"Feeds: {summary.feeds_written} Atom feed(s) rewritten.")
    for e in getattr(summary, "feed_errors", []):
        lines.append(f"- {md_text(shorten(e))}")
    lines += [f"- alerts: {md_text(shorten(set_aside_notice(e)))}" for e in summary.rule_errors]
    lines += _health_lines(getattr(summary, "health", None) or [])
    findings = [line for r in summary.sources for line in source_findings(asdict(r), with_state=False)]
    if findings:
        lines += ["", "## Sources", ""] + _capped([f"- {md_text(shorten(line))}" for line in findings], "line(s)")
    errors = [(r.source, e) for r in summary.sources for e in r.errors]
    if errors:
        lines += ["", "## Errors", ""] + _capped(
            [f"- **{md_text(shorten(s, 100))}**: {md_text(shorten(e))}" for s, e in errors], "error(s)"
        )
    new = [(r.source, a) for r in summary.sources for a in r.new_articles]
    if new:
        lines += ["", "## New articles", "", "`newswatch show ID` prints one.", ""]
        lines += _capped(
            [
                f"- \\#{a.id} {md_link(shorten(a.title), a.url)} ({md_text(shorten(s, 100))}, "
                f"{md_text(a.published or 'undated')})"
                for s, a in new
            ],
            "article(s): the table artifact `ingest-new-articles`",
        )
    return _bounded("\n".join(lines))


def _capped(items: list[str], what: str) -> list[str]:
    if len(items) <= LISTED_MAX:
        return items
    return items[:LISTED_MAX] + [f"- ... and {len(items) - LISTED_MAX} more {what}"]


def _bounded(markdown: str) -> str:
    """At most `MARKDOWN_MAX` characters, cut at a line, saying so."""
    if len(markdown) <= MARKDOWN_MAX:
        return markdown
    cut = markdown.rfind("\n", 0, MARKDOWN_MAX - 200)
    return markdown[:cut] + f"\n\n(cut at {MARKDOWN_MAX:,} characters: `newswatch run --json` has it all)"


def _health_lines(health: list[dict]) -> list[str]:
    """storage.health.SourceHealth dicts: every problem of an unhealthy source, then the rest."""
    if not health:
        return []
    lines = ["", "## Source health", ""]
    ok = [h["source"] for h in health if h["healthy"]]
    if len(ok) == len(health):
        return lines + [f"All {len(ok)} source(s) healthy."]
    problems = [
        f"- **{md_text(shorten(h['source'], 100))}** UNHEALTHY: {md_text(shorten(p))}"
        for h in health
        for p in h["problems"]
    ]
    lines += _capped(problems, "problem(s): `newswatch sources`")
    if ok:
        named = ", ".join(md_text(shorten(name, 100)) for name in ok[:LISTED_MAX])
        more = f" and {len(ok) - LISTED_MAX} more" if len(ok) > LISTED_MAX else ""
        lines += ["", f"Healthy: {named}{more}."]
    return lines


def publish_ingest_artifacts(summary: IngestSummary) -> None:
    create_markdown_artifact(
        markdown=ingest_markdown(summary), key="ingest-summary", description="What each source did in this ingest run"
    )
    if len(summary.sources) > TABLE_ROWS:
        rows = source_rows([asdict(report) for report in summary.sources])
        create_table_artifact(
            table=[
                {
                    "source": shorten(inert_line(r.source), 100),
                    "state": state_label(r.state),
                    "discovered": r.discovered,
                    "new": r.new,
                    "duplicates": sum(r.duplicates.values()),
                    "not articles": r.not_articles,
                    "errors": r.errors,
                    "why": shorten(inert_line(r.detail), 300),
                }
                for r in rows[:TABLE_MAX]
            ],
            key="ingest-sources",
            description=f"Every source of this ingest run ({len(rows)}"
            + (f", the first {TABLE_MAX:,} here" if len(rows) > TABLE_MAX else "")
            + ")",
        )
    articles = [
        {
            "id": a.id,
            "source": shorten(inert_line(r.source), 100),
            "title": shorten(inert_line(a.title), 300),
            "published": a.published or "",
            "url": shorten(inert_url(a.url), 2048),
        }
        for r in summary.sources
        for a in r.new_articles
    ]
    if articles:
        create_table_artifact(
            table=articles[:TABLE_MAX],
            key="ingest-new-articles",
            description="Articles archived by this run (newswatch show ID)"
            + (f"; the first {TABLE_MAX:,} of {len(articles):,}" if len(articles) > TABLE_MAX else ""),
        )
