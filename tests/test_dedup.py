from pathlib import Path

import pytest

from core.article import Article
from core.urls import canonical_url, url_key
from storage import dedup
from storage.archive import Archive
from storage.records import Incoming

FIXTURES = Path(__file__).resolve().parent / "fixtures"

PAGE = (FIXTURES / "pages" / "aprnews-fr-saisonniers.txt").read_text(encoding="utf-8")
PARAS = [p for p in PAGE.split("\n\n") if p.endswith(".")]  # the article's paragraphs, not its headlines or links


@pytest.mark.parametrize(
    "url, declared, params, expected",
    [
        # The scheme, www. and the path are kept as served: the link must work.
        (
            "HTTP://WWW.Example.com:80/a/b/?utm_source=x&b=2&a=1&fbclid=3#frag",
            None,
            (),
            "http://www.example.com/a/b/?a=1&b=2",
        ),
        ("https://example.com:443/a/", None, (), "https://example.com/a/"),
        ("http://www.iom.int/fr/news/x?pid=123&gclid=4", None, ("pid",), "http://www.iom.int/fr/news/x"),
        ("http://www.iom.int/fr/news/x?pid=123", None, (), "http://www.iom.int/fr/news/x?pid=123"),
        ("https://example.com:8080/A/?x=1", None, (), "https://example.com:8080/A/?x=1"),
        ("http://example.com", None, (), "http://example.com/"),
        # The page's own rel=canonical says which scheme and host to link to.
        (
            "http://mirror.example.org/copy",
            "https://www.iom.int/news/original/",
            (),
            "https://www.iom.int/news/original/",
        ),
        ("https://www.example.org/story", "http://example.org/story", (), "http://example.org/story"),
        ("https://example.com/page", "/relative/canonical", (), "https://example.com/page"),
        ("file:///tmp/page.html", None, (), None),
        (None, None, (), None),
    ],
)
def test_canonical_url(url, declared, params, expected):
    assert canonical_url(url, declared, params) == expected


@pytest.mark.parametrize(
    "a, b",
    [
        ("http://www.example.com/a/b/?utm_source=rss&b=2&a=1", "https://example.com/a/b?a=1&b=2"),
        ("http://example.com/", "https://www.example.com"),
        ("https://example.com:443/a", "http://example.com/a/"),
    ],
)
def test_spellings_of_one_page_share_a_url_key(a, b):
    assert url_key(canonical_url(a)) == url_key(canonical_url(b))


def test_url_key_keeps_what_selects_the_page():
    keys = {
        url_key(canonical_url(u))
        for u in (
            "https://example.com/a",
            "https://example.com/A",
            "https://example.com/a?id=2",
            "https://example.com:8080/a",
            "https://other.example.com/a",
        )
    }
    assert len(keys) == 5


def test_content_hash_folds_typography_only():
    retyped = PAGE.replace("'", "\u2019").replace('"', "\u00ab").upper().replace(" ", "\u00a0 ")
    assert dedup.content_hash(PAGE) == dedup.content_hash(retyped)
    assert dedup.content_hash(PAGE) != dedup.content_hash(PAGE.replace("lundi", "mercredi"))


def _article(paragraphs, url, language="fr", **kw):
    return Article(title="t", date="2023-12-29", paragraphs=list(paragraphs), language=language, url=url, **kw)


def republished(paragraphs):
    """Another outlet's copy: curly apostrophes, capitalised accents, one sentence edited, its own tagline."""
    out = [p.replace("'", "\u2019").replace("Etats", "États") for p in paragraphs]
    out[2] = "Chaque contrat signé évite un départ en pirogue, a résumé le secrétaire d’État lors de la cérémonie."
    return ["(Agence) Publié par notre rédaction."] + out


DIFFERENT_STORY = [
    (
        "Le gouvernement mexicain a annoncé mardi un nouveau plan d'accueil pour les migrants arrivant à la "
        "frontière sud du pays, près de Tapachula."
    ),
    (
        "Ce plan prévoit l'ouverture de trois centres d'hébergement et la délivrance de visas humanitaires "
        "temporaires aux familles avec enfants."
    ),
    (
        "Les organisations de défense des droits humains saluent une avancée mais demandent davantage de "
        "moyens pour les procédures d'asile."
    ),
    (
        "Selon les autorités, plus de 20 000 personnes attendent actuellement une réponse à leur demande de "
        "protection dans le Chiapas."
    ),
]
ENGLISH = [
    (
        "Senegal and Spain signed an amendment to their 2021 circular migration agreement in Dakar on Monday,"
        " raising to 1,250 the number of Senegalese seasonal workers recruited each year for the berry "
        "harvest in Andalusia."
    ),
    (
        "Candidates will be selected by the public employment service in the Kolda, Sedhiou and Ziguinchor "
        "regions, where youth unemployment exceeds 30 percent, according to the ministry."
    ),
    (
        "Spanish employers will pay for the return flight and the workers' housing, and contracts may last up"
        " to nine months."
    ),
]


def test_signature_similarity_both_sides_of_the_threshold():
    original = dedup.minhash("\n\n".join(PARAS))
    copy = dedup.minhash("\n\n".join(republished(PARAS)))
    other = dedup.minhash("\n\n".join(DIFFERENT_STORY))
    assert dedup.similarity(original, copy) >= dedup.NearConfig.threshold
    assert dedup.similarity(original, other) < 0.2


def test_content_keys_are_the_hash_and_signature_computed_apart():
    # The archive stores content_keys(); the migration that backfills signatures uses minhash():
    # one normalisation must give exactly the same keys as the two functions.
    bodies = [
        "\n\n".join(PARAS),
        "\n\n".join(republished(PARAS)),
        "\n\n".join(ENGLISH),
        PAGE.upper().replace(" ", "\u00a0 "),
        "Œuvre  d\u2019art : «\u202fÉté\u202f» \u2014 fin.",
        "",
    ]
    for body in bodies:
        assert dedup.content_keys(body, min_words=5) == (dedup.content_hash(body), dedup.minhash(body, min_words=5))
    assert dedup.content_keys("trop court", min_words=5)[1] is None


def test_short_texts_skip_the_near_layer():
    words = " ".join(f"mot{i}" for i in range(40)).split()
    assert dedup.minhash(" ".join(words[:29]), min_words=30) is None
    assert dedup.minhash(" ".join(words[:30]), min_words=30) is not None


def test_republished_copy_is_folded_into_a_sighting(tmp_path):
    with Archive.open(tmp_path / "a.db") as archive:
        result = archive.add_batch(
            [
                Incoming(_article(PARAS, "https://aprnews.example/senegal-espagne-saisonniers"), "aprnews"),
                Incoming(_article(republished(PARAS), "https://other.example/2024/03/05/migration"), "other"),
                Incoming(_article(DIFFERENT_STORY, "https://other.example/plan-accueil"), "other"),
            ]
        )
        assert [(r.status, r.kind) for r in result.items] == [
            ("new", "original"),
            ("duplicate", "near"),
            ("new", "original"),
        ]
        assert result.items[1].article_id == result.items[0].article_id
        assert result.items[1].similarity >= 0.7
        assert [s.source for s in archive.sightings(result.items[0].article_id)] == ["aprnews", "other"]


def test_near_threshold_is_configurable_both_ways(tmp_path):
    from storage.dedup import NearConfig

    original = _article(PARAS, "https://aprnews.example/a")
    copy = _article(republished(PARAS), "https://other.example/b")
    score = dedup.similarity(dedup.minhash(original.body), dedup.minhash(copy.body))
    strict = Archive.open(tmp_path / "strict.db", near=NearConfig(threshold=min(1.0, score + 0.01)))
    loose = Archive.open(tmp_path / "loose.db", near=NearConfig(threshold=score))
    with strict, loose:
        assert strict.add_batch([Incoming(original, "a"), Incoming(copy, "b")]).counts["new"] == 2
        assert loose.add_batch([Incoming(original, "a"), Incoming(copy, "b")]).counts["near"] == 1


def test_english_translation_is_kept_and_linked(tmp_path):
    fr_url, en_url = "https://www.iom.int/fr/news/mexique-usa", "https://www.iom.int/news/mexico-usa"
    french = _article(PARAS, fr_url, translations={"en": en_url, "fr": fr_url})
    english = _article(ENGLISH, en_url, language="en", translations={"fr": fr_url})
    with Archive.open(tmp_path / "a.db") as archive:
        result = archive.add_batch([Incoming(french, "iom-fr"), Incoming(english, "iom-en")])
        assert result.counts["new"] == 2
        fr_id, en_id = result.new_ids
        assert [(t.language, t.article_id) for t in archive.translations(fr_id)] == [("en", en_id)]
        assert [(t.language, t.article_id) for t in archive.translations(en_id)] == [("fr", fr_id)]


def test_same_url_with_tracking_parameters_is_a_sighting(tmp_path):
    with Archive.open(tmp_path / "a.db") as archive:
        first = archive.add_batch([Incoming(_article(PARAS, "https://www.aprnews.example/x/"), "a")])
        again = archive.add_batch([Incoming(_article(DIFFERENT_STORY, "http://aprnews.example/x?utm_source=rss"), "a")])
        assert again.items[0].kind == "same_url" and again.items[0].article_id == first.new_ids[0]
        assert archive.known_urls(["https://aprnews.example/x#top", "https://aprnews.example/y"]) == {
            "https://aprnews.example/x#top"
        }
