"""Health alerts (alerts/health_notices.py): a real archive, a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from smtpserver import closed_port

from alerts.email import send_email
from alerts.health_notices import notify_unhealthy
from alerts.settings import HealthAlertSettings, SmtpSettings
from errors import ConfigError, SmtpUnavailable
from flows.config.loader import parse_config
from flows.pipeline.context import Archives
from flows.pipeline.end_of_run import send_health_alerts
from storage import fetchstate
from storage.archive import Archive
from storage.health import source_health
from storage.outbox import prepared_health_emails

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
OPS = HealthAlertSettings(to=["ops@example.org", "Oncall@Example.org"])
SOURCES = [("iom-fr", DAY), ("apr", DAY)]


class Runs:
    """Source runs written the way the ingest flow records them, and health judged at a time."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.state = archive

    def run(self, source: str, at: datetime, new: int = 0) -> None:
        fetchstate.record_run(
            self.state,
            source,
            started_at=at,
            finished_at=at + timedelta(seconds=30),
            ok=True,
            counts={"discovered": new, "new": new, "duplicates": 0, "not_articles": 0, "errors": 0},
        )

    def health(self, at: datetime) -> list:
        return source_health(self.archive, SOURCES, now=at)


@pytest.fixture
def runs(tmp_path):
    with Archive.open(tmp_path / "archive.db") as archive:
        yield Runs(archive)


def notify(runs: Runs, smtp: SmtpSettings, at: datetime):
    return notify_unhealthy(runs.archive, smtp, OPS, runs.health(at), retry_delay=0, now=at)


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_an_unhealthy_source_emails_each_recipient_once(runs, smtp_server):
    runs.run("iom-fr", T0)  # nothing new, ever
    runs.run("apr", T0 + 2 * DAY, new=3)
    report = notify(runs, smtp_server.settings, T0 + 3 * DAY)
    assert report.errors == [] and report.sent == ["ops@example.org", "oncall@example.org"]

    [ops] = smtp_server.to("ops@example.org")
    assert ops["Subject"] == "[newswatch] 1 unhealthy source: iom-fr"
    assert ops["Auto-Submitted"] == "auto-generated"
    body = text_of(ops)
    assert "== iom-fr ==" in body and "silent: nothing new in any of its 1 run(s)" in body
    assert "apr" not in body
    assert "<h2>iom-fr</h2>" in ops.get_body(("html",)).get_content()
    assert len(smtp_server.to("oncall@example.org")) == 1


def test_the_same_problem_does_not_email_again(runs, smtp_server):
    runs.run("iom-fr", T0)
    notify(runs, smtp_server.settings, T0 + 2 * DAY)
    runs.run("iom-fr", T0 + 3 * DAY)
    # The problem's sentence has changed (longer silence): still the same problem.
    again = notify(runs, smtp_server.settings, T0 + 4 * DAY)
    assert again.sent == [] and again.errors == []
    assert len(smtp_server.messages) == 2  # the first run's, one per recipient


def test_recovered_then_unhealthy_again_emails_again(runs, smtp_server):
    runs.run("iom-fr", T0)
    notify(runs, smtp_server.settings, T0 + 2 * DAY)
    runs.run("iom-fr", T0 + 2 * DAY, new=2)
    recovered = notify(runs, smtp_server.settings, T0 + 2 * DAY + timedelta(hours=1))
    assert recovered.sent == [] and recovered.cleared == 2  # one notice per recipient
    relapse = notify(runs, smtp_server.settings, T0 + 5 * DAY)
    assert relapse.sent == ["ops@example.org", "oncall@example.org"]
    first, second = smtp_server.to("ops@example.org")
    assert "silent: nothing new in any" in text_of(first)
    assert "silent: nothing new since 2026-11-03T08:00:30+00:00" in text_of(second)


def test_smtp_down_marks_nothing_and_the_next_run_sends(runs, smtp_server):
    down = SmtpSettings(host="127.0.0.1", port=closed_port(), sender="newswatch@test.example", timeout=5)
    runs.run("iom-fr", T0)
    failed = notify(runs, down, T0 + 2 * DAY)
    assert failed.sent == [] and len(failed.errors) == 2
    assert f"127.0.0.1:{down.port}" in failed.errors[0] and "oncall@example.org: not tried" in failed.errors[1]
    assert runs.archive.conn.execute("SELECT count(*) FROM health_notices").fetchone()[0] == 0

    later = notify(runs, smtp_server.settings, T0 + 2 * DAY + timedelta(minutes=30))
    assert later.sent == ["ops@example.org", "oncall@example.org"] and len(smtp_server.messages) == 2
    assert notify(runs, smtp_server.settings, T0 + 3 * DAY).sent == []


def test_a_health_email_is_recorded_before_sending_and_sent_again_as_it_was(runs, smtp_server):
    """Health emails go through the outbox like alert emails (issue 24): recorded before the
    SMTP transaction; when the connection breaks after the server may have accepted it, the
    next check sends those very bytes again (same Message-ID), and only then are the problems
    told. A refused or unreachable email is not kept: the next check renders it afresh."""
    runs.run("iom-fr", T0)
    calls = []

    def accepted_then_dropped(smtp, message):
        calls.append(message)
        send_email(smtp, message)  # the server has it...
        error = SmtpUnavailable("SMTP server closed the connection (lost)")
        error.maybe_accepted = True  # ...but the acceptance never reached us
        raise error

    ops_only = HealthAlertSettings(to=["ops@example.org"])
    first = notify_unhealthy(
        runs.archive,
        smtp_server.settings,
        ops_only,
        runs.health(T0 + 2 * DAY),
        attempts=1,
        retry_delay=0,
        send=accepted_then_dropped,
        now=T0 + 2 * DAY,
    )
    assert first.sent == [] and "closed the connection" in first.errors[0]
    assert runs.archive.conn.execute("SELECT count(*) FROM health_notices").fetchone()[0] == 0
    [recorded] = prepared_health_emails(runs.archive, "ops@example.org")

    again = notify_unhealthy(
        runs.archive, smtp_server.settings, ops_only, runs.health(T0 + 3 * DAY), retry_delay=0, now=T0 + 3 * DAY
    )
    assert again.sent == ["ops@example.org"]
    first_copy, second_copy = smtp_server.raw_messages
    assert second_copy == first_copy == recorded.message  # the same email, byte for byte
    assert prepared_health_emails(runs.archive, "ops@example.org") == []
    assert runs.archive.conn.execute("SELECT count(*) FROM health_notices").fetchone()[0] == 1
    assert notify(runs, smtp_server.settings, T0 + 3 * DAY).sent == ["oncall@example.org"]  # told once

    down = SmtpSettings(host="127.0.0.1", port=closed_port(), sender="newswatch@test.example", timeout=5)
    runs.run("apr", T0)
    notify_unhealthy(runs.archive, down, ops_only, runs.health(T0 + 4 * DAY), retry_delay=0, now=T0 + 4 * DAY)
    assert prepared_health_emails(runs.archive, "ops@example.org") == []  # never sent: not kept


def test_a_refused_recipient_is_retried_alone(runs, smtp_server):
    runs.run("iom-fr", T0)
    smtp_server.refuse_next(1, "550 5.1.1 no such user")
    first = notify(runs, smtp_server.settings, T0 + 2 * DAY)
    assert first.sent == ["oncall@example.org"] and "550" in first.errors[0]
    second = notify(runs, smtp_server.settings, T0 + 2 * DAY + timedelta(minutes=30))
    assert second.sent == ["ops@example.org"]
    assert sorted(m["To"] for m in smtp_server.messages) == ["oncall@example.org", "ops@example.org"]


def test_a_new_problem_of_a_notified_source_emails_again(runs, smtp_server):
    runs.run("iom-fr", T0)
    notify(runs, smtp_server.settings, T0 + 2 * DAY)
    health = runs.health(T0 + 2 * DAY)
    health[0].problems.append("empty pages: the run ending ... fetched 5 page(s) and got no article")
    report = notify_unhealthy(runs.archive, smtp_server.settings, OPS, health, retry_delay=0)
    assert len(report.sent) == 2
    assert "empty pages" in text_of(smtp_server.to("ops@example.org")[-1])


def test_the_email_escapes_html_and_keeps_headers_on_one_line(runs, smtp_server):
    health = [
        {
            "source": "evil\r\nBcc: victim@example.org",
            "healthy": False,
            "problems": ["tiny bodies: <script>alert(1)</script> & co"],
        }
    ]
    report = notify_unhealthy(runs.archive, smtp_server.settings, OPS, health, retry_delay=0)
    assert len(report.sent) == 2
    [raw] = [r for r in smtp_server.raw_messages if b"To: ops@example.org" in r]
    assert b"\nBcc:" not in raw
    [ops] = smtp_server.to("ops@example.org")
    assert ops["Bcc"] is None and "\n" not in ops["Subject"]
    html = ops.get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html and "<script>" not in html


def test_the_ingest_task_reports_smtp_errors_in_the_run_summary(tmp_path, smtp_server):
    path = tmp_path / "archive.db"
    with Archive.open(path) as archive:
        Runs(archive).run("iom-fr", datetime.now(UTC) - 3 * DAY)
        health = [h.to_dict() for h in source_health(archive, SOURCES)]
    down = SmtpSettings(host="127.0.0.1", port=closed_port(), sender="newswatch@test.example", timeout=5)
    archives = Archives(path)
    try:
        sent, errors = send_health_alerts(archives, down, HealthAlertSettings(to="ops@example.org"), health)
        assert sent == 0 and errors[0].startswith("health alert to ops@example.org: cannot reach SMTP server")
        sent, errors = send_health_alerts(
            archives, smtp_server.settings, HealthAlertSettings(to="ops@example.org"), health
        )
        assert (sent, errors) == (1, []) and len(smtp_server.messages) == 1
    finally:
        archives.close()


def test_health_alerts_section_is_validated(tmp_path):
    config = parse_config(
        "smtp: {host: localhost}\nhealth_alerts:\n  to: [OPS@example.org]\n", tmp_path / "newswatch.yaml"
    )
    assert config.health_alerts.to == ("ops@example.org",)
    assert parse_config("{}", tmp_path / "n.yaml").health_alerts is None
    with pytest.raises(ConfigError, match="health_alerts.to: not an email address: 'ops'"):
        parse_config("smtp: {host: localhost}\nhealth_alerts: {to: ops}\n", tmp_path / "n.yaml")
    with pytest.raises(ConfigError, match="health_alerts.cc: unknown setting"):
        parse_config(
            "smtp: {host: localhost}\nhealth_alerts: {to: ops@example.org, cc: x@example.org}\n", tmp_path / "n.yaml"
        )


@pytest.mark.flow
def test_ingest_flow_emails_a_source_whose_pages_stop_being_articles_once(
    tmp_path, http_server, smtp_server, prefect_harness
):
    """The whole path under real Prefect: a site redesign makes every page a listing (no
    article), the run's health says so, ops get one email; the next run sends none."""
    from fake_sites import iom_listing_page, rss_feed
    from httpserver import Reply, html

    from flows.config.yaml_text import dump_yaml
    from flows.orchestration.ingest_flow import ingest, summary_of

    paths = [f"/news/redesigned-{i}" for i in range(4)]
    http_server.routes["/robots.txt"] = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")
    http_server.routes["/feed.xml"] = Reply(
        body=rss_feed(http_server.base, [(p, f"Titre {p}") for p in paths]), content_type="application/rss+xml"
    )
    for p in paths:  # what a broken page looks like to the cleaner: teasers, no article
        http_server.routes[p] = html(
            iom_listing_page([(f"/news/other-{p[-1]}-{j}", f"Autre titre {j}") for j in range(6)])
        )
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        dump_yaml(
            {
                "archive": str(tmp_path / "archive.db"),
                "sources": [
                    {
                        "name": "redesigned",
                        "url": http_server.url("/feed.xml"),
                        "kind": "feed",
                        "profile": "iom",
                        "delay": 0,
                    }
                ],
                "smtp": {"host": "127.0.0.1", "port": smtp_server.settings.port, "sender": "newswatch@localhost"},
                "health_alerts": {"to": ["ops@example.org"]},
            }
        ),
        encoding="utf-8",
    )

    # The source yields nothing (WARNING): each run's flow run is Failed, the summary its data.
    first = summary_of(ingest(str(config), return_state=True))
    second = summary_of(ingest(str(config), return_state=True))
    assert first is not None and second is not None

    [report] = first["sources"]
    assert report["new"] == 0 and report["not_articles"] == 4, report
    [health] = first["health"]
    assert not health["healthy"] and any("article" in p for p in health["problems"]), health
    assert first["health_alerts_sent"] == 1  # emails
    assert second["health_alerts_sent"] == 0
    [message] = smtp_server.to("ops@example.org")
    assert message["Subject"] == "[newswatch] 1 unhealthy source: redesigned"
    assert "redesigned" in text_of(message)


def test_a_source_whose_host_is_down_is_unhealthy_in_each_run_and_emailed_once(tmp_path, smtp_server, capsys):
    """Runs without Prefect (flows.pipeline.ingest.ingest_run) against a port nothing listens on:
    the run's health says failing, ops get one email for it, `newswatch sources` flags it."""
    from flows.cli.main import main
    from flows.config.loader import load_config
    from flows.config.yaml_text import dump_yaml
    from flows.pipeline.ingest import ingest_run

    config = tmp_path / "newswatch.yaml"
    config.write_text(
        dump_yaml(
            {
                "archive": str(tmp_path / "archive.db"),
                "timeouts": {"connect": 2, "read": 2, "total": 10},
                "retries": {"attempts": 1},
                "sources": [
                    {"name": "down", "url": f"http://127.0.0.1:{closed_port()}/feed.xml", "kind": "feed", "delay": 0}
                ],
                "smtp": {
                    "host": "127.0.0.1",
                    "port": smtp_server.settings.port,
                    "sender": "newswatch@localhost",
                    "password_env": None,
                },
                "health_alerts": {"to": ["ops@example.org"]},
            }
        ),
        encoding="utf-8",
    )

    first, second = (ingest_run(load_config(config)).to_dict() for _ in range(2))

    assert [s["state"] for s in first["sources"] + second["sources"]] == ["failed", "failed"]
    [health] = first["health"]
    assert [p.split(":")[0] for p in health["problems"]] == ["failing"] and not health["healthy"]
    assert second["health"][0]["problems"][0].startswith("failing: 2 consecutive runs failed since ")
    assert (first["health_alerts_sent"], second["health_alerts_sent"]) == (1, 0)
    [message] = smtp_server.to("ops@example.org")
    assert "failing: its last run failed" in text_of(message)

    assert main(["sources", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  state: FAILED" in out
    assert any(line.startswith("  UNHEALTHY: failing: 2 consecutive runs failed since ") for line in out)
    assert "  health: ok" not in out
