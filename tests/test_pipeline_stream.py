"""A source's stages overlap (issue 15, item 8): the ingest run as plain code
(`flows.pipeline.ingest.ingest_run`, no Prefect) against a local site, the real archive."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from fake_sites import article_page, sitemap
from httpserver import LocalServer, Reply, Request, html

import flows.pipeline.cleaner
import flows.pipeline.ingest
import flows.pipeline.source
import flows.pipeline.stages
from flows.config.loader import load_config
from flows.pipeline.channels import Aborted, Channel, StageFailed, overlap
from flows.pipeline.ingest import ingest_run


def site_config(tmp_path: Path, site: LocalServer, paths: list[str], **extra: object) -> Path:
    site.routes["/sitemap.xml"] = Reply(body=sitemap(site.base, paths), content_type="application/xml")
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        "\n".join(
            [
                f"archive: {tmp_path / 'archive.db'}",
                'user_agent: "newswatch-test/0.1"',
                "retries: {attempts: 1}",
                *[f"{k}: {v}" for k, v in extra.items()],
                "sources:",
                f"  - {{name: site, url: '{site.url('/sitemap.xml')}', kind: sitemap, profile: iom, delay: 0, "
                "max_new_per_run: 1000}",
            ]
        )
        + "\n"
    )
    return config


def articles(archive: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


def test_pages_are_stored_while_the_source_is_still_being_fetched(tmp_path: Path, http_server: LocalServer) -> None:
    """The last page is held back until the archive has the first batch: with the stages
    one after the other, it would wait in vain (the store stage would start after it)."""
    paths = [f"/news/article-{i:03d}" for i in range(flows.pipeline.stages.BATCH_PAGES + 10)]
    http_server.routes.update({p: html(article_page("iom-en", p)) for p in paths[:-1]})
    config = site_config(tmp_path, http_server, paths)
    archive = tmp_path / "archive.db"
    stored_first = []

    def last_page(request: Request) -> Reply:
        deadline = time.monotonic() + 60
        while articles(archive) < flows.pipeline.stages.BATCH_PAGES and time.monotonic() < deadline:
            time.sleep(0.05)
        stored_first.append(articles(archive))
        return html(article_page("iom-en", paths[-1]))

    http_server.routes[paths[-1]] = last_page
    summary = ingest_run(load_config(config))

    assert stored_first and stored_first[0] >= flows.pipeline.stages.BATCH_PAGES, stored_first
    assert summary.sources[0].new == len(paths) and articles(archive) == len(paths)


def test_batches_commit_as_they_fill_and_every_page_is_settled(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [f"/news/article-{i:03d}" for i in range(23)]
    http_server.routes.update({p: html(article_page("iom-en", p)) for p in paths[:20]})
    http_server.routes.update({p: Reply(status=500) for p in paths[20:]})  # failing: recorded
    monkeypatch.setattr(flows.pipeline.stages, "BATCH_PAGES", 5)
    batches = []
    store = flows.pipeline.stages.store_batch
    monkeypatch.setattr(
        flows.pipeline.stages,
        "store_batch",
        lambda archive, items, rules, **kw: (batches.append(len(items)), store(archive, items, rules, **kw))[1],
    )

    summary = ingest_run(load_config(site_config(tmp_path, http_server, paths)))

    assert sum(batches) == 20 and len(batches) >= 4 and max(batches) <= 5
    report = summary.sources[0]
    assert (report.new, report.fetched, len(report.errors)) == (20, 23, 3)
    conn = sqlite3.connect(tmp_path / "archive.db")
    failed = {url for (url,) in conn.execute("SELECT url FROM pages WHERE outcome = 'failed'")}
    assert failed == {http_server.url(p) for p in paths[20:]}


def test_a_store_failure_stops_the_fetch_and_fails_the_source_alone(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [f"/news/article-{i:03d}" for i in range(40)]
    http_server.routes.update({p: html(article_page("iom-en", p)) for p in paths})

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(flows.pipeline.stages, "store_batch", broken)
    monkeypatch.setattr(flows.pipeline.source, "PAGES_WAITING", 1)
    monkeypatch.setattr(flows.pipeline.source, "CLEANED_WAITING", 1)
    monkeypatch.setattr(flows.pipeline.stages, "BATCH_PAGES", 1)
    summary = ingest_run(load_config(site_config(tmp_path, http_server, paths)))

    assert summary.sources[0].failed == "store stage failed: RuntimeError: disk on fire"
    # The fetch stopped soon after: the channels and the fetcher's buffer hold a few pages.
    assert len(http_server.paths()) < len(paths)


def test_a_run_with_enough_work_cleans_in_worker_processes_and_stores_the_same(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The threshold set to nothing; the 21st page is served once the workers are up, so that
    the pages after it can go to them (these small pages clean faster than workers start)."""
    paths = [f"/news/article-{i:03d}" for i in range(60)]
    served: list[str] = []
    monkeypatch.setattr(flows.pipeline.cleaner, "POOL_MIN_SECONDS", 0.0)
    cleaners: list[flows.pipeline.cleaner.Cleaner] = []
    pool_pages: list[int] = []

    class Watched(flows.pipeline.cleaner.Cleaner):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            cleaners.append(self)

        def close(self) -> None:
            pool_pages.append(self.pool_pages)
            super().close()

    def page(request: Request) -> Reply:
        served.append(request.path)
        deadline = time.monotonic() + 120
        while len(served) == 21 and not (cleaners and cleaners[0].pool_ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        return html(article_page("iom-en", request.path))

    http_server.routes.update({p: page for p in paths})
    monkeypatch.setattr(flows.pipeline.ingest, "Cleaner", Watched)
    summary = ingest_run(load_config(site_config(tmp_path, http_server, paths, clean_processes=3)))

    assert summary.sources[0].new == len(paths)
    assert pool_pages and pool_pages[0] > 0  # the thread cleans too, when the workers have enough in hand
    conn = sqlite3.connect(tmp_path / "archive.db")
    bodies = dict(conn.execute("SELECT url, body FROM articles"))
    from scrapers.clean import clean_page

    for p in paths[::10]:  # what a worker stored is what this process's cleaner gives
        page = article_page("iom-en", p).encode()
        assert bodies[http_server.url(p)] == clean_page(page, url=http_server.url(p), profile="iom").body


# ---------------------------------------------------------------------------- overlap ---


def test_overlap_raises_the_failing_stage_and_stops_the_others() -> None:
    channel: Channel[int] = Channel(1)
    stopped = threading.Event()

    def producer() -> None:
        try:
            for i in range(1000):
                channel.put(i)
        except Aborted:
            stopped.set()
            raise

    def consumer() -> None:
        channel.get()
        raise ValueError("bad page")

    with pytest.raises(StageFailed) as failed:
        overlap([("fetch", producer), ("clean", consumer)], [channel])
    assert failed.value.stage == "clean" and isinstance(failed.value.error, ValueError)
    assert stopped.is_set()
