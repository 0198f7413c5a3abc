"""What storing an article needs of the article alone (`Incoming.derived`): computed where
the page is cleaned (a worker process imports this module, not the archive's), so that the
run's one writer of the archive only compares and inserts."""

from __future__ import annotations

from core.text import inert
from storage import dedup, story_decision
from storage import facts as factlib
from storage.records import Derived, Incoming


def derive(item: Incoming, min_words: int = dedup.NearConfig.min_words) -> Derived | None:
    """What storing `item` needs of the article alone (`Incoming.derived`): the costly half of
    storing (MinHash, story facts), which the cleaning processes compute in parallel while the
    archive's one writer compares and inserts. None for a page that is not an article, or one
    without the time it was fetched (its day would be the writer's)."""
    article = item.article
    if not article.is_article or not item.fetched_at:
        return None
    body = inert(article.body)  # stored, indexed and hashed without invisible characters
    content_hash, signature = dedup.content_keys(body, min_words=min_words)
    day = story_decision.day_of(article.date, item.fetched_at)
    return Derived(
        body,
        content_hash,
        signature,
        min_words,
        day,
        story_decision.facts_of_text(article.title, body, day),
        factlib.lead_figures(body, article.title),
    )
