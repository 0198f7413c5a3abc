"""Ingestion state kept in the archive: validators, failing pages with back-off, leases."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from errors import NotAnArticle, NotHtml, ServerError, Timeout
from storage import fetchstate
from storage.archive import Archive
from storage.fetchstate import MAX_ATTEMPTS
from storage.outcomes import PageOutcome

T0 = datetime(2026, 11, 22, 7, 30, tzinfo=UTC)


@pytest.fixture
def state(tmp_path):
    with Archive.open(tmp_path / "a.db") as archive:
        yield archive


def test_validators_round_trip_per_source(state):
    fetchstate.save_validators(state, "iom-fr", {"https://x/fr/news": ('"v1"', None)}, now=T0)
    fetchstate.save_validators(
        state, "iom-fr", {"https://x/fr/news": ('"v2"', "Sat, 21 Nov 2026 10:00:00 GMT")}, now=T0
    )
    assert fetchstate.validators(state, "iom-fr") == {"https://x/fr/news": ('"v2"', "Sat, 21 Nov 2026 10:00:00 GMT")}
    assert fetchstate.validators(state, "apr") == {}


def test_transient_failures_back_off_then_give_up(state):
    url = "https://x/a"
    fetchstate.record_pages(state, "s", [PageOutcome(url, ServerError(url, "500"))], now=T0)
    assert fetchstate.not_due(state, [url], now=T0 + timedelta(minutes=59)) == {url}
    assert fetchstate.not_due(state, [url], now=T0 + timedelta(minutes=61)) == set()
    fetchstate.record_pages(state, "s", [PageOutcome(url, Timeout(url, "slow"))], now=T0 + timedelta(hours=2))
    # The second wait is twice the first.
    assert fetchstate.not_due(state, [url], now=T0 + timedelta(hours=3, minutes=59)) == {url}
    assert fetchstate.not_due(state, [url], now=T0 + timedelta(hours=4, minutes=1)) == set()
    for i in range(MAX_ATTEMPTS):
        fetchstate.record_pages(state, "s", [PageOutcome(url, Timeout(url, "slow"))], now=T0 + timedelta(days=30 + i))
    assert fetchstate.not_due(state, [url], now=T0 + timedelta(days=400)) == {url}  # given up
    assert fetchstate.source_states(state, ["s"])[0].failing_pages == 0


def test_permanent_errors_and_non_articles_are_not_asked_again(state):
    fetchstate.record_pages(
        state,
        "s",
        [
            PageOutcome("https://x/doc.pdf", NotHtml("https://x/doc.pdf", "PDF")),
            PageOutcome("https://x/list", NotAnArticle("listing")),
        ],
        now=T0,
    )
    assert fetchstate.not_due(
        state, ["https://x/doc.pdf", "https://x/list", "https://x/new"], now=T0 + timedelta(days=365)
    ) == {
        "https://x/doc.pdf",
        "https://x/list",
    }


def test_forget_pages_clears_a_page_that_became_an_article(state):
    fetchstate.record_pages(state, "s", [PageOutcome("https://x/a", ServerError("https://x/a", "500"))], now=T0)
    fetchstate.forget_pages(state, ["https://x/a"])
    assert fetchstate.not_due(state, ["https://x/a"], now=T0) == set()


def test_source_states_report_last_success_and_last_error(state):
    fetchstate.record_run(state, "s", started_at=T0, finished_at=T0 + timedelta(seconds=5), ok=True, counts={"new": 2})
    fetchstate.record_run(
        state,
        "s",
        started_at=T0 + timedelta(hours=1),
        finished_at=T0 + timedelta(hours=1, seconds=3),
        ok=False,
        counts={},
        error="https://x/: host not found",
    )
    (st,) = fetchstate.source_states(state, ["s"])
    assert st.last_success == "2026-11-22T07:30:05+00:00"
    assert st.last_error == "https://x/: host not found"
    assert st.runs == 2


def test_a_live_lease_blocks_another_run_until_released(state):
    first = fetchstate.acquire_lease(state, "iom-fr", "flow-run:A", now=T0)
    assert not first.held_by_other
    second = fetchstate.acquire_lease(state, "iom-fr", "flow-run:B", now=T0 + timedelta(minutes=1))
    assert second.held_by_other and second.holder == "flow-run:A"
    assert not fetchstate.acquire_lease(state, "apr", "flow-run:B", now=T0).held_by_other  # other sources go on
    fetchstate.release_lease(state, "iom-fr", "flow-run:A")
    assert not fetchstate.acquire_lease(state, "iom-fr", "flow-run:B", now=T0 + timedelta(minutes=2)).held_by_other


def test_an_expired_lease_is_taken_over(state):
    fetchstate.acquire_lease(state, "iom-fr", "flow-run:A", now=T0)
    assert not fetchstate.acquire_lease(state, "iom-fr", "flow-run:B", now=T0 + timedelta(hours=3)).held_by_other


def test_the_lease_of_a_killed_process_is_taken_over(tmp_path):
    db = tmp_path / "a.db"
    code = (
        "import sys; from storage.archive import Archive; from storage import fetchstate\n"
        f"a = Archive.open({str(db)!r}); fetchstate.acquire_lease(a, 'iom-fr', 'flow-run:dead')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.getcwd())
    with Archive.open(db) as archive:
        # The process that held it has exited without releasing: its lease is stale.
        assert not fetchstate.acquire_lease(archive, "iom-fr", "flow-run:B").held_by_other


def test_rejected_pages_keep_their_reason_status_and_discovery_kind(state):
    from errors import CleanError, ClientError, Gone, TooLarge

    fetchstate.record_pages(
        state,
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
    fetchstate.record_pages(
        state,
        "lexis",
        [
            PageOutcome("https://y/empty", CleanError("the page is empty"), 200, "sitemap"),
            PageOutcome("https://y/403", ClientError("https://y/403", "answered HTTP 403", status=403), 403, "sitemap"),
            PageOutcome("https://y/slow", Timeout("https://y/slow", "slow"), None, "sitemap"),
        ],
        now=T0 + timedelta(days=2),
    )
    rows = {p.url: (p.source, p.reason, p.status, p.found_via) for p in fetchstate.rejected(state)}
    assert rows == {
        "https://x/a": ("apr", "not-article", 200, "feed"),
        "https://x/gone": ("apr", "gone", 404, "feed"),
        "https://x/big": ("apr", "too-large", 200, "feed"),
        "https://y/empty": ("lexis", "unreadable", 200, "sitemap"),
        "https://y/403": ("lexis", "client-error", 403, "sitemap"),
        "https://y/slow": ("lexis", "failing", None, "sitemap"),
    }
    assert [p.url for p in fetchstate.rejected(state, source="apr", reason="not_article")] == ["https://x/a"]
    assert {p.source for p in fetchstate.rejected(state, since="2026-11-23")} == {"lexis"}
    assert fetchstate.rejected_counts(state, source="apr") == {"gone": 1, "not-article": 1, "too-large": 1}
    assert [p.url for p in fetchstate.rejected(state, urls=["https://x/gone", "https://nowhere"])] == ["https://x/gone"]


def test_yield_history_counts_what_a_source_archived_and_its_last_state(state):
    from core.article import Article
    from storage.records import Incoming

    assert fetchstate.yield_history(state, "apr") == fetchstate.yield_history(state, "apr").__class__(0, 0, None, None)
    fetchstate.record_run(
        state, "apr", started_at=T0, ok=True, counts={}, state="warning", warning="the feed has no items"
    )
    state.add_batch([Incoming(Article(title="t", date=None, paragraphs=["un texte"], url="https://x/1"), "apr")])
    history = fetchstate.yield_history(state, "apr")
    assert (history.runs, history.articles, history.last_state, history.last_warning) == (
        1,
        1,
        "warning",
        "the feed has no items",
    )
