"""Source health (storage/health.py) on a real archive, and where it is shown."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fake_sites import paragraphs

from core.article import Article
from flows.cli.main import main
from storage import fetchstate
from storage.archive import Archive
from storage.health import EMPTY_RUN_MIN_PAGES, source_health
from storage.records import Incoming

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class History:
    """Writes runs of a source into an archive the way the ingest flow does."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.state = archive
        self.serial = 0

    def run(
        self,
        source: str,
        at: datetime,
        *,
        bodies: list[str] = (),
        not_articles: int = 0,
        ok: bool = True,
        discovered: int | None = None,
    ) -> None:
        items = []
        for body in bodies:
            self.serial += 1
            url = f"https://{source}.example.org/a/{self.serial}"
            items.append(
                Incoming(
                    Article(title=f"t{self.serial}", date=None, paragraphs=[body], language="fr", url=url),
                    source=source,
                    url=url,
                    fetched_at=_iso(at + timedelta(seconds=5)),
                )
            )
        result = self.archive.add_batch(items)
        new = result.counts["new"]
        assert new == len(bodies)
        fetched = new + not_articles
        fetchstate.record_run(
            self.state,
            source,
            started_at=at,
            finished_at=at + timedelta(seconds=30),
            ok=ok,
            counts={
                "discovered": fetched if discovered is None else discovered,
                "new": new,
                "duplicates": 0,
                "not_articles": not_articles,
                "errors": 0,
            },
        )


def normal(seed: str) -> str:
    return " ".join(paragraphs(seed, count=4))  # ~1,500 characters


@pytest.fixture
def history(tmp_path):
    with Archive.open(tmp_path / "archive.db") as archive:
        yield History(archive)


def test_a_source_publishing_within_its_interval_is_healthy(history):
    for day in range(4):
        history.run("apr", T0 + day * DAY, bodies=[normal(f"apr{day}")])
    (h,) = source_health(history.archive, [("apr", timedelta(days=2))], now=T0 + 4 * DAY)
    assert h.healthy and h.problems == []
    assert h.runs == 4
    assert h.last_new_at == _iso(T0 + 3 * DAY + timedelta(seconds=30))


def test_silent_longer_than_expected_interval_is_unhealthy(history):
    history.run("iom-fr", T0, bodies=[normal("x1"), normal("x2")])
    for hour in range(1, 80, 6):  # runs keep happening, nothing new
        history.run("iom-fr", T0 + timedelta(hours=hour))
    (h,) = source_health(history.archive, [("iom-fr", timedelta(days=3))], now=T0 + timedelta(days=3, hours=1))
    assert not h.healthy
    (problem,) = h.problems
    assert problem.startswith("silent: nothing new since 2026-11-01T08:00:30+00:00")
    assert "expected every 3d" in problem
    # Within the interval it is fine; without an interval it is never judged silent.
    assert source_health(history.archive, [("iom-fr", timedelta(days=3))], now=T0 + 2 * DAY)[0].healthy
    assert source_health(history.archive, [("iom-fr", None)], now=T0 + 300 * DAY)[0].healthy


def test_a_source_that_never_produced_anything_is_silent_from_its_first_run(history):
    history.run("feed", T0, ok=False)
    history.run("feed", T0 + DAY, ok=False)
    (h,) = source_health(history.archive, [("feed", timedelta(hours=12))], now=T0 + 2 * DAY)
    assert not h.healthy and h.last_new_at is None
    assert "in any of its 2 run(s) since 2026-11-01T08:00:00+00:00" in h.problems[0]


def test_a_source_never_run_is_not_judged(history):
    (h,) = source_health(history.archive, [("new-source", timedelta(hours=1))], now=T0 + 100 * DAY)
    assert h.healthy and h.runs == 0 and h.last_new_at is None


def test_many_pages_and_no_article_is_unhealthy_even_after_a_quiet_run(history):
    history.run("lexis", T0, bodies=[normal("l1")])
    history.run("lexis", T0 + DAY, not_articles=EMPTY_RUN_MIN_PAGES + 2)
    history.run("lexis", T0 + 2 * DAY, discovered=0)  # nothing new to fetch: must not hide it
    (h,) = source_health(history.archive, [("lexis", None)], now=T0 + 2 * DAY)
    assert not h.healthy
    (problem,) = h.problems
    assert problem.startswith("empty pages: the run ending 2026-11-02T08:00:30+00:00 fetched 5 page(s)")
    # A single non-article page is ordinary (a listing, a PDF): not a problem.
    history.run("apr", T0, bodies=[normal("a1")], not_articles=1)
    history.run("apr", T0 + DAY, not_articles=1)
    assert source_health(history.archive, [("apr", None)], now=T0 + DAY)[0].healthy


def test_bodies_suddenly_tiny_against_the_source_history_are_unhealthy(history):
    for day in range(6):
        history.run("iom-en", T0 + day * DAY, bodies=[normal(f"n{day}")])
    history.run(
        "iom-en", T0 + 6 * DAY, bodies=[f"Cookies {i}: accept all cookies to read this page." for i in range(3)]
    )
    (h,) = source_health(history.archive, [("iom-en", timedelta(days=3))], now=T0 + 6 * DAY + timedelta(hours=1))
    assert not h.healthy
    (problem,) = h.problems
    assert problem.startswith("tiny bodies: the 3 article(s) of the run ending 2026-11-07T08:00:30+00:00")
    assert h.last_median_body < 60 and h.history_median_body > 1000


def test_normal_bodies_and_short_history_are_not_flagged(history):
    for day in range(6):
        history.run("iom-en", T0 + day * DAY, bodies=[normal(f"n{day}")])
    history.run("iom-en", T0 + 6 * DAY, bodies=[normal("m1"), normal("m2")])
    assert source_health(history.archive, [("iom-en", None)], now=T0 + 6 * DAY)[0].healthy
    # Too little history to compare with: no verdict on body length.
    history.run("young", T0, bodies=[normal("y1")])
    history.run("young", T0 + DAY, bodies=["Short one.", "Short two."])
    h = source_health(history.archive, [("young", None)], now=T0 + DAY)[0]
    assert h.healthy and h.history_median_body is None and h.last_median_body is not None


def test_sources_command_shows_health(tmp_path, capsys, history):
    history.run("quiet", T0, bodies=[normal("q1")])
    (tmp_path / "newswatch.yaml").write_text(
        "archive: archive.db\nsources:\n"
        "  - {name: quiet, url: 'http://127.0.0.1:9/feed', kind: feed, expected_interval: 1d}\n"
        "  - {name: unseen, url: 'http://127.0.0.1:9/other', kind: feed, expected_interval: 1d}\n"
    )
    assert main(["sources", "--config", str(tmp_path / "newswatch.yaml")]) == 0
    out = capsys.readouterr().out
    assert "UNHEALTHY: silent: nothing new since 2026-11-01T08:00:30+00:00" in out
    assert "health: not judged yet (never run)" in out
    assert main(["sources", "--config", str(tmp_path / "newswatch.yaml"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["health"]["healthy"] for r in rows] == [False, True]


def test_ingest_artifact_lists_unhealthy_sources():
    from flows.orchestration.artifacts import ingest_markdown
    from flows.pipeline.summary import IngestSummary, SourceReport
    from storage.health import SourceHealth

    summary = IngestSummary(
        started_at="2026-11-22T07:30:00+00:00",
        finished_at="2026-11-22T07:30:09+00:00",
        sources=[SourceReport(source="iom-fr"), SourceReport(source="apr")],
    )
    summary.health = [
        SourceHealth("iom-fr", False, ["silent: nothing new since 2026-11-18 (4d; expected every 3d)"]).to_dict(),
        SourceHealth("apr", True).to_dict(),
    ]
    md = ingest_markdown(summary)
    section = re.sub(r"\\(.)", r"\1", md.split("## Source health")[1])  # text, as markdown shows it
    assert "- **iom-fr** UNHEALTHY: silent: nothing new since 2026-11-18 (4d; expected every 3d)" in section
    assert "Healthy: apr." in section
    summary.health = [SourceHealth("apr", True).to_dict()]
    assert "All 1 source(s) healthy." in ingest_markdown(summary)


def test_ingest_artifact_says_the_alerts_sent_once():
    """QA finding 12: 'Alerts: 1 email(s) sent.' and then '- alerts: 1 email(s) sent'."""
    from flows.orchestration.artifacts import ingest_markdown
    from flows.pipeline.summary import IngestSummary, SourceReport

    summary = IngestSummary(
        started_at="2026-11-22T07:30:00+00:00",
        finished_at="2026-11-22T07:30:09+00:00",
        sources=[SourceReport(source="apr", new=1)],
        alerts_sent=1,
        outbox={"pending_emails": 0, "sending": True},
    )
    md = re.sub(r"\\(.)", r"\1", ingest_markdown(summary))  # text, as markdown shows it
    assert md.count("email(s) sent") == 1 and "Alerts:\n- alerts: 1 email(s) sent" in md, md
    summary.alerts_sent = 0
    assert "Alerts: no email sent." in ingest_markdown(summary)


def test_a_source_whose_last_run_is_a_warning_yields_nothing(history):
    history.run("empty", T0)
    fetchstate.record_run(
        history.state,
        "empty",
        started_at=T0 + DAY,
        finished_at=T0 + DAY,
        ok=True,
        state="warning",
        warning="the feed has no items",
        counts={"discovered": 0, "new": 0, "duplicates": 0, "not_articles": 0, "errors": 0},
    )
    fetchstate.record_run(
        history.state,
        "pages",
        started_at=T0,
        finished_at=T0,
        ok=True,
        state="warning",
        warning="all 5 fetched page(s) were not articles",
        counts={"discovered": 5, "new": 0, "duplicates": 0, "not_articles": 5, "errors": 0},
    )
    empty, pages = source_health(history.archive, [("empty", None), ("pages", None)], now=T0 + DAY)
    assert empty.problems == ["yields nothing: the feed has no items"]
    # The warning says what "empty pages" would: one problem, not two.
    assert pages.problems == ["yields nothing: all 5 fetched page(s) were not articles"]
    history.run("empty", T0 + 2 * DAY, bodies=[normal("e1")])  # the next run is fine again
    assert source_health(history.archive, [("empty", None)], now=T0 + 2 * DAY)[0].healthy


def _failed_run(history: History, source: str, at: datetime, error: str) -> None:
    fetchstate.record_run(
        history.state,
        source,
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        ok=False,
        error=error,
        counts={"discovered": 0, "new": 0, "duplicates": 0, "not_articles": 0, "errors": 0},
    )


def reading_room_health(archive: Archive, name: str) -> dict:
    """The reading room's Source health row of `name` (its canned query, run on the archive)."""
    from storage.reading import source_health_sql

    cursor = archive.conn.execute(source_health_sql([(name, None)]))
    return dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))


def test_a_source_whose_runs_fail_is_failing_until_one_succeeds_as_in_the_reading_room(history):
    def judged(at):
        (h,) = source_health(history.archive, [("down", None)], now=at)
        room = reading_room_health(history.archive, "down")
        assert (room["state"] == "FAILING") == any(p.startswith("failing:") for p in h.problems), (room, h)
        return h, room

    history.run("down", T0, bodies=[normal("d1")])
    assert judged(T0 + DAY)[0].healthy
    _failed_run(history, "down", T0 + DAY, "http://127.0.0.1:9/feed: cannot connect (refused)")
    h, room = judged(T0 + DAY)
    assert h.problems == [
        "failing: its last run failed (started 2026-11-02T08:00:00+00:00): "
        "http://127.0.0.1:9/feed: cannot connect (refused)"
    ]
    assert room["failed_in_a_row"] == 1
    for day in (2, 3):
        _failed_run(history, "down", T0 + day * DAY, f"http://127.0.0.1:9/feed: cannot connect (day {day})")
    h, room = judged(T0 + 3 * DAY)
    assert h.problems == [
        "failing: 3 consecutive runs failed since 2026-11-02T08:00:00+00:00: "
        "http://127.0.0.1:9/feed: cannot connect (day 3)"
    ]
    assert room["failed_in_a_row"] == 3 and not h.healthy
    history.run("down", T0 + 4 * DAY, bodies=[normal("d2")])  # back
    h, room = judged(T0 + 4 * DAY)
    assert h.healthy and room["state"] == "ok" and room["failed_in_a_row"] == 0


def test_a_source_that_never_succeeded_is_failing_from_its_first_run(history):
    _failed_run(history, "never", T0, "http://127.0.0.1:9/: an HTML page without a <link rel=alternate> feed")
    (h,) = source_health(history.archive, [("never", None)], now=T0)
    assert [p.split(":")[0] for p in h.problems] == ["failing"]
    assert reading_room_health(history.archive, "never")["state"] == "FAILING"
