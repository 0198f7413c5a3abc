"""Fault suite (`pytest -m fault`): the real local HTTP server, SMTP server and SQLite archive.

Ingest runs here are a small driver (this file run as a script, `python tests/test_faults.py
--config X`) that runs the real ingest run, `flows.pipeline.ingest.ingest_run` (leases, discover,
fetch, clean, store with alert matches, fetch state, run record, delivery), WITHOUT Prefect,
so a process is cheap to start and to SIGKILL. It prints one line per checkpoint reached, so
each kill is attributed to the step it interrupted. Figures are printed with `-s`.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from processes import alive, children  # noqa: E402

KEYWORDS = {"zorblax": ("a@test.example", "b@test.example"), "quintrel": ("a@test.example",)}
ARTICLES_PER_SOURCE = 10


# ------------------------------------------------------------------------------ driver ---


def ingest_once(config_path: str, *, later_minutes: float = 0.0, mark=lambda step: None) -> dict:
    """One ingest run through `flows.pipeline.ingest.ingest_run`, without Prefect; returns counts.
    Each checkpoint of the run and each SMTP exchange is marked. `later_minutes` shifts the
    delivery's clock (a later run, after a killed delivery's claim has expired)."""
    from alerts.email import send_email
    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run
    from flows.pipeline.runner import Delivery, Runner

    class Marking(Runner):
        def checkpoint(self, step: str, source: str | None = None) -> None:
            mark(f"{step} {source}" if source else step)

    def send(settings, message):
        # The documented window: from the SMTP transaction (the server may accept the
        # message before the client sees its reply) to the commit of "sent".
        mark(f"smtp-sending {message['To']}")
        send_email(settings, message)
        mark(f"smtp-accepted {message['To']}")

    summary = ingest_run(
        load_config(config_path),
        holder=f"fault-driver:{os.getpid()}",
        runner=Marking(),
        delivery=Delivery(send=send, retry_delay=0.05, now=datetime.now(UTC) + timedelta(minutes=later_minutes)),
    )
    for error in summary.alert_errors:
        print(f"delivery failed: {error}", file=sys.stderr, flush=True)
    mark("done")
    return {
        "new": sum(s.new for s in summary.sources),
        "skipped": [s.source for s in summary.sources if s.skipped],
        "sent": summary.alerts_sent,
        "failed": len(summary.alert_errors),
    }


def _print_step(step: str) -> None:
    # One write per line: the stages of a source reach their checkpoints from threads of their own.
    sys.stdout.write(f"step {step}\n")
    sys.stdout.flush()


def _driver_main(argv: list[str] | None = None) -> int:
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--later-minutes", type=float, default=0.0)
    parser.add_argument("--pool", action="store_true", help="clean in worker processes however few the pages")
    args = parser.parse_args(argv)
    if args.pool:
        import logging

        import flows.pipeline.cleaner

        flows.pipeline.cleaner.POOL_MIN_SECONDS = 0.0
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # says how many pages the workers took
    import flows.pipeline.ingest
    from errors import NewswatchError

    print("ready", flush=True)  # imports done: a kill delay counts from here
    try:
        out = ingest_once(args.config, later_minutes=args.later_minutes, mark=_print_step)
    except NewswatchError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    print("result", json.dumps(out), flush=True)
    return 0


# -------------------------------------------------------------------------- fixtures ---


def _article_body(path: str, keywords: list[str], count: int = 4) -> list[str]:
    from fake_sites import paragraphs

    body = paragraphs(path, count=count)
    if keywords:
        body[1] += " " + " ".join(f"Le dossier {k} est suivi." for k in keywords)
    return body


class Site:
    """Two sources on two local hosts (an RSS feed each), some articles carrying keywords."""

    def __init__(
        self, make_http_server, smtp_port: int, archive: Path, articles: int = ARTICLES_PER_SOURCE, paragraphs: int = 4
    ) -> None:
        from fake_sites import article_page, headline, rss_feed
        from httpserver import Reply, html

        self.expected: Counter = Counter()  # (rule, recipient, url) -> 1
        self.urls: list[str] = []
        self.servers = []
        for template in ("aprnews", "iom-en"):
            server = make_http_server()
            paths = [f"/news/{template}-{i}" for i in range(articles)]
            server.routes["/robots.txt"] = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")
            server.routes["/feed.xml"] = Reply(
                body=rss_feed(server.base, [(p, headline(p)) for p in paths]), content_type="application/rss+xml"
            )
            for i, p in enumerate(paths):
                keywords = [k for k, every in (("zorblax", 3), ("quintrel", 4)) if i % every == 0]
                server.routes[p] = html(
                    article_page(template, server.base + p, body=_article_body(p, keywords, paragraphs))
                )
                self.urls.append(server.url(p))
                for k in keywords:
                    for to in KEYWORDS[k]:
                        self.expected[(k, to, server.url(p))] = 1
            self.servers.append(server)
        self.archive = archive
        self.smtp_port = smtp_port

    def config(
        self,
        tmp: Path,
        *,
        archive: Path | None = None,
        smtp_port: int | None = None,
        name: str = "newswatch.yaml",
        delay: float = 0.02,
        extra: str = "",
    ) -> Path:
        sources = "".join(
            f"  - {{name: s{n}, url: '{s.url('/feed.xml')}', kind: feed, profile: {prof}, delay: {delay}}}\n"
            for n, (s, prof) in enumerate(zip(self.servers, ("aprnews", "iom"), strict=True))
        )
        rules = "".join(f"  - {{name: {k}, query: {k}, to: [{', '.join(to)}]}}\n" for k, to in KEYWORDS.items())
        file = tmp / name
        file.write_text(
            f"archive: {archive or self.archive}\nuser_agent: fault-suite\n"
            f"retries: {{attempts: 1, backoff: 0}}\n{extra}"
            f"timeouts: {{connect: 2, read: 5, total: 10}}\nsources:\n{sources}"
            f"smtp: {{host: 127.0.0.1, port: {smtp_port or self.smtp_port}, sender: nw@test.example, "
            f"timeout: 5, password_env: null}}\nalerts:\n{rules}"
        )
        return file


def listings(message) -> list[tuple[str, str, str]]:
    """(rule, recipient, url) for each alert an email lists."""
    text = message.get_body(("plain",)).get_content()
    rule, found = None, []
    for line in text.splitlines():
        if line.startswith("== ") and line.endswith(" =="):
            rule = line[3:].rsplit(" (", 1)[0]
        elif line.startswith("http://") and rule:
            found.append((rule, message["To"], line.strip()))
    return found


def received(smtp, since: int = 0) -> Counter:
    """(rule, recipient, url) -> how many accepted emails listed it."""
    return Counter(key for message in smtp.messages[since:] for key in listings(message))


def resent_emails(smtp, since: int = 0) -> int:
    """Emails listing an alert that an earlier email already listed. Each must be that earlier
    email again, byte for byte, Message-ID included (recorded before its SMTP transaction):
    a mail system that collapses copies by Message-ID shows it once."""
    first: dict = {}  # listing -> (Message-ID, raw bytes) of the first email listing it
    resent = 0
    for message, raw in zip(smtp.messages[since:], smtp.raw_messages[since:], strict=True):
        listed = set(listings(message))
        earlier = {first[key] for key in listed if key in first}
        if earlier:
            resent += 1
            assert earlier == {(message["Message-ID"], raw)}, (
                f"a re-sent email is not its first attempt: {message['Message-ID']} vs {[m for m, _ in earlier]}"
            )
        for key in listed:
            first.setdefault(key, (message["Message-ID"], raw))
    return resent


def check_archive(path: Path, urls: list[str]) -> dict:
    """Integrity, FTS in sync, every served article archived exactly once."""
    from storage.archive import Archive

    with Archive.open(path) as archive:
        assert archive.check() == []
        conn = archive.conn
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        fts = conn.execute("SELECT count(*) FROM articles_fts").fetchone()[0]
        assert fts == articles
        stored = Counter(u for (u,) in conn.execute("SELECT url FROM articles"))
        assert stored == Counter(urls), "lost or duplicated articles"
        originals = conn.execute("SELECT count(*) FROM sightings WHERE kind = 'original'").fetchone()[0]
        assert originals == articles
        pending = conn.execute("SELECT count(*) FROM alert_matches WHERE email_id IS NULL").fetchone()[0]
        return {"articles": articles, "pending": pending}


def driver(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--config", str(config), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_driver(config: Path, *extra: str) -> tuple[int, str, str]:
    proc = driver(config, *extra)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def wait_ready(proc: subprocess.Popen) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.strip() == "ready":
            return lines
    pytest.fail(f"driver ended before ready: {proc.stderr.read()}")


@pytest.fixture
def smtp():
    from smtpserver import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


FIGURES: dict[str, object] = {}


# ----------------------------------------------------------------------------- tests ---


@pytest.mark.fault
def test_sigkill_at_random_points_then_rerun_loses_and_doubles_nothing(tmp_path, make_http_server, smtp):
    site = Site(make_http_server, smtp.port, tmp_path / "archive.db")
    # One uninterrupted run (SMTP down, scratch archive) gives the length of a run to aim at.
    proc = driver(site.config(tmp_path, archive=tmp_path / "scratch.db", smtp_port=_closed_port(), name="scratch.yaml"))
    wait_ready(proc)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=120)
    full = time.monotonic() - t0
    assert proc.returncode == 0, err

    rng = random.Random(20261122)
    kills, steps, in_window, doubled, doubled_emails, rounds, emails = 0, Counter(), 0, 0, 0, 0, 0
    while kills < 10:
        # A round: a fresh archive, runs killed at random until one completes (or 4 kills),
        # then runs to completion; every served article and alert checked.
        rounds += 1
        archive = tmp_path / f"archive-{rounds}.db"
        config = site.config(tmp_path, archive=archive, name=f"round-{rounds}.yaml")
        before, window = len(smtp.messages), 0
        for _ in range(4):
            proc = driver(config)
            lines = wait_ready(proc)
            if rng.random() < 0.5:  # at a random time of the run
                time.sleep(rng.uniform(0, full))
            else:  # just after a random step (store, fetch state, delivery ... are short)
                trigger = rng.choice(TRIGGERS)
                for line in proc.stdout:
                    lines.append(line.strip())
                    if line.startswith(f"step {trigger}"):
                        time.sleep(rng.uniform(0, 0.02))
                        break
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            rest, err = proc.communicate(timeout=60)
            if proc.returncode != -signal.SIGKILL:
                assert proc.returncode == 0, err
                break
            kills += 1
            last = [line for line in lines + rest.splitlines() if line.startswith("step ")]
            step = last[-1].split()[1] if last else "before-first-step"
            steps[step] += 1
            window += step in ("smtp-sending", "smtp-accepted")
        # Completion: a later run (after a killed delivery's claim expired), then one more.
        for later in ("16", "32"):
            code, _, err = run_driver(config, "--later-minutes", later)
            assert code == 0, err
        assert check_archive(archive, site.urls)["pending"] == 0
        got = received(smtp, before)
        assert set(got) == set(site.expected), f"lost alerts: {set(site.expected) - set(got)}"
        extra = sum(n - 1 for n in got.values())
        # The one documented window: the process died during the SMTP transaction or after it,
        # before "sent" was committed. Each such kill can make one email go out again, the same
        # message with the same Message-ID (checked in resent_emails), and nothing else can.
        resent = resent_emails(smtp, before)
        assert resent <= window, (resent, window)
        assert extra <= resent * len(site.expected)
        in_window, emails = in_window + window, emails + len(smtp.messages) - before
        doubled, doubled_emails = doubled + extra, doubled_emails + resent
    FIGURES["sigkill"] = dict(
        kills=kills,
        rounds=rounds,
        killed_in_step=dict(steps),
        killed_during_smtp=in_window,
        duplicate_emails=doubled_emails,
        duplicate_alert_listings=doubled,
        articles_per_round=len(site.urls),
        emails=emails,
        full_run_seconds=round(full, 2),
    )
    print("\nFAULT FIGURES sigkill:", FIGURES["sigkill"])


TRIGGERS = [
    "leased",
    "discovered s0",
    "fetched s0",
    "cleaned s0",
    "stored s0",
    "state s0",
    "stored s1",
    "recorded",
    "smtp-sending",
    "smtp-accepted",
]


def _closed_port() -> int:
    from smtpserver import closed_port

    return closed_port()


@pytest.mark.fault
def test_sigkill_while_worker_processes_clean_loses_nothing_and_leaves_no_process(tmp_path, make_http_server, smtp):
    """The workers forced on (long pages, no politeness delay: pages wait for the cleaner, so
    the workers start): each round a fresh archive, a run killed once the workers are started,
    then a run to completion; every article once, every alert sent, and every process the
    killed run started gone. (That workers clean the same as the run's own process:
    tests/test_pipeline_stream.py.)"""
    site = Site(make_http_server, smtp.port, tmp_path / "archive.db", articles=40, paragraphs=120)
    setup = dict(delay=0, extra="clean_processes: 3\n")
    rng = random.Random(20261129)
    kills, orphans = 0, []
    for round_ in range(3):
        archive = tmp_path / f"pool-{round_}.db"
        config = site.config(tmp_path, archive=archive, name=f"pool-{round_}.yaml", **setup)
        before = len(smtp.messages)
        proc = driver(config, "--pool")
        wait_ready(proc)
        deadline = time.monotonic() + 60
        while len(list(children(proc.pid))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # the workers (and multiprocessing's resource tracker) are up
        time.sleep(rng.uniform(0, 0.3))
        started = list(children(proc.pid))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            deadline = time.monotonic() + 60
            while (living := [pid for pid in started if alive(pid)]) and time.monotonic() < deadline:
                time.sleep(0.2)
            orphans += living
        else:
            assert proc.returncode == 0, err
        code, _, err = run_driver(config, "--pool", "--later-minutes", "16")
        assert code == 0, err
        assert check_archive(archive, site.urls)["pending"] == 0
        assert set(received(smtp, before)) == set(site.expected)
    assert not orphans, f"processes of a killed run still alive: {orphans}"
    assert kills >= 2, "the runs ended before they could be killed while cleaning"
    FIGURES["pool"] = dict(kills=kills, articles=len(site.urls))
    print("\nFAULT FIGURES pool:", FIGURES["pool"])


@pytest.mark.fault
def test_two_drivers_at_once_on_the_same_sources(tmp_path, make_http_server, smtp):
    site = Site(make_http_server, smtp.port, tmp_path / "archive.db")
    config = site.config(tmp_path)
    from storage.archive import Archive

    Archive.open(site.archive).close()  # created once, so both start on an existing archive
    a, b = driver(config), driver(config)
    outs = [p.communicate(timeout=120) for p in (a, b)]
    assert (a.returncode, b.returncode) == (0, 0), [o[1] for o in outs]
    results = [[line for line in o[0].splitlines() if line.startswith("result")] for o in outs]
    check_archive(site.archive, site.urls)
    got = received(smtp)
    assert got == site.expected  # every alert once
    FIGURES["concurrent"] = dict(runs=2, results=[r[0] for r in results], emails=len(smtp.messages))
    print("\nFAULT FIGURES concurrent:", FIGURES["concurrent"])


@pytest.mark.fault
def test_smtp_down_for_a_whole_run_then_back(tmp_path, make_http_server, smtp):
    site = Site(make_http_server, smtp.port, tmp_path / "archive.db")
    down = site.config(tmp_path, smtp_port=_closed_port(), name="down.yaml")
    code, out, err = run_driver(down)
    assert code == 0, err
    assert "delivery failed" in err
    assert check_archive(site.archive, site.urls)["pending"] == sum(site.expected.values())
    assert smtp.messages == []
    for _ in range(2):  # SMTP back: sent once; the run after sends nothing more
        code, _, err = run_driver(site.config(tmp_path))
        assert code == 0, err
    assert check_archive(site.archive, site.urls)["pending"] == 0
    assert received(smtp) == site.expected
    FIGURES["smtp_down"] = dict(alerts=sum(site.expected.values()), emails=len(smtp.messages))
    print("\nFAULT FIGURES smtp down:", FIGURES["smtp_down"])


@pytest.mark.fault
def test_read_only_archive_is_a_clear_error_and_nothing_is_written(tmp_path, make_http_server, smtp):
    site = Site(make_http_server, smtp.port, tmp_path / "archive.db")
    from storage.archive import Archive

    Archive.open(site.archive).close()
    before = site.archive.read_bytes()
    _make_read_only(site.archive)
    try:
        code, out, err = run_driver(site.config(tmp_path))
    finally:
        _make_writable(site.archive)
    assert code == 1
    assert f"cannot write to the archive {site.archive}" in err and "readonly" in err
    assert "Traceback" not in err
    assert site.archive.read_bytes() == before
    assert smtp.messages == [] and all(not s.requests("/feed.xml") for s in site.servers)


def _make_read_only(path: Path) -> None:
    path.chmod(0o444)
    if os.geteuid() == 0:  # root ignores permissions: make the file immutable instead
        subprocess.run(["chattr", "+i", str(path)], check=True)


def _make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o644)


@pytest.mark.fault
def test_disk_full_on_write_is_a_clear_error_and_the_archive_stays_consistent(tmp_path):
    from fake_sites import paragraphs

    from alerts.settings import AlertRule
    from core.article import Article
    from flows.pipeline.stages import store_batch
    from storage.archive import Archive
    from storage.records import Incoming

    def batch(prefix: str, n: int) -> list[Incoming]:
        return [
            Incoming(
                Article(
                    title=f"{prefix}{i}",
                    date=None,
                    paragraphs=paragraphs(f"{prefix}{i}", count=12) + ["zorblax"],
                    language="fr",
                    url=f"https://x.example/{prefix}/{i}",
                ),
                source="s",
            )
            for i in range(n)
        ]

    rules = [AlertRule(name="zorblax", query="zorblax", to=("a@test.example",))]
    path = tmp_path / "archive.db"
    with Archive.open(path) as archive:
        store_batch(archive, batch("a", 5), rules)
        pages = archive.conn.execute("PRAGMA page_count").fetchone()[0]
        archive.conn.execute(f"PRAGMA max_page_count = {pages + 8}")  # the disk fills up
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            store_batch(archive, batch("b", 40), rules)
        assert archive.check() == []
        assert archive.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
        assert archive.conn.execute("SELECT count(*) FROM alert_matches").fetchone()[0] == 5
    with Archive.open(path) as archive:  # space again (a new connection has no limit)
        result, matches = store_batch(archive, batch("b", 40), rules)
        assert result.counts["new"] == 40 and len(matches) == 40
        assert archive.check() == []
        assert archive.conn.execute("SELECT count(*) FROM articles_fts").fetchone()[0] == 45


# Fuzzing: malformed HTML and random bytes through clean -> store. clean_page may only raise
# CleanError (documented); whatever it returns as an article must store and stay consistent.
@pytest.mark.fault
def test_fuzzed_pages_through_clean_and_store(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from alerts.settings import AlertRule
    from errors import CleanError
    from flows.pipeline.stages import store_batch
    from scrapers.clean import clean_page
    from storage.archive import Archive
    from storage.records import Incoming

    fixtures = [p.read_bytes() for p in sorted((ROOT / "tests" / "fixtures" / "html").glob("*.html"))]
    tags = [
        "<p>",
        "</p>",
        "<div class='field--name-body'>",
        "</div>",
        "<h1>",
        "<article>",
        "<script>",
        "<!--",
        "<meta charset='latin-1'>",
        "<html lang='fr'>",
        "<title>",
        "\x00",
        "&amp;",
        "&#x0;",
        "<![CDATA[",
    ]
    mangled = st.tuples(
        st.sampled_from(fixtures), st.integers(0, 200_000), st.integers(0, 4000), st.binary(max_size=64)
    ).map(lambda t: t[0][: t[1]] + t[3] + t[0][t[1] + t[2] :])
    soup = st.lists(st.sampled_from(tags) | st.text(max_size=30), max_size=60).map(lambda x: "".join(x).encode())
    pages = st.one_of(st.binary(max_size=2048), mangled, soup)
    counts = Counter()
    rules = [AlertRule(name="any", query="le OR the OR migrants", to=("a@test.example",))]
    archive = Archive.open(tmp_path / "fuzz.db")

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        page=pages, ctype=st.sampled_from([None, "text/html", "text/html; charset=utf-8", "application/octet-stream"])
    )
    def one(page: bytes, ctype):
        counts["pages"] += 1
        try:
            article = clean_page(page, url="https://fuzz.example/p", content_type=ctype, profile="generic")
        except CleanError:
            counts["clean_error"] += 1
            return
        if not article.is_article:
            counts["not_article"] += 1
            return
        counts["article"] += 1
        url = f"https://fuzz.example/p/{counts['pages']}"
        store_batch(archive, [Incoming(article, source="fuzz", url=url)], rules)

    try:
        one()
        assert archive.check() == []
        n = archive.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        assert archive.conn.execute("SELECT count(*) FROM articles_fts").fetchone()[0] == n
    finally:
        archive.close()
    FIGURES["fuzz"] = dict(counts)
    print("\nFAULT FIGURES fuzz:", FIGURES["fuzz"])


if __name__ == "__main__":
    sys.exit(_driver_main())
