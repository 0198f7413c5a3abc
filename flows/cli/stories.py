"""`newswatch stories`: the stories of the archive (the versions of one event across outlets and
languages, storage/stories.py), why two articles are or are not one story, and the human
corrections: `split` and `merge`, remembered and never undone by a later run; `backfill` gives
the articles of an upgraded archive their stories."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from errors import NewswatchError
from flows.cli.shared import (
    ARCHIVE_HELP,
    add_archive_option,
    backfill_warning,
    iso_date,
    open_archive,
    version_json,
    version_line,
)

HELP = "list stories (one event across outlets and languages), explain, split or merge them"
EXAMPLE = """
newswatch stories --since 2024-03-01              # latest first, every version and where it was seen
newswatch stories --source iom-fr --json
newswatch stories --explain 12 15                 # why articles 12 and 15 are (not) one story
newswatch stories split 12 https://press.example.org/news/x   # take that version out of story 12
newswatch stories merge 12 31                     # stories 12 and 31 are one (12)
newswatch stories backfill                        # an upgraded archive: every article gets its story now
"""
DEFAULT_LIMIT = 50


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=iso_date, metavar="DATE", help="only stories with a version from this day on (YYYY-MM-DD)"
    )
    parser.add_argument("--source", help="only stories with a version from this source (or a copy it published)")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, metavar="N", help=f"at most N stories (default: {DEFAULT_LIMIT})"
    )
    parser.add_argument("--json", action="store_true", help='print {"stories": [...]} as one JSON object')
    parser.add_argument(
        "--explain",
        nargs=2,
        type=int,
        metavar=("A", "B"),
        help="say why articles A and B are, or are not, one story (the facts they share, with their weights)",
    )
    add_archive_option(parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    split = sub.add_parser("split", help="take one version out of a story, for good (a later run never puts it back)")
    split.add_argument("story", type=int, metavar="ID", help="the story (its id, or the id of one of its articles)")
    split.add_argument(
        "version", metavar="URL", help="the version to take out: a URL it was seen at, or its article id"
    )
    merge = sub.add_parser("merge", help="make two stories one, for good (a later run never separates them)")
    merge.add_argument("keep", type=int, metavar="ID", help="the story that stays (its id, or one of its articles')")
    merge.add_argument("other", type=int, metavar="ID", help="the story merged into it")
    backfill = sub.add_parser("backfill", help="give every archived article that has none its story now")
    backfill.add_argument("--chunk", type=int, default=500, metavar="N", help="articles per transaction (default: 500)")
    for action in (split, merge, backfill):
        # SUPPRESS: an --archive given before the action is not reset by the action's default.
        action.add_argument("--archive", metavar="PATH", type=Path, default=argparse.SUPPRESS, help=ARCHIVE_HELP)


def run(args: argparse.Namespace) -> int:
    if args.action in ("split", "merge", "backfill"):
        if args.explain:
            raise NewswatchError("--explain reads: give it without split, merge or backfill")
        return _change(args)
    if args.explain:
        return _explain(args)
    return _list(args)


def _story_json(summary, members) -> dict:
    urls = list(dict.fromkeys(u for m in members for u in [m.link, *m.sightings]))
    return {
        "id": summary.id,
        "title": summary.title,
        "size": summary.size,
        "languages": summary.languages,
        "outlets": summary.outlets,
        "first_day": summary.first_day,
        "last_day": summary.last_day,
        "first_seen": summary.first_seen,
        "last_seen": summary.last_seen,
        "urls": urls,
        "versions": [version_json(m) for m in members],
    }


def _list(args: argparse.Namespace) -> int:
    from storage.stories import list_stories, members
    from storage.story_assignment import pending_backfill

    limit = max(1, args.limit)
    with open_archive(args, read_only=True) as archive:
        found = list_stories(archive, since=args.since, source=args.source, limit=limit + 1)
        shown = [(s, members(archive, s.id)) for s in found[:limit]]
        left = pending_backfill(archive)
        backfill_warning(archive, "stories")
    if args.json:
        print(
            json.dumps(
                {"stories": [_story_json(s, m) for s, m in shown], "pending_backfill": left},
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    for summary, versions in shown:
        noun = "version" if summary.size == 1 else "versions"
        span = (
            summary.first_day if summary.first_day == summary.last_day else f"{summary.first_day} → {summary.last_day}"
        )
        print(f"story {summary.id}  {summary.size} {noun}  {', '.join(summary.languages) or '??'}  {span}")
        print(f"  {summary.title or '(no title)'}")
        print(f"  outlets: {', '.join(summary.outlets)}")
        for m in versions:
            print(f"  {version_line(m)}")
            for s in m.seen:
                if s.url != m.link or s.source != m.source:
                    print(f"      also seen at {s.url} ({s.source})")
        print()
    more = " (more: --limit)" if len(found) > limit else ""
    print(f"{len(shown)} stor{'y' if len(shown) == 1 else 'ies'}{more}", file=sys.stderr)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from storage.stories import explain

    a, b = args.explain
    with open_archive(args, read_only=True) as archive:
        for article_id in (a, b):
            if archive.get(article_id) is None:
                raise NewswatchError(f"no article #{article_id} in {archive.path}")
        explanation = explain(archive, a, b)
        backfill_warning(archive, "stories")
    for line in explanation.lines():
        print(line)
    return 0


def _change(args: argparse.Namespace) -> int:
    from storage import story_assignment

    with open_archive(args) as archive:
        left = story_assignment.pending_backfill(archive)
        if left:
            # A correction applies to whole stories: the articles still without one get theirs first.
            print(f"giving {left:,} archived article(s) their story first…", file=sys.stderr)
            story_assignment.complete_backfill(archive)
        if args.action == "backfill":
            print(f"every archived article has its story ({left:,} given theirs now)")
            return 0
        if args.action == "split":
            return _split(archive, args)
        return _merge(archive, args)


def _story(archive, ident: int) -> int:
    from storage.stories import find_story

    story_id = find_story(archive, ident)
    if story_id is None:
        raise NewswatchError(f"no story {ident} in {archive.path} (nor an article #{ident}): see `newswatch stories`")
    return story_id


def _split(archive, args: argparse.Namespace) -> int:
    from storage import stories

    story_id = _story(archive, args.story)
    versions = stories.members(archive, story_id, forgotten=True)  # a correction: every version
    article_id = None
    if args.version.isdigit() and int(args.version) in {m.article_id for m in versions}:
        article_id = int(args.version)
    else:
        article_id = stories.member_at(archive, story_id, args.version)
    if article_id is None:
        listed = "; ".join(f"#{m.article_id} {m.link}" for m in versions)
        raise NewswatchError(f"story {story_id} has no version seen at {args.version}: its versions are {listed}")
    if len(versions) == 1:
        raise NewswatchError(f"story {story_id} has one version (#{article_id}): there is nothing to split")
    stories.split(archive, article_id)
    rest = stories.story_of(archive, next(m.article_id for m in versions if m.article_id != article_id))
    print(
        f"article #{article_id} is now story {article_id} on its own, kept apart from the {len(versions) - 1} "
        f"other version(s) (story {rest}): later runs will not put them together again"
    )
    return 0


def _merge(archive, args: argparse.Namespace) -> int:
    from storage import stories

    keep, other = _story(archive, args.keep), _story(archive, args.other)
    if keep == other:
        print(f"{args.keep} and {args.other} are one story already ({keep}): nothing to merge")
        return 0
    stories.merge(archive, keep, other)
    size = len(stories.members(archive, keep, forgotten=True))
    print(f"stories {keep} and {other} are now story {keep} ({size} versions): later runs will not separate them")
    return 0
