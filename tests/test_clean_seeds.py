"""The five seed dumps (copies in tests/fixtures/seeds/) give the right articles."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapers.article import Contact
from scrapers.clean import clean_page

SEEDS = Path(__file__).resolve().parent / "fixtures" / "seeds"

# Per seed: title, date, the opening words of every body paragraph (so that nothing is
# missing, merged or split), the first and last paragraphs in full, the contacts, and
# strings of page furniture that must be nowhere in the title or body.
EXPECTED = {
    "000_90edce20d07f9177.txt": dict(
        title="Le Mexique et les Etats-Unis décident de renforcer leur coopération pour réduire l'immigration clandestine",
        date="2023-12-29",
        openings=[
            "Le Mexique et les Etats-Unis sont convenus",
            "Le président mexicain Andres Manuel",
            "Il précise que les deux pays",
            "\"Il s'agit notamment de renforcer",
            '"La coopération en cours comprend',
            "Les délégations des deux pays",
            "En novembre, le service des douanes",
            "Ces derniers jours, le flux de migrants",
        ],
        first=(
            "Le Mexique et les Etats-Unis sont convenus de renforcer leur collaboration pour s'attaquer aux "
            '"causes profondes" de la migration irrégulière et pour mettre fin à la traite des êtres humains, '
            "a annoncé jeudi le ministère mexicain des Affaires étrangères."
        ),
        last=(
            "Ces derniers jours, le flux de migrants à la frontière mexicaine avec les Etats-Unis a atteint des "
            "niveaux sans précédent, entre 10.000 et 12.000 par jour, ce qui a entraîné la fermeture partielle "
            "de certains points de passage."
        ),
        contacts=[],
        furniture=["Vous êtes ici", "Back to top", "APRNEWS", "Vendredi", "29 décembre 2023"],
    ),
    "001_5d8b6e210eb8e5b7.txt": dict(
        title=(
            "Le Fonds d’affectation spéciale des Nations Unies pour la sécurité humaine finance les efforts "
            "de l’OIM et de l’ONU pour améliorer la protection des migrants au Mexique"
        ),
        date=None,
        openings=[
            "Mexique - Par le biais du Sous-secrétariat",
            "Ce programme de deux ans",
            "Le Mexique est un pays d’origine",
            "Ce projet, qui a été élaboré",
            "Il a notamment pour objectif",
            "« Le gouvernement mexicain a déployé",
        ],
        first=(
            "Mexique - Par le biais du Sous-secrétariat pour les affaires relatives à la migration et au culte, "
            "de l’Institut national mexicain des migrations (INM) et de la Commission mexicaine pour l’aide aux "
            "réfugiés (COMAR), le Ministère mexicain de l’intérieur a signé une lettre d’intention avec l’OIM et "
            "les Nations Unies au Mexique en vue de mettre en œuvre un programme visant à protéger les migrants "
            "qui passent par le pays pour se rendre aux Etats-Unis."
        ),
        last=(
            "« Le gouvernement mexicain a déployé d’importants efforts pour améliorer la gestion des flux "
            "migratoires et pour encourager la participation active des institutions du gouvernement, de la "
            "société civile et des organisations internationales à ses efforts de protection des migrants "
            "vulnérables. Son soutien à ce projet met une fois de plus en évidence son engagement en faveur du "
            "bien-être des migrants en transit dans le pays », déclare Thomas Lothar Weiss, chef de mission de "
            "l’OIM au Mexique."
        ),
        contacts=[Contact("Jeremy MacGillivray", "OIM Mexique", ["jmacgillivray@iom.int"], ["+52 55 5536 3922"])],
        furniture=["Communiqué", "Global", "Pour plus d", "MacGillivray", "@", "+52"],
    ),
    "002_32ba10e994aa2da0.txt": dict(
        title=(
            "L’OIM au Mexique et le gouverneur de l’état mexicain de Veracruz travailleront ensemble sur le "
            "transit et la migration de retour"
        ),
        date=None,
        openings=[
            "Mexique - Thomas Lothar Weiss, chef de mission",
            "Veracruz est l’un des itinéraires",
            "La plupart de ces migrants voyagent",
            "Veracruz est également l’un des principaux",
            "Les récents débats avec les autorités",
            "La signature d’un accord de coopération",
            "« L’OIM au Mexique dirigera",
            "L’OIM au Mexique a récemment ouvert",
        ],
        first=(
            "Mexique - Thomas Lothar Weiss, chef de mission de l’OIM au Mexique, a rencontré, cette semaine, "
            "Javier Duarte de Ochoa, gouverneur de l’Etat de Veracruz, au sud du Mexique, pour débattre des "
            "intérêts de l’Etat et des problèmes les plus importants en matière de migration."
        ),
        last=(
            "L’OIM au Mexique a récemment ouvert une antenne à Acayucan, Veracruz, dans le cadre de son "
            "Programme d’aide au retour volontaire, qui est mise en œuvre en coordination étroite avec les "
            "autorités mexicaines de la migration."
        ),
        contacts=[Contact("José Ramón Cordoba", "OIM Mexique", ["jcordoba@iom.int"], ["+52 55 5536 3922"])],
        furniture=[
            "Qui sommes nous",
            "Structure",
            "Directrice générale",
            "Notre travail",
            "Partenariats",
            "Travailler avec nous",
            "Engagez-vous",
            "2030 AGENDA",
            "Pour plus d",
            "Cordoba",
        ],
    ),
    "003_151656dc25dff925.txt": dict(
        title=(
            "Les enjeux migratoires et la coopération policière et judiciaire dans la Manche et la mer du Nord "
            "au menu d'une réunion intergouvernementale"
        ),
        date=None,
        openings=[
            "Après le naufrage, le 24 novembre,",
            "Les États conviés ont réaffirmé",
            "Les États participants ont formulé",
        ],
        first=(
            "Après le naufrage, le 24 novembre, d'une embarcation qui tentait de rejoindre les côtes "
            "britanniques, causant la mort de 27 personnes, le ministre de l'Intérieur français a réuni le 28 "
            "novembre ces homologues belges et néerlandais, le secrétaire d'État allemand aux Affaires "
            "intérieures et le Secrétaire d'État belge à l'Asile et la Migration. Étaient également présents à "
            "cette réunion intergouvernementale de travail consacrée à la lutte contre l'immigration clandestine "
            "et les réseaux de passeurs, la Commissaire européenne aux Affaires Intérieures, la Directrice "
            "exécutive d'Europol et le Directeur exécutif de l'agence Frontex. L'occasion pour les participants "
            "d'échanger leurs points de vue sur la situation actuelle, ainsi que sur les réponses "
            "opérationnelles et structurelles possibles."
        ),
        last=(
            "Les États participants ont formulé des recommandations et pris des décisions, s'engageant dans une "
            "déclaration commune à accroître leur coopération en matière d'immigration et contre les réseaux de "
            "passeurs."
        ),
        contacts=[],
        furniture=["icon", "Avocode", "Sketch", "onlinewebfonts", "Offert"],
    ),
    "004_c16ea30f8e629c0b.txt": dict(
        title="L’OIM et l’Institut national mexicain des migrations organisent un atelier sur les « grupos beta »",
        date=None,
        openings=[
            "Un atelier de deux jours co-organisé",
            "Les Grupos Beta, une initiative",
            "En 2011, les Grupos Beta ont aidé",
            "L’atelier, qui s’est déroulé",
            "Au cours des quatre dernières années",
            "L’atelier comprenait un débat",
            "« En tant que l’un des pays",
            "L’atelier a été organisé dans le cadre",
        ],
        first=(
            "Un atelier de deux jours co-organisé par l’OIM au Mexique et par l’Institut national mexicain des "
            "migrations (INM) sur l’aide aux migrants fournie par les Grupos Beta de l’INM s’est terminé "
            "aujourd’hui par une visite à la frontière entre le Mexique et le Guatemala."
        ),
        last=(
            "L’atelier a été organisé dans le cadre de la seconde phase du programme régional de l’OIM visant à "
            "renforcer la capacité à protéger et aider les migrants vulnérables en Mésoamérique, coordonné par "
            "le Bureau régional de l’OIM au Costa Rica et financé par le Bureau de la population, des réfugiés "
            "et des migrations (PRM) du Département d’Etat américain."
        ),
        contacts=[
            Contact("Luis Flores", "OIM Tapachula", ["lflores@iom.int"], ["+52 962 642 5674", "+52 (1) 962 12 25 469"]),
            Contact("Hélène Le Goff", "OIM Mexico", ["hlegoff@iom.int"], ["+52 55 55 36 39 22"]),
        ],
        furniture=["Communiqué", "Global", "Pour plus d", "mailto", "Flores", "Goff", "\u00a0", "  "],
    ),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def seed(request):
    name = request.param
    return EXPECTED[name], clean_page((SEEDS / name).read_bytes())


def test_the_seed_copies_are_all_here():
    assert sorted(p.name for p in SEEDS.glob("*.txt")) == sorted(EXPECTED)


def test_title(seed):
    expected, article = seed
    assert article.title == expected["title"]


def test_date(seed):
    expected, article = seed
    assert article.date == expected["date"]


def test_body_is_the_article_paragraphs(seed):
    expected, article = seed
    assert len(article.paragraphs) == len(expected["openings"])
    for paragraph, opening in zip(article.paragraphs, expected["openings"]):
        assert paragraph.startswith(opening)
    assert article.paragraphs[0] == expected["first"]
    assert article.paragraphs[-1] == expected["last"]
    assert article.body == "\n\n".join(article.paragraphs)


def test_no_furniture_in_title_or_body(seed):
    expected, article = seed
    for text in (article.title, article.body):
        for furniture in expected["furniture"]:
            assert furniture not in text, furniture


def test_title_is_not_repeated_in_the_body(seed):
    expected, article = seed
    assert all(expected["title"] not in p for p in article.paragraphs)


def test_contacts(seed):
    expected, article = seed
    assert article.contacts == expected["contacts"]


def test_is_a_french_article(seed):
    _, article = seed
    assert article.is_article is True and article.reason is None
    assert article.language == "fr"
