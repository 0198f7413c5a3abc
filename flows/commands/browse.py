"""`newswatch browse`: open the archive in Datasette (optional extra newswatch[browse])."""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from flows.commands._common import add_archive_option, open_archive
from errors import NewswatchError

HELP = "browse and full-text search the archive in Datasette (pip install 'newswatch[browse]')"
EXAMPLE = """
newswatch browse
newswatch browse --port 8010 --no-open
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-open", action="store_true", help="do not open a web browser")
    add_archive_option(parser)


def datasette_command(path, host: str, port: int, open_browser: bool) -> list[str]:
    if importlib.util.find_spec("datasette") is None:
        raise NewswatchError("Datasette is not installed: pip install 'newswatch[browse]' (then run newswatch browse again)")
    cmd = [sys.executable, "-m", "datasette", "serve", str(path), "--host", host, "--port", str(port)]
    return cmd + (["--open"] if open_browser else [])


def run(args: argparse.Namespace) -> int:
    with open_archive(args) as archive:  # creates/upgrades the schema so Datasette sees articles_fts
        path = archive.path
    cmd = datasette_command(path, args.host, args.port, not args.no_open)
    os.execv(cmd[0], cmd)
