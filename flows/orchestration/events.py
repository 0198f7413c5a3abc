"""newswatch's Prefect events: one `newswatch.alert.matched` per alert recorded (a rule and the
article that first told a story; a later version of an alerted story is no new alert), for
Prefect automations (the webhook of `flows/orchestration/webhooks.py`, or any a user adds).

The article is the event's resource, the rule and the source its related resources, and its
payload carries rule, title, clean link and source.
"""

from __future__ import annotations

from storage.outbox import OutboxEntry

MATCH_EVENT = "newswatch.alert.matched"


def emit_match_events(matches: list[OutboxEntry]) -> int:
    """Emit one Prefect event `newswatch.alert.matched` per (rule, article) just alerted, for
    Prefect automations; how many were emitted. Called after the commit that stored them."""
    from prefect.events import emit_event

    seen: set[tuple[str, int]] = set()
    for m in matches:
        if m.also_in is not None:
            continue  # a later version of a story the rule alerted: no new alert, no event
        if (m.rule, m.article_id) in seen:
            continue
        seen.add((m.rule, m.article_id))
        related = [
            {
                "prefect.resource.id": f"newswatch.rule.{m.rule}",
                "prefect.resource.role": "alert-rule",
                "prefect.resource.name": m.rule,
            }
        ]
        if m.source:
            related.append(
                {
                    "prefect.resource.id": f"newswatch.source.{m.source}",
                    "prefect.resource.role": "source",
                    "prefect.resource.name": m.source,
                }
            )
        emit_event(
            event=MATCH_EVENT,
            resource={
                "prefect.resource.id": f"newswatch.article.{m.article_id}",
                "prefect.resource.name": (m.title or "")[:200],
            },
            related=related,
            # What a webhook posts (flows/orchestration/webhooks.py): the link is the clean canonical URL.
            payload={
                "rule": m.rule,
                "mode": m.mode,
                "story_id": m.story_id,
                "title": m.title or "",
                "url": m.url or "",
                "source": m.source or "",
            },
        )
    return len(seen)
