import pytest

from core.article import Article
from errors import QuerySyntaxError
from storage.archive import Archive, Incoming
from storage.query import parse, word_forms

DOCS = [
    (
        1,
        "Les passeurs de la Manche",
        "Un réseau de passeurs démantelé près de Calais ; la traversée de la Manche reste périlleuse.",
    ),
    (
        2,
        "L’OIM au Mexique",
        "L’Organisation internationale pour les migrations (OIM) aide un migrant en transit à Tapachula.",
    ),
    (
        3,
        "Travaux de la Commission",
        "Les journaux rapportent que les travaux de la commission sur l\u2019immigration avancent.",
    ),
    (4, "ÉTATS-UNIS", "Les États-Unis et le Mexique renforcent leur coopération contre la traite des êtres humains."),
    (5, "Passerelle", "Une passerelle piétonne relie deux quartiers ; aucun rapport avec la migration."),
]


def _archive_of(docs, directory):
    """`docs` (id, title, body) in a real archive: the query language is tested on the FTS5
    index search uses."""
    archive = Archive.open(directory / "archive.db")
    result = archive.add_batch(
        [Incoming(Article(title, None, [body], url=f"https://x.example/{i}"), "s") for i, title, body in docs]
    )
    assert result.new_ids == [i for i, _, _ in docs]
    return archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    with _archive_of(DOCS, tmp_path_factory.mktemp("query")) as archive:
        yield archive


@pytest.fixture
def ids(archive):
    return lambda query: {hit.id for hit in archive.search(query, limit=None)}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("etats-unis", {4}),  # accents and case
        ("ÉTATS", {4}),
        ("MEXIQUE", {2, 4}),
        ("l'immigration", {3}),  # ' matches ’ in the text
        ("l’OIM", {2}),  # ’ in the query
        ("migrants", {2}),  # plural finds singular
        ("passeur", {1}),  # singular finds plural, not "passerelle"
        ("travail", {3}),  # travail -> travaux
        ("journal", {3}),  # journal -> journaux
        ("journaux", {3}),
        ("passe*", {1, 5}),  # prefix
        ('"traite des êtres humains"', {4}),  # phrase
        ('"humains êtres"', set()),  # phrase order matters
        ("Calais OR Tapachula", {1, 2}),
        ("Mexique NOT Tapachula", {4}),
        ("Mexique -Tapachula", {4}),
        ("NEAR(passeurs Calais, 3)", {1}),
        ("NEAR(passeurs périlleuse, 3)", set()),
        ("NEAR(passeur Manche)", {1}),  # plural forms inside NEAR, default distance
        ("(Calais OR Tapachula) AND migrant", {2}),
        ("migration", {2, 5}),
        ("coop\u00e9ration\u00a0contre", {4}),  # NBSP is a space
    ],
)
def test_language(ids, query, expected):
    assert ids(query) == expected


@pytest.mark.parametrize(
    "word, forms",
    [
        ("migrant", {"migrant", "migrants"}),
        ("migrants", {"migrants", "migrant"}),
        ("travail", {"travail", "travails", "travaux"}),
        ("journal", {"journal", "journaux", "journals"}),
        ("bateau", {"bateau", "bateaux", "bateaus"}),
        ("pays", {"pays"}),
        ("country", {"country", "countries", "countrys"}),
    ],
)
def test_word_forms(word, forms):
    assert set(word_forms(word)) == forms


@pytest.mark.parametrize(
    "query, column",
    [
        ('"passeurs', 1),
        ("migrants OR", 12),
        ("OR migrants", 1),
        ("NOT migrants", 1),
        ("(migrants passeurs", 19),
        ("migrants)", 9),
        ("NEAR(migrants, x)", 16),
        ("NEAR(migrants)", 1),
        ("", 1),
        ("mig*rants", 4),
        ("migrants AND", 13),
        ("[migrants]", 1),
    ],
)
def test_bad_queries_say_where(query, column):
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    assert info.value.position == column
    assert f"column {column}" in str(info.value)


def test_lower_case_or_is_a_word():
    assert parse("or noir").fts == '("or" AND ("noir" OR "noirs"))'


LIGATURE_DOCS = [
    (1, "Une œuvre collective", "Les associations œuvrent auprès des exilés ; le cœur du dispositif est à Calais."),
    (2, "Sa sœur retrouvée", "Après la manœuvre des garde-côtes, elle a retrouvé sa sœur à Lampedusa."),
    (3, "Le complexe d'Œdipe", "Une lecture de Sophocle, sans rapport avec la migration."),
    (4, "Ex æquo", "Deux pays arrivent ex æquo dans le classement ; curriculum vitæ en annexe."),
    (5, "Une oeuvre sans ligature", "Le coeur de la ville, les soeurs et les manoeuvres, ex aequo."),
]


@pytest.fixture(scope="module")
def ligature_archive(tmp_path_factory):
    with _archive_of(LIGATURE_DOCS, tmp_path_factory.mktemp("ligatures")) as archive:
        yield archive


@pytest.mark.parametrize(
    "query, expected",
    [
        ("oeuvre", {1, 5}),  # spelled out finds the ligature, and itself
        ("œuvre", {1, 5}),  # and back
        ("coeur", {1, 5}),
        ("cœur", {1, 5}),
        ("soeur", {2, 5}),  # with its plural: soeurs
        ("sœurs", {2, 5}),
        ("manoeuvre", {2, 5}),
        ("Oedipe", {3}),  # capital Œ
        ("aequo", {4, 5}),
        ("vitae", {4}),
        ("oeuvr*", {1, 5}),  # prefixes: œuvrent, oeuvre
        ('"coeur du dispositif"', {1}),  # phrases
        ('"ex aequo"', {4, 5}),
        ("NEAR(soeur Lampedusa, 3)", {2}),
        ("poete", set()),  # an oe that is no ligature finds nothing more
    ],
)
def test_ligatures_oe_ae_match_both_ways(ligature_archive, query, expected):
    assert {hit.id for hit in ligature_archive.search(query, limit=None)} == expected


def test_ligature_variants_stay_few():
    from storage.query import ligature_variants

    assert ligature_variants("oeuvre") == ["oeuvre", "œuvre"]
    assert ligature_variants("œuvre") == ["œuvre", "oeuvre"]
    assert ligature_variants("migrant") == ["migrant"]
    assert len(ligature_variants("oeoeoeoeoe")) <= 8
