"""`newswatch recheck`: fetch and clean rejected pages again, and store those that pass now."""

from __future__ import annotations

import argparse

from flows.cli.shared import add_config_option, iso_date, reason_name

HELP = "fetch and clean rejected pages again (after a cleaner or site change) and archive those that pass now"
EXAMPLE = """
newswatch recheck https://www.apr-news.fr/fr/depeches-breves/le-mexique-et-les-etats-unis
newswatch recheck --source apr --reason not-article
newswatch recheck --reason not-article --since 2024-03-01
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "urls", nargs="*", metavar="URL", help="rejected pages to check again (newswatch rejected lists them)"
    )
    parser.add_argument(
        "--source", metavar="NAME", help="every rejected page of this source (with --reason: of that reason)"
    )
    parser.add_argument("--reason", type=reason_name, metavar="REASON", help="only pages rejected for this reason")
    parser.add_argument(
        "--since", type=iso_date, metavar="YYYY-MM-DD", help="only pages last tried on or after this day"
    )
    add_config_option(parser)


def run(args: argparse.Namespace) -> int:
    from errors import NewswatchError
    from flows.config.loader import load_config
    from flows.pipeline.recheck_pages import recheck

    if not (args.urls or args.source or args.reason):
        raise NewswatchError(
            "name the pages: URL..., or --source NAME and/or --reason REASON (newswatch rejected lists them)"
        )
    config = load_config(args.config)
    if args.source:
        config.source(args.source)  # a typo is an error, not "0 pages"
    report = recheck(config, urls=args.urls or None, source=args.source, reason=args.reason, since=args.since)
    for record in report.restored:
        print(f"brought back #{record.article_id} ({record.title or record.url}): it was forgotten, not rejected")
    for url in report.unknown:
        print(f"{url}: not a rejected page of the archive (newswatch rejected lists them); skipped")
    for line in report.skipped:
        print(line)
    still = ", ".join(f"{n} {reason}" for reason, n in report.still.most_common())
    print(
        f"rechecked {report.checked} page(s): {len(report.recovered)} archived now, "
        f"{report.folded} folded into archived articles, {sum(report.still.values())} still rejected"
        + (f" ({still})" if still else "")
    )
    for source, article in report.recovered:
        print(f"  #{article.id} {source}  {article.title or article.url}")
    if report.matches:
        print(f"alerts: {report.matches} match(es) recorded; the next run or `newswatch alerts retry` sends them")
    return 1 if report.unknown or report.skipped else 0
