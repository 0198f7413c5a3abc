"""The `newswatch` command line.

Each command lives in its own module under `flows/cli/` exposing `HELP` (one line),
`EXAMPLE`, `configure(parser)` and `run(args) -> int`. Modules are imported only when their
command runs, and must not import Prefect at module level: commands that run no flow start fast.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sqlite3
import sys
from types import ModuleType

# name -> module; order is the order shown by `newswatch --help`.
COMMANDS: dict[str, str] = {
    "run": "flows.cli.run",
    "clean": "flows.cli.clean",
    "import": "flows.cli.import_",
    "search": "flows.cli.search",
    "export": "flows.cli.export",
    "stats": "flows.cli.stats",
    "backup": "flows.cli.backup",
    "browse": "flows.cli.browse",
    "sources": "flows.cli.sources",
    "rejected": "flows.cli.rejected",
    "recheck": "flows.cli.recheck",
    "forget": "flows.cli.forget",
    "show": "flows.cli.show",
    "stories": "flows.cli.stories",
    "rules": "flows.cli.rules",
    "feed": "flows.cli.feed",
    "alerts": "flows.cli.alerts",
    "automations": "flows.cli.automations",
    "digest": "flows.cli.digest",
    "serve": "flows.cli.serve",
    "deploy": "flows.cli.deploy",
    "status": "flows.cli.status",
    "demo": "flows.cli.demo",
}


def _available() -> dict[str, ModuleType]:
    mods = {}
    for name, modname in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Fetch, clean, deduplicate, archive and alert on news pages.",
        epilog="Run `newswatch COMMAND --help` for a command's options and an example.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in _available().items():
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=mod.HELP,
            epilog="example:\n  " + "\n  ".join(mod.EXAMPLE.strip().splitlines()),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from errors import NewswatchError

    try:
        return int(args._run(args) or 0)
    except NewswatchError as e:
        # One line per problem (a config file can have several), each naming the command.
        for line in str(e).splitlines() or [""]:
            print(f"newswatch {args.command}: {line}", file=sys.stderr)
        return 1
    except sqlite3.Error as e:
        # SQLite met damage, a lock, a read-only folder or a full disk on the way: one line
        # naming the archive and what to do (storage/integrity.py), never a traceback.
        from flows.cli.shared import archive_of
        from storage.integrity import archive_error

        print(f"newswatch {args.command}: {archive_error(archive_of(args), e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("newswatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def console() -> None:
    """The `newswatch` command: `main`, then the process's exit, without the collector's last
    passes over what the OS frees anyway."""
    status = main()
    # An interpreter that imported Prefect (1,500 modules, 146,000 objects the collector tracks)
    # spent 0.3-0.45 s of every run's exit collecting them. Frozen, they are skipped; the rest
    # of a normal exit still happens: atexit handlers (logging's flush), the streams flushed,
    # every object freed by its last reference. What must be closed is closed before this.
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    console()
