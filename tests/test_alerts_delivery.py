"""Alerts end to end: archive + outbox in one transaction, delivery to a real SMTP server."""

from __future__ import annotations

import pytest
from smtpserver import closed_port

from alerts.deliver import deliver_digest, deliver_immediate
from alerts.settings import AlertRule, SmtpSettings
from core.article import Article
from flows.pipeline.stages import store_batch
from storage.archive import Archive
from storage.outbox import list_outbox
from storage.records import Incoming

VOCABULARY = (
    "autorités opération services région organisations assistance médicale juridique "
    "enquêteurs investigations dossier semaines soutien personnes frontière désert "
    "côte ville village camp école hôpital route bateau rapport chiffres"
).split()


def filler(n: int) -> str:
    """80 words that differ from one n to another: distinct articles are not near-duplicates."""
    return " ".join(VOCABULARY[(n * 7 + i * (n + 3)) % len(VOCABULARY)] for i in range(80)) + "."


def article(n: int, title: str, text: str, source: str = "iom-fr") -> Incoming:
    body = [text, filler(n)]
    return Incoming(
        Article(title=title, date=f"2024-03-{n:02d}", paragraphs=body, url=f"https://{source}.example.org/news/{n}"),
        source=source,
    )


RULES = [
    AlertRule(name="passeurs", query='passeurs OR "réseaux de passeurs"', to=["ana@example.org", "ben@example.org"]),
    AlertRule(name="traite", query='"traite des êtres humains"', to=["ben@example.org"]),
    AlertRule(name="frontex-weekly", query="Frontex", to=["cat@example.org"], mode="digest"),
]


@pytest.fixture
def archive(tmp_path):
    with Archive.open(tmp_path / "archive.db") as a:
        yield a


def ingest(archive, items, rules=RULES):
    return store_batch(archive, items, rules)


def deliver(archive, smtp: SmtpSettings, **kw):
    return deliver_immediate(archive, smtp, retry_delay=0, **kw)


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_right_articles_per_rule_and_recipient(archive, smtp_server):
    ingest(
        archive,
        [
            article(1, "Démantèlement d'un réseau", "Un réseau de passeurs démantelé à Agadez."),
            article(2, "Journée mondiale", "Lutte contre la traite des êtres humains au Niger."),
            article(3, "Sans rapport", "La saison des pluies commence au Sahel."),
            article(4, "Frontex", "Frontex publie ses chiffres."),
        ],
    )
    report = deliver(archive, smtp_server.settings)
    assert report.ok and len(report.sent) == 2

    [ana] = smtp_server.to("ana@example.org")
    assert "Démantèlement d'un réseau" in text_of(ana)
    assert "Journée mondiale" not in text_of(ana) and "Sans rapport" not in text_of(ana)
    assert ana["Subject"] == "[newswatch] 1 new article for passeurs: Démantèlement d'un réseau"

    [ben] = smtp_server.to("ben@example.org")
    body = text_of(ben)
    assert (
        body.index("== passeurs (1) ==")
        < body.index("Démantèlement")
        < body.index("== traite (1) ==")
        < body.index("Journée mondiale")
    )
    assert ben["Subject"] == "[newswatch] 2 new articles for passeurs, traite"
    assert smtp_server.to("cat@example.org") == []  # digest rule: waits for the digest


def test_refused_twice_then_accepted_sends_each_email_exactly_once(archive, smtp_server):
    one_recipient = [AlertRule(name="passeurs", query="passeurs", to=["ana@example.org"])]
    ingest(archive, [article(1, "Passeurs arrêtés", "Des passeurs arrêtés à Agadez.")], one_recipient)
    smtp_server.refuse_next(2)
    first = deliver(archive, smtp_server.settings, attempts=1)
    assert [f.temporary for f in first.failed] == [True] and "451" in first.failed[0].error
    second = deliver(archive, smtp_server.settings, attempts=1)
    assert second.failed and smtp_server.messages == []
    third = deliver(archive, smtp_server.settings, attempts=1)
    assert [s.recipient for s in third.sent] == ["ana@example.org"]
    assert deliver(archive, smtp_server.settings).sent == []
    assert smtp_server.refused == 2 and [m["To"] for m in smtp_server.messages] == ["ana@example.org"]
    [entry] = list_outbox(archive)
    assert entry.sent_at is not None and entry.attempts == 3


def test_temporary_refusals_within_one_delivery_are_retried(archive, smtp_server):
    ingest(archive, [article(1, "Passeurs arrêtés", "Des passeurs arrêtés à Agadez.")])
    smtp_server.refuse_next(2)
    report = deliver(archive, smtp_server.settings, attempts=3)
    assert report.ok and len(smtp_server.messages) == 2 and smtp_server.refused == 2


def test_smtp_down_keeps_alerts_pending_then_sends_once(archive, smtp_server):
    down = SmtpSettings(host="127.0.0.1", port=closed_port(), sender="newswatch@test.example", timeout=5)
    result, recorded = ingest(archive, [article(1, "Passeurs arrêtés", "Des passeurs arrêtés.")])
    report = deliver(archive, down)
    assert result.counts["new"] == 1 and archive.get(result.new_ids[0]) is not None
    assert {f.recipient for f in report.failed} == {"ana@example.org", "ben@example.org"}
    assert f"127.0.0.1:{down.port}" in report.failed[0].error
    assert len(list_outbox(archive, pending_only=True)) == len(recorded) == 2

    ingest(archive, [article(2, "Autre passeur", "Un passeur condamné.")])
    report = deliver(archive, smtp_server.settings)
    assert report.ok and [s.match_count for s in report.sent] == [2, 2]
    assert deliver(archive, smtp_server.settings).sent == []
    assert len(smtp_server.messages) == 2 and list_outbox(archive, pending_only=True) == []


def test_rerun_of_the_same_batch_sends_nothing_more(archive, smtp_server):
    items = [article(1, "Passeurs arrêtés", "Des passeurs arrêtés.")]
    ingest(archive, items)
    deliver(archive, smtp_server.settings)
    _, recorded = ingest(archive, items)
    assert recorded == []
    assert deliver(archive, smtp_server.settings).sent == []
    assert len(smtp_server.messages) == 2


def test_near_duplicate_of_an_alerted_story_does_not_alert_again(archive, smtp_server):
    original = article(1, "Passeurs arrêtés", "Des passeurs arrêtés à Agadez mardi.")
    ingest(archive, [original])
    deliver(archive, smtp_server.settings)
    copy = article(1, "Passeurs arrêtés à Agadez", "Des passeurs arrêtés à Agadez mardi soir.", source="apr")
    result, recorded = ingest(archive, [copy])
    assert result.counts["near"] + result.counts["exact"] == 1 and recorded == []
    assert deliver(archive, smtp_server.settings).sent == []
    assert len(smtp_server.to("ana@example.org")) == 1


def test_folded_republication_is_listed_as_also_published_by(archive, smtp_server):
    ingest(
        archive,
        [
            article(1, "Passeurs arrêtés", "Des passeurs arrêtés à Agadez mardi."),
            article(1, "Passeurs arrêtés", "Des passeurs arrêtés à Agadez mardi soir.", source="apr"),
        ],
    )
    deliver(archive, smtp_server.settings)
    [ana] = smtp_server.to("ana@example.org")
    assert "Also published by apr" in text_of(ana)


def test_digest_covers_exactly_the_matches_since_the_previous_digest(archive, smtp_server):
    settings = smtp_server.settings
    ingest(archive, [article(1, "Frontex un", "Frontex au large de Lampedusa.")])
    ingest(archive, [article(2, "Frontex deux", "Frontex en mer Égée.")])
    deliver(archive, settings)  # immediate deliveries leave digest matches alone
    first = deliver_digest(archive, settings, retry_delay=0)
    ingest(archive, [article(3, "Frontex trois", "Frontex aux Canaries.")])
    second = deliver_digest(archive, settings, retry_delay=0)
    third = deliver_digest(archive, settings, retry_delay=0)

    assert [s.match_count for s in first.sent] == [2] and [s.match_count for s in second.sent] == [1]
    assert third.sent == []
    one, two = smtp_server.to("cat@example.org")
    assert "Frontex un" in text_of(one) and "Frontex deux" in text_of(one) and "Frontex trois" not in text_of(one)
    assert "Frontex trois" in text_of(two) and "Frontex un" not in text_of(two)
    assert one["Subject"].startswith("[newswatch digest] 2 new articles for frontex-weekly")


def test_failed_articles_transaction_records_no_alert(archive):
    broken = Incoming(Article(title="Passeurs", date=None, paragraphs=["Des passeurs."]), source="x")
    items = [article(1, "Passeurs arrêtés", "Des passeurs arrêtés."), broken]  # no URL: archive refuses
    with pytest.raises(Exception, match="URL"):
        ingest(archive, items)
    assert archive.stats().articles == 0 and list_outbox(archive) == []


CLAIM_AND_DIE = """
import sys
from storage.outbox import claim_pending
from storage.archive import Archive
with Archive.open(sys.argv[1]) as archive:
    token, entries = claim_pending(archive, "immediate")
print(len(entries))
"""


def test_claims_of_a_dead_delivery_on_this_host_are_taken_over_at_once(archive, smtp_server):
    import subprocess
    import sys
    from pathlib import Path

    ingest(archive, [article(1, "Passeurs arrêtés", "Des passeurs arrêtés à Agadez.")])
    path = archive.conn.execute("PRAGMA database_list").fetchone()[2]
    done = subprocess.run(
        [sys.executable, "-c", CLAIM_AND_DIE, path],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"  # ana's and ben's rows, claimed by a process now gone
    claimed = archive.conn.execute(
        "SELECT count(*) FROM alert_matches WHERE claim IS NOT NULL AND claim_pid IS NOT NULL"
    ).fetchone()[0]
    assert claimed == 2

    report = deliver(archive, smtp_server.settings)
    assert report.ok and sorted(s.recipient for s in report.sent) == ["ana@example.org", "ben@example.org"]
    assert list_outbox(archive, pending_only=True) == []


def test_claims_of_a_live_delivery_are_left_to_it(archive, smtp_server):
    from storage.outbox import claim_pending

    ingest(archive, [article(1, "Passeurs arrêtés", "Des passeurs arrêtés à Agadez.")])
    # A claim held by a live process of this host (here: pid 1) is not taken over before it expires.
    claim_pending(archive, "immediate")
    archive.conn.execute("UPDATE alert_matches SET claim_pid = 1")
    assert deliver(archive, smtp_server.settings).sent == []
    assert len(list_outbox(archive, pending_only=True)) == 2 and smtp_server.messages == []


def test_run_summary_says_what_waits_why_and_what_happens_next(archive, smtp_server):
    """SMTP down: the outbox state after the delivery becomes the summary's lines (issue 13)."""
    from flows.pipeline.summary import delivery_lines
    from storage.outbox import outbox_state

    since = "2000-01-01T00:00:00+00:00"
    ingest(
        archive,
        [
            article(1, "Démantèlement d'un réseau", "Un réseau de passeurs démantelé à Agadez."),
            article(2, "Journée mondiale", "Lutte contre la traite des êtres humains au Niger."),
            article(4, "Frontex", "Frontex publie ses chiffres."),
        ],
    )
    down = SmtpSettings(host="127.0.0.1", port=closed_port(), sender="nw@test.example", timeout=5)
    report = deliver(archive, down)
    state = outbox_state(archive, since=since)
    # ana and ben: one email each, 3 matches (ana: passeurs; ben: passeurs and traite).
    assert (state.pending_emails, state.pending_matches) == (2, 3)
    assert state.last_error.startswith("cannot reach SMTP server 127.0.0.1:")
    assert (state.digest_queued, state.digest_pending) == (1, 1)
    assert outbox_state(archive, since="2999-01-01T00:00:00+00:00").digest_queued == 0

    summary = {
        "alerts_sent": 0,
        "alert_errors": [f"{f.recipient}: {f.error}" for f in report.failed],
        "outbox": {**state.__dict__, "sending": True},
    }
    lines = [line for line in delivery_lines(summary) if line]
    assert lines[0] == f"alerts: 2 alert email(s) pending (3 match(es)): {state.last_error}"
    assert lines[0].endswith("; the alerts stay pending: the next run or `newswatch alerts retry` sends them")
    assert lines[1:] == [
        "digest: 1 match(es) queued by this run (1 waiting in all); the digest sends "
        "them (its schedule, or `newswatch digest` now)"
    ]

    # SMTP back: sent, nothing pending, the digest still waits for its own delivery.
    deliver(archive, smtp_server.settings)
    state = outbox_state(archive, since=since)
    summary = {"alerts_sent": 2, "alert_errors": [], "outbox": {**state.__dict__, "sending": True}}
    assert [line for line in delivery_lines(summary) if line] == [
        "alerts: 2 email(s) sent",
        "digest: 1 match(es) queued by this run (1 waiting in all); the digest sends them "
        "(its schedule, or `newswatch digest` now)",
    ]


def test_a_failed_digest_says_the_next_digest_sends_it_and_a_failed_alert_the_next_run(archive):
    """What becomes of unsent matches depends on their mode; the SMTP error itself says only
    what failed and what to check."""
    ingest(archive, [article(4, "Frontex", "Frontex publie ses chiffres."), article(1, "Passeurs", "Des passeurs.")])
    down = SmtpSettings(host="127.0.0.1", port=closed_port(), sender="nw@test.example", timeout=5)
    (digest,) = deliver_digest(archive, down, retry_delay=0).failed
    assert digest.error.startswith("cannot reach SMTP server 127.0.0.1:")
    assert digest.error.endswith(
        "; the matches stay pending: the next digest (or `newswatch alerts retry --include-digest`) sends them"
    )
    assert "next run" not in digest.error
    immediate = deliver(archive, down).failed
    assert immediate and all(
        f.error.endswith("; the alerts stay pending: the next run or `newswatch alerts retry` sends them")
        for f in immediate
    )
    pending = {e.recipient: e.last_error for e in list_outbox(archive, pending_only=True)}
    assert pending["cat@example.org"] == digest.error
