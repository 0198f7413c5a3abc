"""`newswatch browse`: the reading room, the archive in Datasette (optional extra `browse`).

Datasette runs in this process with newswatch's metadata, plugin and templates
(`flows/reading_room/`): articles first, facets, full-text search, an article page, saved
queries (one per alert rule of the config). Read-only: every connection is `query_only`, and
the archive is opened for writing only to upgrade an archive made by an older version.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
import webbrowser

from errors import NewswatchError
from flows.commands._common import add_archive_option, archive_path

HELP = (
    "read, search and facet the archive in Datasette, read-only (an optional extra, installed through the "
    "lock: .venv/bin/pip install -c constraints.txt -e '.[browse]')"
)
EXAMPLE = """
newswatch browse
newswatch browse --port 8010 --no-open --config newswatch.yaml
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-open", action="store_true", help="do not open a web browser")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file: its alert rules become saved queries (default: $NEWSWATCH_CONFIG, "
        "else ./newswatch.yaml, if it exists)",
    )
    add_archive_option(parser)


def require_datasette() -> None:
    if importlib.util.find_spec("datasette") is None:
        raise NewswatchError(
            "Datasette is not installed: install it from the checkout through the lock, "
            ".venv/bin/pip install -c constraints.txt -e '.[browse]' (then run newswatch browse again)"
        )


def _config(args: argparse.Namespace):
    from flows.config import config_path, load_config

    path = config_path(args.config)
    if args.config or path.is_file():
        return load_config(path)
    return None  # no config: no rule queries, health of the sources that ran


def _up_to_date(path) -> None:
    """Upgrade an archive made by an older version (the only write `browse` may do), saying so."""
    import sqlite3

    from storage import schema

    if not path.exists():
        raise NewswatchError(f"no archive at {path}: run `newswatch run` (or import pages) first, or give --archive")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise NewswatchError(f"{path} is not a newswatch archive ({e})") from None
    finally:
        conn.close()
    if version > schema.LATEST:
        print(
            f"newswatch browse: warning: {schema.newer_archive_message(path, version)}; serving "
            "it as this version understands it",
            file=sys.stderr,
        )
    elif version < schema.LATEST:
        from storage.archive import Archive

        print(f"newswatch browse: upgrading {path} from schema v{version} to v{schema.LATEST} first", file=sys.stderr)
        Archive.open(path).close()


def run(args: argparse.Namespace) -> int:
    require_datasette()
    config = _config(args)
    path = args.archive or (config.archive if config is not None else archive_path(args))
    _up_to_date(path)

    import asyncio

    import uvicorn

    from flows.reading_room import make_datasette

    datasette = make_datasette(path, config)
    asyncio.run(datasette.invoke_startup())
    url = f"http://{args.host}:{args.port}/"
    print(f"newswatch browse: {path} read-only at {url} (Ctrl-C to stop)", file=sys.stderr)
    if not args.no_open:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(datasette.app(), host=args.host, port=args.port, log_level="warning", lifespan="on")
    return 0
