"""`newswatch forget ID|URL [--reason TEXT]`: take an archived article out of alerts, digests,
feeds, search and the reading room, without deleting it (`--undo` brings it back)."""

from __future__ import annotations

import argparse

from flows.cli.shared import add_archive_option, open_archive

HELP = "take an archived article that is not news out of alerts, digests, feeds and search (nothing deleted)"
EXAMPLE = """
newswatch forget 412 --reason "the site's about page, not news"
newswatch forget https://www.example.org/about-us
newswatch forget --undo 412
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("article", metavar="ID|URL", help="the article's id (newswatch search shows it) or its URL")
    parser.add_argument("--reason", metavar="TEXT", help="why (newswatch rejected shows it)")
    parser.add_argument("--undo", action="store_true", help="bring a forgotten article back")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    from storage import forget

    with open_archive(args) as archive:
        article_id = forget.find_article(archive, args.article)
        if args.undo:
            record = forget.undo(archive, article_id)
            if record is None:
                print(f"#{article_id} is not forgotten: nothing to bring back")
                return 0
            held = (
                f"; its {record.pending_alerts} pending alert(s) go out with the next delivery"
                if record.pending_alerts
                else ""
            )
            print(
                f"brought back #{article_id} ({record.title or record.url}): in alerts, digests, feeds, search "
                f"and the reading room again{held}"
            )
            return 0
        record, new = forget.forget(archive, article_id, args.reason)
    if not new:
        print(
            f"#{article_id} was forgotten already, on {record.forgotten_at}"
            + (f" ({record.reason})" if record.reason else "")
            + f": `newswatch forget --undo {article_id}` brings it back"
        )
        return 0
    held = f"; {record.pending_alerts} pending alert(s) held back" if record.pending_alerts else ""
    print(
        f"forgot #{article_id} ({record.title or record.url}): out of alerts, digests, feeds, search and the "
        f"reading room{held}; kept in the archive, and its page is not ingested again "
        f"(`newswatch rejected --reason forgotten` lists it); `newswatch forget --undo {article_id}` brings it back"
    )
    return 0
