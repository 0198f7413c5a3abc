"""Emails rendered from templates: alert and digest emails (`render_email`), health emails
(`render_health_email`), each as text and HTML from `alerts/templates/` (Jinja2, HTML
autoescaped), with the same headers (`compose`).

Rendering is pure: outbox entries (or unhealthy sources) in, an `EmailMessage` out. Page text
is hostile: every title, snippet and source is made one line without control, bidi or
invisible characters (`header_safe`), links are made inert (`core.text.inert_url`), and the
HTML template escapes whatever it prints. `derived_message_id` names an email after what it
lists, so whoever renders it again names it the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2
from markupsafe import Markup, escape

from alerts.match import HIGHLIGHT_END, HIGHLIGHT_START
from core.text import inert_line, inert_url
from storage.outbox import OutboxEntry

SUBJECT_MAX = 180
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
ALERT_FOOTER = "Sent by newswatch. Change your subscriptions in the alerts: section of its config."
HEALTH_FOOTER = (
    "Sent once per problem; sent again if a source recovers and relapses. "
    "See `newswatch sources`; recipients are set in the health_alerts: section of the config."
)

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("alerts", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def header_safe(value: str, limit: int = SUBJECT_MAX) -> str:
    """One line, no control characters, no bidi or invisible format characters: whatever a
    page title holds cannot start a header nor turn text around on screen."""
    flat = inert_line(_CONTROL.sub(" ", value))
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def compose(
    template: str,
    context: dict,
    *,
    subject: str,
    sender: str,
    recipient: str,
    message_id: str,
    now: datetime | None = None,
) -> EmailMessage:
    """An email whose text and HTML parts are `template`.txt and `template`.html rendered with
    `context`."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEMPLATES.get_template(f"{template}.txt").render(context))
    message.add_alternative(_TEMPLATES.get_template(f"{template}.html").render(context), subtype="html")
    return message


def message_id_for(salt: str, kind: str, recipient: str, listed: str, sender: str) -> str:
    """A Message-ID that is a function of what the email lists (and of the archive, `salt`)."""
    digest = hashlib.sha256(f"{salt}|{kind}|{recipient}|{listed}".encode()).hexdigest()[:40]
    return f"<newswatch.{kind}.{digest}@{sender.rpartition('@')[2] or 'newswatch'}>"


# ------------------------------------------------------------------ alerts and digests ---


@dataclass(frozen=True)
class _Version:
    """A later version of an alerted story, as "also in" lists it: its outlet and language."""

    outlet: str  # the source, and the article's language in parentheses
    title: str
    url: str


@dataclass(frozen=True)
class _Item:
    """One outbox entry as the alert templates show it."""

    title: str
    meta: str  # source · published, as stored
    meta_html: str  # the same, each part made one inert line
    url: str
    snippet: str  # the highlighted terms between *...*
    snippet_html: Markup  # escaped, the highlighted terms in <mark>
    also: str  # the other sources that published it
    versions: tuple[_Version, ...] = ()  # the story's later versions this email lists


def _version(e: OutboxEntry) -> _Version:
    outlet = header_safe(e.source or "?", limit=200) + (f" ({header_safe(e.language, limit=20)})" if e.language else "")
    return _Version(outlet, header_safe(e.title or "(untitled)", limit=500), inert_url(e.url) if e.url else "")


def _item(e: OutboxEntry, versions: Iterable[OutboxEntry] = ()) -> _Item:
    snippet = header_safe(e.snippet, limit=1000) if e.snippet else ""
    return _Item(
        title=header_safe(e.title or "(untitled)", limit=500),
        meta=" · ".join(x for x in (e.source, e.published) if x),
        meta_html=" · ".join(inert_line(x) for x in (e.source, e.published) if x),
        url=inert_url(e.url) if e.url else "",
        snippet=snippet.replace(HIGHLIGHT_START, "*").replace(HIGHLIGHT_END, "*"),
        snippet_html=escape(snippet)
        .replace(HIGHLIGHT_START, Markup("<mark>"))
        .replace(HIGHLIGHT_END, Markup("</mark>")),
        also=", ".join(e.also_published_by),
        versions=tuple(_version(v) for v in versions),
    )


@dataclass(frozen=True)
class _Earlier:
    """A story alerted by an earlier email, and its versions that came since."""

    title: str
    versions: tuple[_Version, ...]


@dataclass(frozen=True)
class _Group:
    """One rule's part of an email: its alerts (with their versions), then the stories it
    alerted before that are now also in other outlets or languages."""

    rule: str
    items: list[_Item]
    earlier: list[_Earlier]


def _group_by_rule(entries: Iterable[OutboxEntry]) -> dict[str, list[OutboxEntry]]:
    groups: dict[str, list[OutboxEntry]] = {}
    for e in entries:
        groups.setdefault(e.rule, []).append(e)
    return groups


def _group(rule: str, entries: list[OutboxEntry]) -> _Group:
    alerts = [e for e in entries if e.also_in is None]
    here = {e.id for e in alerts}
    later: dict[int, list[OutboxEntry]] = {}
    for e in sorted(entries, key=lambda e: (e.published or "", e.id)):  # each story's versions as they came
        if e.also_in is not None:
            later.setdefault(e.also_in, []).append(e)
    earlier = [
        _Earlier(header_safe(versions[0].story_title or "(untitled)", limit=500), tuple(map(_version, versions)))
        for alert, versions in later.items()
        if alert not in here
    ]
    return _Group(rule, [_item(e, later.get(e.id, ())) for e in alerts], earlier)


def _alerted(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    """The alerts of an email (its other rows are later versions of stories, listed "also in")."""
    return [e for e in entries if e.also_in is None]


def subject_for(entries: list[OutboxEntry], kind: str) -> str:
    rules = list(_group_by_rule(entries))
    alerts = _alerted(entries)
    count = len({e.story_id for e in alerts})
    prefix = "[newswatch digest]" if kind == "digest" else "[newswatch]"
    if not alerts:  # only versions of stories already sent (an email recorded as such is sent again)
        return header_safe(f"{prefix} {len(entries)} more version(s) of stories already sent for {', '.join(rules)}")
    noun = "article" if count == 1 else "articles"
    subject = f"{prefix} {count} new {noun} for {', '.join(rules)}"
    if count == 1 and alerts[0].title:
        subject += f": {alerts[0].title}"
    return header_safe(subject)


def derived_message_id(entries: list[OutboxEntry], *, recipient: str, kind: str, salt: str, sender: str) -> str:
    """The Message-ID of the email listing these outbox rows: whoever renders it again names it the same."""
    rows = ",".join(f"{e.id}:{e.story_id}:{e.rule}:{e.matched_at}" for e in sorted(entries, key=lambda e: e.id))
    return message_id_for(salt, kind, recipient, rows, sender)


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
    from email.utils import make_msgid

    if not entries:
        raise ValueError("no outbox entries to render")
    count = len({e.story_id for e in _alerted(entries)})
    intro = (
        f"Digest: {count} article(s) matched your newswatch rules since the last digest."
        if kind == "digest"
        else f"{count} new article(s) matched your newswatch rules."
    )
    groups = [_group(rule, items) for rule, items in _group_by_rule(entries).items()]
    return compose(
        "alert",
        {"intro": intro, "groups": groups, "footer": ALERT_FOOTER},
        subject=subject_for(entries, kind),
        sender=sender,
        recipient=recipient,
        message_id=message_id or make_msgid(domain=sender.rpartition("@")[2] or "newswatch"),
        now=now,
    )


# -------------------------------------------------------------------------- health ---


@dataclass(frozen=True)
class Unhealthy:
    """One unhealthy source as emailed: its name and every current problem."""

    source: str
    problems: tuple[str, ...]


def render_health_email(
    sources: list[Unhealthy], *, sender: str, recipient: str, message_id: str, now: datetime | None = None
) -> EmailMessage:
    """One message listing every unhealthy source and why, text + HTML."""
    if not sources:
        raise ValueError("no unhealthy source to render")
    names = [u.source for u in sources]
    noun = "source" if len(names) == 1 else "sources"
    shown = [
        Unhealthy(header_safe(u.source, limit=200), tuple(header_safe(p, limit=1000) for p in u.problems))
        for u in sources
    ]
    return compose(
        "health",
        {
            "intro": f"{len(names)} newswatch {noun} unhealthy: they may be missing articles.",
            "sources": shown,
            "footer": HEALTH_FOOTER,
        },
        subject=header_safe(f"[newswatch] {len(names)} unhealthy {noun}: {', '.join(names)}"),
        sender=sender,
        recipient=recipient,
        message_id=message_id,
        now=now,
    )
