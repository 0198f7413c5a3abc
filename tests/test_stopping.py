"""A stopped process stops its network work at once (scrapers/transport.py `stop_work`,
flows/pipeline/stopping.py): a fetch waiting for a slow server, a polite wait, a DNS lookup all raise
`ProcessStopping`; an ingest run stopped that way records nothing about what it interrupted,
and the next run finishes the job. Real local servers and a real archive; the signal itself
is sent to a real `newswatch run` in tests/test_prefect_server.py."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_sites import article_page, sitemap
from httpserver import LocalServer, Reply, html

from errors import ProcessStopping
from flows.config.loader import load_config
from flows.pipeline.ingest import ingest_run
from flows.pipeline.stopping import stop_work_on_signals
from scrapers import transport
from scrapers.fetch import Fetcher, FetchSettings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = FetchSettings(read_timeout=120, total_timeout=300, default_delay=0, obey_robots=False, attempts=1)


@pytest.fixture(autouse=True)
def work_resumed():
    yield
    transport.resume_work()


def stopped_while(call: Callable[[], object], in_flight: Callable[[], bool]) -> BaseException | object:
    """Run `call` in a thread; once `in_flight()`, stop the work; what `call` returned or raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as e:  # noqa: BLE001 - the outcome under test
            outcome.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not in_flight() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert in_flight(), f"never got there: {outcome}"
    transport.stop_work()
    thread.join(90)  # the slow server answers after 120 s: a thread still alive did not stop
    assert not thread.is_alive(), "the work did not stop"
    return outcome[0]


def test_a_stop_ends_a_fetch_waiting_for_a_slow_server(http_server: LocalServer) -> None:
    http_server.routes["/slow"] = html("<p>late</p>", delay=120)
    with Fetcher(SETTINGS) as fetcher:
        outcome = stopped_while(
            lambda: fetcher.fetch(http_server.url("/slow")), lambda: bool(http_server.requests("/slow"))
        )
    assert isinstance(outcome, ProcessStopping), outcome  # no FetchResult: no outcome of the URL


def test_a_stop_ends_a_polite_wait(http_server: LocalServer) -> None:
    http_server.routes.update({"/a": html("<p>a</p>"), "/b": html("<p>b</p>")})
    urls = [http_server.url("/a"), http_server.url("/b")]
    with Fetcher(FetchSettings(default_delay=120, obey_robots=False, attempts=1)) as fetcher:
        outcome = stopped_while(lambda: fetcher.fetch_many(urls), lambda: bool(http_server.requests("/a")))
    assert isinstance(outcome, ProcessStopping), outcome
    assert not http_server.requests("/b")


def test_a_stop_ends_the_wait_for_a_dns_lookup() -> None:
    looking_up, answer = threading.Event(), threading.Event()

    def slow_resolver(host: str, port: int) -> list[str]:
        looking_up.set()
        answer.wait(60)
        return ["127.0.0.1"]

    settings = FetchSettings(connect_timeout=120, obey_robots=False, attempts=1, allow_private_networks=True)
    try:
        with Fetcher(settings, resolver=slow_resolver) as fetcher:
            outcome = stopped_while(lambda: fetcher.fetch("http://slow-dns.test/a"), looking_up.is_set)
    finally:
        answer.set()
    assert isinstance(outcome, ProcessStopping), outcome


def test_a_fetch_after_the_work_resumed_goes_on(http_server: LocalServer) -> None:
    http_server.routes["/a"] = html("<p>a</p>")
    transport.stop_work()
    with Fetcher(SETTINGS) as fetcher:
        with pytest.raises(ProcessStopping):
            fetcher.fetch(http_server.url("/a"))
        transport.resume_work()
        assert fetcher.fetch(http_server.url("/a")).ok


# ------------------------------------------------------------------ an ingest run stopped ---


def site_config(tmp_path: Path, site: LocalServer, paths: list[str]) -> Path:
    site.routes["/sitemap.xml"] = Reply(body=sitemap(site.base, paths), content_type="application/xml")
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        f"archive: {tmp_path / 'archive.db'}\nuser_agent: newswatch-test/0.1\n"
        "timeouts: {connect: 5, read: 120, total: 300}\nretries: {attempts: 1}\n"
        f"sources:\n  - {{name: site, url: '{site.url('/sitemap.xml')}', kind: sitemap, "
        "profile: iom, delay: 0}\n",
        encoding="utf-8",
    )
    return config


def rows(archive: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT * FROM {table}").fetchall()  # the test's own table names
    finally:
        conn.close()


def assert_nothing_recorded_about_the_stop(archive: Path) -> None:
    """No page failed, no run recorded (failed or not), no lease held, no validator saved (the
    next run reads the discovery documents again)."""
    for table in ("pages", "source_runs", "source_leases", "discovery_documents"):
        assert rows(archive, table) == [], table


@pytest.mark.parametrize("hanging", ["/sitemap.xml", "/news/article-2"], ids=["discover", "fetch"])
def test_a_run_stopped_mid_stage_records_nothing_of_it_and_the_next_run_finishes(
    tmp_path: Path, http_server: LocalServer, hanging: str
) -> None:
    paths = ["/news/article-1", "/news/article-2"]
    http_server.routes.update({p: html(article_page("iom-en", p)) for p in paths})
    config = load_config(site_config(tmp_path, http_server, paths))
    answer = http_server.routes[hanging]
    http_server.routes[hanging] = Reply(body=answer.data, content_type=answer.content_type, delay=120)

    # In a thread, so the test calls stop_work as the run's signal handler would.
    outcome = stopped_while(lambda: ingest_run(config), lambda: bool(http_server.requests(hanging)))

    assert isinstance(outcome, ProcessStopping), outcome
    assert_nothing_recorded_about_the_stop(tmp_path / "archive.db")
    stored_before = len(rows(tmp_path / "archive.db", "articles"))  # a batch committed before the stop stays
    transport.resume_work()
    http_server.routes[hanging] = answer
    summary = ingest_run(config)
    report = summary.sources[0]
    assert report.ok and not report.errors and report.new == len(paths) - stored_before, report
    assert len(rows(tmp_path / "archive.db", "articles")) == len(paths)
    assert len(rows(tmp_path / "archive.db", "source_runs")) == 1  # this run's, the stopped one has none


def test_the_signal_handlers_stop_the_work_then_go_on_to_the_previous_ones() -> None:
    """In the main thread: SIGINT stops the work, then Python's handler raises
    KeyboardInterrupt; after the block the previous handlers are back."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with stop_work_on_signals():
            assert signal.getsignal(signal.SIGINT) is not before[0]
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the handler runs between two bytecodes
                time.sleep(0.01)
    assert transport.work_stopped()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_sigterm_with_the_default_handler_ends_the_process_by_sigterm(tmp_path: Path) -> None:
    code = (
        "import os, signal, time\n"
        "from flows.pipeline.stopping import stop_work_on_signals\n"
        "from scrapers import transport\n"
        "with stop_work_on_signals():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(60)\n"
        "print('survived')\n"
    )
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGTERM and "survived" not in done.stdout, done
