"""The `digest` Prefect flow, run for real: it sends exactly the digest-mode matches pending."""

from __future__ import annotations

import pytest

from alerts.settings import AlertRule
from core.article import Article
from flows.config.yaml_text import dump_yaml
from flows.pipeline.stages import store_batch
from storage.archive import Archive
from storage.outbox import list_outbox
from storage.records import Incoming

pytestmark = pytest.mark.flow

DIGEST_RULE = AlertRule(name="frontex-weekly", query="Frontex", to=["cat@example.org"], mode="digest")


def frontex_article(n: int, place: str) -> Incoming:
    body = [
        f"Frontex a renforcé sa présence {place} cette semaine, selon un communiqué publié mardi.",
        " ".join(f"mot{n}x{i}" for i in range(60)) + ".",
    ]
    return Incoming(
        Article(
            title=f"Frontex {place}",
            date=f"2024-03-{n:02d}",
            paragraphs=body,
            url=f"https://press.example.org/news/{n}",
        ),
        source="press",
    )


def test_digest_flow_sends_the_pending_digest_once(tmp_path, smtp_server, prefect_harness):
    from flows.orchestration.digest_flow import digest

    archive_path = tmp_path / "archive.db"
    with Archive.open(archive_path) as archive:
        store_batch(
            archive, [frontex_article(1, "au large de Lampedusa"), frontex_article(2, "en mer Égée")], [DIGEST_RULE]
        )
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        dump_yaml(
            {
                "archive": str(archive_path),
                "smtp": {"host": "127.0.0.1", "port": smtp_server.settings.port, "sender": "newswatch@localhost"},
                "alerts": [
                    {"name": DIGEST_RULE.name, "query": DIGEST_RULE.query, "to": DIGEST_RULE.to, "mode": "digest"}
                ],
            }
        ),
        encoding="utf-8",
    )

    first = digest(str(config))
    second = digest(str(config))

    assert first["sent"] == ["cat@example.org"] and first["failed"] == {}
    assert second["sent"] == [] and second["failed"] == {}
    [message] = smtp_server.to("cat@example.org")
    text = message.get_body(("plain",)).get_content()
    assert "Frontex au large de Lampedusa" in text and "Frontex en mer Égée" in text
    with Archive.open(archive_path) as archive:
        assert all(not e.pending for e in list_outbox(archive))
