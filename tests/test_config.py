"""flows.config: loading, validation messages, derived settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerts.settings import AlertRule, HealthAlertSettings, SmtpSettings
from errors import ConfigError
from flows.config.loader import config_path, load_config, parse_config
from flows.pipeline.context import fetch_settings, source_spec
from scrapers import profiles
from scrapers.profiles import Profile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "newswatch.example.yaml"


def write(tmp_path: Path, text: str, name: str = "newswatch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(text: str, tmp_path: Path) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_example_file_loads_with_the_real_sources() -> None:
    config = load_config(EXAMPLE)
    by_name = {s.name: s for s in config.sources}
    assert by_name["iom-fr"].url == "https://www.iom.int/fr/news"
    assert by_name["iom-en"].url == "https://www.iom.int/news"
    assert by_name["iom-fr"].profile == by_name["iom-en"].profile == "iom"
    hosts = {s.host for s in config.sources}  # scheme, host and port: the unit of host state
    assert {"https://www.iom.int:443", "https://www.apr-news.fr:443", "https://www.lexisveille.fr:443"} <= hosts
    assert sum(s.kind == "feed" for s in config.sources) >= 1
    assert config.user_agent.startswith("newswatch/")
    assert config.archive == EXAMPLE.parent / "data" / "archive.db"


def test_defaults_and_derived_fetch_settings(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
user_agent: "nw-test (+mailto:a@b.org)"
timeouts: {connect: 2, read: 7}
retries: {attempts: 4, backoff: 0.5, max_retry_after: 30}
sources:
  - {name: fr, url: "https://www.iom.int/fr/news", delay: 2}
  - {name: en, url: "https://www.iom.int/news", delay: 5}
  - {name: feed, url: "https://feeds.example.org/rss", expected_interval: 12h, enabled: false}
""",
        )
    )
    fr, en, feed = config.sources
    assert (fr.kind, fr.max_pages, fr.enabled) == (None, 5, True)
    assert feed.expected_interval == timedelta(hours=12)
    assert [s.name for s in config.enabled_sources()] == ["fr", "en"]
    assert config.archive == tmp_path / "data" / "archive.db"

    settings = fetch_settings(config)
    assert settings.user_agent == "nw-test (+mailto:a@b.org)"
    assert (settings.connect_timeout, settings.read_timeout) == (2, 7)
    assert (settings.attempts, settings.backoff_base, settings.max_retry_after) == (4, 0.5, 30)
    # One host, two sources: the longer delay applies to both.
    assert settings.host_delays["https://www.iom.int:443"] == 5


def test_profile_is_inferred_from_the_host(tmp_path: Path, monkeypatch) -> None:
    profiles._load()
    monkeypatch.setitem(profiles._REGISTRY, "testsite", Profile(name="testsite", hosts=("testsite.example",)))
    config = load_config(
        write(
            tmp_path,
            """
sources:
  - {name: a, url: "https://www.testsite.example/news"}
  - {name: b, url: "https://unknown.example/news"}
  - {name: c, url: "https://unknown.example/feed", profile: testsite}
""",
        )
    )
    assert [s.profile for s in config.sources] == ["testsite", "generic", "testsite"]
    assert source_spec(config.sources[0]).profile.name == "testsite"


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    message = error_of("sources:\n  - {name: a, url: 'https://x.org/', profile: imo}\n", tmp_path)
    assert "sources[0].profile" in message and "'imo'" in message
    assert "known profiles:" in message and "generic" in message


def test_bad_field_is_named_with_its_path(tmp_path: Path) -> None:
    message = error_of(
        """
sources:
  - {name: a, url: "https://a.org/"}
  - {name: b, url: "https://b.org/"}
  - {name: c, url: "https://c.org/", delay: -1}
""",
        tmp_path,
    )
    assert "sources[2].delay (source 'c')" in message
    assert "greater than or equal to 0" in message and "-1" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources:\n  - {name: a, url: 'ftp://a.org/'}\n", "sources[0].url"),
        ("sources:\n  - {name: a, url: 'https://a.org/', kind: rss}\n", "'listing', 'feed' or 'sitemap'"),
        ("sources:\n  - {url: 'https://a.org/'}\n", "sources[0].name: required, missing"),
        ("sources:\n  - {name: a, url: 'https://a.org/', delai: 2}\n", "sources[0].delai"),
        ("sources:\n  - {name: a, url: 'https://a.org/', expected_interval: soon}\n", "expected_interval"),
        ("retries: {attempts: 0}\n", "retries.attempts"),
        ("timeouts: {read: slow}\n", "timeouts.read"),
        ("user_agent: ''\n", "user_agent"),
        (
            "sources:\n  - {name: a, url: 'https://a.org/'}\n  - {name: a, url: 'https://b.org/'}\n",
            "sources[1].name: 'a' is already the name of another source",
        ),
        ("- just\n- a list\n", "expected a mapping of settings"),
    ],
)
def test_validation_messages(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(text, tmp_path)


def test_unknown_top_level_setting_is_a_typo(tmp_path: Path) -> None:
    assert "user_agnet: unknown setting" in error_of("user_agnet: x\n", tmp_path)


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    message = error_of("archive: a.db\nsources:\n  - name: a\n   url: x\n", tmp_path)
    assert "not valid YAML at line 4, column 4" in message


def test_smtp_alerts_and_health_alerts_are_typed_on_load(tmp_path: Path) -> None:
    """Every section is validated into the objects the code uses (issue 24): nothing is
    re-parsed where it is used."""
    config = load_config(
        write(
            tmp_path,
            """
smtp: {host: smtp.example.org, port: 587}
alerts:
  - {name: expulsions, query: expulsion}
  - {name: passeurs, query: passeurs, to: A@example.org, mode: digest}
health_alerts: {to: ops@example.org}
""",
        )
    )
    assert config.smtp == SmtpSettings(host="smtp.example.org", port=587)
    assert config.alerts == [AlertRule(name="passeurs", query="passeurs", to=("a@example.org",), mode="digest")]
    assert config.rule_errors == ("alert rule 'expulsions' set aside: to: required, missing",)
    assert config.health_alerts == HealthAlertSettings(to=("ops@example.org",))


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="copy newswatch.example.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_file_choice_argument_then_environment_then_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSWATCH_CONFIG", raising=False)
    assert config_path() == Path("newswatch.yaml")
    monkeypatch.setenv("NEWSWATCH_CONFIG", str(tmp_path / "env.yaml"))
    assert config_path() == tmp_path / "env.yaml"
    assert config_path("given.yaml") == Path("given.yaml")

    write(tmp_path, "archive: from-env.db\n", "env.yaml")
    assert load_config().archive == tmp_path / "from-env.db"


def test_absolute_archive_path_is_kept(tmp_path: Path) -> None:
    config = parse_config(f"archive: {tmp_path / 'a.db'}\n", tmp_path / "sub" / "n.yaml")
    assert config.archive == tmp_path / "a.db" and config.sources == []


def test_source_lookup_by_name(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "sources:\n  - {name: a, url: 'https://a.org/'}\n"))
    assert config.source("a").url == "https://a.org/"
    with pytest.raises(ConfigError, match="no source named 'b'.*configured: a"):
        config.source("b")


def test_schedules_default_to_every_30_minutes_and_daily_at_seven_paris(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "sources: []\n"))
    ingest, digest = config.schedules.ingest, config.schedules.digest
    assert (ingest.interval, ingest.cron, ingest.timezone) == (timedelta(minutes=30), None, "Europe/Paris")
    assert (digest.interval, digest.cron, digest.timezone) == (None, "0 7 * * *", "Europe/Paris")


def test_schedules_are_read_and_an_entry_left_out_keeps_its_default(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
schedules:
  ingest: {interval: 1m}
""",
        )
    )
    assert config.schedules.ingest.interval == timedelta(minutes=1)
    assert config.schedules.ingest.describe() == "every 1 min"
    assert config.schedules.digest.cron == "0 7 * * *"
    config = load_config(
        write(
            tmp_path,
            """
schedules:
  ingest: {cron: "*/30 6-22 * * MON-FRI", timezone: UTC}
  digest: {interval: 7200, enabled: false}
""",
        )
    )
    assert (config.schedules.ingest.cron, config.schedules.ingest.timezone) == ("*/30 6-22 * * MON-FRI", "UTC")
    assert config.schedules.digest.interval == timedelta(hours=2)
    assert config.schedules.digest.enabled is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schedules: {ingest: {interval: 30s}}\n", "schedules.ingest.interval: must be at least one minute"),
        ("schedules: {ingest: {interval: often}}\n", "schedules.ingest.interval: expected a duration"),
        ("schedules: {ingest: {cron: '0 7 * *'}}\n", "schedules.ingest.cron: not a cron expression"),
        ("schedules: {digest: {cron: '61 * * * *'}}\n", "schedules.digest.cron: not a cron expression"),
        (
            "schedules: {ingest: {interval: 1h, cron: '0 7 * * *'}}\n",
            'schedules.ingest: give either interval (e.g. "30m") or cron (e.g. "0 7 * * *"), not both',
        ),
        ("schedules: {ingest: {timezone: UTC}}\n", "schedules.ingest: give either interval"),
        (
            "schedules: {digest: {cron: '0 7 * * *', timezone: Paris}}\n",
            "schedules.digest.timezone: unknown time zone 'Paris'",
        ),
        ("schedules: {ingest: {every: 30m}}\n", "schedules.ingest.every: unknown setting"),
        ("schedules: {report: {interval: 1h}}\n", "schedules.report: unknown setting"),
    ],
)
def test_schedule_errors_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(text, tmp_path)


def test_every_section_is_checked_on_load_one_line_per_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
sources:
  - {name: a, url: "https://a.org/", delay: -1}
smtp: {host: mail.example.org, password: hunter2}
health_alerts: {to: ops}
schedules: {ingest: {interval: 10s}}
""",
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    lines = str(e.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    assert len(lines) == 4, lines
    text = str(e.value)
    assert "sources[0].delay (source 'a')" in text
    assert "smtp.password is not accepted in the config file" in text and "smtp.password_env" in text
    assert "hunter2" not in text
    assert "health_alerts.to: not an email address: 'ops'" in text
    assert "schedules.ingest.interval" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "smtp: {host: mail.example.org, security: tls}\n",
            "smtp.security: Input should be 'none', 'starttls' or 'ssl' (got 'tls')",
        ),
        ("smtp: {host: mail.example.org, sender: nobody}\n", "smtp.sender: not an email address: 'nobody'"),
        ("smtp: mail.example.org\n", "smtp: Input should be a valid dictionary"),
        (
            "smtp: {host: localhost}\nhealth_alerts: {to: [ops@example.org], cc: x@example.org}\n",
            "health_alerts.cc: unknown setting (a typo?)",
        ),
        ("health_alerts: {to: [ops@example.org]}\n", "health_alerts: needs an smtp: section"),
        ("alerts: {name: a, query: b}\n", "alerts: Input should be a valid list"),
    ],
)
def test_alert_sections_are_checked_on_load(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(text, tmp_path)


def test_a_bad_alert_rule_is_set_aside_with_its_name_and_the_others_load(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
smtp: {host: localhost}
alerts:
  - {name: good, query: passeurs, to: a@example.org}
  - {name: broken, query: 'passeurs AND', to: a@example.org}
  - {name: nobody, query: passeurs, to: a}
""",
        )
    )
    assert [r.name for r in config.alerts] == ["good"]
    assert [e.split(":")[0] for e in config.rule_errors] == [
        "alert rule 'broken' set aside",
        "alert rule 'nobody' set aside",
    ]
