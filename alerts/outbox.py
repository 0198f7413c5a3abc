"""Alert matches into the outbox: which rules the new articles of a batch match.

`record_matches(db, rules, candidates)` matches the batch's new articles against every rule
(`alerts.match.BatchIndex`) and adds one outbox row per (rule, recipient, story) through
`storage.outbox`. Call it inside the transaction that stores the articles, so that either
both the articles and their alerts are stored, or neither; rows already present (same rule,
recipient and story) are left alone, so a re-run or a folded republication alerts nobody
twice. `new_candidates(items, result)` turns a stored batch into what is matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from alerts.config import AlertRule
from alerts.match import BatchIndex, Candidate
from core.text import inert, inert_line
from storage.archive import BatchResult, Incoming
from storage.db import Database
from storage.outbox import NewMatch, OutboxEntry, add_match, has_match


def new_candidates(items: Sequence[Incoming], result: BatchResult) -> list[Candidate]:
    """The articles of a stored batch that are new to the archive, as alerts match them.

    Only new articles are matched: a near-duplicate or republication is folded by the
    archive into an existing story, so it never alerts again.
    """
    return [
        Candidate(
            article_id=r.article_id,
            story_id=r.article_id,
            title=inert_line(item.article.title) or None,
            body=inert(item.article.body),
            source=item.source,
            published=item.article.date,
            url=r.link or item.url or item.article.url,
        )
        for item, r in zip(items, result.items, strict=True)
        if r.status == "new" and r.article_id is not None
    ]


def record_matches(
    db: Database, rules: Iterable[AlertRule], candidates: list[Candidate], *, now: datetime | None = None
) -> list[OutboxEntry]:
    """Match the batch's new articles and add one outbox row per (rule, recipient, story).

    Never commits: call it inside the transaction that writes the articles. Only the rows
    added now are returned.
    """
    rules = list(rules)
    if not rules or not candidates:
        return []
    matched_at = now or datetime.now(UTC)  # one time for the whole batch
    recorded: list[OutboxEntry] = []
    with BatchIndex(candidates) as index:
        for rule in rules:
            for position in index.match(rule):
                c = candidates[position]
                snippet = None  # built once per (rule, article), only if a row is new
                for recipient in rule.to:
                    if has_match(db, rule.name, recipient, c.story_id):
                        continue
                    if snippet is None:
                        snippet = index.snippet(rule, position)
                    entry = add_match(
                        db,
                        NewMatch(
                            rule.name,
                            recipient,
                            rule.mode,
                            c.story_id,
                            c.article_id,
                            c.title,
                            c.source,
                            c.published,
                            c.url,
                            snippet,
                        ),
                        now=matched_at,
                    )
                    if entry is not None:
                        recorded.append(entry)
    return recorded
