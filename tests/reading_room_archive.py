"""A small archive with everything the reading room shows: articles with contacts and a
translation, a near-duplicate folded into its story, alert matches, rejected pages and source
runs. Built with the project's own functions, as an ingest run would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.settings import AlertRule
from core.article import Article, Contact
from errors import NotAnArticle, ServerError
from flows.pipeline.stages import store_batch
from storage import fetchstate
from storage.archive import Archive
from storage.outcomes import PageOutcome
from storage.records import Incoming

PASSEURS_TITLE = "L’OIM appelle à protéger les migrants exposés aux réseaux de passeurs en Méditerranée"
PASSEURS = [
    "Rome – L’Organisation internationale pour les migrations (OIM) a appelé aujourd’hui les États "
    "riverains de la Méditerranée centrale à renforcer la protection des migrants exposés aux réseaux "
    "de passeurs, après une série de naufrages au large de la Libye et de la Tunisie.",
    "Selon l’OIM, plus de 2 500 personnes ont perdu la vie en tentant la traversée depuis le début de "
    "l’année, et les survivants décrivent des violences systématiques de la part des trafiquants.",
    "L’Organisation demande que les opérations de recherche et de sauvetage soient renforcées et que "
    "les victimes de la traite bénéficient d’une assistance médicale, juridique et psychologique.",
]
PASSEURS_EN = [
    "Rome – The International Organization for Migration (IOM) today called on the states bordering "
    "the central Mediterranean to strengthen the protection of migrants exposed to smuggling networks.",
    "According to IOM, more than 2,500 people have lost their lives attempting the crossing since the "
    "beginning of the year.",
]
FRONTEX = [
    "Frontex a publié mardi ses chiffres trimestriels : les franchissements irréguliers des frontières "
    "extérieures de l’Union ont baissé de douze pour cent sur un an selon l’agence européenne.",
    "L’agence attribue cette baisse à la coopération renforcée avec les pays de départ et de transit, "
    "tandis que les organisations humanitaires dénoncent des refoulements aux frontières.",
]
IOM_FR = "http://www.iom.int/fr/news/loim-appelle-proteger-les-migrants?utm_source=rss&utm_medium=feed"
IOM_EN = "https://www.iom.int/news/iom-calls-protect-migrants"
RULES = [
    AlertRule(name="passeurs", query='passeurs OR "réseaux de passeurs"', to=["ana@example.org"]),
    AlertRule(name="frontex-apr", query="Frontex", to=["ana@example.org"], sources=["apr"], mode="digest"),
]
CONFIG = """\
archive: archive.db
sources:
  - {name: iom-fr, url: "https://www.iom.int/fr/news", kind: listing, expected_interval: 1d}
  - {name: iom-en, url: "https://www.iom.int/news", kind: listing}
  - {name: apr, url: "https://www.apr-news.fr/rss.xml", kind: feed, expected_interval: 1d}
alerts:
  - {name: passeurs, query: 'passeurs OR "réseaux de passeurs"', to: ana@example.org}
  - {name: frontex-apr, query: Frontex, to: ana@example.org, sources: [apr], mode: digest}
"""


def build(directory: Path) -> Path:
    """Write `newswatch.yaml` and `archive.db` into `directory`; returns the config's path."""
    now = datetime.now(UTC)
    today = now.isoformat(timespec="seconds")
    with Archive.open(directory / "archive.db") as archive:
        iom_fr = Article(
            title=PASSEURS_TITLE,
            date="2024-03-12",
            paragraphs=PASSEURS,
            language="fr",
            url=IOM_FR,
            translations={"en": IOM_EN},
            profile="iom",
            contacts=[Contact("Flavio Di Giacomo", "OIM Rome", ["fdigiacomo@iom.int"], ["+39 347 089 8996"])],
        )
        iom_en = Article(
            title="IOM calls to protect migrants from smuggling networks",
            date="2024-03-12",
            paragraphs=PASSEURS_EN,
            language="en",
            url=IOM_EN,
            translations={"fr": "https://www.iom.int/fr/news/loim-appelle-proteger-les-migrants"},
            profile="iom",
        )
        copy = Article(
            title="Méditerranée : l’OIM alerte sur les réseaux de passeurs",
            date="2024-03-13",
            paragraphs=PASSEURS + ["(APR) Publié par notre rédaction."],
            language="fr",
            url="https://www.apr-news.fr/actualites/oim-passeurs",
        )
        frontex = Article(
            title="Frontex : les franchissements irréguliers en baisse",
            date="2024-03-14",
            paragraphs=FRONTEX,
            language="fr",
            url="https://www.apr-news.fr/actualites/frontex-chiffres?fbclid=abc",
        )
        store_batch(
            archive, [Incoming(iom_fr, "iom-fr", fetched_at=today), Incoming(iom_en, "iom-en", fetched_at=today)], RULES
        )
        store_batch(
            archive, [Incoming(copy, "apr", fetched_at=today), Incoming(frontex, "apr", fetched_at=today)], RULES
        )
        state = archive
        fetchstate.record_pages(
            state,
            "apr",
            [
                PageOutcome("https://www.apr-news.fr/rubrique/societe", NotAnArticle("a listing of 12 links")),
                PageOutcome("https://www.apr-news.fr/rubrique/monde", NotAnArticle("a listing of 9 links")),
                PageOutcome(
                    "https://www.apr-news.fr/actualites/en-panne",
                    ServerError("https://www.apr-news.fr/actualites/en-panne", "HTTP 503", status=503),
                ),
            ],
        )
        long_ago = now - timedelta(days=2)
        fetchstate.record_run(state, "iom-fr", started_at=long_ago, finished_at=long_ago, ok=True, counts={"new": 1})
        fetchstate.record_run(state, "iom-en", started_at=now, ok=True, counts={"new": 1})
        fetchstate.record_run(
            state,
            "apr",
            started_at=now - timedelta(hours=3),
            finished_at=now - timedelta(hours=3),
            ok=True,
            counts={"new": 1},
        )
        fetchstate.record_run(
            state, "apr", started_at=now, ok=False, counts={"new": 0}, error="https://www.apr-news.fr/rss.xml: HTTP 503"
        )
    config = directory / "newswatch.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


# Words for the history's articles: each article a different draw, so none is a near-duplicate.
_WORDS = (
    "migrants frontière accueil centre départ retour traversée naufrage sauvetage programme "
    "financement rapport chiffres conseil ministre accord coopération camp réfugiés déplacés "
    "inondations sécheresse visa asile demandeurs police tribunal décision organisation mission"
).split()


def add_history(directory: Path, days: int = 30) -> None:
    """Give the archive of `build(directory)` a month behind it, as daily runs would have left
    it: iom-en an article every other day, apr one to three a day, iom-fr one a day until 12
    days ago, then silence (build's own run of 2 days ago aside), `passeurs` matching one in
    three: the picture of the reading room's home (tests/test_reading_room_browser.py, whose
    screenshot is docs/img/reading-room-picture.png)."""
    import random

    rng = random.Random(7)
    now = datetime.now(UTC)
    plan = {"iom-en": lambda d: d % 2 == 0, "apr": lambda d: True, "iom-fr": lambda d: d >= 12}
    n = 0
    with Archive.open(directory / "archive.db") as archive:
        for day in range(days - 1, 0, -1):
            when = now - timedelta(days=day)
            for source, publishes in plan.items():
                if not publishes(day):
                    continue
                items = []
                for _ in range(rng.randint(1, 3) if source == "apr" else 1):
                    n += 1
                    words = rng.sample(_WORDS, 12) + (["passeurs"] if n % 3 == 0 else [])
                    text = f"Note {n} du {when.date()} : " + " ".join(words) + f", {n * 37} personnes."
                    article = Article(
                        title=f"{source} {n}: {' '.join(words[:5])}",
                        date=when.date().isoformat(),
                        paragraphs=[text, " ".join(rng.sample(_WORDS, 20)) + f" ({n * 11} cas)."],
                        language="fr",
                        url=None,
                    )
                    url = f"https://{source}.example.org/news/{n}"
                    items.append(Incoming(article, source, url, when.isoformat(timespec="seconds")))
                store_batch(archive, items, RULES, now=when)
                fetchstate.record_run(archive, source, started_at=when, finished_at=when, ok=True, counts={"new": 1})
