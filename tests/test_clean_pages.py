"""Dumps of the seed sites' pages give the right articles (tests/fixtures/pages/).

The pages are written for the tests: each follows the structure and the classes of
boilerplate of one seed site (apr-news.fr, iom.int in French and English, lexisveille.fr),
with article text of its own and variations the seeds do not show (boilerplate in another
order, other menu items and labels, a cookie banner, share and print links, a tag line,
contact blocks in other forms, an English page of a French site's template).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.article import Contact
from scrapers.clean import clean_page

PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"

# Per page: title, date, the opening words of every body paragraph (so that nothing is
# missing, merged or split), the first and last paragraphs in full, the contacts, the
# language, and strings of page furniture that must be nowhere in the title or body.
EXPECTED = {
    "aprnews-fr-saisonniers.txt": dict(
        title=(
            "Le Sénégal et l'Espagne élargissent leur programme de migration circulaire pour les "
            "travailleurs saisonniers"
        ),
        date="2024-03-05",
        openings=[
            "Le Sénégal et l'Espagne ont signé lundi",
            "Le texte prévoit que les candidats",
            '"Chaque contrat signé est une pirogue',
            "Les employeurs espagnols prendront",
            "L'an dernier, plus de 39.000 personnes",
            "Une première évaluation du programme",
        ],
        first=(
            "Le Sénégal et l'Espagne ont signé lundi à Dakar un avenant à leur accord de 2021 sur la migration "
            "circulaire, qui portera à 1.250 le nombre de travailleurs saisonniers sénégalais recrutés chaque "
            "année pour les récoltes de fruits rouges en Andalousie, a annoncé le ministère sénégalais de la "
            "Jeunesse."
        ),
        last=(
            "Une première évaluation du programme sera présentée en décembre à Madrid devant la commission "
            "mixte des deux pays."
        ),
        contacts=[],
        language="fr",
        furniture=["Vous êtes ici", "Back to top", "APRNEWS", "Mardi", "Version imprimable", "Partager", "Tweeter"],
    ),
    "aprnews-fr-lampedusa.txt": dict(
        title="Italie : les arrivées à Lampedusa divisées par deux au premier semestre",
        date="2024-07-01",
        openings=[
            "Le nombre de migrants débarqués",
            "La baisse est attribuée",
            "« Le centre d'accueil de l'île",
            "Les organisations de sauvetage",
            "Au moins 923 personnes",
        ],
        first=(
            "Le nombre de migrants débarqués sur l'île italienne de Lampedusa a baissé de moitié entre janvier "
            "et juin par rapport à la même période de l'an dernier, a indiqué dimanche la préfecture "
            "d'Agrigente, qui en a recensé 21.604."
        ),
        last=(
            "Au moins 923 personnes sont mortes ou portées disparues en Méditerranée centrale depuis le début "
            "de l'année, selon le décompte d'une agence des Nations unies."
        ),
        contacts=[],
        language="fr",
        furniture=["Vous êtes ici", "Accueil", "Back to top", "APRNEWS", "Lundi", "Tags", "Migration, Italie"],
    ),
    "aprnews-en-samos.txt": dict(
        title="Greece opens a second reception centre on Samos as spring arrivals rise",
        date="2024-04-17",
        openings=[
            "Greece on Tuesday opened",
            "The new facility, built",
            '"We cannot let the islands',
            "Aid groups working on the island",
            "Coast guard figures show",
        ],
        first=(
            "Greece on Tuesday opened a second closed reception centre on the island of Samos, with room for "
            "1,800 people, as the number of boats crossing from the Turkish coast rose for the third month in "
            "a row, the migration ministry said."
        ),
        last=(
            "Coast guard figures show 4,312 people reached the eastern Aegean islands in the first quarter, "
            "against 2,905 a year earlier."
        ),
        contacts=[],
        language="en",
        furniture=["You are here", "Back to top", "APRNEWS", "Wednesday"],
    ),
    "iom-fr-communique-niger.txt": dict(
        title="L’OIM et le Niger ouvrent à Agadez un centre d’accueil pour les migrants de retour du désert",
        date=None,
        openings=[
            "Niger - L’Organisation internationale",
            "Le centre, dont la gestion sera mise en œuvre",
            "Depuis janvier, les équipes",
            "« Ces hommes, ces femmes",
            "Le projet, d’un montant",
        ],
        first=(
            "Niger - L’Organisation internationale pour les migrations (OIM) et le Ministère nigérien de "
            "l’intérieur ont inauguré mardi à Agadez un centre d’accueil de 400 places destiné aux migrants "
            "refoulés ou secourus dans le désert, qui arrivent souvent sans eau, sans papiers et sans argent."
        ),
        last=(
            "Le projet, d’un montant de 2,4 millions d’euros sur dix-huit mois, est financé par l’Union "
            "européenne et le Royaume des Pays-Bas."
        ),
        contacts=[Contact("Mariama Tanko", "OIM Niamey", ["mtanko@iom.int"], ["+227 20 75 23 31"])],
        language="fr",
        furniture=["Communiqué", "Afrique de l’Ouest et du Centre", "Pour plus d", "Tanko", "Courriel", "+227"],
    ),
    "iom-fr-megamenu-tchad.txt": dict(
        title="Tchad : l’OIM enregistre 60 000 retournés tchadiens en provenance du Soudan depuis janvier",
        date=None,
        openings=[
            "Tchad - Les équipes de suivi",
            "La plupart de ces retournés",
            "Dans les sites de transit d’Adré",
            "L’OIM a distribué ce mois-ci",
            "« Avec la saison des pluies",
            "L’appel humanitaire de l’OIM",
        ],
        first=(
            "Tchad - Les équipes de suivi des déplacements de l’OIM ont enregistré, depuis le début de l’année, "
            "plus de 60 000 ressortissants tchadiens rentrés du Soudan par les points de passage d’Adré et de "
            "Tiné, dans l’est du pays."
        ),
        last="L’appel humanitaire de l’OIM pour le Tchad, de 38 millions de dollars, n’est financé qu’à 17 %.",
        # The contact on one line, its fields separated by commas.
        contacts=[Contact("Fatimé Abakar", "OIM N’Djamena", ["fabakar@iom.int"], ["+235 22 52 41 17"])],
        language="fr",
        furniture=[
            "Qui sommes nous",
            "Structure",
            "Directrice générale",
            "Bureaux régionaux",
            "Notre travail",
            "Ce que nous faisons",
            "Faire un don",
            "Publications",
            "Pour plus d",
            "Abakar",
        ],
    ),
    "iom-fr-wrapped-haiti.txt": dict(
        title=(
            "L’OIM forme des agents de la police frontalière haïtienne à l’identification des victimes de la traite"
        ),
        date=None,
        openings=[
            "Trente agents de la Police nationale",
            "La formation, dispensée à Port-au-Prince",
            "Selon les données recueillies",
            "« Les agents sont souvent",
            "Cette formation s’inscrit",
        ],
        first=(
            "Trente agents de la Police nationale d’Haïti affectés aux postes frontaliers de Ouanaminthe, "
            "Belladère et Malpasse ont achevé vendredi une formation de cinq jours organisée par l’OIM sur "
            "l’identification et la prise en charge des victimes de la traite des personnes."
        ),
        last="Cette formation s’inscrit dans un projet de deux ans financé par le Gouvernement du Canada.",
        contacts=[
            Contact(
                "Ricardo Jean-Baptiste",
                "OIM Port-au-Prince",
                ["rjeanbaptiste@iom.int"],
                ["+509 2943 0380", "+509 3701 2288"],
            ),
            Contact("Sophie Marchand", "OIM Haïti", ["smarchand@iom.int"], ["+509 2943 0381"]),
        ],
        language="fr",
        furniture=["Communiqué", "Amériques et Caraïbes", "Pour plus d", "mailto", "Marchand", "\u00a0", "  "],
    ),
    "iom-fr-communique-tunisie.txt": dict(
        title=("Tunisie : 1 500 migrants ont bénéficié de l’aide au retour volontaire depuis le début de l’année"),
        date="2023-06-12",
        openings=[
            "Tunis - Quelque 1 500 migrants",
            "Les départs se font par vols",
            "Dans les pays d’origine",
            "« Nous voyons beaucoup de jeunes",
        ],
        first=(
            "Tunis - Quelque 1 500 migrants originaires d’Afrique de l’Ouest et du Centre ont regagné leur pays "
            "depuis janvier avec l’appui du programme d’aide au retour volontaire et à la réintégration de l’OIM "
            "en Tunisie, soit presque autant que pendant toute l’année précédente."
        ),
        last=(
            "« Nous voyons beaucoup de jeunes qui avaient tout vendu pour partir. Revenir n’est pas un échec "
            "s’ils trouvent chez eux de quoi construire quelque chose », explique Leïla Ben Slimane, chargée de "
            "programme à l’OIM Tunisie."
        ),
        # Two people without a blank line between them, separated by "ou".
        contacts=[
            Contact("Karim Haddad", "OIM Tunis", ["khaddad@iom.int"], ["+216 71 860 312"]),
            Contact("Inès Ferchichi", "OIM Tunis", ["iferchichi@iom.int"], ["+216 71 860 313"]),
        ],
        language="fr",
        furniture=[
            "cookies",
            "Accepter",
            "Aller au contenu",
            "Accueil",
            "Communiqué",
            "Moyen-Orient et Afrique du Nord",
            "12 juin 2023",
            "Pour plus d",
            "Haddad",
            "Ferchichi",
        ],
    ),
    "iom-en-press-release-djibouti.txt": dict(
        title="Migrants Stranded in Obock Receive Emergency Water and Shelter as Summer Heat Peaks",
        date=None,
        openings=[
            "Djibouti - IOM, the International",
            "Most of the migrants are young men",
            "IOM mobile teams are visiting",
            '"Every summer we find people',
            "The response is funded",
        ],
        first=(
            "Djibouti - IOM, the International Organization for Migration, has started distributing water, food "
            "and shade shelters to more than 1,300 migrants stranded around the port town of Obock, where "
            "daytime temperatures have reached 47 degrees Celsius this month."
        ),
        last=(
            "The response is funded by the European Civil Protection and Humanitarian Aid Operations department (ECHO)."
        ),
        contacts=[Contact("Samuel Bekele", "IOM Djibouti", ["sbekele@iom.int"], ["+253 21 35 20 48"])],
        language="en",
        furniture=[
            "cookies",
            "Accept",
            "Press Release",
            "East and Horn of Africa",
            "For more information",
            "Bekele",
            "Back to top",
        ],
    ),
    "lexisveille-calais.txt": dict(
        title=(
            "Calais : le Conseil d'État suspend l'interdiction des distributions alimentaires aux exilés dans "
            "le centre-ville"
        ),
        date=None,
        openings=[
            "Saisi par plusieurs associations",
            "La préfecture du Pas-de-Calais",
            "L'ordonnance enjoint au préfet",
        ],
        first=(
            "Saisi par plusieurs associations d'aide aux exilés, le juge des référés du Conseil d'État a "
            "suspendu, le 6 février, l'arrêté préfectoral qui interdisait depuis l'automne toute distribution de "
            "repas et d'eau dans une vingtaine de rues du centre-ville de Calais. Le juge a estimé que la "
            "mesure, renouvelée à sept reprises, portait une atteinte grave et manifestement illégale à la "
            "dignité des personnes concernées, dès lors qu'aucune solution de substitution suffisante n'était "
            "organisée à proximité."
        ),
        last=(
            "L'ordonnance enjoint au préfet de réexaminer la situation dans un délai de quinze jours et condamne "
            "l'État à verser 3 000 euros aux associations requérantes au titre des frais de justice."
        ),
        contacts=[],
        language="fr",
        furniture=["icon", "Sketch", "Abonnés", "Partager", "À lire aussi", "Mineurs non accompagnés", "CNDA"],
    ),
    "lexisveille-titres-sejour.txt": dict(
        title=("Titres de séjour : un décret allonge la durée de validité des récépissés délivrés aux demandeurs"),
        date=None,
        openings=[
            "Un décret publié au Journal officiel",
            "Le récépissé autorise son titulaire",
            "Le décret entre en vigueur",
        ],
        first=(
            "Un décret publié au Journal officiel du 19 mars porte de quatre à six mois la durée de validité des "
            "récépissés remis aux étrangers qui sollicitent la délivrance ou le renouvellement d'un titre de "
            "séjour. Le texte entend tirer les conséquences de l'allongement des délais d'instruction constaté "
            "dans de nombreuses préfectures depuis la dématérialisation des démarches."
        ),
        last=(
            "Le décret entre en vigueur le 1er avril. Il s'applique aux récépissés délivrés à compter de cette "
            "date, ainsi qu'aux renouvellements des récépissés en cours de validité."
        ),
        contacts=[],
        language="fr",
        furniture=[
            "icon",
            "Avocode",
            "onlinewebfonts",
            "Offert",
            "Lire plus tard",
            "Imprimer",
            "Haut de page",
            "LexisNexis",
        ],
    ),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def page(request):
    name = request.param
    return EXPECTED[name], clean_page((PAGES / name).read_bytes())


def test_every_page_has_its_expectations():
    assert sorted(p.name for p in PAGES.glob("*.txt")) == sorted(EXPECTED)


def test_title(page):
    expected, article = page
    assert article.title == expected["title"]


def test_date(page):
    expected, article = page
    assert article.date == expected["date"]


def test_body_is_the_article_paragraphs(page):
    expected, article = page
    assert len(article.paragraphs) == len(expected["openings"])
    for paragraph, opening in zip(article.paragraphs, expected["openings"], strict=True):
        assert paragraph.startswith(opening)
    assert article.paragraphs[0] == expected["first"]
    assert article.paragraphs[-1] == expected["last"]
    assert article.body == "\n\n".join(article.paragraphs)


def test_no_furniture_in_title_or_body(page):
    expected, article = page
    for text in (article.title, article.body):
        for furniture in expected["furniture"]:
            assert furniture not in text, furniture


def test_title_is_not_repeated_in_the_body(page):
    expected, article = page
    assert all(expected["title"] not in p for p in article.paragraphs)


def test_contacts(page):
    expected, article = page
    assert article.contacts == expected["contacts"]


def test_is_an_article_in_its_language(page):
    expected, article = page
    assert article.is_article is True and article.reason is None
    assert article.language == expected["language"]
