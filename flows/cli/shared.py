"""What the commands share: `--config PATH` and `--archive PATH` with their defaults, the other
options several commands take (`--max-bytes`, `--since`, `--reason`), the archive opened as a
command needs it, saved pages read safely, and the sources' table (`sources`, `status`)."""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

from errors import CleanError, NewswatchError

ARCHIVE_ENV = "NEWSWATCH_ARCHIVE"
FALLBACK_ARCHIVE = Path("data/archive.db")
# Saved pages read by `clean` and `import`: a page is a few MB; anything bigger is refused
# before it is read (and a gzipped page may not inflate past it either).
DEFAULT_MAX_PAGE_FILE = 10_000_000
_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def default_archive_path(config: Path | None = None) -> Path:
    """The archive of a command given no --archive: the `archive:` of the config given with
    --config (one config, one archive: never ./newswatch.yaml's for another config's
    settings), else $NEWSWATCH_ARCHIVE, else the default config file's `archive:` (when there
    is one), else data/archive.db."""
    from flows.config.loader import config_path, load_config

    if config is not None:
        return Path(load_config(config).archive)
    env = os.environ.get(ARCHIVE_ENV)
    if env:
        return Path(env)
    file = config_path()
    if not file.is_file():
        return FALLBACK_ARCHIVE
    return Path(load_config(file).archive)


ARCHIVE_HELP = (
    f"the SQLite archive (default: the archive: of --config when given, else ${ARCHIVE_ENV}, "
    f"else the config file's archive:, else {FALLBACK_ARCHIVE})"
)


def add_archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", metavar="PATH", type=Path, default=None, help=ARCHIVE_HELP)


def archive_path(args: argparse.Namespace) -> Path:
    return args.archive or default_archive_path(getattr(args, "config", None))


def archive_of(args: argparse.Namespace) -> Path:
    """The archive a command works on, for a message (`--archive`, else its config's)."""
    try:
        if hasattr(args, "archive"):
            return archive_path(args)
        from flows.config.loader import load_config

        return Path(load_config(getattr(args, "config", None)).archive)
    except Exception:  # noqa: BLE001 - only for a message: the default place will do
        return FALLBACK_ARCHIVE


def open_archive(
    args: argparse.Namespace, *, must_exist: bool = True, read_only: bool = False, damaged_ok: bool = False
):
    """The archive of `--archive` (or its default). `read_only`: the command only reads, so the
    archive is opened read-only (`Archive.open(read_only=True)`: never created nor upgraded;
    one from a newer newswatch is read with a warning)."""
    from storage.archive import Archive

    path = archive_path(args)
    if read_only:
        return warn_if_newer(Archive.open(path, read_only=True, damaged_ok=damaged_ok), getattr(args, "command", ""))
    if must_exist and not path.exists():
        raise NewswatchError(f"no archive at {path}: import pages first (newswatch import PATH) or give --archive")
    return Archive.open(path)


def warn_if_newer(archive, command: str):
    """Say on stderr that a newer newswatch wrote the archive (opened read-only); the archive."""
    from storage.schema import newer_archive_message

    if archive.newer_schema is not None:
        print(
            f"newswatch {command}: warning: {newer_archive_message(archive.path, archive.newer_schema)}; "
            "reading it as this version understands it",
            file=sys.stderr,
        )
    return archive


def read_saved_page(path: Path, max_bytes: int) -> bytes:
    """The bytes of a saved page: a regular file of at most `max_bytes`, else a CleanError.

    A FIFO would block forever and /dev/zero never ends: the file is opened without blocking
    and judged by its own fstat (not by its name, which may change meanwhile), and at most
    `max_bytes` + 1 bytes are ever read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
        kind = next((name for test, name in _FILE_KINDS if test(mode)), None)
        if kind:
            raise CleanError(f"is {kind}, not a regular file: give a saved page") from None
        raise CleanError(f"cannot read it ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), None)
        if kind or not stat.S_ISREG(info.st_mode):
            raise CleanError(f"is {kind or 'not a regular file'}, not a regular file: give a saved page")
        if info.st_size > max_bytes:
            raise CleanError(
                f"is {info.st_size:,} bytes, more than --max-bytes ({max_bytes:,}): "
                "not a saved page, or raise --max-bytes"
            )
        os.set_blocking(fd, True)
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CleanError(f"holds more than --max-bytes ({max_bytes:,}) bytes (it grew while read)")
    return data


def cleaned_files(files: list[Path], max_bytes: int, cleaner, fn: Callable, args: tuple) -> Iterator[tuple]:
    """`newswatch clean` and `import`: the saved files read as `cleaner` asks for them (a few
    ahead, never the whole folder) and cleaned by `fn(page, *args)` in its processes, in order:
    (the `SavedPage`, what `fn` returned, or the message saying why the file has none: it could
    not be read, or the cleaner gave it up past its deadline)."""
    from flows.pipeline.clean_saved import SavedPage
    from scrapers.inflate import gunzip_page
    from storage.outcomes import PageOutcome

    def pages() -> Iterator[SavedPage]:
        for file in files:
            try:
                yield SavedPage(file, file.resolve().as_uri(), gunzip_page(read_saved_page(file, max_bytes), max_bytes))
            except (NewswatchError, OSError) as e:
                yield SavedPage(file, file.as_posix(), error=str(e))

    for page, outcome in cleaner.clean(pages(), fn, args, local=lambda page: page.data is None):
        yield page, str(outcome.error) if isinstance(outcome, PageOutcome) else outcome


def byte_size(text: str) -> int:
    """argparse type for --max-bytes: 5000000, 5M, 500k, 1G."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", text)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write bytes, e.g. 5000000 or 5M")
    return int(m.group(1)) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()]


def add_max_bytes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-bytes",
        type=byte_size,
        default=DEFAULT_MAX_PAGE_FILE,
        metavar="N",
        help=f"largest file read, and largest a gzipped page may inflate to (default: "
        f"{DEFAULT_MAX_PAGE_FILE:,}; 5M, 500k also work); only regular files are read",
    )


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


CONFIG_HELP = "the config file (default: $NEWSWATCH_CONFIG, else ./newswatch.yaml)"
SMTP_CONFIG_HELP = "config file with the smtp: section (default: $NEWSWATCH_CONFIG, else newswatch.yaml)"


def add_config_option(parser: argparse.ArgumentParser, help: str = CONFIG_HELP) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH", help=help)


def smtp_settings(args: argparse.Namespace):
    """The config's `smtp:` section, for a command that sends emails now (one line if missing)."""
    from alerts.settings import require_smtp
    from flows.config.loader import load_config

    return require_smtp(load_config(args.config).smtp)


def reason_name(text: str) -> str:
    """argparse type for --reason: a known reason (`not_article` is `not-article`)."""
    from storage.outcomes import REASONS

    name = text.strip().lower().replace("_", "-")
    from storage.forget import REASON as FORGOTTEN

    known = [*dict.fromkeys(reason for _, reason in REASONS), FORGOTTEN]
    if name not in known:
        raise argparse.ArgumentTypeError(f"unknown reason {text!r}; reasons: {', '.join(known)}")
    return name


def print_sources(config, *, as_json: bool = False) -> list[str]:
    """Each configured source: its state in the archive and its health; then each alert rule set
    aside (a PROBLEM line; on stderr with `as_json`). Also `newswatch status`. Returns what
    needs attention, one short reason each: an enabled source whose last run FAILED or is in
    WARNING, or that is UNHEALTHY; an alert rule set aside."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from flows.pipeline.summary import state_label
    from storage import fetchstate
    from storage.archive import Archive
    from storage.health import source_health

    names = [s.name for s in config.sources]
    if Path(config.archive).exists():
        archive = warn_if_newer(Archive.open(config.archive, read_only=True), "sources")
    else:  # nothing has run yet: every source is as new, and no archive is made for saying so
        print(f"(no archive yet at {config.archive}: no source has run)", file=sys.stderr if as_json else sys.stdout)
        archive = Archive.open(":memory:")
    with archive:
        states = {s.source: s for s in fetchstate.source_states(archive, names)}
        health = {h.source: h for h in source_health(archive, [(s.name, s.expected_interval) for s in config.sources])}
    attention = []
    for source in config.sources:
        st = states[source.name]
        h = health[source.name]
        if source.enabled and (st.last_state in ("failed", "warning") or h.problems):
            worst = st.last_state if st.last_state in ("failed", "warning") else "unhealthy"
            attention.append(f"{source.name}: {worst.upper()}")
        if as_json:
            print(
                json.dumps(
                    {
                        "name": source.name,
                        "url": source.url,
                        "kind": source.kind,
                        "profile": source.profile,
                        "enabled": source.enabled,
                        **asdict(st),
                        "health": health[source.name].to_dict(),
                    },
                    ensure_ascii=False,
                )
            )
            continue
        flag = "" if source.enabled else " (disabled)"
        print(f"{source.name}{flag}  {source.url}")
        print(
            f"  profile {source.profile}, kind {source.kind or 'auto'}, {st.articles} article(s), "
            f"{st.runs} run(s), {st.failing_pages} failing page(s), {st.rejected_pages} rejected page(s)"
        )
        if st.last_state == "warning":
            print(f"  state: WARNING: {st.last_warning}")
        elif st.last_state:
            print(f"  state: {state_label(st.last_state)}")
        print(f"  last success: {st.last_success or 'never'}")
        if st.last_error:
            print(f"  last error:   {st.last_error_at}: {st.last_error}")
        if not h.runs:
            print("  health: not judged yet (never run)")
        elif h.healthy:
            print("  health: ok")
        for problem in h.problems:
            print(f"  UNHEALTHY: {problem}")
    from alerts.settings import set_aside_notice

    if config.rule_errors and not as_json:
        print()
    for error in config.rule_errors:
        print(f"PROBLEM: {set_aside_notice(error)}", file=sys.stderr if as_json else sys.stdout)
    if config.rule_errors:
        attention.append(f"{len(config.rule_errors)} alert rule(s) set aside")
    return attention


# ------------------------------------------------------------------ stories (stories, show) ---


def backfill_warning(archive, command: str) -> None:
    """Say on stderr that stories are incomplete while articles of an upgraded archive wait for
    theirs (a read-only command does not write them)."""
    from storage.story_assignment import pending_backfill

    left = pending_backfill(archive)
    if left:
        print(
            f"newswatch {command}: warning: {left:,} archived article(s) have no story yet (the archive was "
            "upgraded): stories may lack versions until `newswatch stories backfill` (or the next runs) "
            "gives them theirs",
            file=sys.stderr,
        )


def version_json(m) -> dict:
    return {
        "id": m.article_id,
        "title": m.title,
        "source": m.source,
        "language": m.language,
        "published": m.published,
        "url": m.link,
        "how": m.how,
        "pinned": m.pinned,
        "seen": [{"url": s.url, "source": s.source, "first_seen": s.first_seen} for s in m.seen],
    }


def version_line(m) -> str:
    return f"#{m.article_id}  {m.published or '----------'}  {m.language or '??'}  {m.source}  {m.link}"
