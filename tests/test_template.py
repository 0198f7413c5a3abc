"""Learned per-source templates (scrapers/template.py, storage/learned_templates.py, flows/pipeline/):
learned after MIN_PAGES archived pages, explained, capped, independent of arrival order."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from core.article import Removal
from flows.cli.main import main as cli
from flows.pipeline.stages import Cleaned, learn_template, store_pages, template_of
from scrapers import template
from scrapers.clean import clean_page
from scrapers.template import MIN_PAGES, SourceTemplate, page_keys
from storage import learned_templates
from storage.archive import Archive
from storage.records import BatchResult, Incoming

ABOUT = (
    "About IOM: Established in 1951, IOM is the leading inter-governmental organization in the field of "
    "migration and works closely with governmental, intergovernmental and non-governmental partners."
)
WORDS = (
    "migrants border programme shelters officials authorities training assistance return transit "
    "families health ministry centre region coast desert route support project funding partners"
).split()


def word(rng: random.Random) -> str:
    # Made-up words: every release has its own, so none is folded as a near-duplicate.
    return (
        rng.choice(WORDS)
        if rng.random() < 0.3
        else "".join(rng.choice("bcdfglmnprstv") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
    )


def release(n: int, *, about: bool = True, once: str | None = None) -> str:
    rng = random.Random(n)
    paragraphs = [" ".join(word(rng) for _ in range(25)).capitalize() + "." for _ in range(3)]
    if once:
        paragraphs.insert(1, once)
    title = f"IOM {rng.choice(WORDS)} {rng.choice(WORDS)} release number {n} on {rng.choice(WORDS)}"
    return "\n\n".join([title, *paragraphs, *([ABOUT] if about else [])])


def load_template(path, source: str) -> SourceTemplate:
    """The source's learned template as a run starts with it."""
    with Archive.open(path) as archive:
        return template_of(archive, source)


def archive_pages(path, pages: list[str], source: str = "iom-en") -> None:
    items = [
        Incoming(
            clean_page(page),
            source=source,
            url=f"https://iom.example/news/{hashlib.sha1(page.encode()).hexdigest()[:12]}",
        )
        for page in pages
    ]
    with Archive.open(path) as archive:
        store_pages(archive, Cleaned(items=items), rules=[])


def test_no_template_before_min_pages(tmp_path):
    path = tmp_path / "archive.db"
    archive_pages(path, [release(n) for n in range(MIN_PAGES - 1)])
    learned = load_template(path, "iom-en")
    assert (learned.pages, learned.version, learned.active) == (MIN_PAGES - 1, MIN_PAGES - 1, False)
    assert ABOUT in clean_page(release(999), template=learned).paragraphs


def test_a_paragraph_on_most_pages_is_learned_and_explained(tmp_path):
    path = tmp_path / "archive.db"
    archive_pages(path, [release(n) for n in range(MIN_PAGES)])
    learned = load_template(path, "iom-en")
    assert learned.active and learned.seen_on(ABOUT) == MIN_PAGES
    removed: list[Removal] = []
    article = clean_page(release(999), template=learned, removed=removed)
    assert ABOUT not in article.paragraphs and len(article.paragraphs) == 3
    assert article.template_removed == [ABOUT]
    [why] = [r.rule for r in removed if r.text == ABOUT]
    assert why == f"learned template of iom-en (on {MIN_PAGES} of its last {MIN_PAGES} pages, template v{MIN_PAGES})"


def test_a_paragraph_seen_once_is_never_removed(tmp_path):
    path = tmp_path / "archive.db"
    once = "A sentence that this source printed on one page only, about a workshop in Tapachula, Mexico."
    archive_pages(path, [release(n, once=once if n == 3 else None) for n in range(MIN_PAGES * 2)])
    learned = load_template(path, "iom-en")
    assert learned.seen_on(once) == 1
    assert once in clean_page(release(1000, once=once), template=learned).paragraphs
    # However small the window's pages count, one page is never enough.
    tiny = SourceTemplate("s", version=3, pages=MIN_PAGES, counts={template.line_key(once): 1})
    assert not tiny.is_boilerplate(once)


def test_a_paragraph_on_a_minority_of_pages_stays(tmp_path):
    path = tmp_path / "archive.db"
    archive_pages(path, [release(n, about=n % 3 == 0) for n in range(MIN_PAGES * 2)])
    learned = load_template(path, "iom-en")
    assert learned.seen_on(ABOUT) < learned.threshold
    assert ABOUT in clean_page(release(1000), template=learned).paragraphs


def test_the_template_removes_at_most_half_of_a_page():
    mostly = [ABOUT, ABOUT.replace("1951", "1952"), "A short real paragraph of the release, with a sentence."]
    counts = {template.line_key(p): MIN_PAGES for p in mostly[:2]}
    learned = SourceTemplate("iom-en", version=MIN_PAGES, pages=MIN_PAGES, counts=counts)
    kept, removed = learned.apply(list(mostly), lambda rule, text: None)
    assert (kept, removed) == (mostly, [])


def test_the_template_never_decides_whether_a_page_is_an_article(tmp_path):
    path = tmp_path / "archive.db"
    archive_pages(path, [release(n) for n in range(MIN_PAGES)])
    learned = load_template(path, "iom-en")
    page = release(500)
    assert clean_page(page, template=learned).is_article == clean_page(page).is_article


def test_arrival_order_does_not_change_the_template(tmp_path):
    pages = [release(n, about=n % 2 == 0) for n in range(MIN_PAGES + 10)]
    shuffled = pages[:]
    random.Random(7).shuffle(shuffled)
    learned = []
    for name, order in (("a", pages), ("b", shuffled)):
        path = tmp_path / f"{name}.db"
        # In batches of different sizes too: one page at a time, then the rest at once.
        archive_pages(path, order[:5])
        for page in order[5:10]:
            archive_pages(path, [page])
        archive_pages(path, order[10:])
        learned.append(load_template(path, "iom-en"))
    a, b = learned
    assert (a.version, a.pages, a.counts) == (b.version, b.pages, b.counts)
    page = release(2000)
    assert clean_page(page, template=a) == clean_page(page, template=b)


def test_a_batch_is_cleaned_with_the_template_as_it_was_before_it(tmp_path):
    """Pages of one run all see the same template version, whatever their order."""
    path = tmp_path / "archive.db"
    archive_pages(path, [release(n) for n in range(MIN_PAGES)])
    before = load_template(path, "iom-en")
    batch = [release(n) for n in range(100, 105)]
    forward = [clean_page(p, template=before) for p in batch]
    backward = [clean_page(p, template=before) for p in reversed(batch)][::-1]
    assert forward == backward
    archive_pages(path, batch)
    assert load_template(path, "iom-en").version == before.version + len(batch)


def test_the_window_keeps_the_last_pages_only(tmp_path):
    path = tmp_path / "archive.db"
    with Archive.open(path) as archive:
        for n in range(3):
            learned_templates.record(archive, "s", [[n, 100 + n]] * 4, window=5)
        counts = learned_templates.load(archive, "s", window=5)
    assert (counts.version, counts.pages) == (12, 5)
    assert counts.counts == {1: 1, 101: 1, 2: 4, 102: 4}


def test_templates_are_per_source(tmp_path):
    path = tmp_path / "archive.db"
    archive_pages(path, [release(n) for n in range(MIN_PAGES)], source="iom-en")
    assert load_template(path, "iom-en").active
    assert not load_template(path, "apr").active


def test_learn_template_counts_new_articles_only(tmp_path):
    path = tmp_path / "archive.db"
    pages = [release(n) for n in range(3)]
    archive_pages(path, pages)
    archive_pages(path, pages)  # duplicates: not counted again
    assert load_template(path, "iom-en").version == 3
    with Archive.open(path) as archive:
        learn_template(archive, [], BatchResult())  # a run that archived nothing
    assert load_template(path, "iom-en").version == 3


def test_page_keys_ignore_case_and_punctuation():
    assert page_keys(["About IOM: x.", "about iom x", "Other"]) == sorted(
        {template.line_key("about iom x"), template.line_key("other")}
    )


def test_newswatch_clean_explain_uses_the_learned_template(tmp_path, capsys):
    path = tmp_path / "archive.db"
    archive_pages(path, [release(n) for n in range(MIN_PAGES)])
    page = tmp_path / "release.txt"
    page.write_text(release(4242), encoding="utf-8")
    assert cli(["clean", str(page), "--explain", "--source", "iom-en", "--archive", str(path)]) == 0
    out = capsys.readouterr().out
    assert "[learned template of iom-en (on 20 of its last 20 pages" in out
    assert cli(["clean", str(page), "--json", "--explain", "--source", "iom-en", "--archive", str(path)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert ABOUT not in row["paragraphs"] and row["template_removed"] == [ABOUT]
    assert any(r["rule"].startswith("learned template") for r in row["removed"])


def test_newswatch_clean_explain_without_an_archive_is_one_clear_line(tmp_path, capsys):
    page = tmp_path / "release.txt"
    page.write_text(release(1), encoding="utf-8")
    assert cli(["clean", str(page), "--source", "iom-en", "--archive", str(tmp_path / "none.db")]) == 1
    assert "no archive at" in capsys.readouterr().err


@pytest.mark.parametrize("window_pages", [MIN_PAGES, template.WINDOW + 30])
def test_threshold_is_a_majority_of_the_window(tmp_path, window_pages):
    counts = {1: window_pages // 2 + 1}
    learned = SourceTemplate("s", version=window_pages, pages=min(window_pages, template.WINDOW), counts=counts)
    assert learned.threshold == max(2, -(-learned.pages // 2))


def test_ingest_runs_learn_the_template_and_apply_it_to_later_runs(tmp_path, make_http_server):
    """Two real ingest runs (local HTTP server, RSS feed, real archive, no Prefect): the first
    archives MIN_PAGES releases that all end with the same "About IOM" paragraph; the second
    run's new releases are archived without it, and `clean --explain` says why."""
    from fake_sites import article_page, rss_feed
    from httpserver import Reply, html

    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run

    server = make_http_server()
    server.routes["/robots.txt"] = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")

    def publish(paths: list[str]) -> None:
        for p in paths:
            rng = random.Random(p)
            body = [" ".join(word(rng) for _ in range(30)).capitalize() + "." for _ in range(3)] + [ABOUT]
            server.routes[p] = html(article_page("iom-en", server.base + p, body=body))
        server.routes["/feed.xml"] = Reply(
            body=rss_feed(server.base, [(p, p.rsplit("/", 1)[1]) for p in paths]), content_type="application/rss+xml"
        )

    config = tmp_path / "newswatch.yaml"
    archive = tmp_path / "archive.db"
    config.write_text(
        f"archive: {archive}\nuser_agent: template-test\nretries: {{attempts: 1, backoff: 0}}\n"
        f"timeouts: {{connect: 2, read: 5, total: 10}}\nsources:\n"
        f"  - {{name: iom-en, url: '{server.url('/feed.xml')}', kind: feed, profile: iom, delay: 0}}\n"
    )
    first = [f"/news/release-{n}" for n in range(MIN_PAGES)]
    publish(first)
    assert sum(s.new for s in ingest_run(load_config(config)).sources) == MIN_PAGES
    assert load_template(archive, "iom-en").version == MIN_PAGES

    later = [f"/news/release-{n}" for n in range(MIN_PAGES, MIN_PAGES + 3)]
    publish(first + later)
    assert sum(s.new for s in ingest_run(load_config(config)).sources) == 3
    with Archive.open(archive) as db:
        bodies = {url: body for url, body in db.conn.execute("SELECT url, body FROM articles")}
    assert all("About IOM" in bodies[server.url(p)] for p in first)
    assert not any("About IOM" in bodies[server.url(p)] for p in later)
    assert load_template(archive, "iom-en").version == MIN_PAGES + 3


def test_newswatch_import_learns_and_applies_the_source_template(tmp_path, capsys):
    archive = tmp_path / "archive.db"
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir(), later.mkdir()
    for n in range(MIN_PAGES):
        (first / f"{n:03}.txt").write_text(release(n), encoding="utf-8")
    (later / "new.txt").write_text(release(777), encoding="utf-8")
    assert cli(["import", str(first), "--source", "iom-en", "--archive", str(archive)]) == 0
    assert cli(["import", str(later), "--source", "iom-en", "--archive", str(archive)]) == 0
    capsys.readouterr()
    with Archive.open(archive) as db:
        newest = db.conn.execute("SELECT body FROM articles ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert "Established in 1951" not in newest
    assert load_template(archive, "iom-en").version == MIN_PAGES + 1
