"""scrapers.fetch against a real HTTP server on 127.0.0.1 (tests/httpserver.py)."""

from __future__ import annotations

import socket
from dataclasses import replace
from email.utils import formatdate
from itertools import pairwise

import httpx
import pytest
from httpserver import LocalServer, Reply, html, redirect

from core.ports import free_port
from core.urls import host_key
from errors import (
    BadUrl,
    ClientError,
    ConnectFailed,
    HostNotFound,
    NotHtml,
    PermanentError,
    RateLimited,
    RedirectLoop,
    RobotsDisallowed,
    ServerError,
    TemporaryError,
    Timeout,
    TooLarge,
    TooManyRedirects,
)
from scrapers.decoding import decode_bytes
from scrapers.fetch import DISCOVERY_TYPES, Fetcher, FetchSettings, NotModified, Validators

UA = "newswatch-test/0.1 (+mailto:test@example.org)"

# Tiny waits everywhere: the suite stays fast, the behaviour is the same.
FAST = FetchSettings(
    user_agent=UA,
    connect_timeout=1.0,
    read_timeout=1.0,
    total_timeout=5.0,
    max_page_bytes=1_000_000,
    attempts=3,
    backoff_base=0.01,
    backoff_max=0.05,
    max_retry_after=5.0,
    default_delay=0.0,
)


@pytest.fixture
def fetcher():
    with Fetcher(FAST) as f:
        yield f


def test_conditional_get_returns_not_modified(http_server: LocalServer, fetcher: Fetcher) -> None:
    modified = "Mon, 06 Jan 2025 10:00:00 GMT"
    http_server.routes["/page"] = html("<p>hello</p>", etag='"v1"', last_modified=modified)

    first = fetcher.fetch(http_server.url("/page"))
    assert first.ok and first.status == 200 and first.body == b"<p>hello</p>"
    assert first.validators == Validators('"v1"', modified)

    second = fetcher.fetch(http_server.url("/page"), validators=first.validators)
    assert isinstance(second, NotModified) and second.not_modified
    assert second.status == 304 and second.body is None and second.error is None

    sent = http_server.requests("/page")[1].headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == modified
    assert [r.status for r in http_server.requests("/page")] == [200, 304]


def test_last_modified_alone_gives_304(http_server: LocalServer, fetcher: Fetcher) -> None:
    modified = "Mon, 06 Jan 2025 10:00:00 GMT"
    http_server.routes["/page"] = html("<p>x</p>", last_modified=modified)
    # A plain (etag, last_modified) tuple, as storage.fetchstate hands them back.
    result = fetcher.fetch(http_server.url("/page"), validators=(None, modified))
    assert result.not_modified and "if-none-match" not in http_server.requests("/page")[0].headers


def test_user_agent_is_sent(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/page"] = html("<p>x</p>")
    fetcher.fetch(http_server.url("/page"))
    assert {r.headers["user-agent"] for r in http_server.requests()} == {UA}


def test_server_errors_are_retried_until_success(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/flaky"] = [Reply(status=500), Reply(status=502), html("<p>ok</p>")]
    result = fetcher.fetch(http_server.url("/flaky"))
    assert result.ok and result.body == b"<p>ok</p>" and result.attempts == 3
    assert [r.status for r in http_server.requests("/flaky")] == [500, 502, 200]


def test_persistent_server_error_is_recorded(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/down"] = Reply(status=503)
    result = fetcher.fetch(http_server.url("/down"))
    assert isinstance(result.error, ServerError) and result.status == 503
    assert isinstance(result.error, TemporaryError)  # a later run may get it
    assert http_server.url("/down") in str(result.error) and "after 3 tries" in str(result.error)
    assert len(http_server.requests("/down")) == 3


def test_client_errors_are_not_retried(http_server: LocalServer, fetcher: Fetcher) -> None:
    result = fetcher.fetch(http_server.url("/missing"))
    assert isinstance(result.error, ClientError) and result.status == 404
    assert isinstance(result.error, PermanentError)  # never asked for again
    assert "404" in str(result.error) and len(http_server.requests("/missing")) == 1


@pytest.mark.slow  # waits out a lock, a delay or a retry
def test_retry_after_is_honoured(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/busy"] = [Reply(status=429, headers={"Retry-After": "1"}), html("<p>ok</p>")]
    result = fetcher.fetch(http_server.url("/busy"))
    assert result.ok
    first, second = http_server.requests("/busy")
    assert first.status == 429 and second.status == 200
    assert second.started - first.finished >= 0.95


def test_retry_after_beyond_the_cap_is_recorded_not_waited(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/seconds"] = Reply(status=429, headers={"Retry-After": "3600"})
    in_an_hour = formatdate(timeval=__import__("time").time() + 3600, usegmt=True)
    http_server.routes["/date"] = Reply(status=503, headers={"Retry-After": in_an_hour})
    for path in ("/seconds", "/date"):
        result = fetcher.fetch(http_server.url(path))
        assert isinstance(result.error, RateLimited), result.error
        assert "Retry-After" in str(result.error) and "retried next run" in str(result.error)
        assert len(http_server.requests(path)) == 1


@pytest.mark.slow  # waits out the read timeout
def test_hanging_page_times_out_while_other_hosts_complete(make_http_server, fetcher: Fetcher) -> None:
    slow, quick = make_http_server(), make_http_server()
    slow.routes["/hang"] = Reply(body=b"late", delay=30)
    slow.routes["/after"] = html("<p>after</p>")
    for i in range(3):
        quick.routes[f"/p{i}"] = html(f"<p>{i}</p>")
    urls = [slow.url("/hang"), *(quick.url(f"/p{i}") for i in range(3)), slow.url("/after")]

    results = fetcher.fetch_many(urls)

    assert [r.url for r in results] == urls
    hang = results[0]
    assert isinstance(hang.error, Timeout) and slow.url("/hang") in str(hang.error)
    assert "timed out" in str(hang.error)
    assert all(r.ok for r in results[1:])
    # The other host was served while the hanging one was still being waited for.
    last_hang = slow.requests("/hang")[-1]
    assert max(r.finished for r in quick.requests()) < last_hang.started + FAST.read_timeout


def test_redirect_is_followed_and_final_url_recorded(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/old"] = redirect("/new", 301)
    http_server.routes["/new"] = html("<p>moved</p>")
    result = fetcher.fetch(http_server.url("/old"))
    assert result.ok and result.url == http_server.url("/old")
    assert result.final_url == http_server.url("/new")


def test_redirect_loop_is_recorded(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/a"] = redirect("/b")
    http_server.routes["/b"] = redirect("/a")
    result = fetcher.fetch(http_server.url("/a"))
    assert isinstance(result.error, RedirectLoop) and "redirect loop" in str(result.error)
    assert result.url == http_server.url("/a") and result.body is None
    assert http_server.paths() == ["/a", "/b"]


def test_too_many_redirects_is_recorded(http_server: LocalServer) -> None:
    for i in range(5):
        http_server.routes[f"/r{i}"] = redirect(f"/r{i + 1}")
    with Fetcher(replace(FAST, max_redirects=3)) as fetcher:
        result = fetcher.fetch(http_server.url("/r0"))
    assert isinstance(result.error, TooManyRedirects) and "max_redirects" in str(result.error)


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
def test_oversized_page_is_aborted(http_server: LocalServer, fetcher: Fetcher, declare_length: bool) -> None:
    http_server.routes["/huge"] = Reply(body=b"<p>" + b"x" * 10_000_000, declare_length=declare_length)
    result = fetcher.fetch(http_server.url("/huge"))
    assert isinstance(result.error, TooLarge) and result.body is None
    assert "max_page_bytes" in str(result.error) and http_server.url("/huge") in str(result.error)


def test_pdf_is_recorded_not_returned(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/doc.pdf"] = Reply(body=b"%PDF-1.7 ...", content_type="application/pdf")
    http_server.routes["/disguised"] = Reply(body=b"%PDF-1.7 ...", content_type="text/html")
    http_server.routes["/photo"] = Reply(body=b"\x89PNG\r\n\x1a\n...", content_type="image/png")
    for path in ("/doc.pdf", "/disguised", "/photo"):
        result = fetcher.fetch(http_server.url(path))
        assert isinstance(result.error, NotHtml) and result.body is None, path
    assert "application/pdf" in str(fetcher.fetch(http_server.url("/doc.pdf")).error)


def test_feed_types_are_accepted_for_discovery_only(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/feed"] = Reply(body=b"<rss/>", content_type="application/rss+xml")
    assert isinstance(fetcher.fetch(http_server.url("/feed")).error, NotHtml)
    assert fetcher.fetch(http_server.url("/feed"), accept=DISCOVERY_TYPES).ok


def test_robots_disallowed_page_is_never_requested(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/robots.txt"] = Reply(
        body="User-agent: *\nDisallow: /private/\n\n"
        "User-agent: newswatch-test\nDisallow: /private/\nDisallow: /not-for-us\n",
        content_type="text/plain",
    )
    for path in ("/private/page", "/public", "/not-for-us", "/public2"):
        http_server.routes[path] = html("<p>x</p>")
    urls = [http_server.url(p) for p in ("/private/page", "/public", "/not-for-us", "/public2")]

    results = fetcher.fetch_many(urls)

    assert [type(r.error) for r in results] == [RobotsDisallowed, type(None), RobotsDisallowed, type(None)]
    assert "robots.txt" in str(results[0].error) and urls[0] in str(results[0].error)
    assert http_server.paths(robots=True) == ["/robots.txt", "/public", "/public2"]
    assert http_server.requests("/robots.txt")[0].headers["user-agent"] == UA


def test_robots_server_error_stops_the_host_for_the_run(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/robots.txt"] = Reply(status=500)
    http_server.routes["/page"] = html("<p>x</p>")
    results = fetcher.fetch_many([http_server.url("/page"), http_server.url("/page?2")])
    assert all(isinstance(r.error, ServerError) and "robots.txt" in str(r.error) for r in results)
    assert http_server.paths() == []
    assert len(http_server.requests("/robots.txt")) == FAST.attempts  # once per run, retried


def test_politeness_one_request_per_host_at_a_time_hosts_in_parallel(make_http_server) -> None:
    a, b = make_http_server(), make_http_server()
    for server in (a, b):
        for i in range(3):
            server.routes[f"/p{i}"] = Reply(body=b"<p>x</p>", delay=0.2)
    delay = 0.1
    settings = replace(FAST, host_delays={host_key(a.base): delay, host_key(b.base): delay})
    urls = [s.url(f"/p{i}") for i in range(3) for s in (a, b)]

    with Fetcher(settings) as fetcher:
        results = fetcher.fetch_many(urls)

    assert all(r.ok for r in results)
    for server in (a, b):
        log = sorted(server.requests(), key=lambda r: r.started)
        for before, after in pairwise(log):
            assert after.started >= before.finished + delay * 0.9, "requests to one host overlap"
    overlaps = [(x, y) for x in a.requests() for y in b.requests() if x.started < y.finished and y.started < x.finished]
    assert overlaps, "the two hosts were not fetched in parallel"


def test_windows_1252_declared_latin1_comes_back_as_bytes(http_server: LocalServer, fetcher: Fetcher) -> None:
    text = "<html><body><p>L’OIM salue l’été « à Genève » – œuvre</p></body></html>"
    data = text.encode("windows-1252")
    http_server.routes["/fr"] = Reply(body=data, content_type="text/html; charset=iso-8859-1")
    result = fetcher.fetch(http_server.url("/fr"))
    assert result.body == data and result.content_type == "text/html; charset=iso-8859-1"
    assert "L’OIM salue l’été « à Genève » – œuvre" in decode_bytes(result.body, result.content_type)


def test_errors_never_raise_out_of_fetch_many(fetcher: Fetcher) -> None:
    closed = f"http://127.0.0.1:{free_port()}/page"  # a port nobody listens on
    results = fetcher.fetch_many(["ftp://example.org/file", closed])
    assert [type(r.error) for r in results] == [BadUrl, ConnectFailed]
    assert "ftp://example.org/file" in str(results[0].error)
    assert closed in str(results[1].error) and "robots.txt" in str(results[1].error)


def test_unknown_host_fails_at_once_without_retries() -> None:
    calls = []

    def no_dns(request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as e:
            raise httpx.ConnectError(str(e), request=request) from e

    with Fetcher(FAST, transport=httpx.MockTransport(no_dns)) as fetcher:
        results = fetcher.fetch_many(["http://news.invalid/a", "http://news.invalid/b"])
    assert [type(r.error) for r in results] == [HostNotFound, HostNotFound]
    assert "host name news.invalid not found (DNS)" in str(results[1].error)
    assert [str(u) for u in calls] == ["http://news.invalid/robots.txt"]  # once, not retried


@pytest.mark.slow  # waits out a lock, a delay or a retry
def test_robots_crawl_delay_slows_the_host_down(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/robots.txt"] = Reply(body="User-agent: *\nCrawl-delay: 1\n", content_type="text/plain")
    http_server.routes["/a"] = http_server.routes["/b"] = html("<p>x</p>")
    assert all(r.ok for r in fetcher.fetch_many([http_server.url("/a"), http_server.url("/b")]))
    a, b = http_server.requests("/a")[0], http_server.requests("/b")[0]
    assert b.started - a.finished >= 0.95
