"""`newswatch rules list|add|remove` and `sources remove`: every rule either works or is refused,
in the config file edited in place (comments kept), against a real archive's outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import newswatch as run_newswatch

from core.article import Article
from flows.config.loader import load_config
from flows.config.yaml_text import load_yaml
from storage.archive import Archive
from storage.outbox import NewMatch, add_match
from storage.records import Incoming

CONFIG = """\
# the team's watch
archive: archive.db
sources:
  - name: iom-fr
    url: https://www.iom.int/fr/news
  - name: apr
    url: https://www.apr-news.fr/rss.xml   # the press
  - name: lexis
    url: https://www.lexisveille.fr/
alerts:
  # smugglers, from every source
  - name: passeurs
    query: 'passeurs OR "réseaux de passeurs"'
    to: [ana@example.org]
  # the press only
  - name: frontex
    query: Frontex
    to: [ana@example.org, ben@example.org]
    mode: digest
    sources: [apr]
  - {name: lexis-iom, query: 'OIM source:lexis', to: ana@example.org, sources: [lexis, iom-fr]}
"""


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def cli(*args: str) -> tuple[int, str, str]:
    done = run_newswatch(*args)
    return done.returncode, done.stdout, done.stderr


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_rules_add_refuses_what_cannot_work_and_says_where(config):
    cases = [
        ("r5", "site:iom passeurs", [], "column 6: 'iom' is not a host name"),
        ("r6", "passeurs or traite", [], "column 10: 'or' in lower case"),
        ("r7", '"passeurs Manche"~3', [], 'column 18: "…"~N is not how proximity is written'),
        ("r8", "intext:passeurs", [], "unknown operator intext:"),
        ("r9", "passeurs", ["--source", "nosuch"], "sources: names 'nosuch', not configured (configured: iom-fr"),
        ("r10", "passeurs", ["--source", "apr,nosuch"], "the rule would watch less than it says"),
        ("r11", "passeurs source:nosuch", [], "source:nosuch is not a configured source"),
    ]
    for name, query, extra, says in cases:
        status, _, err = cli("rules", "add", name, query, "--to", "ana@example.org", *extra, "--config", str(config))
        assert status == 1 and says in err, (query, err)
        assert "not saved" in err
    assert config.read_text(encoding="utf-8") == CONFIG


def test_rules_add_takes_operators_comma_separated_recipients_and_sources(config):
    status, out, err = cli(
        "rules",
        "add",
        "r5",
        "site:iom.int title:passeurs",
        "--to",
        "ana@example.org, ben@example.org",
        "--to",
        "cy@example.org",
        "--source",
        "iom-fr,apr",
        "--config",
        str(config),
    )
    assert status == 0, err
    rule = load_config(config).alerts[-1]
    assert (rule.name, rule.query, rule.to, rule.sources) == (
        "r5",
        "site:iom.int title:passeurs",
        ("ana@example.org", "ben@example.org", "cy@example.org"),
        ("iom-fr", "apr"),
    )
    assert config.read_text(encoding="utf-8").startswith(CONFIG)


def test_a_rule_naming_a_source_not_configured_is_set_aside_at_load(tmp_path):
    path = tmp_path / "newswatch.yaml"
    path.write_text(CONFIG.replace("sources: [apr]", "sources: [apr-news]"), encoding="utf-8")
    config = load_config(path)
    assert [r.name for r in config.alerts] == ["passeurs", "lexis-iom"]
    assert config.rule_errors == (
        "alert rule 'frontex' set aside: sources: names 'apr-news', not configured "
        "(configured: iom-fr, apr, lexis); the rule would watch nothing",
    )
    path.write_text(CONFIG.replace("sources: [apr]", "sources: []"), encoding="utf-8")
    assert "sources: is empty" in load_config(path).rule_errors[0]


def test_rules_list_says_what_each_rule_matched_lately(config):
    now = datetime.now(UTC)
    with Archive.open(config.parent / "archive.db") as archive:
        ids = archive.add_batch(
            [
                Incoming(
                    Article(f"Passeurs {i}", None, [f"Texte {i} sur les passeurs."], url=f"https://a.org/{i}"), "apr"
                )
                for i in range(3)
            ]
        ).new_ids
        with archive.transaction():
            for article_id, days in zip(ids, (40, 3, 1), strict=True):
                match = NewMatch(
                    "passeurs", "ana@example.org", "immediate", article_id, article_id, "t", "apr", None, "u", ""
                )
                add_match(archive, match, now=now - timedelta(days=days))
    status, out, _ = cli("rules", "list", "--config", str(config))
    assert status == 0
    last = (now - timedelta(days=1)).isoformat(timespec="seconds")[:16]
    lines = out.splitlines()
    assert lines[0] == """passeurs  passeurs OR "réseaux de passeurs\""""
    assert lines[1] == "  immediate to ana@example.org; sources: all"
    assert lines[2].startswith("  2 match(es) in the last 30 days, last " + last)
    assert lines[3:6] == [
        "frontex  Frontex",
        "  digest to ana@example.org, ben@example.org; sources: apr",
        "  0 match(es) in the last 30 days, last never",
    ]
    assert lines[6:8] == ["lexis-iom  OIM source:lexis", "  immediate to ana@example.org; sources: lexis, iom-fr"]
    status, out, _ = cli("rules", "list", "--json", "--config", str(config))
    assert '"matches_30d": 2' in out.splitlines()[0]


def test_rules_remove_edits_the_file_in_place(config):
    status, out, _ = cli("rules", "remove", "frontex", "--config", str(config))
    assert status == 0 and out.startswith("removed alert rule frontex from")
    text = config.read_text(encoding="utf-8")
    assert [r["name"] for r in load_yaml(text)["alerts"]] == ["passeurs", "lexis-iom"]
    assert "# the press only" not in text and comments(text) == ["# the team's watch", "# smugglers, from every source"]
    status, _, err = cli("rules", "remove", "frontex", "--config", str(config))
    assert status == 1 and "no alert rule named 'frontex'" in err and "configured: passeurs, lexis-iom" in err


def test_sources_remove_refuses_a_source_rules_name_and_force_says_which_rules_it_empties(config):
    status, _, err = cli("sources", "remove", "apr", "--config", str(config))
    assert status == 1
    assert "source apr not removed: alert rule(s) name it: frontex (sources: apr)" in err and "--force" in err
    assert config.read_text(encoding="utf-8") == CONFIG
    status, out, _ = cli("sources", "remove", "apr", "--force", "--config", str(config))
    assert status == 0, out
    assert "alert rule frontex is left with no source (sources: []): it is set aside" in out
    loaded = load_config(config)
    assert [s.name for s in loaded.sources] == ["iom-fr", "lexis"]
    assert [r.name for r in loaded.alerts] == ["passeurs", "lexis-iom"]
    assert "sources: is empty" in loaded.rule_errors[0]
    assert "# the press only" in config.read_text(encoding="utf-8")  # the rule's comment stays

    status, out, _ = cli("sources", "remove", "iom-fr", "--force", "--config", str(config))
    assert status == 0 and "alert rule lexis-iom now watches lexis" in out
    assert load_config(config).alerts[-1].sources == ("lexis",)
    status, out, _ = cli("sources", "remove", "lexis", "--force", "--config", str(config))
    assert "alert rule lexis-iom is left with no source" in out
    assert "alert rule lexis-iom says source:lexis in its query: it is set aside" in out


def test_search_refuses_an_operator_it_does_not_know(tmp_path):
    archive = tmp_path / "archive.db"
    Archive.open(archive).close()
    status, _, err = cli("search", "inurl:news", "passeurs", "--archive", str(archive))
    assert status == 1 and err.startswith("newswatch search: bad query at column 1: unknown operator inurl:")
