"""One config, one archive (issue 20, item 7): every command of the parser, run from a folder
whose ./newswatch.yaml names one archive, with `--config` naming a config in another folder,
opens that other config's archive (or, given `--archive`, that one).

Before: `alerts retry --config X` took X's smtp: but ./newswatch.yaml's archive, and sent
another archive's pending alerts through X's server.

Each command runs in-process (`flows.cli.main.main`) until it opens its first archive file:
`sqlite3.connect` is where every archive connection starts, and the test stops the
command there (`Opened`) with the path it was about to open. A new command of the parser that
this table does not list fails the test until it is added.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import pytest

from flows.cli.main import build_parser, main
from storage.archive import Archive

# Every leaf command: the arguments it needs besides --config/--archive, or None when it
# opens no archive (the reason in OPENS_NONE).
ARGS: dict[str, list[str]] = {
    "run": [],
    "clean": ["PAGE"],
    "import": ["PAGE"],
    "search": ["zorblax"],
    "export": [],
    "stats": [],
    "backup": ["BACKUP"],
    "browse": ["--no-open"],
    "sources add": ["other", "http://127.0.0.1:9/feed.xml"],
    "sources remove": ["site"],
    "sources import-opml": ["OPML"],
    "rejected": [],
    "recheck": ["http://127.0.0.1:9/x"],
    "forget": ["1"],
    "show": ["1"],
    "stories split": ["1", "1"],
    "stories merge": ["1", "2"],
    "stories backfill": [],
    "rules list": [],
    "rules test": ["zorblax"],
    "rules add": ["r2", "zorblax", "--to", "a@test.example"],
    "rules remove": ["r1"],
    "feed": [],
    "alerts list": [],
    "alerts retry": [],
    "automations install": ["--webhook", "http://127.0.0.1:9/hook"],
    "automations list": [],
    "automations remove": [],
    "digest": [],
    "serve": [],
    "deploy": [],
    "status": [],
    "demo": [],
}

# Commands that open no archive: what they do instead.
OPENS_NONE = {
    "clean": "cleans saved pages and prints them; the archive is not used",
    "sources add": "edits the config (its URL is checked first: here nothing answers)",
    "sources remove": "edits the config",
    "sources import-opml": "edits the config",
    "rules add": "edits the config",
    "automations install": "Prefect automations: no archive",
    "automations list": "Prefect automations: no archive",
    "automations remove": "Prefect automations: no archive",
    "demo": "makes its own archive in a temporary folder, never a configured one",
}


class Opened(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), {o for a in parser._actions for o in a.option_strings}
    for s in subs:
        for name, sub in s.choices.items():
            yield from leaves(sub, (*path, name))


CONFIG = """\
archive: {archive}
sources:
  - {{name: site, url: 'http://127.0.0.1:9/feed.xml', kind: feed}}
smtp: {{host: 127.0.0.1, port: 9, sender: nw@test.example, password_env: null}}
alerts:
  - {{name: r1, query: zorblax, to: [a@test.example]}}
"""


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """./newswatch.yaml (archive here.db) in the working folder, elsewhere/newswatch.yaml
    (archive: archive.db, relative to its folder); both archives exist."""
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    (here / "newswatch.yaml").write_text(CONFIG.format(archive="here.db"))
    (elsewhere / "newswatch.yaml").write_text(CONFIG.format(archive="archive.db"))
    for path in (here / "here.db", elsewhere / "archive.db", tmp_path / "given.db"):
        Archive.open(path).close()
    (tmp_path / "PAGE").write_text("<html><body><p>zorblax</p></body></html>")
    (tmp_path / "OPML").write_text('<opml version="2.0"><body></body></opml>')
    monkeypatch.chdir(here)
    for name in ("NEWSWATCH_ARCHIVE", "NEWSWATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing answers: no server is started
    return tmp_path


@pytest.fixture
def stop_at_open(monkeypatch):
    """Every command stops where it opens an archive file (`Opened`); digest's flow runs as a
    plain function (no Prefect server), so it gets there too."""
    import sqlite3
    from urllib.parse import unquote, urlsplit

    import flows.orchestration.digest_flow as digest_flow
    import flows.orchestration.server

    connect = sqlite3.connect

    def stop(database, *args, uri=False, **kw):
        path = unquote(urlsplit(str(database)).path) if uri else str(database)
        if path != ":memory:" and not path.startswith("file::memory:"):
            raise Opened(Path(path).resolve())
        return connect(database, *args, uri=uri, **kw)

    monkeypatch.setattr(sqlite3, "connect", stop)
    monkeypatch.setattr(flows.orchestration.server, "flow_server", lambda *a, **k: None)
    monkeypatch.setattr(flows.orchestration.server, "temporary_server_stopped_on_signals", contextlib.nullcontext)
    monkeypatch.setattr(digest_flow, "digest", digest_flow.digest.fn)
    monkeypatch.setattr(digest_flow, "send_digest", digest_flow.send_digest.fn)


def opened_by(argv: list[str], tmp_path: Path) -> Path | None:
    """Run `newswatch argv` until it opens an archive file; that file (None: it opened none)."""
    argv = [str(tmp_path / a) if a in ("PAGE", "OPML", "BACKUP") else a for a in argv]
    try:
        main(argv)
    except Opened as e:
        return e.path
    except SystemExit:
        pass
    return None


def test_the_table_lists_every_command_of_the_parser():
    assert {name for name, _ in leaves(build_parser())} == set(ARGS)


@pytest.mark.parametrize("command", sorted(ARGS))
def test_each_command_opens_the_archive_of_its_config(command, folders, stop_at_open):
    options = dict(leaves(build_parser()))[command]
    argv = [*command.split(), *ARGS[command]]
    here = folders / "here" / "here.db"
    elsewhere = folders / "elsewhere" / "archive.db"
    given = folders / "given.db"
    if command in OPENS_NONE:
        config = ["--config", str(folders / "elsewhere" / "newswatch.yaml")] if "--config" in options else []
        opened = opened_by([*argv, *config], folders)
        assert opened is None, f"{command} opened {opened}; {OPENS_NONE[command]}"
        return
    if "--config" in options:
        config = ["--config", str(folders / "elsewhere" / "newswatch.yaml")]
        assert opened_by([*argv, *config], folders) == elsewhere.resolve()
        if "--archive" in options:
            assert opened_by([*argv, *config, "--archive", str(given)], folders) == given.resolve()
    else:
        # no --config: the default config's archive (./newswatch.yaml), or --archive
        assert opened_by(argv, folders) == here.resolve()
    if "--archive" in options:
        assert opened_by([*argv, "--archive", str(given)], folders) == given.resolve()
    # with no --config, the default config is ./newswatch.yaml: its archive
    assert opened_by(argv, folders) == here.resolve()
