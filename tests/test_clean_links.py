"""Clean links everywhere: an article seen at a URL with tracking parameters is shown, in the
alert email, `newswatch search` and `newswatch show`, at its clean URL, with the scheme it was
served with."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import newswatch
from test_alerts_delivery import filler

from alerts.render import render_email
from alerts.settings import AlertRule
from core.article import Article
from flows.pipeline.stages import store_batch
from storage.archive import Archive
from storage.outbox import list_outbox
from storage.records import Incoming

ROOT = Path(__file__).resolve().parent.parent
SEEN = "http://www.example.org/news/passeurs-arretes?utm_source=rss&utm_medium=feed&fbclid=x1"
CLEAN = "http://www.example.org/news/passeurs-arretes"


def test_email_search_and_show_link_to_the_clean_url(tmp_path):
    db = tmp_path / "archive.db"
    article = Article(
        title="Passeurs arrêtés",
        date="2024-03-01",
        language="fr",
        url=SEEN,
        paragraphs=["Des passeurs arrêtés à Agadez.", filler(1)],
    )
    rule = AlertRule(name="passeurs", query="passeurs", to=["ana@example.org"])
    with Archive.open(db) as archive:
        store_batch(archive, [Incoming(article, "src")], [rule])
        [entry] = list_outbox(archive)
    assert entry.url == CLEAN
    message = render_email([entry], sender="newswatch@example.org", recipient="ana@example.org")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert CLEAN in text and f'href="{CLEAN}"' in html
    assert "utm_" not in text + html and "fbclid" not in text + html

    env = {**os.environ, "NEWSWATCH_ARCHIVE": str(db)}
    for args in (["search", "passeurs"], ["search", "passeurs", "--json"], ["show", "1"], ["show", "1", "--json"]):
        done = newswatch(*args, cwd=ROOT, env=env)
        assert done.returncode == 0, done.stderr
        assert CLEAN in done.stdout, args
        shown = done.stdout.replace('"url": "' + SEEN + '"', "")  # show --json keeps where it was first seen
        assert "utm_" not in shown and "fbclid" not in shown, (args, done.stdout)
