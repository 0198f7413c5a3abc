"""Stories: the versions of one event are one story, other events are not (storage/stories.py).

The pages are the invented events of tests/fixtures/stories/ (make_stories.py wrote them,
manifest.json says which event each tells and when it was published), imported the way
`newswatch import` does (clean_page, Archive.add_batch) into real archive files.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from core.article import Article
from scrapers.clean import clean_page
from storage import facts, schema, stories, story_assignment, story_decision
from storage.archive import Archive
from storage.records import Incoming

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stories"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))


def docs(*events: str) -> list[dict]:
    return [d for d in MANIFEST["documents"] if d["event"] in events]


def import_docs(archive: Archive, documents: list[dict]) -> dict[str, int]:
    """Import the documents day by day, as they were published; file -> the article id it
    became (a version the near-duplicate layer folds is a sighting of the article it copies)."""
    ids = {}
    for day in sorted({d["published"] for d in documents}):
        batch = [d for d in documents if d["published"] == day]
        items = []
        for d in batch:
            name = Path(d["file"]).stem
            url = f"https://{d['style']}-{d['lang']}.example.org/news/{name}"
            article = clean_page((FIXTURES / d["file"]).read_bytes(), url=url)
            items.append(
                Incoming(article, source=f"{d['style']}-{d['lang']}", url=url, fetched_at=f"{day}T09:00:00+00:00")
            )
        result = archive.add_batch(items)
        for d, item in zip(batch, result.items, strict=True):
            assert item.article_id is not None, (d["file"], item)
            ids[d["file"]] = item.article_id
    return ids


DEV = [d for d in MANIFEST["documents"] if d["part"] == "dev"]


@pytest.fixture(scope="module")
def dev_archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """The 91 versions of the 26 dev events imported day by day: each test reads a copy."""
    path = tmp_path_factory.mktemp("stories") / "dev.db"
    with Archive.open(path) as archive:
        ids = import_docs(archive, DEV)
    return path, ids


@pytest.fixture
def archive(dev_archive, tmp_path):
    path, _ = dev_archive
    copy = tmp_path / "archive.db"
    source = sqlite3.connect(path)
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    with Archive.open(copy) as opened:
        yield opened


@pytest.fixture
def ids(dev_archive) -> dict[str, int]:
    return dev_archive[1]


def test_a_release_in_three_languages_and_two_press_rewrites_are_one_story(archive, ids):
    event = docs("dev-office-01")
    assert {(d["lang"], d["style"]) for d in event} == {
        ("en", "release"),
        ("es", "regional"),
        ("fr", "regional"),
        ("it", "press"),
        ("es", "press"),
    }
    # Among the other events: another office opened in the same state four days later (same
    # donor, amount and chief of mission), and the unrelated stories of the same days.
    others = [d for d in DEV if d["event"] != "dev-office-01"]

    story = {stories.story_of(archive, ids[d["file"]]) for d in event}
    assert len(story) == 1
    story_id = story.pop()
    members = stories.members(archive, story_id)
    assert sorted(m.article_id for m in members) == sorted(ids[d["file"]] for d in event)
    assert len({m.language for m in members}) >= 3  # as clean_page detected them
    assert all(m.sightings == [m.link] for m in members)
    assert not {stories.story_of(archive, ids[d["file"]]) for d in others} & {story_id}
    # The story is listed once, titled by its earliest version, with its languages and outlets.
    listed = {s.id: s for s in stories.list_stories(archive)}
    assert listed[story_id].size == 5
    assert listed[story_id].languages == sorted({m.language for m in members if m.language})
    assert listed[story_id].title == archive.get(ids[event[0]["file"]]).title
    by_italian_press = stories.list_stories(archive, source="press-it")
    assert story_id in [s.id for s in by_italian_press]
    assert all("press-it" in s.sources for s in by_italian_press)


def test_a_weekly_series_of_one_template_stays_apart(archive, ids):
    weeks = [f"dev-tally-0{n}" for n in range(1, 6)]
    per_week = [{stories.story_of(archive, ids[d["file"]]) for d in docs(week)} for week in weeks]
    # each week's release and its copies are one story, and no two weeks share one
    assert all(len(found) == 1 for found in per_week)
    assert len(set().union(*per_week)) == 5
    # the releases are near-identical texts: before stories, deduplication folded them
    releases = [ids[d["file"]] for d in docs(*weeks) if d["style"] == "release"]
    assert len(set(releases)) == 5


@pytest.mark.parametrize(
    "written",
    ["61,517", "61 517", "61\u00a0517", "61\u202f517", "61.517", "61517", "61'517"],
)
def test_a_figure_written_in_each_format_is_one_fact(written):
    found = facts.extract(f"Sea arrivals reached {written} this year.")
    assert [f.key for f in found.values() if f.kind == "num"] == ["61517"]


@pytest.mark.parametrize(
    "text, kind, key",
    [
        ("un programme de 3,1 millions de dollars", "num", "3100000"),
        ("a USD 3.1 million programme", "num", "3100000"),
        ("dos millones de personas", "num", "2000000"),
        ("due milioni di persone", "num", "2000000"),
        ("10 mil personas", "num", "10000"),
        ("up 12.5% on last year", "pct", "12.5"),
        ("en hausse de 12,5 %", "pct", "12.5"),
        ("un 12,5 por ciento", "pct", "12.5"),
        ("il 12,5 per cento", "pct", "12.5"),
        ("on 4 March 2024", "date", "03-04"),
        ("on March 4, 2024", "date", "03-04"),
        ("le 4 mars", "date", "03-04"),
        ("el 4 de marzo de 2024", "date", "03-04"),
        ("il 4 marzo", "date", "03-04"),
        ("2024-03-04", "date", "03-04"),
    ],
)
def test_figures_percentages_and_days_are_read_in_every_cue_language(text, kind, key):
    assert key in {f.key for f in facts.extract(text).values() if f.kind == kind}


def test_years_phones_and_small_counts_are_not_figures():
    found = facts.extract("In 2023, 7 boats left. Call +41 22 717 9111 or write to press@iom.int.")
    assert not [f for f in found.values() if f.kind == "num"]


def test_names_are_capitalised_words_accent_and_case_folded():
    found = facts.extract(
        "Le maire d'Agadès, Moussa Traoré, a reçu l'OIM.\nPOUR EN SAVOIR PLUS SUR LES MIGRATIONS AU SAHEL"
    )
    names = {f.key for f in found.values() if f.kind == "name"}
    pairs = {f.key for f in found.values() if f.kind == "pair"}
    assert {"agades", "moussa", "traore", "oim"} <= names
    assert "moussa traore" in pairs
    assert "le" not in names  # the first word of a sentence says nothing
    assert not names & {"savoir", "migrations", "sahel"}  # a line in capitals is no name


def test_split_and_merge_survive_a_new_assignment(archive, ids):
    office = [ids[d["file"]] for d in docs("dev-office-01")]
    other_office = [ids[d["file"]] for d in docs("dev-office-02")]
    story = stories.story_of(archive, office[0])
    other = stories.story_of(archive, other_office[0])
    assert story != other

    wrong = office[-1]
    alone = stories.split(archive, wrong)
    assert stories.story_of(archive, wrong) == alone != story
    merged = stories.merge(archive, story, other)
    assert merged == story

    before = {a: stories.story_of(archive, a) for a in ids.values()}
    story_assignment.reassign(archive)  # what a re-run decides for every article not pinned
    after = {a: stories.story_of(archive, a) for a in ids.values()}
    assert after == before
    assert after[wrong] == alone
    assert {after[a] for a in office[:-1] + other_office} == {story}
    kinds = [r[0] for r in archive.conn.execute("SELECT kind FROM story_overrides ORDER BY id")]
    assert kinds == ["split", "merge"]

    # The split article is kept apart from the versions it left, even when its own story is
    # re-assigned from scratch: a pinned article is never moved, and none joins it again.
    archive.conn.execute("UPDATE story_members SET pinned = 0 WHERE article_id = ?", (wrong,))
    story_assignment.reassign(archive, [wrong])
    assert stories.story_of(archive, wrong) not in {story}


def test_the_explanation_says_which_shared_facts_decided(archive, ids):
    release, press = ids["dev/dev-office-01-1-en-release.txt"], ids["dev/dev-office-01-3-it-press.txt"]
    explained = stories.explain(archive, release, press)
    assert explained.same_story
    lines = explained.lines()
    assert lines[0] == f"articles {release} and {press} are one story ({explained.story_a})"
    # the press rewrite joined the story on facts it shares with the versions already there:
    # the explanation names them, each with its weight
    joined = [line for line in lines if line.startswith(f"article {press} joined its story on shared facts")]
    assert joined and "pair 'Ibrahim Traoré'" in joined[0]
    assert explained.verdict is not None  # and what the two alone share
    assert any(line.startswith("facts of the two alone: ") for line in lines)

    other = ids["dev/dev-office-02-1-es-release.txt"]
    apart = stories.explain(archive, release, other)
    assert not apart.same_story and apart.verdict and not apart.verdict.joins
    assert "are in different stories" in apart.lines()[0]
    assert f"facts of the two alone: {apart.verdict.reason}" in apart.lines()


def test_a_declared_translation_joins_its_original_story_without_shared_facts(tmp_path):
    archive = Archive.open(tmp_path / "archive.db")
    original = Article(
        title="A new office",
        date="2024-05-02",
        paragraphs=["IOM opened an office today to help people on the move in the region."],
        language="en",
        url="https://www.iom.int/news/office",
        translations={"fr": "https://www.iom.int/fr/news/bureau"},
    )
    translation = Article(
        title="Un nouveau bureau",
        date="2024-05-03",
        paragraphs=["L'organisation a ouvert un bureau pour aider les personnes en déplacement."],
        language="fr",
        url="https://www.iom.int/fr/news/bureau",
    )
    result = archive.add_batch([Incoming(original, "iom-en"), Incoming(translation, "iom-fr")])
    first, second = result.new_ids
    assert stories.story_of(archive, first) == stories.story_of(archive, second) == first
    assert stories.members(archive, first)[1].how == "translation"
    assert stories.explain(archive, first, second).translation
    archive.close()


def test_an_archive_from_before_stories_gets_them_by_a_resumable_backfill(tmp_path, dev_archive):
    path = tmp_path / "old.db"
    source, target = sqlite3.connect(dev_archive[0]), sqlite3.connect(path)
    source.backup(target)
    source.close()
    target.close()
    # The same archive as schema v15 left it: no story tables.
    conn = sqlite3.connect(path)
    for table in ("stories", "story_members", "story_article_facts", "story_postings", "story_fact_df"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP TABLE story_apart")
    conn.execute("DROP TABLE story_overrides")
    conn.execute("DROP TABLE forgotten")  # v18
    conn.execute("DELETE FROM archive_meta WHERE key LIKE 'stories_%'")
    conn.execute("DELETE FROM schema_version WHERE version >= 16")
    conn.commit()
    conn.close()

    with Archive.open(path) as archive:
        assert archive.schema_version == schema.LATEST
        total = archive.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        assert story_assignment.pending_backfill(archive) == total
        remaining = story_assignment.backfill(archive, limit=20)  # a crash after this keeps these 20
        assert remaining == total - 20
        while remaining:
            remaining = story_assignment.backfill(archive, limit=20)
        assert archive.conn.execute("SELECT count(*) FROM story_members").fetchone()[0] == total
        office = {
            stories.story_of(archive, a)
            for (a,) in archive.conn.execute("SELECT article_id FROM sightings WHERE url LIKE '%office-01%'")
        }
        assert len(office) == 1
        assert archive.check() == []


def test_the_day_of_an_article_is_its_publication_else_its_fetch():
    assert story_decision.day_text(story_decision.day_of("2024-03-04", "2024-05-01T10:00:00+00:00")) == "2024-03-04"
    assert story_decision.day_text(story_decision.day_of(None, "2024-05-01T10:00:00+00:00")) == "2024-05-01"
    assert story_decision.day_of("not a date", None) == date.today().toordinal() - date(1970, 1, 1).toordinal()


STORY_PAGES = Path(__file__).resolve().parent / "fixtures" / "story_pages"


def test_a_young_archive_keeps_apart_an_event_that_repeats_another_ones_background():
    """Six articles, no history: the figures of a background paragraph two releases of one
    office repeat (61,517 arrivals, 958 dead, 175 member states) cannot yet be told from the
    event's own by how many articles have them. The second centre (Rosso) shares them with the
    first (Nouadhibou), and the donor, the amount and the chief of mission too, but not one
    of the figures it leads with: another story. The first centre's five versions (three
    languages, two rewrites with other figure formats) stay one."""
    manifest = json.loads((STORY_PAGES / "manifest.json").read_text(encoding="utf-8"))["pages"]
    wanted = [p for p in manifest if p["event"] in ("nouadhibou", "rosso")]
    for order in (wanted, wanted[::-1]):  # whichever arrives first
        with Archive.open(":memory:") as archive:
            ids = {}
            for page in order:
                url = f"https://{page['outlet']}.example.org/{Path(page['path']).stem}"
                article = clean_page((STORY_PAGES / page["path"]).read_bytes(), url=url)
                (item,) = archive.add_batch([Incoming(article, page["outlet"], url)]).items
                ids[page["path"]] = item.article_id
            nouadhibou = {stories.story_of(archive, ids[p["path"]]) for p in wanted if p["event"] == "nouadhibou"}
            rosso = {stories.story_of(archive, ids[p["path"]]) for p in wanted if p["event"] == "rosso"}
            assert len(nouadhibou) == 1 and len(rosso) == 1 and nouadhibou != rosso
            rosso_id = next(ids[p["path"]] for p in wanted if p["event"] == "rosso")
            release = next(ids[p["path"]] for p in wanted if p["path"] == "iom-en/nouadhibou-centre.html")
            verdict = stories.explain(archive, rosso_id, release).verdict
            assert verdict is not None and not verdict.joins
            assert verdict.reason == "none of the figures it leads with (1,480) is in the other"
            assert verdict.score >= story_decision.JOIN_SCORE  # it shares enough to join, but not its news


def test_the_lead_is_the_title_and_the_first_paragraph_of_running_text():
    body = "Press Release\n\nGENEVA – 6 March 2024\n\n" + "GENEVA – IOM said 1,480 people arrived this week, " * 2
    body += "\n\nSince January 61,517 people arrived."
    assert {f.key for f in facts.lead_figures(body, "12 dead off Lampedusa").values()} == {"12", "1480", "1500"}


def _story_tables(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2").fetchall()
            for table, columns in (
                ("articles", "id, content_hash, body, title, url_key"),
                ("near_signatures", "article_id, signature"),
                ("story_postings", "fact, article_id, day"),
                ("story_members", "article_id, story_id, how, score, evidence"),
                ("story_article_facts", "article_id, facts"),
                ("sightings", "article_id, url, kind"),
            )
        }


def test_what_the_cleaning_process_derives_stores_the_same_archive_as_the_writer_would(tmp_path, monkeypatch):
    """A run's cleaning processes compute each article's body, dedup keys and story facts
    (`Incoming.derived`), so that the run's one writer only compares and inserts: the archive
    must be the one the writer makes deriving them itself, versions folded and stories alike."""
    from storage.derived import derive

    documents = docs(*sorted({d["event"] for d in DEV})[:8])
    with Archive.open(tmp_path / "writer.db") as archive:
        import_docs(archive, documents)
    derived_by_cleaner = []

    def add_batch(self, items):
        items = list(items)
        for item in items:
            item.derived = derive(item)
            derived_by_cleaner.append(item.derived)
        return original(self, items)

    original = Archive.add_batch
    monkeypatch.setattr(Archive, "add_batch", add_batch)
    with Archive.open(tmp_path / "cleaner.db") as archive:
        import_docs(archive, documents)
    assert len(derived_by_cleaner) == len(documents) and all(d is not None for d in derived_by_cleaner)
    made_by_writer, made_by_cleaner = _story_tables(tmp_path / "writer.db"), _story_tables(tmp_path / "cleaner.db")
    assert made_by_writer["story_members"] and made_by_writer["near_signatures"]
    assert made_by_cleaner == made_by_writer


def test_derived_values_made_with_other_settings_are_not_used(tmp_path):
    """A signature made for another `near.min_words`, or for an article without its fetch
    time, is recomputed by the archive, never stored as is."""
    from storage import dedup
    from storage.derived import derive

    document = DEV[0]
    url = f"https://{document['style']}-{document['lang']}.example.org/news/x"
    article = clean_page((FIXTURES / document["file"]).read_bytes(), url=url)
    item = Incoming(article, source="s", url=url, fetched_at=f"{document['published']}T09:00:00+00:00")
    item.derived = derive(item, min_words=10_000)  # too long for any signature
    assert item.derived is not None and item.derived.signature is None
    with Archive.open(tmp_path / "a.db", near=dedup.NearConfig(min_words=30)) as archive:
        [result] = archive.add_batch([item]).items
        signature = archive.conn.execute(
            "SELECT signature FROM near_signatures WHERE article_id = ?", (result.article_id,)
        ).fetchone()
    assert signature is not None and signature[0] == dedup.minhash(archive_body(article.body))
    assert derive(Incoming(article, source="s", url=url)) is None  # no fetch time: the writer's day


def archive_body(body: str) -> str:
    from core.text import inert

    return inert(body)


def test_spelled_numbers_are_found_from_the_multipliers_as_the_full_scan_finds_them():
    """`facts._spelled_numbers` looks for "two million" from "million" (few texts have a
    multiplier); the plain scan of the pattern at every word is the oracle."""
    import random

    from storage import facts

    words = [*facts.NUMBER_WORDS, *facts.MULTIPLIERS, "the", "x2", "abc-", "\n", "   ", "12", "3,5", "l'oim", "mil"]
    rng = random.Random(23)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(2000)]
    texts += ["deux millions de personnes", "two mil millones", "two thousand million", "one" + " " * 300 + "million"]
    for text in texts:
        folded = facts._fold_in_place(text)
        expected = [m.span() for m in facts._WORD_NUMBER.finditer(folded)]
        assert [m.span() for m in facts._spelled_numbers(folded)] == expected, text
    assert sum(bool(list(facts._spelled_numbers(facts._fold_in_place(t)))) for t in texts) > 500
