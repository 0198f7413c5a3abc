"""XML read as a stream (sitemaps, large feeds): lxml's iterparse over a document in memory,
with what a crawler must refuse (entities, network access) refused."""

from __future__ import annotations

import io

from lxml import etree


def xml_events(body: bytes, *, recover: bool = False):
    """("start" | "end", element) events of `body`; the caller drops what it has read."""
    return etree.iterparse(
        io.BytesIO(body),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
    )
