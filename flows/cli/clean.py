"""`newswatch clean PATH...`: saved pages (HTML, gzipped HTML, text dumps) -> clean articles.

A thin wrapper over `scrapers.clean.clean_page`, the function ingestion uses, run as a run
runs it: in a cleaning process, each page within the cleaner's deadline. Runs no flow, so it
imports no Prefect.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from flows.cli.shared import add_archive_option, add_max_bytes_option, cleaned_files, open_archive

HELP = "clean saved pages (HTML, .gz, text dumps) into articles and print them"
EXAMPLE = """\
newswatch clean tests/fixtures/pages/
newswatch clean page.html --url https://www.iom.int/fr/news/some-release --json
newswatch clean page.html --explain --source iom-fr   # which rule removed what, with iom-fr's learned template
"""
GIVEN_UP = "it was not cleaned: clean the file again, and report the page if it happens again"
_WIDTH = 88
_EXPLAIN_TEXT = 110


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a saved page, or a directory: every file in it")
    parser.add_argument("--url", help="the URL the page(s) came from: picks the site profile, recorded in the output")
    parser.add_argument("--profile", metavar="NAME", help="site profile to use instead of guessing it from --url")
    parser.add_argument("--json", action="store_true", help="one JSON object per page per line")
    parser.add_argument(
        "--explain", action="store_true", help="also list every line the cleaner removed and the rule that removed it"
    )
    parser.add_argument(
        "--source", metavar="NAME", help="apply this source's learned template from the archive (see --archive)"
    )
    parser.add_argument(
        "--found-via",
        choices=("feed", "sitemap", "listing"),
        help="how discovery found the page(s): a feed or sitemap gives the benefit of the doubt",
    )
    add_archive_option(parser)
    add_max_bytes_option(parser)


def run(args: argparse.Namespace) -> int:
    from flows.pipeline.clean_saved import clean_shown
    from flows.pipeline.cleaner import Cleaner

    if args.profile:
        from scrapers.profiles import get_profile

        get_profile(args.profile)  # an unknown name is a ProfileError: one line, exit 1
    learned = _learned_template(args) if args.source else None
    files = _expand(args.paths)
    failed = 0
    first = True
    # Cleaned as a run's pages are (flows/pipeline/cleaner.py): in a process of its own, each
    # page within a deadline, so a page the cleaner loops on costs that file, never the command.
    with Cleaner(given_up=GIVEN_UP) as cleaner:
        cleaner.expect(len(files))
        options = (args.url, args.profile, args.found_via, learned, args.explain)
        for page, outcome in cleaned_files(files, args.max_bytes, cleaner, clean_shown, options):
            if isinstance(outcome, str):
                failed += _fail(page.path, outcome)
                continue
            article, removed = outcome
            if args.json:
                extra = {"removed": [{"rule": r.rule, "text": r.text} for r in removed]} if removed is not None else {}
                print(
                    json.dumps({**article.to_dict(), "path": str(page.path), **extra}, ensure_ascii=False), flush=True
                )
            else:
                if not first:
                    print()
                print(render(article, str(page.path)), flush=True)
                if removed is not None:
                    print(render_removed(removed), flush=True)
            first = False
    return 1 if failed else 0


def render(article, path: str) -> str:
    """The readable form: a header, the paragraphs wrapped, then the contacts."""
    status = "yes" if article.is_article else f"no ({article.reason})"
    lines = [
        f"== {path}",
        f"title:    {article.title or '-'}",
        f"date:     {article.date or '-'}",
        f"author:   {article.author or '-'}",
        f"language: {article.language or '-'}",
        f"url:      {article.url or '-'}",
        f"article:  {status}  [profile {article.profile}]",
    ]
    for paragraph in article.paragraphs:
        # Names and compounds stay whole ("Pierre-Louis"): a reader copies them from here.
        lines += ["", textwrap.fill(paragraph, _WIDTH, break_on_hyphens=False, break_long_words=False)]
    if article.contacts:
        lines += ["", "contacts:"]
        for contact in article.contacts:
            who = ", ".join(x for x in (contact.name, contact.organisation) if x) or "-"
            lines.append("  - " + "; ".join([who, *contact.phones, *contact.emails]))
    return "\n".join(lines)


def render_removed(removed) -> str:
    """`--explain`: every removed line, under the rule that removed it, in the order the rules
    ran (HTML-level extraction first, then the text rules, the learned template last)."""
    lines = ["", f"removed ({len(removed)} line(s)):"]
    for r in removed:
        text = r.text if len(r.text) <= _EXPLAIN_TEXT else r.text[: _EXPLAIN_TEXT - 1] + "…"
        lines.append(f"  [{r.rule}] {text}")
    return "\n".join(lines)


def _learned_template(args: argparse.Namespace):
    from flows.pipeline.stages import template_of

    with open_archive(args, read_only=True) as archive:  # a missing archive is one clear line
        return template_of(archive, args.source)


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)  # a missing file is reported when it is read
    return files


def _fail(path: Path, message: str) -> int:
    print(f"newswatch clean: {path}: {message}", file=sys.stderr, flush=True)
    return 1
