"""A search is newest first, whichever way storage.search gets there: sorting every match
(few matches) or walking the archive newest first along its index (many). Both ways must give
the same hits, snippets included, with every filter."""

import pytest

from core.article import Article
from storage import forget, search
from storage.archive import Archive
from storage.records import Incoming

QUERIES = [
    "commun",
    "rare",
    "c*",  # a one-character prefix: taken as many matches without counting them
    "comm*",
    "commun -rare",
    "title:Article",
    '"texte numéro"',
    "NEAR(commun rare, 5)",
    "site:b.example.org commun",
    "-source:s1 commun",
    "absent",
]


def _article(i: int) -> Article:
    words = " ".join(f"mot{(i * 7919 + k * 104729) % 1000003}" for k in range(30))
    return Article(
        title=f"Article {i}",
        # a third undated: they sort by the day they were fetched, among the dated ones
        date=None if i % 3 == 0 else f"2024-01-{1 + (i * 7) % 28:02d}",
        paragraphs=[f"Texte numéro {i}. Un mot commun{' et rare' if i % 5 == 0 else ''}. {words}"],
        language="fr",
        url=f"https://{'ab'[i % 2]}.example.org/news/{i}",
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "archive.db"
    with Archive.open(path) as archive:
        archive.add_batch(
            [
                Incoming(_article(i), f"s{i % 3}", fetched_at=f"2024-01-{1 + (i * 11) % 28:02d}T08:00:00+00:00")
                for i in range(90)
            ]
        )
        [gone] = [h.id for h in archive.search('"Texte numéro 45"')]
        forget.forget(archive, gone, "test")
        yield archive, gone


@pytest.mark.parametrize(
    "filters", [{}, {"since": "2024-01-15"}, {"source": "s2"}, {"since": "2024-01-10", "source": "s0"}]
)
@pytest.mark.parametrize("limit", [1, 7, 20, 200])
def test_walking_newest_first_gives_what_sorting_gives(archive, monkeypatch, filters, limit):
    archive, gone = archive
    walks = []
    walk = search._walk_newest
    monkeypatch.setattr(search, "_walk_newest", lambda *a: walks.append(a[1].text) or walk(*a))

    monkeypatch.setattr(search, "DENSE_MATCHES", 10**9)
    sorted_hits = {q: archive.search(q, limit=limit, **filters) for q in QUERIES}
    assert walks == ["c*"]  # counted as few: sorted, but for the unindexed prefix

    monkeypatch.setattr(search, "DENSE_MATCHES", 1)
    walked = {q: archive.search(q, limit=limit, **filters) for q in QUERIES}
    assert walks[1:] == [q for q in QUERIES if q != "absent"]  # every query with a match walked

    assert walked == sorted_hits
    kept = [hit for hits in walked.values() for hit in hits]
    assert kept and all(hit.snippet for hit in kept)
    assert gone not in {hit.id for hit in kept}
    assert walked["absent"] == []
    every = archive.search("commun", limit=None, **filters)  # no limit: sorted
    assert walked["commun"] == every[:limit]
    order = [
        archive.conn.execute(
            "SELECT coalesce(published, substr(fetched_at, 1, 10)), id FROM articles WHERE id = ?", (hit.id,)
        ).fetchone()
        for hit in every
    ]
    assert order == sorted(order, reverse=True)
