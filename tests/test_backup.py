"""`newswatch backup DEST`: a consistent copy taken while a run writes, restored and run on."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from fake_sites import article_page, paragraphs, rss_feed
from httpserver import Reply, html

from core.article import Article
from flows.pipeline.stages import store_batch
from storage.archive import Archive
from storage.records import Incoming

ROOT = Path(__file__).resolve().parent.parent
NEWSWATCH = ROOT / ".venv" / "bin" / "newswatch"


def _batch(start: int, size: int = 20) -> list[Incoming]:
    return [
        Incoming(
            Article(
                title=f"Article {n}",
                date="2024-03-05",
                paragraphs=paragraphs(f"/news/{n}", count=4),
                url=f"https://press.example.org/news/{n}",
            ),
            source="press",
        )
        for n in range(start, start + size)
    ]


def test_a_backup_taken_while_a_run_writes_is_whole_and_a_run_goes_on_on_it(tmp_path: Path, http_server) -> None:
    archive = tmp_path / "archive.db"
    with Archive.open(archive) as a:
        store_batch(a, _batch(0), [])
    stop = threading.Event()
    written = [20]

    def writing() -> None:  # a run storing batch after batch
        with Archive.open(archive) as a:
            while not stop.is_set():
                store_batch(a, _batch(written[0]), [])
                written[0] += 20

    writer = threading.Thread(target=writing)
    writer.start()
    try:
        while written[0] < 100:
            time.sleep(0.01)
        done = subprocess.run(
            [str(NEWSWATCH), "backup", str(tmp_path), "--archive", str(archive)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        during = written[0]
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    (copy,) = tmp_path.glob("archive-*.db")
    assert f"backed up {archive} to {copy}:" in done.stdout and "checked (quick_check ok)" in done.stdout
    assert not list(tmp_path.glob(".archive-*partial*"))

    with Archive.open(copy) as restored:
        assert restored.check() == []
        articles = restored.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        originals = restored.conn.execute("SELECT count(*) FROM sightings WHERE kind = 'original'").fetchone()[0]
        assert articles % 20 == 0 and 20 <= articles <= during + 20  # whole batches, as of one instant
        assert originals == articles  # every article with its sighting: the same transaction
    with Archive.open(archive) as live:
        assert live.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == written[0]

    # Restored: a run on the copy stores new pages in it.
    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run

    http_server.routes["/feed.xml"] = Reply(
        body=rss_feed(http_server.base, [("/news/after-restore", "After the restore")]),
        content_type="application/rss+xml",
    )
    http_server.routes["/news/after-restore"] = html(article_page("aprnews", "/news/after-restore"))
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        f"archive: {copy}\nuser_agent: t\nsources:\n  - {{name: s, url: '{http_server.url('/feed.xml')}', delay: 0}}\n"
    )
    summary = ingest_run(load_config(config))
    assert summary.sources[0].new == 1
    with Archive.open(copy) as restored:
        assert restored.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == articles + 1


def test_a_backup_never_overwrites_and_says_why(tmp_path: Path) -> None:
    archive = tmp_path / "archive.db"
    Archive.open(archive).close()
    (tmp_path / "taken.db").write_bytes(b"something")
    done = subprocess.run(
        [str(NEWSWATCH), "backup", str(tmp_path / "taken.db"), "--archive", str(archive)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "taken.db exists: give a new file name (or a directory), a backup never overwrites one" in done.stderr
    assert (tmp_path / "taken.db").read_bytes() == b"something"
