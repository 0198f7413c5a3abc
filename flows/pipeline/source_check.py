"""Check a source once before it is added: fetch it, detect its kind, count its article links.

The same discovery as an ingest run (`scrapers.discover.discover`, with the config's fetch
settings: user agent, robots.txt, timeouts), with nothing known yet, and nothing stored.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SourceCheck:
    url: str
    kind: str | None  # as configured, else as detected
    links: int  # article links of the source seen in its discovery documents
    errors: list[str]
    feed_choice: str = ""  # a page read through the feed it advertises: which, and why

    @property
    def problem(self) -> str | None:
        if self.errors and not self.links:
            return self.errors[0]
        if not self.links:
            return "0 article links found"
        return None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        lines = [f"checked {self.url}: {self.kind or 'kind unknown'}, {self.links} article link(s)"]
        if self.feed_choice:
            lines.append(f"  an HTML page {self.feed_choice}")
            lines.append("  (to read the page's own links instead: --kind listing; another feed: add its own URL)")
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def check_source(config, source) -> SourceCheck:
    from flows.pipeline.context import fetch_settings, source_spec
    from scrapers.discover import discover
    from scrapers.fetch import Fetcher

    with Fetcher(fetch_settings(config)) as fetcher:
        found = discover(source_spec(source), fetcher.for_source(source.url))
    return SourceCheck(source.url, found.kind, found.seen, list(found.errors), found.feed_choice)
