"""Atom feeds of matches (alerts/atom.py, `newswatch feed`): valid for feedparser, stable ids,
clean links, highlighted snippets, atomic files."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import feedparser
import pytest
from helpers import newswatch as run_newswatch
from test_alerts_delivery import filler

from alerts.atom import feed_file_name, new_articles_feed, render_feed, rule_feed, write_feeds
from alerts.settings import AlertRule
from core.article import Article
from core.files import write_atomically
from flows.pipeline.stages import store_batch
from storage.archive import Archive
from storage.records import Incoming

ROOT = Path(__file__).resolve().parent.parent

RULES = [
    AlertRule(name="passeurs", query='passeurs OR "réseaux de passeurs"', to=["ana@example.org", "ben@example.org"]),
    AlertRule(name="frontex", query="Frontex", to=["cat@example.org"], mode="digest"),
]


def incoming(n: int, title: str, text: str, *, url: str | None = None, source: str = "iom-fr") -> Incoming:
    url = url or f"http://www.{source}.example.org/news/{n}?utm_source=rss&utm_medium=feed"
    return Incoming(
        Article(title=title, date=f"2024-03-{n:02d}", paragraphs=[text, filler(n)], url=url, language="fr"),
        source=source,
        fetched_at=f"2024-03-{n:02d}T08:00:00+00:00",
    )


@pytest.fixture
def archive(tmp_path):
    with Archive.open(tmp_path / "archive.db") as a:
        store_batch(
            a,
            [
                incoming(1, "Démantèlement d'un réseau", "Un réseau de passeurs démantelé à Agadez."),
                incoming(2, "Frontex", "Frontex publie ses chiffres."),
                # Hostile text: markup, a control character XML 1.0 forbids, an ampersand.
                incoming(
                    3,
                    "<script>alert(1)</script> Passeurs \x0b & co",
                    "Les passeurs <b>arrêtés</b> & jugés \x01 à Tunis.",
                ),
            ],
            RULES,
        )
        yield a


def parse(data: bytes):
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_rule_feed_is_valid_atom_with_one_entry_per_matched_story(archive):
    parsed = parse(render_feed(rule_feed(archive, "passeurs")))
    assert parsed.feed.title == "newswatch: passeurs"
    assert parsed.feed.id == "urn:newswatch:feed:rule:passeurs" and parsed.feed.updated
    # two recipients, but each story once; newest match first (same time: highest id first)
    titles = [e.title for e in parsed.entries]
    assert len(titles) == 2 and titles[1] == "Démantèlement d'un réseau"
    first = parsed.entries[1]
    assert first.link == "http://www.iom-fr.example.org/news/1"  # clean, scheme as served
    assert "<strong>passeurs</strong>" in first.summary
    assert first.updated and first.published.startswith("2024-03-01")
    assert first.author == "iom-fr" and first.tags[0].term == "iom-fr"


def test_hostile_page_text_stays_text(archive):
    data = render_feed(rule_feed(archive, "passeurs"))
    assert b"\x0b" not in data and b"\x01" not in data
    hostile = parse(data).entries[0]
    # a title, never markup; stored on one line (core.text.inert_line: the \x0b run is one space)
    assert hostile.title == "<script>alert(1)</script> Passeurs & co"
    assert "&lt;b&gt;arrêtés&lt;/b&gt;" in hostile.summary and "<b>" not in hostile.summary


def test_ids_are_stable_across_runs_and_feeds(archive):
    once = [e.id for e in parse(render_feed(rule_feed(archive, "passeurs"))).entries]
    again = [e.id for e in parse(render_feed(rule_feed(archive, "passeurs"))).entries]
    every = {e.id for e in parse(render_feed(new_articles_feed(archive))).entries}
    assert once == again and len(set(once)) == 2 and set(once) <= every
    assert all(i.startswith("urn:newswatch:article:") for i in every)


def test_new_articles_feed_lists_every_new_article_newest_first(archive):
    parsed = parse(render_feed(new_articles_feed(archive)))
    assert [e.link for e in parsed.entries] == [f"http://www.iom-fr.example.org/news/{n}" for n in (3, 2, 1)]
    assert parsed.entries[2].updated.startswith("2024-03-01T08:00:00")
    assert "réseau de passeurs" in parsed.entries[2].summary


def test_a_rule_without_matches_is_an_empty_valid_feed(archive):
    parsed = parse(render_feed(rule_feed(archive, "nothing-yet")))
    assert parsed.entries == [] and parsed.feed.updated


def test_write_feeds_writes_one_file_per_rule_and_one_of_new_articles(archive, tmp_path):
    out = tmp_path / "feeds"
    paths = write_feeds(archive, RULES, out)
    assert sorted(p.name for p in paths) == ["new-articles.atom", "rule-frontex.atom", "rule-passeurs.atom"]
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)  # no temporary file left
    assert [e.title for e in parse((out / "rule-frontex.atom").read_bytes()).entries] == ["Frontex"]
    assert oct((out / "rule-frontex.atom").stat().st_mode & 0o777) == "0o644"


def test_rule_names_cannot_escape_the_feeds_directory():
    assert feed_file_name("../../etc/passwd") == "rule-etc-passwd.atom"
    assert feed_file_name("new-articles") == "rule-new-articles.atom"
    assert feed_file_name("Traite des êtres") == "rule-Traite-des-tres.atom"


def test_a_reader_never_sees_a_half_written_feed(tmp_path):
    """Rewrite a feed 200 times while another thread reads it: every read is a whole feed."""
    path = tmp_path / "f.atom"
    big = render_feed(rule_feed_of_size(400))
    small = render_feed(rule_feed_of_size(1))
    write_atomically(path, small)
    stop = threading.Event()
    seen: list[bytes] = []

    def reader() -> None:
        while not stop.is_set():
            seen.append(path.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            write_atomically(path, big if i % 2 else small)
    finally:
        stop.set()
        thread.join()
    assert seen and all(data in (big, small) for data in seen)


def rule_feed_of_size(n: int):
    from alerts.atom import Feed
    from storage.reading import FeedItem

    items = [
        FeedItem(i, f"{i:040d}", f"t{i}", "s", None, f"https://x.org/{i}", "2024-01-01T00:00:00+00:00", "word " * 100)
        for i in range(n)
    ]
    return Feed("x", "x", "urn:x", items, highlighted=False)


def newswatch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEWSWATCH_CONFIG": str(cwd / "newswatch.yaml")}
    return run_newswatch(*args, cwd=ROOT, env=env, text=False)


def test_feed_command_prints_what_write_writes(archive, tmp_path):
    (tmp_path / "newswatch.yaml").write_text(
        "archive: archive.db\nfeeds_dir: feeds\nalerts:\n"
        "  - {name: passeurs, query: 'passeurs OR \"réseaux de passeurs\"', to: ana@example.org}\n"
        "  - {name: frontex, query: Frontex, to: cat@example.org, mode: digest}\n",
        encoding="utf-8",
    )
    printed = newswatch("feed", "passeurs", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    written = newswatch("feed", "--write", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert printed.stdout == (tmp_path / "feeds" / "rule-passeurs.atom").read_bytes()
    assert newswatch("feed", cwd=tmp_path).stdout == (tmp_path / "feeds" / "new-articles.atom").read_bytes()
    unknown = newswatch("feed", "nope", cwd=tmp_path)
    assert unknown.returncode == 1 and b"no alert rule named 'nope'" in unknown.stderr
    assert b"rules: passeurs, frontex" in unknown.stderr
