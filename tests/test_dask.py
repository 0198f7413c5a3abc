"""The sources on a Dask cluster (`execution: {dask: ADDRESS}`, flows/pipeline/remote.py,
flows/orchestration/dask_runner.py): the same archive and the same emails as a local run on
the same sites, never two requests in flight to one host, and a worker killed mid-run.

The cluster is real: a `dask scheduler` and two `dask worker` processes on 127.0.0.1, standing
in for machines, started by the fixture and killed after; the runs are `newswatch run`
processes against the session's Prefect server. The remote path without a cluster (the plain
`Runner` works each shard in its own process) is checked against a local run too, quickly.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
from dask_cluster import Cluster
from fake_sites import article_page, headline, paragraphs, rss_feed, sitemap
from loopback_web import ROBOTS, LoopbackWeb, loopback_addresses
from prefect_server import final_task_runs

from flows.demo.servers import Reply

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


# ------------------------------------------------------------------------------- the sites ---


def page(seed: str, *, word: str = "", delay: float = 0.0) -> Reply:
    body = paragraphs(seed, count=4)
    if word:
        body[1] += f" Le dossier {word} est suivi de près."
    return Reply(body=article_page("aprnews", seed, body=body).encode(), content_type="text/html", delay=delay)


def the_sites(slow: float = 0.0) -> tuple[LoopbackWeb, dict[str, str]]:
    """Four hosts: A has a feed and a sitemap sharing three pages (fetched once, a sighting for
    the other) and a page copying another's text (an exact duplicate); B a feed with a page
    that is gone and one copying one of A's; C a feed kept to two pages a run (the rest wait);
    D a failing feed. Pages mentioning zorblax match the alert rule. `slow`: seconds each
    article page takes. Returns the started web and each source's URL."""
    a, b, c, d = loopback_addresses(4)
    sites: dict[str, dict[str, Reply]] = {h: {"/robots.txt": ROBOTS} for h in (a, b, c, d)}
    web = LoopbackWeb(sites)
    web.start()
    origin = {h: f"http://{h}:{web.port}" for h in (a, b, c, d)}
    for i in range(1, 8):
        sites[a][f"/news/a-{i}"] = page(f"/news/a-{i}", word="zorblax" if i in (2, 6) else "", delay=slow)
    sites[a]["/news/a-copy"] = page("/news/a-1", delay=slow)
    feed_a = [(f"/news/a-{i}", headline(f"/news/a-{i}")) for i in range(1, 6)]
    sites[a]["/feed.xml"] = Reply(body=rss_feed(origin[a], feed_a).encode(), content_type="application/rss+xml")
    paths = [*(f"/news/a-{i}" for i in range(3, 8)), "/news/a-copy"]
    sites[a]["/sitemap.xml"] = Reply(body=sitemap(origin[a], paths).encode(), content_type="application/xml")
    sites[b]["/news/b-1"] = page("/news/b-1", word="zorblax", delay=slow)
    sites[b]["/news/b-2"] = page("/news/a-7", delay=slow)  # A's a-7 again: one article, two sightings
    feed_b = [("/news/b-1", "B 1"), ("/news/b-2", "B 2"), ("/news/b-gone", "B 3")]
    sites[b]["/feed.xml"] = Reply(body=rss_feed(origin[b], feed_b).encode(), content_type="application/rss+xml")
    for i in range(1, 5):
        sites[c][f"/news/c-{i}"] = page(f"/news/c-{i}", delay=slow)
    feed_c = [(f"/news/c-{i}", f"C {i}") for i in range(1, 5)]
    sites[c]["/feed.xml"] = Reply(body=rss_feed(origin[c], feed_c).encode(), content_type="application/rss+xml")
    sites[d]["/feed.xml"] = Reply(status=500, body=b"down")
    urls = {
        "a-feed": f"{origin[a]}/feed.xml",
        "a-map": f"{origin[a]}/sitemap.xml",
        "b-feed": f"{origin[b]}/feed.xml",
        "c-feed": f"{origin[c]}/feed.xml",
        "d-feed": f"{origin[d]}/feed.xml",
    }
    return web, urls


def write_config(path: Path, urls: dict[str, str], smtp_port: int, dask: str | None = None) -> Path:
    lines = [
        f"archive: {path.parent / 'archive.db'}",
        "user_agent: newswatch-test/0.1",
        "retries: {attempts: 1}",
        f'execution: {{dask: "{dask}"}}' if dask else "",
        "sources:",
        f"  - {{name: a-feed, url: '{urls['a-feed']}', kind: feed, delay: 0.1}}",
        f"  - {{name: a-map, url: '{urls['a-map']}', kind: sitemap, delay: 0.3}}",
        f"  - {{name: b-feed, url: '{urls['b-feed']}', kind: feed, delay: 0}}",
        f"  - {{name: c-feed, url: '{urls['c-feed']}', kind: feed, delay: 0, max_new_per_run: 2}}",
        f"  - {{name: d-feed, url: '{urls['d-feed']}', kind: feed, delay: 0}}",
        f"smtp: {{host: 127.0.0.1, port: {smtp_port}, sender: nw@test.example, password_env: null}}",
        "alerts:",
        "  - {name: zorblax, query: zorblax, to: [desk@test.example], per: article}",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
    return path


def snapshot(archive: Path) -> dict[str, list]:
    """What a run left in the archive, independent of ids and times: each article (by its
    text's hash) with every URL and source it was seen at and how; the pages that did not
    become articles; the pages waiting; the discovery documents; the alert matches."""
    with sqlite3.connect(archive) as conn:

        def rows(sql: str) -> list:
            return sorted(conn.execute(sql).fetchall())

        return {
            "articles": rows(
                "SELECT a.content_hash, a.title, group_concat(s.url || ' ' || s.source, ' | ') FROM articles a "
                "JOIN (SELECT * FROM sightings ORDER BY url, source) s ON s.article_id = a.id GROUP BY a.id"
            ),
            "pages": rows("SELECT url, source, outcome FROM pages"),
            "waiting": rows("SELECT url, source FROM waiting_pages"),
            "documents": rows("SELECT url, source FROM discovery_documents"),
            "matches": rows(
                "SELECT m.rule, m.recipient, a.content_hash FROM alert_matches m JOIN articles a ON a.id = m.article_id"
            ),
            "runs": rows("SELECT source, ok FROM source_runs"),
        }


def emails(messages: list) -> list[tuple[str, str]]:
    """Every article link the emails give, with its recipient, as often as they give it (how
    the links are grouped in emails depends on when their batches were committed)."""
    out = []
    for message in messages:
        text = message.get_body(("plain",)).get_content()
        links = set(re.findall(r"http://127[\d.:]+/news/[\w-]+", text))
        out += [(message["To"], link) for link in links]
    return sorted(out)


def shown(sources: list[dict]) -> tuple[list[dict], dict[str, int]]:
    """The summary's lines, but for what depends on the order sources ran in (a local run's
    sources of one host run in parallel): which of two sources listing a page fetches it,
    which of two copies of one text is the new article. Those are summed over the sources."""
    lines, totals = [], {"fetched": 0, "stored": 0, "shared": 0}
    for s in sources:
        keep = ("source", "discovered", "not_articles", "errors", "waiting", "failed", "state")
        lines.append({k: s[k] for k in keep})
        totals["fetched"] += s["fetched"]
        totals["stored"] += s["new"] + sum(n for kind, n in s["duplicates"].items() if kind != "shared")
        totals["shared"] += s["duplicates"].get("shared", 0)
    return lines, totals


def overlapping(web: LoopbackWeb, since: int) -> list[tuple[str, str, str]]:
    """Requests to one host that were in flight at the same time (from the web's log)."""
    by_host: dict[str, list] = {}
    for served in web.log[since:]:
        by_host.setdefault(served.address, []).append(served)
    found = []
    for host, served in by_host.items():
        served.sort(key=lambda s: s.started)
        for before, after in zip(served, served[1:], strict=False):
            if before.finished == 0.0 or after.started < before.finished:
                found.append((host, before.path, after.path))
    return found


# ----------------------------------------------------------- the remote path, in process ---


def test_the_remote_path_in_one_process_gives_a_local_runs_archive_and_emails(tmp_path: Path, smtp_server) -> None:
    """The shards' work (discover, plan asked of the run, fetch, clean) then the storing, with
    no cluster: the plain `Runner` runs them in its own process. Same archive, same emails."""
    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run

    web, urls = the_sites()
    try:
        local = ingest_run(load_config(write_config(tmp_path / "local" / "nw.yaml", urls, smtp_server.port)))
        local_mail, sent = emails(smtp_server.messages), len(smtp_server.messages)
        remote_config = write_config(tmp_path / "remote" / "nw.yaml", urls, smtp_server.port, "tcp://127.0.0.1:1")
        remote = ingest_run(load_config(remote_config))
        remote_mail = emails(smtp_server.messages[sent:])
    finally:
        web.stop()
    assert snapshot(tmp_path / "remote" / "archive.db") == snapshot(tmp_path / "local" / "archive.db")
    assert remote_mail == local_mail and len(local_mail) == len(set(local_mail)) == 3
    assert [asdict(r) | {"new_articles": None} for r in remote.sources] == [
        asdict(r) | {"new_articles": None} for r in local.sources
    ]
    by_name = {r.source: r for r in remote.sources}
    assert by_name["a-map"].duplicates == {"shared": 3, "same_url": 1}
    assert by_name["c-feed"].waiting == 2 and by_name["d-feed"].failed


def test_the_execution_section_is_checked() -> None:
    from pydantic import ValidationError

    from flows.config.model import Config

    assert Config.model_validate({"execution": {"dask": "tcp://10.0.0.5:8786"}}).execution.dask == "tcp://10.0.0.5:8786"
    assert Config.model_validate({}).execution.dask is None
    for wrong in ("10.0.0.5:8786", "tcp://10.0.0.5", "http://10.0.0.5:8786", "tcp://:8786"):
        with pytest.raises(ValidationError, match="not a Dask scheduler address: expected tcp://HOST:PORT"):
            Config.model_validate({"execution": {"dask": wrong}})


def test_a_fetch_error_crosses_processes_whole() -> None:
    import pickle

    from errors import RateLimited

    error = RateLimited("http://a.example/x", "slow down", status=429, final_url="http://b.example/y")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is RateLimited and str(again) == str(error)
    assert (again.status, again.final_url, again.message) == (429, "http://b.example/y", "slow down")


# ---------------------------------------------------------------------- a real cluster ---


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, prefect_api_url: str) -> Iterator[Cluster]:
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}
    started = Cluster(tmp_path_factory.mktemp("dask"), env)
    try:
        yield started.start()
    finally:
        started.stop()


def newswatch_run(config: Path, prefect_api_url: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "newswatch"), "run", "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PREFECT_API_URL": prefect_api_url},
        **popen,
    )


@pytest.mark.flow
@pytest.mark.slow
def test_on_two_dask_workers_the_archive_and_emails_are_a_local_runs_and_hosts_get_one_request_at_a_time(
    tmp_path: Path, cluster: Cluster, smtp_server, prefect_api_url: str
) -> None:
    web, urls = the_sites(slow=0.2)
    try:
        local = newswatch_run(write_config(tmp_path / "local" / "nw.yaml", urls, smtp_server.port), prefect_api_url)
        out, err = local.communicate(timeout=300)
        assert local.returncode == 3, err[-3000:]  # 3: d-feed fails, as it should
        local_mail, sent = emails(smtp_server.messages), len(smtp_server.messages)
        since = len(web.log)
        config = write_config(tmp_path / "dask" / "nw.yaml", urls, smtp_server.port, cluster.address)
        remote = newswatch_run(config, prefect_api_url)
        remote_out, remote_err = remote.communicate(timeout=300)
        remote_mail = emails(smtp_server.messages[sent:])
    finally:
        web.stop()
    assert remote.returncode == 3, remote_err[-3000:]
    assert "Traceback" not in remote_err and "dask: 5 source(s) in 4 task(s)" in remote_err
    assert snapshot(tmp_path / "dask" / "archive.db") == snapshot(tmp_path / "local" / "archive.db")
    assert remote_mail == local_mail and len(local_mail) == len(set(local_mail)) == 3
    assert shown(json.loads(remote_out)["sources"]) == shown(json.loads(out)["sources"])
    assert overlapping(web, since) == []
    assert len(web.log) - since == since  # the same requests as the local run, no more
    # Run states (issue 20, item 1): the shard's task of the failing source is Failed, as on a local run.
    run_id = json.loads(remote_out)["ui_url"].rstrip("/").rsplit("/", 1)[1]
    tasks = final_task_runs(prefect_api_url, run_id)
    failed = [t["state"] for t in tasks if t["state"]["type"] == "FAILED"]
    assert len(failed) == 1 and "need attention: d-feed: FAILED: " in failed[0]["message"], (
        [(t["name"], t["state"]["type"], t["state"]["message"]) for t in tasks],
        [line for line in remote_err.splitlines() if "dask" in line],
    )
    assert (
        httpx.get(f"{prefect_api_url.rstrip('/')}/flow_runs/{run_id}", timeout=10).json()["state"]["type"] == "FAILED"
    )


@pytest.mark.flow
@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_a_retry_of_its_sources_never_a_lost_or_doubled_article(
    tmp_path: Path, cluster: Cluster, smtp_server, prefect_api_url: str
) -> None:
    from distributed import Client

    def peers() -> list[str]:
        """On a Dask worker (sent by value: the workers cannot import this module): the IPv4
        addresses its open TCP connections go to, the hosts it fetches from among them (Linux:
        its sockets' inodes in /proc/self/fd, looked up in /proc/net/tcp)."""
        import ipaddress
        import os as os_
        import struct

        mine = set()
        for fd in os_.listdir("/proc/self/fd"):
            try:
                target = os_.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                mine.add(target[8:-1])
        found = set()
        with open("/proc/self/net/tcp") as table:
            for line in list(table)[1:]:
                fields = line.split()
                if fields[9] in mine:
                    address = int(fields[2].split(":")[0], 16)  # little-endian hex
                    found.add(str(ipaddress.IPv4Address(struct.pack("<I", address))))
        return sorted(found)

    web, urls = the_sites(slow=0.5)
    try:
        config = write_config(tmp_path / "dask" / "nw.yaml", urls, smtp_server.port, cluster.address)
        run = newswatch_run(config, prefect_api_url)
        killed = None
        with Client(cluster.address, timeout=60) as client:
            deadline = time.monotonic() + 120
            while killed is None and time.monotonic() < deadline and run.poll() is None:
                # A worker in the middle of a shard: one of the hosts it is talking to has sent
                # it an article already (a worker that has fetched none of its shard's pages yet
                # would be retried without a trace in the web's log).
                started = {s.address for s in web.log if s.path.startswith("/news/")}
                busy = [w for w, tasks in client.processing().items() if tasks]
                talking = client.run(peers, workers=busy) if busy else {}
                midway = [w for w in busy if set(talking.get(w, ())) & started]
                if midway:
                    pid = client.run(os.getpid, workers=[midway[0]])[midway[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed = midway[0]
                time.sleep(0.1)
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
        web.stop()
    assert killed is not None, "no worker was in the middle of a shard while the pages were fetched"
    assert run.returncode == 3, err[-3000:]
    summary = json.loads(out)
    by_name = {s["source"]: s for s in summary["sources"]}
    assert [name for name, s in by_name.items() if s["failed"]] == ["d-feed"]
    fetched_twice = [p for p in {s.path for s in web.log} if sum(1 for s in web.log if s.path == p) > 1]
    assert any(p.startswith("/news/") for p in fetched_twice), "no page was fetched again: was the shard retried?"
    # Every page once: the articles of a local run, each sent once.
    state = snapshot(tmp_path / "dask" / "archive.db")
    assert len(state["articles"]) == 10 and len(state["matches"]) == 3
    seen = [url for _, _, urls_seen in state["articles"] for url in urls_seen.split(" | ")]
    assert len(seen) == len(set(seen)) == 15
    mail = emails(smtp_server.messages)
    assert len(mail) == len(set(mail)) == 3
