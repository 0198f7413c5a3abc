"""One run's context, built once from the config and handed to the stages.

    context = RunContext.build(config)        # at the start of a run: the only place that reads the config

- `RunSource`: what the stages need of a configured source: its discovery spec (profile,
  include/exclude regexes compiled once, its URL policy `spec.urls`), `max_new_per_run`, its
  expected interval; built once per run, never rebuilt by a stage.
- `Archives`: the run's access to the archive: opened (migrated, checked writable) once, then
  one handle per thread that uses it (sqlite3 connections belong to their thread), each opened
  once and closed at the end of the run.
- `UrlLedger`: "is this URL new?" for one source of one run, answered once per URL: each URL's
  identity (`UrlPolicy.key`) computed once, then checked against the archive, the pages not
  due, and what another source of the run has taken.

After `RunContext.build`, no stage receives the config: each gets what it uses.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from alerts.settings import AlertRule, HealthAlertSettings, SmtpSettings
from flows.config.model import Config, Source
from flows.pipeline.claims import UrlClaims
from scrapers.discover import SourceSpec
from scrapers.fetch import FetchSettings
from storage import fetchstate
from storage.archive import Archive


@dataclass(frozen=True)
class RunSource:
    """A source as one run works on it."""

    spec: SourceSpec  # discovery's view: URL, kind, profile, compiled include/exclude, spec.urls
    max_new_per_run: int
    expected_interval: timedelta | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def profile(self) -> str:
        return self.spec.profile.name

    @classmethod
    def of(cls, source: Source) -> RunSource:
        return cls(source_spec(source), source.max_new_per_run, source.expected_interval)


def source_spec(source: Source) -> SourceSpec:
    """What discovery needs of a configured source (`scrapers.discover.discover`), its
    include/exclude regexes compiled."""
    from scrapers.profiles import get_profile

    return SourceSpec(
        name=source.name,
        url=source.url,
        kind=source.kind,
        profile=get_profile(source.profile or "generic"),
        max_pages=source.max_pages,
        max_entries=source.max_entries,
        include=tuple(re.compile(p) for p in source.include),
        exclude=tuple(re.compile(p) for p in source.exclude),
    )


def fetch_settings(config: Config) -> FetchSettings:
    """The fetcher's settings; two sources on one host (IOM fr/en) share its politeness: the
    slower delay wins."""
    delays: dict[str, float] = {}
    for source in config.sources:
        delays[source.host] = max(delays.get(source.host, 0.0), source.delay)
    return FetchSettings(
        user_agent=config.user_agent,
        connect_timeout=config.timeouts.connect,
        read_timeout=config.timeouts.read,
        total_timeout=config.timeouts.total,
        max_page_bytes=config.max_page_bytes,
        max_document_bytes=config.max_document_bytes,
        allow_private_networks=config.allow_private_networks,
        max_redirects=config.max_redirects,
        attempts=config.retries.attempts,
        backoff_base=config.retries.backoff,
        backoff_max=config.retries.max_backoff,
        max_retry_after=config.retries.max_retry_after,
        default_delay=max(delays.values(), default=1.0),
        host_delays=delays,
        max_parallel_hosts=config.max_parallel_hosts,
    )


class Archives:
    """The run's archive: `here()` is this thread's handle, opened on its first use (the run's
    own thread, the end of the run); `reading()` lends a handle for reads from any thread
    (the sources' stages: a thousand sources do not open a thousand connections); the
    sources' writes go through the run's `ArchiveWriter`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Archive] = []
        self._idle: list[Archive] = []  # handles for `reading`, not lent now
        self._checked = False

    def here(self) -> Archive:
        archive = getattr(self._local, "archive", None)
        if archive is None:
            archive = self._open_one()
            self._local.archive = archive
        return archive

    @contextmanager
    def reading(self) -> Iterator[Archive]:
        """A handle for this thread until the block ends (then lent to another): for reads.
        A block reads what was committed when it started reading."""
        with self._lock:
            archive = self._idle.pop() if self._idle else None
        if archive is None:
            archive = self._open_one(shared=True)
        try:
            yield archive
        finally:
            with self._lock:
                self._idle.append(archive)

    def _open_one(self, *, shared: bool = False) -> Archive:
        with self._lock:
            if not self._checked:
                # The first open migrates the archive and fails the run early if it is unwritable.
                archive = Archive.open(self.path)
                archive.ensure_writable()
                self._checked = True
                if shared:  # a handle of the first open stays with its thread; lend another
                    self._open.append(archive)
                    self._local.archive = archive
                    archive = Archive.reopen(self.path, shared=True)
            else:
                archive = Archive.reopen(self.path, shared=shared)
            self._open.append(archive)
        return archive

    def close(self) -> None:
        """Close every handle of the run (at its end; a thread's handle is closed from here:
        sqlite3 allows closing from another thread once the owner is done with it)."""
        with self._lock:
            handles, self._open, self._idle = self._open, [], []
        for archive in handles:
            try:
                archive.close()
            except Exception:  # noqa: BLE001 - closing the others matters more than one that failed
                pass
        self._local = threading.local()


@dataclass
class RunContext:
    """What a run uses, built once from the config (`build`)."""

    archives: Archives
    sources: dict[str, RunSource]  # every configured source, by name
    chosen: list[RunSource]  # the sources of this run, in order
    fetch: FetchSettings
    clean_processes: int | None
    rules: list[AlertRule] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)
    smtp: SmtpSettings | None = None  # for the alert and health emails; None: no smtp: section
    health_alerts: HealthAlertSettings | None = None
    feeds_dir: Path | None = None
    feeds_url: str | None = None  # where feeds_dir is served: the feeds' rel="self" links
    dask: str | None = None  # the Dask scheduler the sources' work goes to (`execution: {dask: ...}`)

    @classmethod
    def build(cls, config: Config, names: list[str] | None = None) -> RunContext:
        sources = {s.name: RunSource.of(s) for s in config.sources}
        chosen = [config.source(n) for n in names] if names else config.enabled_sources()
        return cls(
            archives=Archives(Path(config.archive)),
            sources=sources,
            chosen=[sources[s.name] for s in chosen],
            fetch=fetch_settings(config),
            clean_processes=config.clean_processes,
            rules=list(config.alerts),
            rule_errors=list(config.rule_errors),
            smtp=config.smtp,
            health_alerts=config.health_alerts,
            feeds_dir=config.feeds_dir,
            feeds_url=str(config.feeds_url) if config.feeds_url else None,
            dask=config.execution.dask,
        )


class UrlLedger:
    """Whether the URLs one source found are new to the run, each asked once: not archived nor
    sighted (by its `url_key`), not a page not to ask for now (`fetchstate.not_due`), and not
    taken by another source of the run (that one fetches it; here it becomes a sighting)."""

    def __init__(self, source: RunSource, archives: Archives, claims: UrlClaims, *, recheck: bool = False) -> None:
        self.source, self.archives, self.claims, self.recheck = source, archives, claims, recheck
        self._keys: dict[str, str] = {}

    def key(self, url: str) -> str:
        """The URL's identity in this run (its `url_key`; the URL itself when it has none)."""
        key = self._keys.get(url)
        if key is None:
            key = self._keys[url] = self.source.spec.urls.key(url) or url
        return key

    def known(self, urls: Iterable[str], *, shared_stay: bool = True) -> set[str]:
        """Those of `urls` not to fetch: archived or sighted, or not due. `shared_stay`: one
        another source of the run has taken stays unknown (it becomes a sighting here)."""
        urls = list(urls)
        if self.recheck or not urls:
            return set()
        # Not kept in `_keys`: a sitemap of 859,000 URLs would keep them all for the run.
        keys = {url: self._keys.get(url) or self.source.spec.urls.key(url) or url for url in urls}
        with self.archives.reading() as archive:
            archived = archive.known_keys(keys.values())
            known = {url for url, key in keys.items() if key in archived} | fetchstate.not_due(archive, urls)
        if not shared_stay or not known:
            return known
        others = self.claims.taken_by_others(self.source.name, [keys[u] for u in known])
        return {url for url in known if keys[url] not in others}
