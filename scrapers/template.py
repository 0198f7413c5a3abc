"""A source's learned template: paragraphs found on most of its recent pages are its boilerplate.

The rules of `scrapers.textclean` and `scrapers.boilerplate` know classes of boilerplate; what
they cannot know is one site's own furniture that reads like text: an "About IOM" paragraph
under every release, a legal notice, a promo box. Those repeat across the site's pages, and an
article's own paragraphs do not. So, per source:

* every archived page contributes the keys (`line_key`) of its paragraphs — its body and what
  the template removed from it — to a window of the source's most recent `WINDOW` pages
  (`storage.learned_templates` keeps them; `page_keys` computes them);
* once the window holds `MIN_PAGES` pages, a paragraph found on at least `MIN_SHARE` of them
  (and on two at the very least) is the source's boilerplate and leaves the body.

Caps on its influence: a paragraph seen once is never removed, whatever the window; a page
loses at most `MAX_REMOVED_SHARE` of its text to the template (a page that is mostly template
is left as the rules made it); the template never judges a page not an article by itself.
Order: a batch of pages is cleaned with the template as it was before the batch (its
`version`), then the batch is added, so the result for a page depends on the template's
version only, never on the order pages of one run arrive in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from scrapers.measure import headline_key, units

MIN_PAGES = 20
MIN_SHARE = 0.5
WINDOW = 200
MAX_REMOVED_SHARE = 0.5
_MIN_SEEN = 2  # never remove a paragraph seen on one page only


def line_key(text: str) -> int:
    """A 64-bit key of a paragraph's words (case, punctuation and spacing do not count)."""
    digest = hashlib.blake2b(headline_key(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def page_keys(paragraphs: Iterable[str]) -> list[int]:
    """The distinct keys of a page's paragraphs, sorted (what a page contributes)."""
    return sorted({line_key(p) for p in paragraphs if headline_key(p)})


@dataclass(frozen=True)
class SourceTemplate:
    """The learned template of one source, as of `version` (pages recorded so far)."""

    source: str
    version: int = 0
    pages: int = 0  # pages in the window the counts are taken over
    counts: Mapping[int, int] = field(default_factory=dict)  # line key -> pages it is on

    @property
    def active(self) -> bool:
        return self.pages >= MIN_PAGES

    @property
    def threshold(self) -> int:
        """Pages a paragraph must be on to be boilerplate."""
        return max(_MIN_SEEN, math.ceil(MIN_SHARE * self.pages))

    def seen_on(self, text: str) -> int:
        return self.counts.get(line_key(text), 0)

    def is_boilerplate(self, text: str) -> bool:
        return self.active and self.seen_on(text) >= self.threshold

    def apply(self, body: list[str], drop: Callable[[str, str], None]) -> tuple[list[str], list[str]]:
        """(kept, removed): the body without the template's paragraphs, within the cap."""
        if not self.active:
            return body, []
        doomed = [p for p in body if self.is_boilerplate(p)]
        if not doomed:
            return body, []
        if sum(units(p) for p in doomed) > MAX_REMOVED_SHARE * sum(units(p) for p in body):
            return body, []
        for p in doomed:
            drop(
                f"learned template of {self.source} (on {self.seen_on(p)} of its last {self.pages} pages, "
                f"template v{self.version})",
                p,
            )
        gone = set(map(id, doomed))
        return [p for p in body if id(p) not in gone], doomed
