import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import newswatch as run_newswatch

ROOT = Path(__file__).resolve().parent.parent
PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"


def newswatch(*args, archive, cwd=ROOT):
    return run_newswatch(*args, cwd=cwd, env={**os.environ, "NEWSWATCH_ARCHIVE": str(archive)})


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "archive.db"
    done = newswatch("import", str(PAGES), archive=path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("10 files: 10 new, 0 duplicates")
    return path


def test_import_again_counts_duplicates(archive):
    done = newswatch("import", str(PAGES), "--archive", str(archive), archive="/nonexistent/ignored.db")
    assert done.returncode == 0, done.stderr
    assert "0 new, 10 duplicates (exact 10, near 0, same URL 0), 0 not articles, 0 errors" in done.stdout


def test_import_reports_unreadable_files(tmp_path, archive):
    (tmp_path / "empty.txt").write_text("")
    done = newswatch("import", str(tmp_path), archive=tmp_path / "a.db")
    assert "1 errors" in done.stdout and "empty.txt" in done.stdout


def test_search_highlights_and_orders_newest_first(archive):
    done = newswatch("search", "migrants NOT Agadez", archive=archive)
    assert done.returncode == 0, done.stderr
    assert "[migrants]" in done.stdout
    assert "Agadez" not in done.stdout
    heads = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("#")]
    # Undated (Djibouti) counts as fetched today, then Lampedusa (2024-07-01), Tunisie (2023-06-12).
    assert heads == ["#4", "#2", "#6"]


def test_search_json_and_filters(archive):
    done = newswatch("search", "exilés", "--json", "--source", "import", "--limit", "5", archive=archive)
    hits = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(hits) == 1 and "Calais" in hits[0]["title"] and "[exilés]" in hits[0]["snippet"]
    later = newswatch("search", "migrants", "--since", "2099-01-01", "--json", archive=archive)
    assert later.returncode == 0 and later.stdout == ""


def test_bad_query_is_one_line_error(archive):
    done = newswatch("search", "migrants OR", archive=archive)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0
    assert "column 12" in done.stderr and "Traceback" not in done.stderr


def test_bad_date_is_refused(archive):
    done = newswatch("search", "migrants", "--since", "yesterday", archive=archive)
    assert done.returncode != 0 and "YYYY-MM-DD" in done.stderr


def test_export_jsonl_and_csv(archive):
    jsonl = newswatch("export", archive=archive)
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["id"] for r in rows] == list(range(1, 11))
    assert all(r["body"] and r["content_hash"] for r in rows)
    exported = newswatch("export", "--format", "csv", archive=archive).stdout
    assert exported.startswith("\ufeffid,")  # the byte order mark spreadsheets read (tests/test_desk.py)
    table = list(csv.DictReader(io.StringIO(exported.removeprefix("\ufeff"))))
    assert [r["title"] for r in table] == [r["title"] for r in rows]
    assert json.loads(table[3]["contacts"])[0]["emails"] == ["sbekele@iom.int"]


def test_stats(archive):
    done = newswatch("stats", "--json", archive=archive)
    stats = json.loads(done.stdout)
    assert stats["articles"] == 10 and stats["per_source"] == {"import": 10}
    assert "import" in stats["last_seen_per_source"]
    text = newswatch("stats", archive=archive).stdout
    assert "10 articles" in text and "per source" in text


def test_show(archive):
    done = newswatch("show", "5", archive=archive)
    assert done.returncode == 0, done.stderr
    assert "centre d’accueil de 400 places" in done.stdout
    assert "seen:" in done.stdout and "original" in done.stdout
    missing = newswatch("show", "999", archive=archive)
    assert missing.returncode == 1 and "no article #999" in missing.stderr


def test_missing_archive_is_explained(tmp_path):
    done = newswatch("search", "migrants", archive=tmp_path / "none.db")
    assert done.returncode == 1 and "no archive at" in done.stderr


def test_browse_without_datasette_says_how_to_install(monkeypatch):
    import importlib.util

    from errors import NewswatchError
    from flows.cli import browse

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NewswatchError, match=r"\.venv/bin/pip install -c constraints\.txt -e '\.\[browse\]'"):
        browse.require_datasette()


def test_commands_do_not_import_prefect():
    code = (
        "import sys; import flows.cli.import_, flows.cli.search, flows.cli.export, "
        "flows.cli.stats, flows.cli.show, flows.cli.stories, flows.cli.browse, storage.archive; "
        "print('prefect' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_search_takes_several_words_unquoted_as_all_required(archive):
    both = newswatch("search", "exilés", "Calais", "--json", archive=archive)
    assert both.returncode == 0, both.stderr
    quoted = newswatch("search", "exilés Calais", "--json", archive=archive)
    assert both.stdout == quoted.stdout and len(both.stdout.splitlines()) == 1
    assert newswatch("search", "exilés", "Agadez", "--json", archive=archive).stdout == ""
    rules = newswatch("rules", "test", "exilés", "Calais", archive=archive)
    assert rules.returncode == 0, rules.stderr
    assert "Calais" in rules.stdout


def test_search_folds_the_oe_ligature_both_ways(archive):
    """French keyboards rarely type œ: `oeuvre` finds what `œuvre` finds in the pages (3)."""
    spelled = newswatch("search", "oeuvre", "--json", archive=archive)
    ligature = newswatch("search", "œuvre", "--json", archive=archive)
    assert spelled.returncode == 0, spelled.stderr
    assert len(spelled.stdout.splitlines()) == 3
    assert spelled.stdout == ligature.stdout
    assert "[œuvre]" in spelled.stdout


READ_ONLY_COMMANDS = [
    ["search", "migrants"],
    ["show", "1"],
    ["stats"],
    ["export", "--format", "csv"],
    ["rejected"],
    ["alerts", "list"],
    ["stories"],
    ["stories", "--explain", "1", "2"],
    ["browse", "--no-open", "--port", "0"],
]


def _one_line(done: subprocess.CompletedProcess, command: str) -> str:
    assert done.returncode == 1 and done.stdout == "", (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"newswatch {command}: "), line
    return line


def _command_id(command: list[str]) -> str:
    return "-".join(command[:2]) if command[0] in ("alerts", "stories") and len(command) > 1 else command[0]


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=_command_id)
def test_read_only_commands_never_create_nor_take_over_an_archive(tmp_path, command):
    """QA finding 6: a missing archive stays missing, an empty file (or any file that is not a
    newswatch archive) stays as it was, and a directory is one line, not a traceback (finding 7)."""
    missing = tmp_path / "data" / "archive.db"
    line = _one_line(newswatch(*command, "--archive", str(missing), archive=missing), command[0])
    assert f"no archive at {missing}" in line
    assert not missing.exists() and not missing.parent.exists()

    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    line = _one_line(newswatch(*command, "--archive", str(empty), archive=empty), command[0])
    assert f"{empty} is not a newswatch archive" in line
    assert empty.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["empty.html"]

    page = tmp_path / "page.html"
    page.write_text("<html><body>" + "not sqlite " * 100 + "</body></html>")
    line = _one_line(newswatch(*command, "--archive", str(page), archive=page), command[0])
    assert f"{page} is not a newswatch archive" in line

    folder = tmp_path / "folder"
    folder.mkdir()
    line = _one_line(newswatch(*command, "--archive", str(folder), archive=folder), command[0])
    assert f"{folder} is a directory, not a newswatch archive" in line


def test_an_archive_from_an_older_version_is_read_by_no_read_only_command(tmp_path, archive):
    import shutil
    import sqlite3

    from storage.schema import LATEST

    older = tmp_path / "older.db"
    shutil.copy(archive, older)
    with sqlite3.connect(older) as conn:
        conn.execute("DELETE FROM schema_version WHERE version = ?", (LATEST,))
    before = older.read_bytes()
    line = _one_line(newswatch("search", "migrants", archive=older), "search")
    assert line == (
        f"newswatch search: the archive {older} is from an older newswatch (schema {LATEST - 1}, this one reads "
        f"{LATEST}): the next `newswatch run` (or import) upgrades it; a command that only reads does not"
    )
    assert older.read_bytes() == before


def test_sources_and_status_before_any_run_make_no_archive(tmp_path):
    config = tmp_path / "newswatch.yaml"
    config.write_text("archive: data/archive.db\nsources:\n  - {name: a, url: 'http://127.0.0.1:9/feed.xml'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "PREFECT_API_URL"))}
    for command in (["sources"], ["status"]):
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", *command, "--config", str(config)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"(no archive yet at {tmp_path / 'data' / 'archive.db'}: no source has run)" in done.stdout
        assert "health: not judged yet (never run)" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newswatch.yaml"]
