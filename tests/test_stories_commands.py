"""`newswatch stories` and `newswatch show`'s story (flows/cli/stories.py), run in process on real
archive files: the invented events of tests/fixtures/stories/ imported day by day as in
tests/test_stories.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import newswatch as run_newswatch
from test_stories import DEV, docs, import_docs

from storage import stories, story_assignment
from storage.archive import Archive


def copy(source: Path, target: Path) -> Path:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    return target


@pytest.fixture(scope="module")
def dev_archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("stories-cli") / "dev.db"
    with Archive.open(path) as archive:
        ids = import_docs(archive, DEV)
    return path, ids


@pytest.fixture
def archive(dev_archive, tmp_path) -> Path:
    return copy(dev_archive[0], tmp_path / "archive.db")


@pytest.fixture
def ids(dev_archive) -> dict[str, int]:
    return dev_archive[1]


def newswatch(*args: str) -> tuple[int, str, str]:
    done = run_newswatch(*args)
    return done.returncode, done.stdout, done.stderr


def test_stories_lists_each_story_once_with_every_version_and_where_it_was_seen(archive, ids):
    office = docs("dev-office-01")
    code, out, err = newswatch("stories", "--archive", str(archive), "--json", "--limit", "100")
    assert code == 0 and "warning" not in err
    listed = json.loads(out)
    assert listed["pending_backfill"] == 0
    with Archive.open(archive, read_only=True) as opened:
        story_id = stories.story_of(opened, ids[office[0]["file"]])
    (story,) = [s for s in listed["stories"] if s["id"] == story_id]
    assert story["size"] == 5 and len(story["versions"]) == 5
    assert {v["id"] for v in story["versions"]} == {ids[d["file"]] for d in office}
    assert story["title"] == story["versions"][0]["title"]  # the earliest version's
    assert set(story["urls"]) == {
        f"https://{d['style']}-{d['lang']}.example.org/news/{Path(d['file']).stem}" for d in office
    }
    assert story["outlets"] == sorted({f"{d['style']}-{d['lang']}" for d in office})
    assert story["first_day"] == min(d["published"] for d in office)
    assert story["last_day"] == max(d["published"] for d in office)
    assert len(story["languages"]) >= 3
    # every article is in exactly one listed story
    every = [v["id"] for s in listed["stories"] for v in s["versions"]]
    assert sorted(every) == sorted(set(ids.values()))

    code, out, err = newswatch("stories", "--archive", str(archive), "--source", "press-it")
    assert code == 0
    assert f"story {story_id}  5 versions" in out
    assert "press-it" in out and all("press-it" in block for block in out.split("\n\n") if block.strip())
    later = max(d["published"] for d in DEV)
    code, out, err = newswatch("stories", "--archive", str(archive), "--since", later, "--json")
    assert {s["last_day"] for s in json.loads(out)["stories"]} == {later}


def test_stories_limit_says_there_are_more(archive):
    code, out, err = newswatch("stories", "--archive", str(archive), "--limit", "2")
    assert code == 0 and out.count("\nstory ") + out.startswith("story ") == 2
    assert err.strip() == "2 stories (more: --limit)"


def test_explain_says_why_two_articles_are_or_are_not_one_story(archive, ids):
    release, press = ids["dev/dev-office-01-1-en-release.txt"], ids["dev/dev-office-01-3-it-press.txt"]
    code, out, err = newswatch("stories", "--archive", str(archive), "--explain", str(release), str(press))
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(f"articles {release} and {press} are one story")
    assert any(line.startswith(f"article {press} joined its story on shared facts weighing") for line in lines)
    assert any("'Ibrahim Traoré'" in line for line in lines)

    other = ids["dev/dev-office-02-1-es-release.txt"]  # another office, same state, donor and chief
    code, out, err = newswatch("stories", "--archive", str(archive), "--explain", str(release), str(other))
    assert "are in different stories" in out.splitlines()[0]
    assert "facts of the two alone: " in out

    code, out, err = newswatch("stories", "--archive", str(archive), "--explain", str(release), "99999")
    assert code == 1 and err.strip() == f"newswatch stories: no article #99999 in {archive}"


def test_show_names_the_story_and_its_other_versions(archive, ids):
    office = [ids[d["file"]] for d in docs("dev-office-01")]
    code, out, err = newswatch("show", str(office[1]), "--archive", str(archive))
    assert code == 0
    story_part = out[out.index("\nstory ") :]
    assert "\n  5 versions (" in story_part and story_part.splitlines()[2].endswith("; the others:")
    assert all(f"#{a} " in story_part for a in office if a != office[1]) and f"#{office[1]} " not in story_part
    code, out, err = newswatch("show", str(office[1]), "--archive", str(archive), "--json")
    shown = json.loads(out)
    assert shown["story"]["size"] == 5
    assert sorted(v["id"] for v in shown["story"]["other_versions"]) == sorted(a for a in office if a != office[1])


def test_split_by_url_and_merge_are_remembered_by_later_assignments(archive, ids):
    office = docs("dev-office-01")
    press = next(d for d in office if d["style"] == "press" and d["lang"] == "it")
    press_url = f"https://press-it.example.org/news/{Path(press['file']).stem}"
    release = ids[office[0]["file"]]
    with Archive.open(archive, read_only=True) as opened:
        story = stories.story_of(opened, release)

    code, out, err = newswatch("stories", "split", str(story), press_url, "--archive", str(archive))
    assert code == 0, err
    assert out.strip() == (
        f"article #{ids[press['file']]} is now story {ids[press['file']]} on its own, kept apart from the 4 other "
        f"version(s) (story {story}): later runs will not put them together again"
    )
    tally = [ids[d["file"]] for d in docs("dev-tally-01", "dev-tally-02")]
    with Archive.open(archive) as opened:
        weeks = sorted({stories.story_of(opened, a) for a in tally})
    assert len(weeks) == 2
    code, out, err = newswatch("stories", "--archive", str(archive), "merge", str(weeks[0]), str(weeks[1]))
    assert code == 0, err
    assert out.startswith(f"stories {weeks[0]} and {weeks[1]} are now story {weeks[0]} (")

    with Archive.open(archive) as opened:
        before = {a: stories.story_of(opened, a) for a in ids.values()}
        story_assignment.reassign(opened)  # what a re-run decides for every article not pinned
        after = {a: stories.story_of(opened, a) for a in ids.values()}
        # the same pages fetched again (a re-run): duplicates, and the corrections stay
        import_docs(opened, docs("dev-office-01", "dev-tally-01"))
        again = {a: stories.story_of(opened, a) for a in ids.values()}
    assert after == before == again
    assert after[ids[press["file"]]] == ids[press["file"]]
    assert {after[a] for a in tally} == {weeks[0]}

    code, out, err = newswatch("stories", "--explain", str(release), str(ids[press["file"]]), "--archive", str(archive))
    assert f"a split keeps articles {release} and {ids[press['file']]} apart" in out


def test_a_wrong_split_or_merge_is_one_line_and_changes_nothing(archive, ids):
    release = ids["dev/dev-office-01-1-en-release.txt"]
    before = archive.read_bytes()
    code, out, err = newswatch(
        "stories", "split", str(release), "https://elsewhere.example.org/x", "--archive", str(archive)
    )
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(
        f"newswatch stories: story {release} has no version seen at https://elsewhere.example.org/x: its versions are #"
    )
    code, out, err = newswatch("stories", "merge", "99999", str(release), "--archive", str(archive))
    assert (
        code == 1
        and err.strip()
        == f"newswatch stories: no story 99999 in {archive} (nor an article #99999): see `newswatch stories`"
    )
    with sqlite3.connect(archive) as conn:
        assert conn.execute("SELECT count(*) FROM story_overrides").fetchone()[0] == 0
    assert archive.read_bytes() == before


def test_reading_commands_say_when_stories_wait_for_a_backfill_and_backfill_completes_them(archive, ids):
    # The archive as an upgrade to the stories schema leaves it: every article waits for its story.
    with sqlite3.connect(archive) as conn:
        for table in ("stories", "story_members", "story_article_facts", "story_postings", "story_fact_df"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM archive_meta WHERE key = 'stories_articles'")
        conn.execute(
            "INSERT OR REPLACE INTO archive_meta (key, value)"
            " SELECT 'stories_backfill', min(id) || ' ' || max(id) FROM articles"
        )
    total = len(set(ids.values()))
    warning = (
        f"warning: {total} archived article(s) have no story yet (the archive was upgraded): stories may lack "
        "versions until `newswatch stories backfill` (or the next runs) gives them theirs"
    )
    code, out, err = newswatch("stories", "--archive", str(archive), "--json")
    assert code == 0 and json.loads(out) == {"stories": [], "pending_backfill": total}
    assert err.splitlines()[0] == f"newswatch stories: {warning}"
    code, out, err = newswatch("show", str(min(ids.values())), "--archive", str(archive))
    assert f"newswatch show: {warning}" in err and "story: none yet (see the warning above)" in out

    code, out, err = newswatch("stories", "backfill", "--archive", str(archive), "--chunk", "40")
    assert code == 0 and out.strip() == f"every archived article has its story ({total} given theirs now)"
    code, out, err = newswatch("stories", "--archive", str(archive), "--json", "--limit", "1000")
    listed = json.loads(out)
    assert "warning" not in err and listed["pending_backfill"] == 0
    assert sum(s["size"] for s in listed["stories"]) == total
