"""A damaged archive is refused, not written to (issue 20, item 8), on real files: garbage in
the middle of the file, another process holding the write lock, a read-only folder, a full
disk (a real tmpfs filled up; PRAGMA max_page_count for the storage layer alone).

Every case: one line on stderr naming the file and what to do, no traceback, nothing already
stored lost.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flows.cli.main import main
from storage import integrity
from storage.archive import Archive

ARTICLES = 300


def build(path: Path, count: int = ARTICLES) -> None:
    """A real archive of `count` articles (bench/reading_room.py's builder), closed cleanly."""
    import random

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from reading_room import build as build_archive

    path.parent.mkdir(parents=True, exist_ok=True)
    build_archive(path.parent, count, random.Random(1))
    Archive.open(path).close()  # a clean close: the marker


def corrupt(path: Path, article: int = ARTICLES // 2) -> None:
    """Garbage over the page that holds article #`article` (and its neighbours) in the middle
    of the file: found by its body's bytes."""
    conn = sqlite3.connect(path)
    body = conn.execute("SELECT body FROM articles WHERE id = ?", (article,)).fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = path.read_bytes()
    offset = data.index(body[:60].encode("utf-8"))
    with open(path, "r+b") as f:
        f.seek(offset // page_size * page_size)
        f.write(b"\xde\xad\xbe\xef" * (page_size // 4))


def newswatch(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def assert_damage_line(line: str, command: str, path: Path) -> None:
    assert line.startswith(f"newswatch {command}: the archive {path} is damaged ("), line
    assert f"`newswatch export --archive {path} > salvage.jsonl`" in line
    assert "`newswatch backup DEST`" in line


@pytest.fixture
def archive(tmp_path) -> Path:
    path = tmp_path / "archive.db"
    build(path)
    return path


def test_garbage_mid_file_is_refused_by_run_and_every_reading_command(archive, capsys):
    corrupt(archive)
    damaged = archive.read_bytes()
    # run: refused at its first open for writing, before anything (Prefect included) starts
    code, _, err = newswatch(capsys, "run", "--config", str(archive.parent / "newswatch.yaml"))
    assert code == 1
    assert_damage_line(one_line(err), "run", archive)
    assert archive.read_bytes() == damaged  # not written to
    assert not Path(f"{archive}-wal").exists() or Path(f"{archive}-wal").stat().st_size == 0
    # before: search and stats exited 0 with no warning
    for argv in (["search", "mot1"], ["stats"], ["show", "5"], ["rejected"], ["rules", "test", "mot1"]):
        code, out, err = newswatch(capsys, *argv, "--archive", str(archive))
        assert code == 1, argv
        assert_damage_line(one_line(err), argv[0], archive)
    assert archive.read_bytes() == damaged


def test_export_salvages_every_article_that_can_still_be_read(archive, capsys):
    corrupt(archive)
    code, out, err = newswatch(capsys, "export", "--archive", str(archive))
    exported = out.splitlines()
    line = one_line(err)
    assert code == 1
    assert line.startswith(f"newswatch export: {archive} is damaged: ") and "could not be read" in line
    lost = int(line.split("is damaged: ")[1].split()[0])
    assert 0 < lost < ARTICLES // 4
    assert len(exported) + lost == ARTICLES


def test_a_damaged_archive_with_no_clean_close_is_checked_on_open_for_writing(archive, capsys):
    """A writer killed (no marker), then damage: the next writer checks and refuses it."""
    integrity.marker_path(archive).unlink()
    corrupt(archive)
    with pytest.raises(integrity.ArchiveDamaged, match="is damaged") as refused:
        Archive.open(archive)
    assert str(archive) in str(refused.value)
    # a reading command that meets the damage says it in one line too (no marker: no check first)
    code, _, err = newswatch(capsys, "stats", "--archive", str(archive))
    assert code == 1
    assert_damage_line(one_line(err), "stats", archive)


def test_a_clean_close_spares_the_check_and_a_change_outside_newswatch_does_not(archive, monkeypatch):
    checks = []
    real = integrity.quick_check
    monkeypatch.setattr(integrity, "quick_check", lambda conn, path: checks.append(path) or real(conn, path))
    Archive.open(archive).close()
    Archive.open(archive, read_only=True).close()
    assert checks == []
    os.utime(archive, ns=(time.time_ns(), time.time_ns()))  # another program touched the file
    Archive.open(archive, read_only=True).close()
    assert checks == [archive]
    Archive.open(archive).close()
    assert checks == [archive, archive]
    Archive.open(archive).close()
    assert len(checks) == 2


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


@pytest.mark.slow  # waits out a lock, a delay or a retry
def test_a_locked_archive_names_the_holder_and_waits_the_stated_time(archive):
    holder = hold_lock(archive, 30)
    try:
        said: list[str] = []
        started = time.monotonic()
        with Archive.open(archive) as opened, pytest.raises(Exception) as refused:
            opened.ensure_writable(wait=2, waiting=said.append)
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert 1.5 < elapsed < 10
    assert len(said) == 1
    assert said[0].startswith(f"the archive {archive} is locked by pid {holder.pid} (")
    assert said[0].endswith("waiting up to 2 s for its write lock")
    message = str(refused.value)
    assert message.startswith(f"the archive {archive} is locked by pid {holder.pid} (")
    assert "waited 2 s for its write lock; try again once it is done" in message
    assert "permission" not in message and "writable" not in message  # before: blamed permissions after 30 s


@pytest.mark.slow  # waits out a lock, a delay or a retry
def test_run_waits_out_a_short_lock_and_says_so(archive):
    holder = hold_lock(archive, 2)
    said: list[str] = []
    try:
        with Archive.open(archive) as opened:
            opened.ensure_writable(wait=20, waiting=said.append)
    finally:
        holder.wait()
    assert len(said) == 1 and "waiting up to 20 s" in said[0]


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    build(folder / "archive.db")
    if os.geteuid() == 0:  # root ignores permissions, not an immutable folder
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
    try:
        yield folder
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_a_read_only_folder_has_its_own_message_and_can_still_be_read(read_only_folder, capsys):
    path = read_only_folder / "archive.db"
    before = path.read_bytes()
    code, _, err = newswatch(capsys, "run", "--config", str(read_only_folder / "newswatch.yaml"))
    assert code == 1
    line = one_line(err)
    # before: "not a newswatch archive"
    assert line == (
        f"newswatch run: cannot write to the archive {path}: its folder {read_only_folder} is read-only "
        "(unable to open database file), and SQLite needs to create archive.db-wal and archive.db-shm there: "
        "make the folder writable, or give an archive in a writable folder (archive: in the config, or --archive)"
    )
    code, out, err = newswatch(capsys, "search", "mot1", "--archive", str(path))
    assert code == 0 and "#" in out and "not a newswatch archive" not in err
    assert path.read_bytes() == before


def test_a_full_disk_in_the_storage_layer_is_one_line_and_loses_nothing(archive):
    with Archive.open(archive) as opened:
        pages = opened.conn.execute("PRAGMA page_count").fetchone()[0]
        opened.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
        with pytest.raises(sqlite3.OperationalError) as full:
            with opened.transaction() as conn:
                conn.execute("INSERT INTO archive_meta (key, value) VALUES ('filler', ?)", ("x" * 5_000_000,))
        message = str(integrity.archive_error(archive, full.value))
        assert message.startswith(f"the disk holding the archive {archive} is full, ")
        assert "everything stored before is intact; free some space and run again" in message
        assert opened.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == ARTICLES


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 4 MB file system (tmpfs); needs root (mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): the max_page_count test covers it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.timeout(120)
def test_a_run_on_a_full_disk_says_so_and_keeps_what_was_stored(tmp_path, tiny_disk, make_http_server):
    from test_hostile import zorblax_site

    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run

    seed = tmp_path / "seed" / "archive.db"
    build(seed, 50)
    path = tiny_disk / "archive.db"
    shutil.copy(seed, path)
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    (tiny_disk / "filler").write_bytes(b"x" * (free - 150_000))  # 150 KB left
    site = zorblax_site(make_http_server(), 60)
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        archive: {path}
        user_agent: full-disk-test
        sources:
          - {{name: good, url: '{site.url("/feed.xml")}', kind: feed, profile: aprnews, delay: 0}}
        """)
    )
    summary = ingest_run(load_config(config))
    (report,) = summary.sources
    assert report.failed and report.new == 0
    assert f"the disk holding the archive {path} is full" in report.failed
    assert "everything stored before is intact; free some space and run again" in report.failed
    (tiny_disk / "filler").unlink()
    with Archive.open(path) as opened:
        assert opened.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 50
        assert opened.check() == []
    again = ingest_run(load_config(config))  # space again: the run stores what it could not
    assert again.sources[0].new == 60


def test_after_a_run_the_next_open_needs_no_check(tmp_path, make_http_server, monkeypatch):
    """A run's many connections (the writer, the readers, the early alerts): the last one to
    close leaves the marker, so the next run's open costs no quick_check."""
    from test_hostile import zorblax_site

    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run

    site = zorblax_site(make_http_server(), 5)
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        archive: archive.db
        user_agent: marker-test
        sources:
          - {{name: good, url: '{site.url("/feed.xml")}', kind: feed, profile: aprnews, delay: 0}}
        alerts:
          - {{name: z, query: zorblax, to: [a@test.example]}}
        """)
    )
    checks = []
    real = integrity.quick_check
    monkeypatch.setattr(integrity, "quick_check", lambda conn, path: checks.append(path) or real(conn, path))
    assert ingest_run(load_config(config)).sources[0].new == 5
    assert integrity.closed_cleanly(tmp_path / "archive.db")
    assert ingest_run(load_config(config)).sources[0].new == 0
    Archive.open(tmp_path / "archive.db").close()
    assert checks == []


def test_a_lock_met_by_any_command_is_one_line_naming_the_holder(archive):
    """What flows/cli/main.py prints when a command's write waited out its busy timeout: the
    holder's command line (newlines and all) kept on one line."""
    holder = hold_lock(archive, 30)
    try:
        message = str(integrity.archive_error(archive, sqlite3.OperationalError("database is locked")))
    finally:
        holder.kill()
        holder.wait()
    assert "\n" not in message
    assert message.startswith(f"the archive {archive} is locked by pid {holder.pid} ({sys.executable} -c import")
    assert ": waited 30 s for its write lock; try again once it is done" in message
