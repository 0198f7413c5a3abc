"""Alerts once per story (alerts/match.py, storage/outbox.py, alerts/render.py): the outbox rows of
later versions, exactly-once delivery with them, the `per:` setting, upgraded archives.

The articles are the pages of tests/fixtures/story_pages/ (an IOM release in three languages
and two press rewrites: one story), cleaned and stored as a run stores them (`store_batch`),
into real archive files; emails go to a real SMTP server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from alerts.deliver import deliver_immediate
from alerts.email import send_email
from alerts.settings import AlertRule, load_alert_rules
from errors import SmtpUnavailable
from flows.cli.main import main
from flows.pipeline.stages import store_batch
from scrapers.clean import clean_page
from storage import migrations, schema, stories
from storage.archive import Archive
from storage.outbox import list_outbox, outbox_state
from storage.records import Incoming

PAGES = Path(__file__).resolve().parent / "fixtures" / "story_pages"
MANIFEST = {p["path"]: p for p in json.loads((PAGES / "manifest.json").read_text(encoding="utf-8"))["pages"]}
RELEASE_EN, RELEASE_FR, RELEASE_ES = (
    "iom-en/nouadhibou-centre.html",
    "iom-fr/centre-nouadhibou.html",
    ("iom-es/centro-nuadibu.html"),
)
COURIER, SAHEL = "courier/mauritania-migrant-centre-nouadhibou.html", "sahel/nouadhibou-centre-migrants.html"
ROSSO = "iom-en/rosso-centre.html"

STORY = AlertRule(name="mauritania", query="Mauritania OR Mauritanie", to=["ana@example.org"])
EACH = AlertRule(name="each", query="Mauritania OR Mauritanie", to=["ben@example.org"], per="article")


def incoming(path: str) -> Incoming:
    page = MANIFEST[path]
    url = f"https://{page['outlet']}.example.org/{Path(path).stem}"
    return Incoming(
        clean_page((PAGES / path).read_bytes(), url=url), page["outlet"], url, f"{page['day']}T12:00:00+00:00"
    )


@pytest.fixture
def archive(tmp_path):
    with Archive.open(tmp_path / "archive.db") as opened:
        yield opened


def store(archive: Archive, *paths: str, rules=(STORY, EACH)):
    return store_batch(archive, [incoming(p) for p in paths], list(rules))


def test_the_first_version_is_the_alert_and_the_later_ones_are_also_in_it(archive):
    result, matches = store(archive, RELEASE_EN, RELEASE_FR)
    alert, version = [m for m in matches if m.rule == "mauritania"]
    assert alert.also_in is None and version.also_in is not None
    assert alert.story_id == version.story_id == result.items[0].story_id == result.items[0].article_id
    assert [m.also_in for m in matches if m.rule == "each"] == [None, None]  # per: article
    # a later batch: the story's alert is found whatever batch or run recorded it
    _, later = store(archive, COURIER)
    (courier,) = [m for m in later if m.rule == "mauritania"]
    assert courier.also_in == version.also_in
    # the outbox counts what makes emails: one for ana (the story), one for ben (3 articles)
    state = outbox_state(archive, since="2000-01-01")
    assert (state.pending_emails, state.pending_matches) == (2, 4)


def test_later_versions_wait_for_the_next_alert_of_their_rule(archive, smtp_server):
    store(archive, RELEASE_EN, rules=[STORY])
    assert deliver_immediate(archive, smtp_server.settings, retry_delay=0).sent[0].match_count == 1
    store(archive, RELEASE_FR, RELEASE_ES, rules=[STORY])
    nothing = deliver_immediate(archive, smtp_server.settings, retry_delay=0)
    assert nothing.sent == [] and nothing.failed == [] and len(smtp_server.messages) == 1
    assert outbox_state(archive, since="2000-01-01").pending_emails == 0
    waiting = [e for e in list_outbox(archive, pending_only=True)]
    assert len(waiting) == 2 and all(e.also_in is not None for e in waiting)

    store(archive, ROSSO, rules=[STORY])  # another story: the rule's next alert
    report = deliver_immediate(archive, smtp_server.settings, retry_delay=0)
    (sent,) = report.sent
    assert (sent.match_count, sent.versions) == (1, 2)
    assert "1 match(es) and 2 later version(s) of their stories" in report.summary()
    text = smtp_server.messages[-1].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Stories already sent, now also in:\n  IOM Opens Migrant Response Centre in Nouadhibou" in text
    assert "iom-fr (fr): L’OIM ouvre un centre" in text and "iom-es (es): La OIM abre un centro" in text
    assert list_outbox(archive, pending_only=True) == []


def test_an_email_accepted_but_not_confirmed_is_sent_again_as_it_was_with_its_versions(archive, smtp_server):
    store(archive, RELEASE_EN, RELEASE_FR, rules=[STORY])

    def accepted_then_dropped(smtp, message):
        send_email(smtp, message)  # the server has it...
        error = SmtpUnavailable("SMTP server closed the connection (lost)")
        error.maybe_accepted = True  # ...but the acceptance never reached us
        raise error

    first = deliver_immediate(archive, smtp_server.settings, retry_delay=0, attempts=1, send=accepted_then_dropped)
    assert first.sent == [] and len(first.failed) == 1
    store(archive, RELEASE_ES, rules=[STORY])  # a version arrives meanwhile: not in the recorded email

    again = deliver_immediate(archive, smtp_server.settings, retry_delay=0)
    assert [(s.match_count, s.versions) for s in again.sent] == [(1, 1)]
    first_copy, second_copy = smtp_server.raw_messages
    assert first_copy == second_copy  # the very same email, Message-ID included
    assert "iom-fr (fr)" in smtp_server.messages[1].get_body(("plain",)).get_content()
    # the Spanish version waits for the rule's next alert; it made no email of its own
    (waiting,) = list_outbox(archive, pending_only=True)
    assert waiting.also_in is not None and waiting.source == "iom-es"
    assert deliver_immediate(archive, smtp_server.settings, retry_delay=0).sent == []
    assert len(smtp_server.messages) == 2


def test_a_story_renamed_by_a_split_or_a_merge_keeps_its_alert(archive):
    store(archive, RELEASE_EN, ROSSO, rules=[STORY])
    nouadhibou, rosso = (r[0] for r in archive.conn.execute("SELECT id FROM articles ORDER BY id"))
    stories.merge(archive, rosso, nouadhibou)  # the story is now named after the Rosso article
    _, matches = store(archive, RELEASE_FR, rules=[STORY])
    (french,) = matches
    assert stories.story_of(archive, french.article_id) == rosso
    assert french.also_in is not None  # a version of a story already alerted, not a new alert


def test_per_is_validated_like_the_rest_of_a_rule():
    rules, errors = load_alert_rules(
        [
            {"name": "ok", "query": "x", "to": "a@example.org", "per": "article"},
            {"name": "bad", "query": "x", "to": "a@example.org", "per": "event"},
        ]
    )
    assert [r.name for r in rules] == ["ok"] and rules[0].per == "article"
    assert str(errors[0]) == "alert rule 'bad' set aside: per: Input should be 'story' or 'article' (got 'event')"
    assert AlertRule(name="d", query="x", to=["a@example.org"]).per == "story"


def test_alerts_list_says_a_version_waits_for_the_next_email(archive, capsys, tmp_path):
    store(archive, RELEASE_EN, SAHEL, rules=[STORY])
    assert main(["alerts", "list", "--archive", str(tmp_path / "archive.db")]) == 0
    out = capsys.readouterr().out
    assert (
        "    a later version of IOM Opens Migrant Response Centre in Nouadhibou as Atlantic Arrivals Rise: "
        "to be listed as also in by the rule's next email"
    ) in out


def test_an_archive_upgraded_from_one_alert_per_article_keeps_its_outbox(tmp_path):
    path = tmp_path / "archive.db"
    with Archive.open(path) as archive:
        store(archive, RELEASE_EN, rules=[STORY])
        (alert_id,) = archive.conn.execute("SELECT id FROM alert_matches").fetchone()
    # The outbox as schema v16 left it: unique per (rule, recipient, story_id), no also_in.
    with sqlite3.connect(path) as conn:
        columns = "id, rule, recipient, story_id, article_id, mode, title, source, published, url, snippet, matched_at"
        rows = conn.execute(f"SELECT {columns} FROM alert_matches").fetchall()
        conn.execute("DROP TABLE alert_matches")
        for ddl in (migrations.V3_DDL, migrations.V5_DDL, migrations.V13_DDL):
            for statement in ddl.split(";"):
                if "alert_matches" in statement and "sent_emails (" not in statement:
                    conn.execute(statement)
        conn.executemany(f"INSERT INTO alert_matches ({columns}) VALUES ({', '.join('?' * 12)})", rows)
        conn.execute("DROP TABLE forgotten")  # v18, after it
        conn.execute("DELETE FROM schema_version WHERE version >= 17")
    with Archive.open(path) as archive:
        assert archive.schema_version == schema.LATEST
        (row,) = archive.conn.execute("SELECT id, also_in, email_id FROM alert_matches").fetchall()
        assert row == (alert_id, None, None)
        _, matches = store(archive, RELEASE_FR, rules=[STORY])
        assert [m.also_in for m in matches] == [alert_id]
        assert archive.check() == []
