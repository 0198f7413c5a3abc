"""What the archive commands share: `--archive PATH` and its default."""
from __future__ import annotations

import argparse
import os
import re
from datetime import date
from pathlib import Path

from errors import NewswatchError

ARCHIVE_ENV = "NEWSWATCH_ARCHIVE"
FALLBACK_ARCHIVE = Path("data/archive.db")


def default_archive_path() -> Path:
    """$NEWSWATCH_ARCHIVE, else the config file's `archive:` (when there is a config file),
    else data/archive.db."""
    env = os.environ.get(ARCHIVE_ENV)
    if env:
        return Path(env)
    try:
        from flows.config import config_path, load_config
    except ImportError:  # the config loader's own dependencies are optional for these commands
        return _archive_from_yaml(Path(os.environ.get("NEWSWATCH_CONFIG") or "newswatch.yaml"))
    file = config_path()
    if not file.is_file():
        return FALLBACK_ARCHIVE
    return Path(load_config(file).archive)


def _archive_from_yaml(file: Path) -> Path:
    if not file.is_file():
        return FALLBACK_ARCHIVE
    import yaml

    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    value = data.get("archive") if isinstance(data, dict) else None
    if not value:
        return FALLBACK_ARCHIVE
    path = Path(value)
    return path if path.is_absolute() else file.parent / path


def add_archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive", metavar="PATH", type=Path, default=None,
        help=f"the SQLite archive (default: ${ARCHIVE_ENV}, else the config file's archive:, else {FALLBACK_ARCHIVE})",
    )


def archive_path(args: argparse.Namespace) -> Path:
    return args.archive or default_archive_path()


def open_archive(args: argparse.Namespace, *, must_exist: bool = True):
    from storage.archive import Archive

    path = archive_path(args)
    if must_exist and not path.exists():
        raise NewswatchError(f"no archive at {path}: import pages first (newswatch import PATH) or give --archive")
    return Archive.open(path)


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_date(text: str) -> str:
    """argparse type for --since: a YYYY-MM-DD date."""
    try:
        if not _ISO_DATE.match(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD, e.g. 2024-01-31") from None
    return text
