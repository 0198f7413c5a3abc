"""`newswatch backup DEST`: an online, consistent copy of the archive (storage/backup.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from flows.cli.shared import add_archive_option, archive_path

HELP = "copy the archive, consistently, even while a run writes to it (restore: copy it back)"
EXAMPLE = """
newswatch backup /backups/                          # /backups/archive-20261207T031500Z.db
newswatch backup /backups/archive-monday.db --archive data/archive.db
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", type=Path, metavar="DEST", help="a new file, or a directory to put a dated file in")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    from storage.backup import backup

    made = backup(archive_path(args), args.dest)
    print(
        f"backed up {archive_path(args)} to {made.path}: {made.articles} articles, schema v{made.schema_version}, "
        f"{made.bytes / 2**20:.1f} MB in {made.seconds:.1f} s; checked (quick_check ok)"
    )
    return 0
