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
from flows.cli.shared import add_archive_option, add_config_option, archive_path

HELP = (
    "read, search and facet the archive in Datasette, read-only (an optional extra, installed through the "
    "lock: .venv/bin/pip install -c constraints.txt -e '.[browse]')"
)
EXAMPLE = """
newswatch browse
newswatch browse --port 8010 --no-open --config newswatch.yaml
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8001, help="the port to serve on (default: 8001; 0: any free one)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to serve on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument("--no-open", action="store_true", help="do not open a web browser")
    add_config_option(
        parser,
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
    from flows.config.loader import config_path, load_config

    path = config_path(args.config)
    if args.config or path.is_file():
        return load_config(path)
    return None  # no config: no rule queries, health of the sources that ran


def _check_archive(path) -> None:
    """A newswatch archive this version can serve, read-only (never created nor upgraded: an
    ArchiveError otherwise); one from a newer newswatch is served with a warning."""
    from flows.cli.shared import warn_if_newer
    from storage.archive import Archive

    warn_if_newer(Archive.open(path, read_only=True), "browse").close()


def run(args: argparse.Namespace) -> int:
    require_datasette()
    config = _config(args)
    path = args.archive or (config.archive if config is not None else archive_path(args))
    _check_archive(path)

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
