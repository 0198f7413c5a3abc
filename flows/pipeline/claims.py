"""The URLs the sources of one run fetch, each one once (`UrlClaims`), and what a source
fetches this run (`Plan`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from scrapers.links import Candidate


@dataclass
class Plan:
    """What a source fetches this run: its candidates, newest first, up to its
    `max_new_per_run`, less those another source of the run has taken."""

    fetch: list[Candidate] = field(default_factory=list)
    shared: list[Candidate] = field(default_factory=list)  # another source of this run fetches them
    settled: list[tuple[str, int]] = field(default_factory=list)  # of those, already archived: (url, article id)
    waiting: list[Candidate] = field(default_factory=list)  # beyond max_new_per_run: kept for the next runs

    @property
    def urls(self) -> list[str]:
        return [c.url for c in self.fetch]


@dataclass
class _Claim:
    source: str
    settled: bool = False
    article_id: int | None = None  # what the page became (None: not an article, or failed)
    sharers: list[tuple[str, str]] = field(default_factory=list)  # (source, its URL) to record a sighting for


class UrlClaims:
    """The URLs the sources of one run fetch: each one once, by identity (the key a source's
    `UrlLedger` computed once per URL). The first source to take a URL fetches it; another
    source listing it records a sighting of what it became instead, and waits for nothing:
    whichever of the two comes second records the sighting (the fetching source once its batch
    is stored, or the other one if that happened already). Thread-safe: the sources of a run
    go in parallel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, _Claim] = {}

    def take(self, source: str, candidates: Iterable[tuple[str, Candidate]], limit: int) -> Plan:
        """Split `candidates` ((key, candidate), newest first) into what `source` fetches (at
        most `limit`), what another source fetches, and what waits for the next runs."""
        plan = Plan()
        with self._lock:
            for key, c in candidates:
                claim = self._claims.get(key)
                if claim is not None and claim.source != source:
                    plan.shared.append(c)
                    if not claim.settled:
                        claim.sharers.append((source, c.url))
                    elif claim.article_id is not None:
                        plan.settled.append((c.url, claim.article_id))
                elif claim is not None:
                    continue  # listed twice by the same source
                elif len(plan.fetch) < limit:
                    self._claims[key] = _Claim(source)
                    plan.fetch.append(c)
                else:
                    plan.waiting.append(c)
        return plan

    def taken_by_others(self, source: str, keys: Iterable[str]) -> set[str]:
        """The keys another source of this run has taken (archived by now, or on their way)."""
        with self._lock:
            return {key for key in keys if (claim := self._claims.get(key)) and claim.source != source}

    def settle(self, source: str, outcomes: dict[str, int | None]) -> list[tuple[str, str, int]]:
        """`source` stored its pages: key -> the article it became (None: none). Returns the
        sightings it now records for the sources that listed them meanwhile: (source, url, article id)."""
        sightings = []
        with self._lock:
            for key, article_id in outcomes.items():
                claim = self._claims.get(key)
                if claim is None or claim.source != source or claim.settled:
                    continue
                claim.settled, claim.article_id = True, article_id
                if article_id is not None:
                    sightings += [(sharer, seen, article_id) for sharer, seen in claim.sharers]
                claim.sharers = []
        return sightings
