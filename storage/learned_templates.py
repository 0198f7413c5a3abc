"""Per-source learned templates (scrapers/template.py): the line keys of each source's recent pages.

Table `source_template_pages` (schema v8, storage/migrations.py). One row per archived page of a
source, in arrival order (`seq`), holding the page's paragraph keys (64-bit integers, packed);
only the last `window` pages of a source are kept, so the table stays small (~200 rows of a
few hundred bytes per source) and a site redesign is learnt within one window. The template
is counted from those rows when a run starts (`load`): a key's count is the number of pages
it is on. `record` adds a run's pages and drops the oldest. The template's version is the
number of pages ever recorded for the source.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from storage.db import Database, utc_iso

_KEY = struct.Struct("<q")


@dataclass
class TemplateCounts:
    """What `load` reads: pages in the window, the version, and pages per line key."""

    source: str
    version: int = 0
    pages: int = 0
    counts: dict[int, int] = field(default_factory=dict)


def pack(keys: Iterable[int]) -> bytes:
    return b"".join(_KEY.pack(k) for k in keys)


def unpack(blob: bytes) -> list[int]:
    return [k for (k,) in _KEY.iter_unpack(blob)]


def load(db: Database, source: str, window: int) -> TemplateCounts:
    """The counts over the source's last `window` pages."""
    rows = db.conn.execute(
        "SELECT seq, keys FROM source_template_pages WHERE source = ? ORDER BY seq DESC LIMIT ?",
        (source, window),
    ).fetchall()
    counts: Counter[int] = Counter()
    for _, blob in rows:
        counts.update(unpack(blob))
    version = rows[0][0] if rows else 0
    return TemplateCounts(source, version, len(rows), dict(counts))


def record(db: Database, source: str, pages: list[list[int]], window: int) -> int:
    """Add pages (each a list of distinct keys) after the source's last one, keep the last
    `window`; returns the new version. One transaction."""
    if not pages:
        return current_version(db, source)
    now = utc_iso()
    with db.transaction() as conn:
        (last,) = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM source_template_pages WHERE source = ?", (source,)
        ).fetchone()
        conn.executemany(
            "INSERT INTO source_template_pages (source, seq, keys, recorded_at) VALUES (?, ?, ?, ?)",
            [(source, last + i, pack(keys), now) for i, keys in enumerate(pages, start=1)],
        )
        version = last + len(pages)
        conn.execute("DELETE FROM source_template_pages WHERE source = ? AND seq <= ?", (source, version - window))
    return version


def current_version(db: Database, source: str) -> int:
    (version,) = db.conn.execute(
        "SELECT coalesce(max(seq), 0) FROM source_template_pages WHERE source = ?", (source,)
    ).fetchone()
    return version
