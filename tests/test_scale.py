"""Scale: a thousand sources in one run (each a feed of one page on its own loopback address),
the run's one writer of the archive, alerts that go out as their matches are committed, and
what a large run shows in Prefect (tags, task runs, artifacts) read back from its API.

The thousand-source run is `newswatch run` as a user starts it, a process against the
session's Prefect server; the web is `tests/loopback_web.py` (one port on 127.0.x.y).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fake_sites import article_page, headline, paragraphs, rss_feed
from httpserver import Reply, html
from loopback_web import LoopbackWeb, fill_origins, one_page_feeds
from prefect_server import final_task_runs

ROOT = Path(__file__).resolve().parent.parent
NEWSWATCH = ROOT / ".venv" / "bin" / "newswatch"
SOURCES = 1000


def write_config(path: Path, archive: Path, urls: list[str], extra: str = "") -> Path:
    lines = [f"archive: {archive}", "user_agent: newswatch-test/0.1", extra, "sources:"]
    lines += [f"  - {{name: s{i:04d}, url: '{url}', kind: feed, delay: 0}}" for i, url in enumerate(urls)]
    path.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- a thousand sources ---


@pytest.mark.flow
@pytest.mark.slow
def test_a_thousand_sources_in_one_run_all_stored_and_the_flow_run_completed(
    tmp_path: Path, prefect_api_url: str
) -> None:
    sites, addresses = one_page_feeds(
        SOURCES,
        lambda i: article_page("aprnews", f"/news/article-{i}").encode(),
        title=lambda i: headline(f"/news/article-{i}"),
    )
    web = LoopbackWeb(sites).start()
    try:
        fill_origins(web)
        archive = tmp_path / "archive.db"
        config = write_config(tmp_path / "newswatch.yaml", archive, [web.url(a, "/feed.xml") for a in addresses])
        env = {**os.environ, "PREFECT_API_URL": prefect_api_url}
        done = subprocess.run(
            [str(NEWSWATCH), "run", "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    finally:
        web.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "database is locked" not in done.stderr and "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert len(summary["sources"]) == SOURCES and summary["attention"] == []
    assert sum(s["new"] for s in summary["sources"]) == SOURCES
    with sqlite3.connect(archive) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == SOURCES
        assert conn.execute("SELECT count(DISTINCT source) FROM source_runs").fetchone()[0] == SOURCES
        assert conn.execute("SELECT count(*) FROM source_leases").fetchone()[0] == 0

    # What Prefect shows: a completed flow run, a handful of tags and task runs, bounded artifacts.
    import httpx

    api = prefect_api_url.rstrip("/")
    run_id = summary["ui_url"].rsplit("/", 1)[1]
    flow_run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=30).json()
    assert flow_run["state"]["type"] == "COMPLETED"
    assert len(flow_run["tags"]) < 10, flow_run["tags"]
    tasks = final_task_runs(api, run_id)
    assert 0 < len(tasks) <= 20 and all(t["state"]["type"] == "COMPLETED" for t in tasks), [t["name"] for t in tasks]
    artifacts = httpx.post(
        f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}, timeout=30
    ).json()
    by_key = {a["key"]: a for a in artifacts}
    markdown = by_key["ingest-summary"]["data"]
    assert len(markdown) < 20_000 and "1000 sources \\(1000 ok\\)" in markdown, markdown[:2000]
    table = by_key["ingest-sources"]["data"]
    table = json.loads(table) if isinstance(table, str) else table
    assert len(table) == SOURCES and {row["state"] for row in table} == {"ok"}

    # The printed summary: counts, no table of a thousand rows.
    from flows.pipeline.summary import format_summary

    text = format_summary(summary)
    assert text.splitlines()[0].startswith("1000 sources (1000 ok): 1000 discovered, 1000 new")
    assert len(text.splitlines()) < 60


# ------------------------------------------------------------ alerts as they are stored ---


@pytest.mark.flow
@pytest.mark.slow
def test_an_alert_email_arrives_while_another_source_hangs(
    tmp_path: Path, make_http_server, smtp_server, prefect_api_url: str
) -> None:
    """Source `slow` has a page that hangs 30 s; source `fast`'s article matches an immediate
    rule: `newswatch run`'s email arrives at the SMTP server before the hang ends, once."""
    hang = 30.0
    slow, fast = make_http_server(), make_http_server()
    slow.routes["/feed.xml"] = Reply(
        body=rss_feed(slow.base, [("/news/hanging", "A page that hangs")]), content_type="application/rss+xml"
    )
    slow.routes["/news/hanging"] = Reply(delay=hang, body=b"too late")
    body = paragraphs("/news/zorblax", count=4)
    body[1] += " Le dossier zorblax est suivi de près."
    fast.routes["/feed.xml"] = Reply(
        body=rss_feed(fast.base, [("/news/zorblax", "Un article zorblax")]), content_type="application/rss+xml"
    )
    fast.routes["/news/zorblax"] = html(article_page("aprnews", "/news/zorblax", body=body))
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        f"archive: {tmp_path / 'archive.db'}\nuser_agent: newswatch-test/0.1\n"
        f"timeouts: {{connect: 5, read: {hang + 30}, total: {hang + 30}}}\nretries: {{attempts: 1}}\n"
        "sources:\n"
        f"  - {{name: slow, url: '{slow.url('/feed.xml')}', kind: feed, delay: 0}}\n"
        f"  - {{name: fast, url: '{fast.url('/feed.xml')}', kind: feed, delay: 0}}\n"
        f"smtp: {{host: 127.0.0.1, port: {smtp_server.port}, sender: nw@test.example, password_env: null}}\n"
        "alerts:\n  - {name: zorblax, query: zorblax, to: [desk@test.example]}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}
    command = [str(NEWSWATCH), "run", "--config", str(config), "--json"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        while not smtp_server.messages and run.poll() is None:
            time.sleep(0.1)
        hung = slow.requests("/news/hanging")
        assert smtp_server.messages, "no email before the run ended"
        assert hung and hung[0].finished == 0.0, "the hanging page was answered before the email came"
        out, err = run.communicate(timeout=hang + 120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode in (0, 3), err[-3000:]  # 3: `slow` yields nothing (a warning), as it should
    summary = json.loads(out)
    assert summary["alerts_sent"] == 1 and not summary["alert_errors"]
    assert len(smtp_server.messages) == 1
    assert "zorblax" in smtp_server.messages[0].get_body(("plain",)).get_content().lower()

    # Exactly once: a second run finds nothing to send.
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert json.loads(again.stdout)["alerts_sent"] == 0 and len(smtp_server.messages) == 1


# ------------------------------------------------------------------- long strings bounded ---


def test_a_two_megabyte_link_is_refused_and_nothing_shown_grows_with_it(tmp_path: Path, http_server) -> None:
    from flows.config.loader import load_config
    from flows.orchestration.artifacts import ingest_markdown
    from flows.pipeline.ingest import ingest_run
    from flows.pipeline.summary import format_summary

    long_path = "/news/" + "x" * 2_000_000
    http_server.routes["/feed.xml"] = Reply(
        body=rss_feed(http_server.base, [("/news/a-real-article", "A real article"), (long_path, "A long link")]),
        content_type="application/rss+xml",
    )
    http_server.routes["/news/a-real-article"] = html(article_page("aprnews", "/news/a-real-article"))
    archive = tmp_path / "archive.db"
    config = write_config(tmp_path / "newswatch.yaml", archive, [http_server.url("/feed.xml")])

    summary = ingest_run(load_config(config))

    report = summary.sources[0]
    assert (report.discovered, report.new) == (1, 1)
    assert any("1 link(s) longer than 2,048 characters refused" in note for note in report.notes)
    assert not any(len(r.path) > 10_000 for r in http_server.requests())  # never asked for
    text = format_summary(summary.to_dict())
    assert max(len(line) for line in text.splitlines()) <= 500
    assert len(ingest_markdown(summary)) < 10_000
    with sqlite3.connect(archive) as conn:
        longest = conn.execute(
            "SELECT max(length(url)) FROM pages UNION ALL SELECT max(length(url)) FROM sightings"
        ).fetchall()
    assert all((n or 0) <= 2048 for (n,) in longest)


def test_every_line_shown_is_shortened_with_an_ellipsis_and_stored_messages_are_capped(tmp_path: Path) -> None:
    from core.text import shorten
    from flows.orchestration.artifacts import ingest_markdown
    from flows.pipeline.summary import IngestSummary, SourceReport, format_summary
    from storage import fetchstate
    from storage.archive import Archive

    huge = "y" * 1_000_000
    assert shorten(huge, 10) == "y" * 9 + "…" and shorten("short", 10) == "short"
    summary = IngestSummary(started_at="2026-01-01T00:00:00+00:00")
    summary.sources = [SourceReport(source=f"s{i}", failed=f"http://x.example/{huge}") for i in range(30)]
    text = format_summary(summary.to_dict())
    assert max(len(line) for line in text.splitlines()) <= 500 and "…" in text
    assert text.splitlines()[0].startswith("30 sources (30 FAILED)")
    markdown = ingest_markdown(summary)
    assert len(markdown) < 100_000 and max(len(line) for line in markdown.splitlines()) < 2_000
    with Archive.open(tmp_path / "archive.db") as archive:
        fetchstate.record_run(archive, "s0", started_at=datetime.now(UTC), ok=False, counts={}, error=huge)
        (stored,) = archive.conn.execute("SELECT error FROM source_runs").fetchone()
    assert len(stored) == 2_000 and stored.endswith("…")
