"""The alert email as received by a real SMTP server: multipart, escaped, headers intact."""

from __future__ import annotations

import pytest
from smtpserver import closed_port

from alerts.email import send_email
from alerts.match import HIGHLIGHT_END, HIGHLIGHT_START
from alerts.render import render_email
from alerts.settings import SmtpSettings
from errors import SmtpDeliveryError
from storage.outbox import OutboxEntry


def entry(title: str, snippet: str = "", **extra) -> OutboxEntry:
    values = dict(
        id=1,
        rule="passeurs",
        recipient="ana@example.org",
        mode="immediate",
        story_id=1,
        article_id=1,
        title=title,
        source="iom-fr",
        published="2024-03-01",
        url="https://example.org/a?x=1&y=2",
        snippet=snippet,
    )
    values.update(extra)
    return OutboxEntry(**values)


def send(server, entries):
    message = render_email(entries, sender="newswatch@test.example", recipient="ana@example.org")
    send_email(server.settings, message)
    [received] = server.messages
    return received


def test_multipart_text_and_html_with_highlighted_snippet(smtp_server):
    snippet = f"Des {HIGHLIGHT_START}passeurs{HIGHLIGHT_END} arrêtés"
    received = send(smtp_server, [entry("Passeurs arrêtés", snippet, also_published_by=["apr"])])
    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Des *passeurs* arrêtés" in plain and "Also published by apr" in plain
    assert "Des <mark>passeurs</mark> arrêtés" in html
    assert 'href="https://example.org/a?x=1&amp;y=2"' in html


def test_article_text_is_html_escaped(smtp_server):
    title = '<script>alert("x")</script> & co'
    received = send(
        smtp_server, [entry(title, f"<img src=x onerror=alert(1)> {HIGHLIGHT_START}passeurs{HIGHLIGHT_END}")]
    )
    html = received.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img" not in html
    # Jinja2's autoescape (markupsafe) writes a quote &#34;
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in html
    assert "&lt;img src=x onerror=alert(1)&gt; <mark>passeurs</mark>" in html


def test_header_injection_in_a_title_is_neutralised(smtp_server):
    title = "Passeurs\r\nBcc: victim@evil.example\r\nX-Injected: yes\nSubject: forged"
    received = send(smtp_server, [entry(title)])
    assert received["Bcc"] is None and received["X-Injected"] is None
    assert received.get_all("Subject") == [
        "[newswatch] 1 new article for passeurs: Passeurs Bcc: victim@evil.example X-Injected: yes Subject: forged"
    ]
    assert smtp_server.handler.accepted[0][0] == ["ana@example.org"]


def test_subject_counts_articles_and_names_rules():
    message = render_email(
        [entry("A"), entry("B", id=2, story_id=2), entry("A", id=3, rule="traite")],
        sender="newswatch@test.example",
        recipient="ana@example.org",
    )
    assert message["Subject"] == "[newswatch] 2 new articles for passeurs, traite"


def test_smtp_down_is_a_clear_temporary_error():
    smtp = SmtpSettings(host="127.0.0.1", port=closed_port(), sender="newswatch@test.example", timeout=5)
    message = render_email([entry("A")], sender=smtp.sender, recipient="ana@example.org")
    with pytest.raises(SmtpDeliveryError, match=rf"cannot reach SMTP server 127.0.0.1:{smtp.port}.*smtp.host") as e:
        send_email(smtp, message)
    assert e.value.temporary and e.value.unreachable


def test_permanent_refusal_names_server_and_is_not_temporary(smtp_server):
    smtp_server.refuse_next(1, "550 5.1.1 No such mailbox")
    message = render_email([entry("A")], sender="newswatch@test.example", recipient="ana@example.org")
    with pytest.raises(SmtpDeliveryError, match=rf"127.0.0.1:{smtp_server.port} refused .*550") as e:
        send_email(smtp_server.settings, message)
    assert not e.value.temporary
