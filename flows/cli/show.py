"""`newswatch show ID`: one archived article, where it was seen, its translations, and its story
(the other versions of the event)."""

from __future__ import annotations

import argparse
import json

from errors import NewswatchError
from flows.cli.shared import add_archive_option, backfill_warning, open_archive, version_json, version_line

HELP = "show one archived article with its sightings, translations and story"
EXAMPLE = """
newswatch show 42
newswatch show 42 --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=int, help="the article id (as printed by search)")
    parser.add_argument("--json", action="store_true", help="print the article as one JSON object")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    from storage import stories

    with open_archive(args, read_only=True) as archive:
        article = archive.get(args.id)
        if article is None:
            raise NewswatchError(f"no article #{args.id} in {archive.path}")
        sightings = archive.sightings(args.id)
        translations = archive.translations(args.id)
        from storage.forget import forgotten

        taken_out = forgotten(archive, args.id)
        # The story as the other commands read it: without its forgotten versions, but for
        # the one shown when it is forgotten itself.
        every = taken_out is not None
        story_id = stories.story_of(archive, args.id)
        story = stories.list_stories(archive, story_id=story_id, forgotten=every)[0] if story_id is not None else None
        versions = stories.members(archive, story_id, forgotten=every) if story_id is not None else []
        backfill_warning(archive, "show")
    others = [m for m in versions if m.article_id != args.id]
    if args.json:
        print(
            json.dumps(
                {
                    **article.to_dict(),
                    "sightings": [{**s.__dict__, "link": s.link} for s in sightings],
                    "translations": [t.__dict__ for t in translations],
                    "story": None
                    if story is None
                    else {
                        "id": story.id,
                        "title": story.title,
                        "size": story.size,
                        "languages": story.languages,
                        "outlets": story.outlets,
                        "other_versions": [version_json(m) for m in others],
                    },
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    print(f"#{article.id}  {article.title or '(no title)'}")
    print(f"published {article.published or '?'} · language {article.language or '?'} · source {article.source}")
    print(f"url {article.link}")
    if taken_out is not None:
        why = f" ({taken_out.reason})" if taken_out.reason else ""
        print(
            f"FORGOTTEN on {taken_out.forgotten_at}{why}: out of alerts, digests, feeds and search; "
            f"`newswatch forget --undo {article.id}` brings it back"
        )
    print()
    print(article.body)
    if article.contacts:
        print("\ncontacts:")
        for c in article.contacts:
            print(
                "  "
                + " · ".join(
                    x for x in [c.get("name"), c.get("organisation"), *c.get("emails", []), *c.get("phones", [])] if x
                )
            )
    print("\nseen:")
    for s in sightings:
        extra = f" (similarity {s.similarity:.2f})" if s.similarity is not None else ""
        print(f"  {s.first_seen}  {s.source:<16} {s.kind:<9}{extra} {s.link}")
    if translations:
        print("\ntranslations:")
        for t in translations:
            print(f"  {t.language}  {t.url}" + (f"  (#{t.article_id})" if t.article_id else "  (not archived)"))
    if story is None:
        print("\nstory: none yet (see the warning above)")
        return 0
    noun = "version" if story.size == 1 else "versions"
    print(
        f"\nstory {story.id}: {story.title or '(no title)'}\n  {story.size} {noun} "
        f"({', '.join(story.languages) or '??'}; outlets {', '.join(story.outlets)})"
        + (", no other so far" if not others else "; the others:")
    )
    for m in others:
        print(f"  {version_line(m)}")
    return 0
