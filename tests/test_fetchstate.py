"""Ingestion state kept in the archive: validators, failing pages with back-off, leases."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from errors import NotAnArticle, NotHtml, ServerError, Timeout
from storage.archive import Archive
from storage.fetchstate import MAX_ATTEMPTS, FetchState, PageOutcome

T0 = datetime(2026, 11, 22, 7, 30, tzinfo=UTC)


@pytest.fixture
def state(tmp_path):
    with Archive.open(tmp_path / "a.db") as archive:
        yield FetchState(archive)


def test_validators_round_trip_per_source(state):
    state.save_validators("iom-fr", {"https://x/fr/news": ('"v1"', None)}, now=T0)
    state.save_validators("iom-fr", {"https://x/fr/news": ('"v2"', "Sat, 21 Nov 2026 10:00:00 GMT")}, now=T0)
    assert state.validators("iom-fr") == {"https://x/fr/news": ('"v2"', "Sat, 21 Nov 2026 10:00:00 GMT")}
    assert state.validators("apr") == {}


def test_transient_failures_back_off_then_give_up(state):
    url = "https://x/a"
    state.record_pages("s", [PageOutcome(url, ServerError(url, "500"))], now=T0)
    assert state.not_due([url], now=T0 + timedelta(minutes=59)) == {url}
    assert state.not_due([url], now=T0 + timedelta(minutes=61)) == set()
    state.record_pages("s", [PageOutcome(url, Timeout(url, "slow"))], now=T0 + timedelta(hours=2))
    # The second wait is twice the first.
    assert state.not_due([url], now=T0 + timedelta(hours=3, minutes=59)) == {url}
    assert state.not_due([url], now=T0 + timedelta(hours=4, minutes=1)) == set()
    for i in range(MAX_ATTEMPTS):
        state.record_pages("s", [PageOutcome(url, Timeout(url, "slow"))], now=T0 + timedelta(days=30 + i))
    assert state.not_due([url], now=T0 + timedelta(days=400)) == {url}  # given up
    assert state.source_states(["s"])[0].failing_pages == 0


def test_permanent_errors_and_non_articles_are_not_asked_again(state):
    state.record_pages(
        "s",
        [
            PageOutcome("https://x/doc.pdf", NotHtml("https://x/doc.pdf", "PDF")),
            PageOutcome("https://x/list", NotAnArticle("listing")),
        ],
        now=T0,
    )
    assert state.not_due(["https://x/doc.pdf", "https://x/list", "https://x/new"], now=T0 + timedelta(days=365)) == {
        "https://x/doc.pdf",
        "https://x/list",
    }


def test_forget_pages_clears_a_page_that_became_an_article(state):
    state.record_pages("s", [PageOutcome("https://x/a", ServerError("https://x/a", "500"))], now=T0)
    state.forget_pages(["https://x/a"])
    assert state.not_due(["https://x/a"], now=T0) == set()


def test_source_states_report_last_success_and_last_error(state):
    state.record_run("s", started_at=T0, finished_at=T0 + timedelta(seconds=5), ok=True, counts={"new": 2})
    state.record_run(
        "s",
        started_at=T0 + timedelta(hours=1),
        finished_at=T0 + timedelta(hours=1, seconds=3),
        ok=False,
        counts={},
        error="https://x/: host not found",
    )
    (st,) = state.source_states(["s"])
    assert st.last_success == "2026-11-22T07:30:05+00:00"
    assert st.last_error == "https://x/: host not found"
    assert st.runs == 2


def test_a_live_lease_blocks_another_run_until_released(state):
    first = state.acquire_lease("iom-fr", "flow-run:A", now=T0)
    assert not first.held_by_other
    second = state.acquire_lease("iom-fr", "flow-run:B", now=T0 + timedelta(minutes=1))
    assert second.held_by_other and second.holder == "flow-run:A"
    assert not state.acquire_lease("apr", "flow-run:B", now=T0).held_by_other  # other sources go on
    state.release_lease("iom-fr", "flow-run:A")
    assert not state.acquire_lease("iom-fr", "flow-run:B", now=T0 + timedelta(minutes=2)).held_by_other


def test_an_expired_lease_is_taken_over(state):
    state.acquire_lease("iom-fr", "flow-run:A", now=T0)
    assert not state.acquire_lease("iom-fr", "flow-run:B", now=T0 + timedelta(hours=3)).held_by_other


def test_the_lease_of_a_killed_process_is_taken_over(tmp_path):
    db = tmp_path / "a.db"
    code = (
        "import sys; from storage.archive import Archive; from storage.fetchstate import FetchState\n"
        f"a = Archive.open({str(db)!r}); FetchState(a).acquire_lease('iom-fr', 'flow-run:dead')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.getcwd())
    with Archive.open(db) as archive:
        # The process that held it has exited without releasing: its lease is stale.
        assert not FetchState(archive).acquire_lease("iom-fr", "flow-run:B").held_by_other


def test_rejected_pages_keep_their_reason_status_and_discovery_kind(state):
    from errors import CleanError, ClientError, Gone, TooLarge

    state.record_pages(
        "apr",
        [
            PageOutcome("https://x/a", NotAnArticle("looks like a listing"), 200, "feed"),
            PageOutcome(
                "https://x/gone", Gone("https://x/gone", "answered HTTP 404 Not Found", status=404), 404, "feed"
            ),
            PageOutcome("https://x/big", TooLarge("https://x/big", "too big"), 200, "feed"),
        ],
        now=T0,
    )
    state.record_pages(
        "lexis",
        [
            PageOutcome("https://y/empty", CleanError("the page is empty"), 200, "sitemap"),
            PageOutcome("https://y/403", ClientError("https://y/403", "answered HTTP 403", status=403), 403, "sitemap"),
            PageOutcome("https://y/slow", Timeout("https://y/slow", "slow"), None, "sitemap"),
        ],
        now=T0 + timedelta(days=2),
    )
    rows = {p.url: (p.source, p.reason, p.status, p.found_via) for p in state.rejected()}
    assert rows == {
        "https://x/a": ("apr", "not-article", 200, "feed"),
        "https://x/gone": ("apr", "gone", 404, "feed"),
        "https://x/big": ("apr", "too-large", 200, "feed"),
        "https://y/empty": ("lexis", "unreadable", 200, "sitemap"),
        "https://y/403": ("lexis", "client-error", 403, "sitemap"),
        "https://y/slow": ("lexis", "failing", None, "sitemap"),
    }
    assert [p.url for p in state.rejected(source="apr", reason="not_article")] == ["https://x/a"]
    assert {p.source for p in state.rejected(since="2026-11-23")} == {"lexis"}
    assert state.rejected_counts(source="apr") == {"gone": 1, "not-article": 1, "too-large": 1}
    assert [p.url for p in state.rejected(urls=["https://x/gone", "https://nowhere"])] == ["https://x/gone"]


def test_yield_history_counts_what_a_source_archived_and_its_last_state(state):
    from scrapers.article import Article
    from storage.archive import Incoming

    assert state.yield_history("apr") == state.yield_history("apr").__class__(0, 0, None, None)
    state.record_run("apr", started_at=T0, ok=True, counts={}, state="warning", warning="the feed has no items")
    state.db.add_batch([Incoming(Article(title="t", date=None, paragraphs=["un texte"], url="https://x/1"), "apr")])
    history = state.yield_history("apr")
    assert (history.runs, history.articles, history.last_state, history.last_warning) == (
        1,
        1,
        "warning",
        "the feed has no items",
    )
