"""The Prefect server of a command (flows/orchestration/server.py): one line when `PREFECT_API_URL`
names a server that is down, and a run stopped by a signal leaves no temporary server behind.
The commands run in a subprocess, as a cron job runs them; the web is a real local server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from httpserver import LocalServer, Reply
from processes import alive, children
from smtpserver import closed_port

ROOT = Path(__file__).resolve().parent.parent
NEWSWATCH = ROOT / ".venv" / "bin" / "newswatch"


def clean_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(PREFECT_HOME=str(prefect_home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def write_config(directory: Path, url: str) -> Path:
    path = directory / "newswatch.yaml"
    path.write_text(
        f"archive: {directory / 'archive.db'}\n"
        "timeouts: {connect: 5, read: 120, total: 300}\nretries: {attempts: 1}\n"
        "smtp: {host: 127.0.0.1, port: 9, sender: nw@test.example}\n"
        f"sources:\n  - {{name: slow, url: '{url}', kind: feed, delay: 0}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", [["run"], ["digest"], ["demo"], ["automations", "list"]])
def test_a_prefect_server_that_is_down_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/feed.xml")
    api = f"http://127.0.0.1:{closed_port()}/api"
    done = subprocess.run(
        [str(NEWSWATCH), *command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=clean_env(tmp_path / "prefect-home", PREFECT_API_URL=api, NEWSWATCH_CONFIG=str(config)),
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"newswatch {command[0]}: no Prefect server at {api} ([Errno 111] Connection refused): start it "
        "(prefect server start) or fix PREFECT_API_URL"
        + ("" if command[0] == "automations" else "; or unset it: the run then starts a temporary server of its own")
    ]


@pytest.mark.fault
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"]
)
def test_a_run_stopped_by_a_signal_during_its_work_stops_its_temporary_prefect_server(
    tmp_path: Path, http_server: LocalServer, signum: int
) -> None:
    http_server.routes["/feed.xml"] = Reply(body="<rss/>", content_type="application/rss+xml", delay=120)
    config = write_config(tmp_path, http_server.url("/feed.xml"))
    run = subprocess.Popen(
        [str(NEWSWATCH), "run", "--config", str(config)],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path / "prefect-home"),
    )
    try:
        deadline = time.monotonic() + 240  # the temporary server's start, on a loaded machine
        while not http_server.requests("/feed.xml") and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert http_server.requests("/feed.xml"), "the run never reached its source"
        servers = [pid for pid, cmd in children(run.pid).items() if "uvicorn" in cmd]
        assert len(servers) == 1, children(run.pid)  # Prefect's temporary server, working for the run
        started = time.monotonic()
        run.send_signal(signum)
        _, err = run.communicate(timeout=120)
        took = time.monotonic() - started
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    expected = {signal.SIGTERM: -signal.SIGTERM, signal.SIGINT: 130, signal.SIGKILL: -signal.SIGKILL}[signum]
    assert run.returncode == expected, err
    assert took < 10, f"the run took {took:.1f} s to stop"
    # Even after a SIGKILL (no handler runs): the kernel's parent-death signal stops it.
    deadline = time.monotonic() + 10
    while alive(servers[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    leaked = alive(servers[0])
    if leaked:
        os.kill(servers[0], signal.SIGKILL)
    assert not leaked, f"the temporary Prefect server (pid {servers[0]}) outlived the run"


@pytest.mark.fault
def test_a_run_stopped_by_sigterm_mid_fetch_is_crashed_and_records_nothing_of_the_stop(
    tmp_path: Path, http_server: LocalServer, prefect_api_url: str
) -> None:
    """On a Prefect server that outlives the run: the fetch in hand (a server answering after
    120 s) stops at once, Prefect marks the flow run Crashed, the process ends by SIGTERM; the
    archive holds no failed page, no run and no lease; the next run archives the page."""
    from fake_sites import article_page
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run

    source = f"stopped-{os.getpid()}-{time.monotonic_ns()}"
    page = article_page("iom-en", "/news/article-1")
    http_server.routes["/feed.xml"] = Reply(
        body=(
            f"<rss version='2.0'><channel><title>t</title><item><title>a</title>"
            f"<link>{http_server.url('/news/article-1')}</link></item></channel></rss>"
        ),
        content_type="application/rss+xml",
    )
    http_server.routes["/news/article-1"] = Reply(body=page, content_type="text/html; charset=utf-8", delay=120)
    config = write_config(tmp_path, http_server.url("/feed.xml"))
    config.write_text(config.read_text().replace("name: slow", f"name: {source}"))
    run = subprocess.Popen(
        [str(NEWSWATCH), "run", "--config", str(config)],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path / "prefect-home", PREFECT_API_URL=prefect_api_url),
    )
    try:
        deadline = time.monotonic() + 240
        while not http_server.requests("/news/article-1") and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert http_server.requests("/news/article-1"), "the run never fetched the page"
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=90)  # the page answers after 120 s: a run still alive did not stop
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == -signal.SIGTERM, err

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"source:{source}"])))
    assert [r.state.type.value for r in runs] == ["CRASHED"], [(r.name, r.state) for r in runs]

    archive = tmp_path / "archive.db"
    conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
    try:
        for table in ("pages", "source_runs", "source_leases", "discovery_documents", "articles"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    finally:
        conn.close()
    http_server.routes["/news/article-1"] = Reply(body=page, content_type="text/html; charset=utf-8")
    report = ingest_run(load_config(config)).sources[0]
    assert report.ok and report.new == 1 and not report.errors, report
