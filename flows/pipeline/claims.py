"""The URLs the sources of one run fetch, each one once (`UrlClaims`), and what a source
fetches this run (`Plan`).

Nothing is lost behind a claim. A page several sources list (under one identity: another
scheme, `www.`, tracking parameters, a trailing slash) is fetched by the first source that
takes it; the others record a sighting of what it became. When that fetch fails, the other
sources' spellings of the page are tried in the same run: a source planning after the failure
fetches its own spelling itself (`take`), and the spellings of sources that planned before it
are handed out at the end of the sources' work (`rescues`), one per page at a time, until one
works or none is left. A source's listing counts as a duplicate (`shared`) only when the page
became an archived article; otherwise it is counted where it belongs (`shares_of`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from scrapers.links import Candidate

# What became of a claimed page: still being fetched, archived (an article, new or folded),
# read but no article (the cleaner's verdict), or its fetch failed.
ClaimState = Literal["pending", "article", "not-article", "failed"]


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
class _Share:
    """A source that listed a page another source took, with its own spelling of it."""

    source: str
    url: str
    found_via: str | None
    sighted: bool = False  # its sighting of the archived article is recorded (or on its way)


@dataclass
class _Claim:
    source: str  # the source fetching it now
    url: str  # the spelling it fetches
    state: ClaimState = "pending"
    article_id: int | None = None  # what the page became (an archived article)
    error: str | None = None  # why the last fetch failed
    tried: set[str] = field(default_factory=set)  # spellings whose fetch failed this run
    shares: list[_Share] = field(default_factory=list)


@dataclass(frozen=True)
class Rescue:
    """A failed page to fetch again, under another source's spelling, for that source."""

    key: str
    source: str
    url: str
    found_via: str | None
    failed: str  # why the earlier spelling failed (the source that fetched it: its error)


@dataclass(frozen=True)
class ShareOutcome:
    """What became of a page a source listed and another source took: `state` (as `_Claim`),
    the source that took it last and, for a failure, its error."""

    url: str
    state: ClaimState
    taken_by: str
    error: str | None = None


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

    def take(
        self, source: str, candidates: Iterable[tuple[str, Candidate]], limit: int, found_via: str | None = None
    ) -> Plan:
        """Split `candidates` ((key, candidate), newest first) into what `source` fetches (at
        most `limit`), what another source fetches, and what waits for the next runs. A page
        whose fetch failed earlier in the run is this source's to fetch when it spells it
        another way. `found_via`: the kind of discovery document that listed them."""
        plan = Plan()
        with self._lock:
            for key, c in candidates:
                claim = self._claims.get(key)
                if claim is not None and claim.source != source:
                    if claim.state == "failed" and c.url not in claim.tried and len(plan.fetch) < limit:
                        claim.source, claim.url, claim.state = source, c.url, "pending"
                        plan.fetch.append(c)
                        continue
                    plan.shared.append(c)
                    share = _Share(source, c.url, found_via)
                    claim.shares.append(share)
                    if claim.state == "article" and claim.article_id is not None:
                        share.sighted = True
                        plan.settled.append((c.url, claim.article_id))
                elif claim is not None:
                    continue  # listed twice by the same source
                elif len(plan.fetch) < limit:
                    self._claims[key] = _Claim(source, c.url)
                    plan.fetch.append(c)
                else:
                    plan.waiting.append(c)
        return plan

    def taken_by_others(self, source: str, keys: Iterable[str]) -> set[str]:
        """The keys another source of this run has taken (archived by now, or on their way)."""
        with self._lock:
            return {key for key in keys if (claim := self._claims.get(key)) and claim.source != source}

    def settle(
        self, source: str, outcomes: dict[str, int | None], failed: dict[str, str] | None = None
    ) -> list[tuple[str, str, int]]:
        """`source` stored its pages: key -> the article it became (None: none); `failed`: the
        keys whose fetch failed, with the error. Returns the sightings it now records for the
        sources that listed them meanwhile: (source, url, article id)."""
        failed = failed or {}
        sightings = []
        with self._lock:
            for key, article_id in outcomes.items():
                claim = self._claims.get(key)
                if claim is None or claim.source != source or claim.state != "pending":
                    continue
                if article_id is not None:
                    claim.state, claim.article_id = "article", article_id
                    for share in claim.shares:
                        if not share.sighted:
                            share.sighted = True
                            sightings.append((share.source, share.url, article_id))
                elif key in failed:
                    claim.state, claim.error = "failed", failed[key]
                    claim.tried.add(claim.url)
                else:
                    claim.state = "not-article"
        return sightings

    def rescues(self) -> list[Rescue]:
        """The pages whose fetch failed (or never settled: the source taking them failed) that
        another source listed under a spelling not tried yet: one per page, each claim now that
        source's. Call when the sources are done, until it returns nothing."""
        chosen = []
        with self._lock:
            for key, claim in self._claims.items():
                if claim.state == "pending":  # its source stopped before settling it: never fetched
                    claim.state, claim.error = "failed", claim.error or f"not fetched: source {claim.source} failed"
                if claim.state != "failed":
                    continue
                share = next((s for s in claim.shares if s.url not in claim.tried and s.source != claim.source), None)
                if share is None:
                    continue
                claim.shares.remove(share)
                chosen.append(Rescue(key, share.source, share.url, share.found_via, claim.error or "its fetch failed"))
                claim.source, claim.url, claim.state = share.source, share.url, "pending"
        return chosen

    def tried(self, key: str) -> set[str]:
        """The spellings of the page whose fetch failed this run."""
        with self._lock:
            claim = self._claims.get(key)
            return set(claim.tried) if claim else set()

    def shares_of(self, source: str) -> list[ShareOutcome]:
        """What became of each page `source` listed that another source took (at the end of the
        run: what its summary line counts)."""
        with self._lock:
            return [
                ShareOutcome(share.url, claim.state, claim.source, claim.error)
                for claim in self._claims.values()
                for share in claim.shares
                if share.source == source
            ]
