"""Alert emails: render one message per recipient, send it with smtplib.

Rendering is pure (outbox entries in, `EmailMessage` out). `freeze` turns a message into the
exact bytes sent (kept in the outbox before the SMTP transaction, so a re-send after a crash
is the same message, Message-ID included); `derived_message_id` names it after the outbox
rows it lists. Sending maps every SMTP failure to
an `errors.SmtpDeliveryError` whose message names the server and what to check, and whose class
says whether retrying later can help (`SmtpUnavailable`, `SmtpUnreachable`) or not (`SmtpRefused`).
What becomes of the unsent email is the caller's to say: an alert waits for the next run, a
digest for the next digest, a health email for the next run's checks.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
import smtplib
import ssl
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid

import tenacity

from alerts.match import HIGHLIGHT_END, HIGHLIGHT_START
from alerts.settings import SmtpSettings
from core.text import inert_line, inert_url
from errors import SmtpDeliveryError, SmtpRefused, SmtpUnavailable, SmtpUnreachable
from storage.outbox import OutboxEntry

SUBJECT_MAX = 180
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def header_safe(value: str, limit: int = SUBJECT_MAX) -> str:
    """One line, no control characters, no bidi or invisible format characters: whatever a
    page title holds cannot start a header nor turn text around on screen."""
    flat = inert_line(_CONTROL.sub(" ", value))
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _group_by_rule(entries: list[OutboxEntry]) -> dict[str, list[OutboxEntry]]:
    groups: dict[str, list[OutboxEntry]] = {}
    for e in entries:
        groups.setdefault(e.rule, []).append(e)
    return groups


def subject_for(entries: list[OutboxEntry], kind: str) -> str:
    rules = list(_group_by_rule(entries))
    count = len({e.story_id for e in entries})
    noun = "article" if count == 1 else "articles"
    prefix = "[newswatch digest]" if kind == "digest" else "[newswatch]"
    subject = f"{prefix} {count} new {noun} for {', '.join(rules)}"
    if count == 1 and entries[0].title:
        subject += f": {entries[0].title}"
    return header_safe(subject)


def _snippet_text(snippet: str | None) -> str:
    return (snippet or "").replace(HIGHLIGHT_START, "*").replace(HIGHLIGHT_END, "*")


def _snippet_html(snippet: str | None) -> str:
    escaped = html.escape(snippet or "")
    return escaped.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>")


def _plain_text(groups: dict[str, list[OutboxEntry]], intro: str) -> str:
    lines = [intro, ""]
    for rule, entries in groups.items():
        lines += [f"== {rule} ({len(entries)}) ==", ""]
        for e in entries:
            lines.append(header_safe(e.title or "(untitled)", limit=500))
            lines.append(" · ".join(x for x in (e.source, e.published) if x))
            if e.url:
                lines.append(inert_url(e.url))
            if e.snippet:
                lines.append(header_safe(_snippet_text(e.snippet), limit=1000))
            if e.also_published_by:
                lines.append("Also published by " + ", ".join(e.also_published_by))
            lines.append("")
    lines.append("-- \nSent by newswatch. Change your subscriptions in the alerts: section of its config.")
    return "\n".join(lines)


def _html(groups: dict[str, list[OutboxEntry]], intro: str) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html><html><body>", f"<p>{esc(intro)}</p>"]
    for rule, entries in groups.items():
        parts.append(f"<h2>{esc(rule)} ({len(entries)})</h2><ul>")
        for e in entries:
            title = esc(header_safe(e.title or "(untitled)", limit=500))
            # quote=True also escapes quotes, so a URL cannot break out of the attribute.
            link = f'<a href="{esc(inert_url(e.url), quote=True)}">{title}</a>' if e.url else title
            meta = " · ".join(esc(inert_line(x)) for x in (e.source, e.published) if x)
            item = f"<li><p><strong>{link}</strong><br><small>{meta}</small></p>"
            if e.snippet:
                item += f"<p>{_snippet_html(header_safe(e.snippet, limit=1000))}</p>"
            if e.also_published_by:
                item += f"<p><small>Also published by {esc(', '.join(e.also_published_by))}</small></p>"
            parts.append(item + "</li>")
        parts.append("</ul>")
    parts.append(
        "<hr><p><small>Sent by newswatch. Change your subscriptions in the alerts: "
        "section of its config.</small></p></body></html>"
    )
    return "\n".join(parts)


def derived_message_id(entries: list[OutboxEntry], *, recipient: str, kind: str, salt: str, sender: str) -> str:
    """A Message-ID that is a function of the outbox rows listed (and of the archive, `salt`):
    whoever renders that email again names it the same."""
    rows = ",".join(f"{e.id}:{e.story_id}:{e.rule}:{e.matched_at}" for e in sorted(entries, key=lambda e: e.id))
    digest = hashlib.sha256(f"{salt}|{kind}|{recipient}|{rows}".encode()).hexdigest()[:40]
    return f"<newswatch.{kind}.{digest}@{sender.rpartition('@')[2] or 'newswatch'}>"


def render_email(
    entries: list[OutboxEntry],
    *,
    sender: str,
    recipient: str,
    kind: str = "immediate",
    now: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """One message listing every entry for `recipient`, grouped by rule, text + HTML."""
    if not entries:
        raise ValueError("no outbox entries to render")
    groups = _group_by_rule(entries)
    count = len({e.story_id for e in entries})
    intro = (
        f"Digest: {count} article(s) matched your newswatch rules since the last digest."
        if kind == "digest"
        else f"{count} new article(s) matched your newswatch rules."
    )
    message = EmailMessage()
    message["Subject"] = subject_for(entries, kind)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2] or "newswatch")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_plain_text(groups, intro))
    message.add_alternative(_html(groups, intro), subtype="html")
    return message


def _international(message: EmailMessage) -> bool:
    return not "".join(str(message.get(h, "")) for h in ("From", "To")).isascii()


class FrozenMessage(EmailMessage):
    """A message whose bytes are fixed (`freeze`): `frozen` is what is sent, the headers stay
    readable. Its parts, parsed as this class too, have no bytes of their own (None)."""

    frozen: bytes | None = None


# email.policy.default (which is EmailPolicy()), parsing into FrozenMessage
_FROZEN = EmailPolicy(message_factory=FrozenMessage)


def message_bytes(message: EmailMessage) -> bytes:
    """The bytes that go to the SMTP server: a frozen message's own, else its rendering (every
    message here has the default policy: SMTP's is the same with CRLF line ends)."""
    if isinstance(message, FrozenMessage) and message.frozen is not None:
        return message.frozen
    return message.as_bytes(policy=email.policy.SMTPUTF8 if _international(message) else email.policy.SMTP)


def freeze(data: bytes | EmailMessage) -> FrozenMessage:
    """A message whose bytes are fixed: `send_email` sends exactly `data` (headers readable)."""
    data = message_bytes(data) if isinstance(data, EmailMessage) else data
    message = email.message_from_bytes(data, policy=_FROZEN)
    message.frozen = data
    return message


def send_email(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Hand `message` to the SMTP server; returns only once the server has accepted it."""
    server = f"{smtp.host}:{smtp.effective_port}"
    recipient = str(message["To"])
    connected = False
    try:
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.effective_port, timeout=smtp.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.effective_port, timeout=smtp.timeout)
        connected = True
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                password = smtp.password()
                if password is None:
                    raise SmtpRefused(
                        f"SMTP server {server} needs a password for {smtp.username!r} but the "
                        f"environment variable {smtp.password_env or '(smtp.password_env unset)'} "
                        "is not set: set it"
                    )
                client.login(smtp.username, password)
            options = ("SMTPUTF8", "BODY=8BITMIME") if _international(message) else ()
            refused = client.sendmail(smtp.sender, [recipient], message_bytes(message), mail_options=options)
            if refused:  # only possible with several recipients; kept for safety
                code, text = next(iter(refused.values()))
                raise smtplib.SMTPResponseException(code, text)
    except SmtpDeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as e:
        raise SmtpRefused(
            f"SMTP server {server} rejected the login of {smtp.username!r} ({e.smtp_code}): check "
            f"smtp.username and the password in ${smtp.password_env}"
        ) from None
    except smtplib.SMTPNotSupportedError as e:
        raise SmtpRefused(
            f"SMTP server {server} does not support what smtp.security={smtp.security} needs ({e}): "
            "check smtp.security and smtp.port"
        ) from None
    except smtplib.SMTPRecipientsRefused as e:
        code, text = next(iter(e.recipients.values()))
        raise _refusal(server, code, text, f"recipient {recipient}") from None
    except smtplib.SMTPSenderRefused as e:
        raise _refusal(server, e.smtp_code, e.smtp_error, f"sender {smtp.sender}") from None
    except smtplib.SMTPResponseException as e:
        raise _refusal(server, e.smtp_code, e.smtp_error, f"email to {recipient}") from None
    except (ssl.SSLError, ssl.CertificateError) as e:
        raise SmtpRefused(
            f"TLS with SMTP server {server} failed ({e}): check smtp.security "
            "(ssl on port 465, starttls on 587) and the server's certificate"
        ) from None
    except smtplib.SMTPServerDisconnected as e:
        raise _broken(
            SmtpUnavailable(f"SMTP server {server} closed the connection ({e})"),
            connected,
        ) from None
    except TimeoutError:
        raise _broken(
            SmtpUnreachable(
                f"SMTP server {server} did not answer within {smtp.timeout:g} s: check the server, "
                "or raise smtp.timeout"
            ),
            connected,
        ) from None
    except OSError as e:  # refused, unreachable host, DNS failure
        raise _broken(
            SmtpUnreachable(
                f"cannot reach SMTP server {server} ({e.strerror or e}): check smtp.host and "
                "smtp.port and that the server is running"
            ),
            connected,
        ) from None


def _broken(error: SmtpDeliveryError, connected: bool) -> SmtpDeliveryError:
    """An exchange that broke without a refusal: once connected, the server may have accepted."""
    error.maybe_accepted = connected
    return error


def send_with_retries(send, smtp: SmtpSettings, message: EmailMessage, attempts: int, delay: float) -> None:
    """`send(smtp, message)`, again after `delay` seconds while the refusal is temporary (a 4xx,
    a dropped connection), at most `attempts` times (tenacity); an unreachable server is not
    retried (every try would wait for the same timeout)."""
    tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_fixed(delay),
        retry=tenacity.retry_if_exception(
            lambda e: isinstance(e, SmtpDeliveryError) and e.temporary and not e.unreachable
        ),
        sleep=time.sleep,
        reraise=True,
    )(send, smtp, message)


def _refusal(server: str, code: int, text: bytes | str, what: str) -> SmtpDeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    detail = header_safe(detail, limit=300)
    if 400 <= code < 500:
        return SmtpUnavailable(f"SMTP server {server} temporarily refused the {what} ({code} {detail})")
    return SmtpRefused(
        f"SMTP server {server} refused the {what} ({code} {detail}): check the address and the server's relay rules"
    )
