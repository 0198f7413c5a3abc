import pytest

from core.article import Article
from errors import QuerySyntaxError
from storage.archive import Archive
from storage.query import parse
from storage.query_fts import word_forms
from storage.records import Incoming

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


OPERATOR_DOCS = [  # (id, title, body, source, url)
    (1, "Passeurs arrêtés à Calais", "La police a arrêté trois hommes.", "iom-fr", "https://www.iom.int/fr/news/a"),
    (2, "Rapport annuel", "Les passeurs exploitent la détresse des migrants.", "iom-en", "https://iom.int/news/b"),
    (3, "Passeurs en Libye", "Un réseau démantelé.", "apr", "http://apr-news.fr/fr/c"),
    (4, "Naufrage", "Les passeurs ont abandonné le bateau.", "apr", "http://weblog.iom.int:8080/d"),
    (5, "L'or noir", "Le pétrole, l'or noir du Sahel, attire les passeurs.", "apr", "http://apr-news.fr/fr/e"),
]


@pytest.fixture(scope="module")
def operator_archive(tmp_path_factory):
    archive = Archive.open(tmp_path_factory.mktemp("operators") / "archive.db")
    result = archive.add_batch(
        [Incoming(Article(title, None, [body], url=url), source) for _, title, body, source, url in OPERATOR_DOCS]
    )
    assert result.new_ids == [1, 2, 3, 4, 5]
    with archive:
        yield archive


@pytest.mark.parametrize(
    "query, expected",
    [
        ("passeurs", {1, 2, 3, 4, 5}),
        ("title:passeurs", {1, 3}),  # the title only
        ("intitle:passeurs", {1, 3}),
        ('title:"passeurs en libye"', {3}),
        ("title:(Calais OR Libye)", {1, 3}),
        ("title:passe*", {1, 3}),
        ("passeurs -title:passeurs", {2, 4, 5}),
        ("passeurs NOT title:passeurs", {2, 4, 5}),
        ("title:NEAR(passeurs Libye, 2)", {3}),
        ("site:iom.int passeurs", {1, 2, 4}),  # www. and subdomains
        ("site:www.iom.int passeurs", {1, 2, 4}),
        ("site:iom.int/fr passeurs", {1}),  # a path
        ("site:iom.int/f passeurs", set()),  # a path is whole segments
        ("site:weblog.iom.int:8080 passeurs", {4}),  # a port
        ("site:weblog.iom.int:9 passeurs", set()),
        ("-site:iom.int passeurs", {3, 5}),
        ("site:iom.int site:apr-news.fr passeurs", {1, 2, 3, 4, 5}),  # either site
        ("source:apr passeurs", {3, 4, 5}),
        ("source:apr -site:apr-news.fr passeurs", {4}),
        ("passeurs -source:apr", {1, 2}),
        ("source:iom-fr source:iom-en passeurs", {1, 2}),
        ("site:iom.int (détresse OR bateau)", {2, 4}),
        ('"l\'or noir"', {5}),  # a lower-case or in a phrase is a word
        ("+passeurs +Calais", {1}),  # + is the word itself
    ],
)
def test_operators_work(operator_archive, query, expected):
    assert {hit.id for hit in operator_archive.search(query, limit=None)} == expected


@pytest.mark.parametrize(
    "query, column, says",
    [
        ("passeurs or traite", 10, "'or' in lower case: operators are written in capitals"),
        ("passeurs and traite", 10, "write AND for the operator"),
        ("passeurs not Calais", 10, "write NOT for the operator"),
        ("Or noir", 1, "operators are written in capitals"),
        ('"passeurs Manche"~3', 18, "write NEAR(word word, N)"),
        ("passeurs NEAR/3 Manche", 10, "write NEAR(word word, N)"),
        ("passeurs W/3 Manche", 10, "not how proximity is written"),
        ("passeurs /3 Manche", 10, "not how proximity is written"),
        ("passeurs NEAR Manche", 10, "NEAR(word word, N)"),
        ("passeurs AROUND(3) Manche", 10, "NEAR(word word, N)"),
        ("near(passeurs Manche)", 1, "in capitals"),
        ("migrant~", 8, "'~' (fuzzy or proximity search) is not part of this language"),
        ("migr?nt", 5, "'?' is not a wildcard"),
        ("passeurs | traite", 10, "write OR"),
        ("passeurs|traite", 9, "write OR"),
        ("passeurs && traite", 10, "write AND"),
        ("inurl:news passeurs", 1, "unknown operator inurl:"),
        ("allintitle:passeurs Calais", 1, "title:a title:b"),
        ("before:2024-01-01 passeurs", 1, "--since"),
        ("lang:fr passeurs", 1, 'quote them: "lang:fr"'),
        ("https://www.iom.int/fr passeurs", 1, "site:HOST"),
        ("title: passeurs", 7, "no space: title:passeurs"),
        ("site: iom.int passeurs", 6, "no space: site:iom.int"),
        ("site:iom passeurs", 6, "'iom' is not a host name"),
        ('site:"iom.int" passeurs', 6, "takes a value, not a phrase"),
        ("source:a/b passeurs", 8, "is not a source name"),
        ("site:iom.int", 1, "give at least one word to find as well"),
        ("-source:apr", 2, "give at least one word to find as well"),
        ("site:iom.int passeurs OR traite", 1, "not one side of OR"),
        ("passeurs OR traite source:apr", 20, "not one side of OR"),
        ("(site:iom.int passeurs) traite", 2, "cannot be inside parentheses"),
        ("NEAR(title:passeurs Manche)", 6, "title: cannot be inside NEAR"),
        ("title:OR", 7, "title: needs a word, a phrase or a group"),
    ],
)
def test_what_looks_like_an_operator_is_refused_with_its_column(query, column, says):
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    assert info.value.position == column, str(info.value)
    assert says in str(info.value)


def test_a_word_followed_by_a_colon_is_a_word():
    assert parse("Calais: passeurs").fts == parse("Calais passeurs").fts
    assert not parse("Calais: passeurs").restriction


def test_restrictions_are_the_sql_function_too(operator_archive):
    """`newswatch_admits` (the reading room, the batch matcher) says what `Query.admits` says."""
    from storage.query import register_functions

    register_functions(operator_archive.conn)
    rows = operator_archive.conn.execute(
        "SELECT id FROM articles WHERE newswatch_admits(?, source, canonical_url) ORDER BY id",
        ("site:iom.int -source:apr x",),
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2]


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
    from storage.query_fts import ligature_variants

    assert ligature_variants("oeuvre") == ["oeuvre", "œuvre"]
    assert ligature_variants("œuvre") == ["œuvre", "oeuvre"]
    assert ligature_variants("migrant") == ["migrant"]
    assert len(ligature_variants("oeoeoeoeoe")) <= 8
