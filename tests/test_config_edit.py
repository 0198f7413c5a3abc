"""`newswatch sources add|remove|import-opml` and `rules add`: newswatch.yaml edited in place,
comments and order kept, validated before saving."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fake_sites import rss_feed
from helpers import newswatch as run_newswatch
from httpserver import LocalServer, Reply, html

from flows.config.editor import ConfigEditError, ConfigFile, append_item, remove_item
from flows.config.loader import load_config
from flows.config.yaml_text import load_yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "newswatch.example.yaml").read_text(encoding="utf-8")
FEED_TYPE = "application/rss+xml; charset=utf-8"


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_adding_then_removing_a_source_gives_back_the_same_bytes():
    added = append_item(EXAMPLE, "sources", {"name": "nouvelle", "url": "https://example.org/rss", "kind": "feed"})
    assert comments(added) == comments(EXAMPLE)
    assert added.startswith(EXAMPLE[: EXAMPLE.index("# E-mail delivery")].rstrip("\n"))
    # the new source is the last of the list, before the commented-out alerts, in the file's style
    assert "\n\n  - name: nouvelle\n    url: https://example.org/rss\n    kind: feed\n\n# E-mail" in added
    assert [s["name"] for s in load_yaml(added)["sources"]][-2:] == ["infomigrants-fr", "nouvelle"]
    assert remove_item(added, "sources", 6) == EXAMPLE


def test_removing_a_source_takes_its_comment_and_keeps_the_others():
    names = [s["name"] for s in load_yaml(EXAMPLE)["sources"]]
    for index, name in enumerate(names):
        removed = remove_item(EXAMPLE, "sources", index)
        assert [s["name"] for s in load_yaml(removed)["sources"]] == names[:index] + names[index + 1 :]
        lost = set(comments(EXAMPLE)) - set(comments(removed))
        # each source's own description goes with it (infomigrants-fr has none); nothing else
        assert len(lost) == (0 if name == "infomigrants-fr" else 1), (name, lost)
        assert "\n\n\n" not in removed


def test_the_last_source_removed_leaves_an_empty_list():
    text = "archive: a.db  # here\nsources:\n  - name: only\n    url: https://example.org/\n# the end\n"
    assert remove_item(text, "sources", 0) == "archive: a.db  # here\nsources: []\n# the end\n"
    assert (
        append_item("sources: []  # none yet\n", "sources", {"name": "a", "url": "https://a.org/"})
        == "sources:\n  - name: a\n    url: https://a.org/\n"
    )


def test_a_rule_is_appended_as_a_new_alerts_section_when_there_is_none():
    config = ConfigFile(Path("newswatch.yaml"), EXAMPLE)
    config.add_rule(
        {"name": "passeurs", "query": 'passeurs OR "réseaux de passeurs"', "to": ["ana@example.org"], "mode": "digest"}
    )
    assert config.text.startswith(EXAMPLE)
    assert config.text[len(EXAMPLE) :] == (
        '\nalerts:\n  - name: passeurs\n    query: passeurs OR "réseaux de passeurs"\n'
        "    to: [ana@example.org]\n    mode: digest\n"
    )
    assert load_yaml(config.text)["alerts"][0]["query"] == 'passeurs OR "réseaux de passeurs"'
    config.validate()


def test_an_invalid_result_is_refused_before_saving(tmp_path):
    path = tmp_path / "newswatch.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = ConfigFile(path)
    config.add_rule({"name": "bad", "query": "migrants OR", "to": ["ana@example.org"]})
    with pytest.raises(ConfigEditError, match="column 12"):
        config.save()
    config = ConfigFile(path)
    config.add_source({"name": "neg", "url": "https://example.org/", "delay": -1.0})
    with pytest.raises(ConfigEditError, match=r"sources\[6\]\.delay"):
        config.save()
    assert path.read_text(encoding="utf-8") == EXAMPLE
    with pytest.raises(ConfigEditError, match="already"):
        ConfigFile(path).add_source({"name": "iom-fr", "url": "https://example.org/"})
    with pytest.raises(ConfigEditError, match="no source named 'nope'.*iom-fr, iom-en"):
        ConfigFile(path).remove_source("nope")


# ----------------------------------------------------------------------- the commands ---


def newswatch(*args: str, config: Path) -> subprocess.CompletedProcess:
    return run_newswatch(*args, "--config", config, cwd=ROOT)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    return path


def test_sources_add_checks_the_url_and_records_the_detected_kind(config, http_server: LocalServer):
    teasers = [(f"/actualites/article-{i}", f"Article {i}") for i in range(3)]
    http_server.routes["/rss.xml"] = Reply(body=rss_feed(http_server.base, teasers), content_type=FEED_TYPE)
    done = newswatch("sources", "add", "apr-local", http_server.url("/rss.xml"), "--delay", "0.5", config=config)
    assert done.returncode == 0, done.stderr
    assert "feed" in done.stdout and "3 article link(s)" in done.stdout
    source = load_config(config).source("apr-local")
    assert (source.kind, source.delay, source.url) == ("feed", 0.5, http_server.url("/rss.xml"))
    assert comments(config.read_text(encoding="utf-8")) == comments(EXAMPLE)
    assert [r.route for r in http_server.requests()] == ["/robots.txt", "/rss.xml"]  # checked once


@pytest.mark.slow  # a host that refuses connections: two commands wait out the retries (~15 s)
def test_sources_add_refuses_a_url_that_yields_nothing(config, http_server: LocalServer):
    http_server.routes["/empty"] = html("<html><body><p>Nothing here.</p></body></html>")
    done = newswatch("sources", "add", "empty", http_server.url("/empty"), "--kind", "listing", config=config)
    assert done.returncode == 1 and "0 article links" in done.stderr and "--force" in done.stderr
    assert config.read_text(encoding="utf-8") == EXAMPLE
    down = newswatch("sources", "add", "down", "http://127.0.0.1:9/rss.xml", config=config)
    assert down.returncode == 1 and "cannot connect" in down.stderr
    forced = newswatch(
        "sources", "add", "down", "http://127.0.0.1:9/rss.xml", "--kind", "feed", "--force", config=config
    )
    assert forced.returncode == 0, forced.stderr
    assert load_config(config).source("down").kind == "feed"


def test_sources_remove_and_rules_add(config):
    done = newswatch("sources", "remove", "lexisveille", config=config)
    assert done.returncode == 0, done.stderr
    assert [s.name for s in load_config(config).sources] == [
        "iom-fr",
        "iom-en",
        "apr-news",
        "lemonde-international",
        "infomigrants-fr",
    ]
    assert "# Lexis Veille (legal news watch)." not in config.read_text(encoding="utf-8")
    added = newswatch(
        "rules",
        "add",
        "traite",
        '"traite des êtres humains"',
        "--to",
        "ana@example.org",
        "--to",
        "ben@example.org",
        "--mode",
        "digest",
        config=config,
    )
    assert added.returncode == 0, added.stderr
    rule = load_yaml(config.read_text(encoding="utf-8"))["alerts"][0]
    assert rule == {
        "name": "traite",
        "query": '"traite des êtres humains"',
        "to": ["ana@example.org", "ben@example.org"],
        "mode": "digest",
    }
    bad = newswatch("rules", "add", "x", "migrants", "--to", "not-an-address", config=config)
    assert bad.returncode == 1 and "not an email address" in bad.stderr


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Exported from FreshRSS</title></head>
  <body>
    <outline text="Migrations" title="Migrations">
      <outline type="rss" text="InfoMigrants (fr)" title="InfoMigrants (fr)" xmlUrl="https://www.infomigrants.net/fr/rss" htmlUrl="https://www.infomigrants.net/fr"/>
      <outline type="rss" text="Le Monde &#8211; Afrique" xmlUrl="https://www.lemonde.fr/afrique/rss_full.xml"/>
      <outline type="rss" text="Le Monde &#8211; Afrique" xmlUrl="https://www.lemonde.fr/afrique/rss_une.xml"/>
    </outline>
    <outline type="rss" text="No URL here"/>
    <outline type="rss" title="Javascript" xmlUrl="javascript:alert(1)"/>
  </body>
</opml>
"""  # noqa: E501 (an exported OPML file as the reader writes it: one outline per line)


def test_import_opml_adds_each_new_feed_once(config, tmp_path):
    opml = tmp_path / "export.opml"
    opml.write_text(OPML, encoding="utf-8")
    done = newswatch("sources", "import-opml", str(opml), config=config)
    assert done.returncode == 0, done.stderr
    added = {s.name: s for s in load_config(config).sources[6:]}
    assert sorted(added) == ["le-monde-afrique", "le-monde-afrique-2"]
    assert all(s.kind == "feed" for s in added.values())
    assert "infomigrants" in done.stdout and "already configured" in done.stdout  # same URL as infomigrants-fr
    assert "javascript:alert(1)" in done.stdout and "skipped" in done.stdout
    again = newswatch("sources", "import-opml", str(opml), config=config)
    assert again.returncode == 0 and "0 source(s) added" in again.stdout
    assert comments(config.read_text(encoding="utf-8")) == comments(EXAMPLE)


def test_a_missing_smtp_section_is_said_one_way_by_rules_add_alerts_retry_and_digest(tmp_path, capsys, monkeypatch):
    """QA finding 9: rules add said nothing, alerts retry tried localhost:25 (the defaults),
    run said 'no smtp: section'. Now each says the same sentence; nothing is tried."""
    from alerts.settings import NO_SMTP
    from flows.cli.main import main

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    archive = tmp_path / "archive.db"
    config = tmp_path / "newswatch.yaml"
    config.write_text(f"archive: {archive}\nsources:\n  - {{name: a, url: 'http://127.0.0.1:9/feed.xml'}}\n")
    assert main(["rules", "add", "r1", "passeurs", "--to", "a@example.org", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("added alert rule r1") and err.startswith(f"newswatch rules: warning: {NO_SMTP}; "), err
    assert main(["alerts", "retry", "--config", str(config), "--archive", str(archive)]) == 1
    assert capsys.readouterr().err == f"newswatch alerts: {NO_SMTP}\n"
    assert main(["digest", "--config", str(config)]) == 1
    assert capsys.readouterr().err == f"newswatch digest: {NO_SMTP}\n"
    assert not archive.exists()
