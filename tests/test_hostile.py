"""The hostile web (issue 14): one test per case; `pytest -m hostile` runs them alone.

Servers: `tests/hostile_server.py` (raw sockets: trickling answers, stacked encodings, TLS
stalls, any redirect) and `tests/httpserver.py` (ordinary pages), both on 127.0.0.1.
Memory bounds are checked in a child process under an address-space limit (RLIMIT_AS): an
unbounded decoder dies there with MemoryError. Time bounds are checked by what the fetch or
the run reports (which exchange was cut off, and in which phase); the only clocks are hang
guards (pytest-timeout), far above the deadlines under test.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import unicodedata
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from hostile_server import (
    HostileServer,
    answer,
    gzip_zeros,
    stacked_gzip_bomb,
    tls_stall,
)
from httpserver import Reply, html

from core.urls import host_key
from errors import (
    AddressNotAllowed,
    BadRedirect,
    CutOff,
    QuerySyntaxError,
    Timeout,
    TooLarge,
    UnsupportedEncoding,
)
from scrapers import inflate
from scrapers.fetch import Fetcher, FetchSettings

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
UA = "newswatch-test/0.1 (+mailto:test@example.org)"
FAST = FetchSettings(
    user_agent=UA,
    connect_timeout=5.0,
    read_timeout=5.0,
    total_timeout=1.5,
    max_page_bytes=1_000_000,
    max_document_bytes=4_000_000,
    attempts=2,
    backoff_base=0.01,
    backoff_max=0.05,
    max_retry_after=1.0,
    default_delay=0.0,
)
NO_ROBOTS = {"/robots.txt": answer(404, {}, b"")}
PAGE = b"<html><body><h1>Titre</h1><p>" + b"Un paragraphe de texte. " * 40 + b"</p></body></html>"


@pytest.fixture(scope="module")
def bomb_1g() -> bytes:
    """1 GiB of zeros, gzipped twice: a few KB on the wire."""
    return stacked_gzip_bomb(1 << 30, layers=2)


# --------------------------------------------------------------- in a memory-limited child ---

CHILD = r"""
import json, os, resource, sys
sys.path[:0] = [sys.argv[1], os.path.join(sys.argv[1], "tests")]
from scrapers.fetch import Fetcher, FetchSettings

def vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

args = json.loads(sys.argv[2])
settings = FetchSettings(**args["settings"])
out = {}
with Fetcher(settings) as fetcher:
    warm = fetcher.fetch(args["warm"])  # imports, connection pool, robots.txt: all done before
    assert warm.ok, warm.error
    if args["action"] == "clean":
        from flows.cli.main import main
    limit = vm_size() + args["headroom"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if args["action"] == "fetch":
        result = fetcher.fetch(args["url"])
        out = {"kind": result.error.kind if result.error else None, "error": str(result.error)}
    elif args["action"] == "discover":
        from scrapers.discover import SourceSpec, discover
        found = discover(SourceSpec("bomb", args["url"], kind=args["kind"]), fetcher)
        out = {"errors": found.errors, "candidates": len(found.candidates)}
    else:
        out = {"exit": main(["clean", args["path"]])}
out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out), flush=True)
"""
HEADROOM = 200 << 20  # address space allowed above the warmed-up child: 40 times the page cap


def run_limited(action: str, **args) -> dict:
    """Run CHILD under RLIMIT_AS (its warmed-up size + HEADROOM); its RESULT line as a dict."""
    settings = {k: v for k, v in vars(FAST).items() if k != "host_delays"}
    payload = json.dumps({"action": action, "settings": settings, "headroom": HEADROOM, **args})
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}  # glibc reserves 64 MB of address per arena
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), payload],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"child failed ({proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(lines[-1][len("RESULT ") :])
    result["stderr"] = proc.stderr
    return result


def test_stacked_gzip_bomb_stops_at_the_cap_in_bounded_memory(make_hostile_server, bomb_1g):
    server = make_hostile_server(
        {
            **NO_ROBOTS,
            "/warm": answer(200, {"Content-Type": "text/html"}, PAGE),
            "/bomb": answer(200, {"Content-Type": "text/html", "Content-Encoding": "gzip, gzip"}, bomb_1g),
        }
    )
    out = run_limited("fetch", warm=server.url("/warm"), url=server.url("/bomb"))
    assert out["kind"] == "too_large", out  # not MemoryError dressed as an unexpected error
    assert "decompresses to more than 1,000,000 bytes" in out["error"]
    assert "layer 2 of 2" in out["error"] and "max_page_bytes" in out["error"]
    assert server.url("/bomb") in out["error"]


def test_gzipped_sitemap_and_feed_bombs_stop_at_the_document_cap(make_hostile_server):
    # A .xml.gz file of 1 GiB of zeros, served with Content-Encoding: gzip on top.
    file_bomb = gzip_zeros(1 << 30)
    wire = gzip.compress(file_bomb, 9)
    headers = {"Content-Type": "application/xml", "Content-Encoding": "gzip"}
    server = make_hostile_server(
        {
            **NO_ROBOTS,
            "/warm": answer(200, {"Content-Type": "text/html"}, PAGE),
            "/sitemap.xml.gz": answer(200, headers, wire),
            "/feed.gz": answer(200, headers, wire),
        }
    )
    for path, kind in (("/sitemap.xml.gz", "sitemap"), ("/feed.gz", "feed")):
        out = run_limited("discover", warm=server.url("/warm"), url=server.url(path), kind=kind)
        assert out["candidates"] == 0 and len(out["errors"]) == 1, out
        assert "decompresses to more than 4,000,000 bytes" in out["errors"][0]
        assert "max_document_bytes" in out["errors"][0] and server.url(path) in out["errors"][0]


def test_clean_refuses_a_gzip_bomb_file_in_bounded_memory(make_hostile_server, tmp_path):
    bomb = tmp_path / "page.html.gz"
    bomb.write_bytes(gzip_zeros(1 << 30))  # ~1 MB on disk, 1 GiB inflated
    server = make_hostile_server({**NO_ROBOTS, "/warm": answer(200, {"Content-Type": "text/html"}, PAGE)})
    out = run_limited("clean", warm=server.url("/warm"), path=str(bomb))
    assert out["exit"] == 1
    assert f"newswatch clean: {bomb}: the input inflates to more than 10,000,000 bytes" in out["stderr"]
    assert "Traceback" not in out["stderr"]


def test_content_codings_decode_right_and_unknown_ones_are_refused(make_hostile_server):
    text = PAGE
    deflated = zlib.compress(text)
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = raw_deflate.compress(text) + raw_deflate.flush()
    two_members = gzip.compress(text[:100]) + gzip.compress(text[100:])
    routes = {
        **NO_ROBOTS,
        "/gzip2": answer(
            200, {"Content-Type": "text/html", "Content-Encoding": "gzip, gzip"}, gzip.compress(gzip.compress(text))
        ),
        "/deflate": answer(200, {"Content-Type": "text/html", "Content-Encoding": "deflate"}, deflated),
        "/raw-deflate": answer(200, {"Content-Type": "text/html", "Content-Encoding": "deflate"}, raw_deflate),
        "/members": answer(200, {"Content-Type": "text/html", "Content-Encoding": "x-gzip"}, two_members),
        "/br": answer(200, {"Content-Type": "text/html", "Content-Encoding": "br"}, b"\x0b\x02\x80"),
        "/four": answer(200, {"Content-Type": "text/html", "Content-Encoding": "gzip, gzip, gzip, gzip"}, b"x"),
        "/corrupt": answer(
            200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00garbage-garbage"
        ),
    }
    server = make_hostile_server(routes)
    with Fetcher(FAST) as fetcher:
        for path in ("/gzip2", "/deflate", "/raw-deflate", "/members"):
            result = fetcher.fetch(server.url(path))
            assert result.ok and result.body == text, (path, result.error)
        for path, kind in (("/br", "'br'"), ("/four", "stacks 4 content codings")):
            error = fetcher.fetch(server.url(path)).error
            assert isinstance(error, UnsupportedEncoding) and kind in str(error), error
        assert "corrupt gzip data" in str(fetcher.fetch(server.url("/corrupt")).error)
    assert all(r.headers.get("accept-encoding") == inflate.ACCEPT_ENCODING for r in server.requests)


# ------------------------------------------------------------------------ one deadline ---


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "phase, answer_bytes",
    [
        ("waiting for the status line and headers", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"),
        (
            "waiting for the status line and headers",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n",
        ),
        ("receiving the body", None),
    ],
    ids=["status-line", "headers", "body"],
)
def test_trickling_server_is_cut_off_at_the_total_deadline(make_hostile_server, phase, answer_bytes):
    server = make_hostile_server(NO_ROBOTS)
    if answer_bytes is None:  # headers at once, then the body a byte at a time
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"

        def route(conn, request):
            conn.sendall(head)
            server.trickle(b"<p>" + b"x" * 99_997, 0.2)(conn, request)

        server.routes["/page"] = route
    else:
        server.routes["/page"] = server.trickle(answer_bytes, 0.2)
    with Fetcher(FAST) as fetcher:
        result = fetcher.fetch(server.url("/page"))
    error = result.error
    assert isinstance(error, CutOff), error
    assert f"cut off after timeouts.total (1.5 s) while {phase}" in str(error)
    assert server.url("/page") in str(error) and "retried next run" in str(error)
    assert server.paths().count("/page") == 1  # a cut-off is not retried within the run


@pytest.mark.timeout(120)
def test_stalled_tls_handshake_is_cut_off(make_hostile_server):
    server = make_hostile_server()
    server.routes["*"] = server.trickle(tls_stall() + b"\x00" * 1000, 0.2)
    # The TLS client speaks first: the server answers whatever it read with the stalling record.
    server._handle = _raw_handler(server)
    url = f"https://127.0.0.1:{server.port}/page"
    with Fetcher(replace(FAST, obey_robots=False)) as fetcher:
        error = fetcher.fetch(url).error
    assert isinstance(error, CutOff) and "while TLS handshake" in str(error), error


def _raw_handler(server: HostileServer):
    def handle(conn):
        try:
            conn.recv(4096)  # the ClientHello
            server.routes["*"](conn, None)
        except OSError:
            pass
        finally:
            conn.close()

    return handle


@pytest.mark.timeout(120)
def test_stalled_connect_is_cut_off():
    # A listening socket whose accept queue is full and never drained: the SYN goes unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(listener.getsockname())
            fillers.append(s)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/page"
        with Fetcher(replace(FAST, connect_timeout=30.0, obey_robots=False, attempts=1)) as fetcher:
            error = fetcher.fetch(url).error
        assert isinstance(error, Timeout), error
        if isinstance(error, CutOff):
            assert "while connecting to 127.0.0.1" in str(error)
        else:  # the kernel answered the SYN after all: then the status line is what stalled
            assert "timed out" in str(error)
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.timeout(120)
def test_host_that_timed_out_twice_waits_for_the_next_run(make_hostile_server):
    server = make_hostile_server(NO_ROBOTS)
    server.routes["*"] = server.trickle(b"HTTP/1.1 200 OK\r\n\r\n", 0.2)
    urls = [server.url(f"/p{i}") for i in range(4)]
    with Fetcher(FAST) as fetcher:
        results = fetcher.fetch_many(urls)
    assert [type(r.error) for r in results] == [CutOff, CutOff, Timeout, Timeout]
    assert "not fetched: " + host_key(urls[0]) + " timed out on 2 fetches this run" in str(results[2].error)
    assert sorted(p for p in server.paths() if p != "/robots.txt") == ["/p0", "/p1"]


def zorblax_site(site, count: int):
    """An RSS feed of `count` aprnews-like articles, each mentioning the keyword zorblax."""
    from fake_sites import article_page, headline, paragraphs, rss_feed

    paths = [f"/news/z{i}" for i in range(count)]
    site.routes["/robots.txt"] = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")
    site.routes["/feed.xml"] = Reply(
        body=rss_feed(site.base, [(p, headline(p)) for p in paths]), content_type="application/rss+xml"
    )
    for p in paths:
        body = paragraphs(p, count=4)
        body[1] += " Le dossier zorblax est suivi."
        site.routes[p] = html(article_page("aprnews", site.base + p, body=body))
    return site


@pytest.mark.timeout(180)
def test_stuck_host_does_not_hold_back_the_others_summary_and_alerts(make_hostile_server, make_http_server, tmp_path):
    from smtpserver import SmtpServer

    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run
    from flows.pipeline.runner import Delivery

    good = zorblax_site(make_http_server(), 3)
    stuck = make_hostile_server(NO_ROBOTS)
    stuck.routes["/feed.xml"] = stuck.trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n", 0.3)
    smtp = SmtpServer().start()
    try:
        config = tmp_path / "newswatch.yaml"
        config.write_text(
            textwrap.dedent(f"""\
            archive: {tmp_path / "archive.db"}
            user_agent: hostile-test
            timeouts: {{connect: 5, read: 30, total: 2}}
            retries: {{attempts: 3, backoff: 0}}
            sources:
              - {{name: stuck, url: '{stuck.url("/feed.xml")}', kind: feed, delay: 0}}
              - {{name: good, url: '{good.url("/feed.xml")}', kind: feed, profile: aprnews, delay: 0}}
            smtp: {{host: 127.0.0.1, port: {smtp.port}, sender: nw@test.example, timeout: 5, password_env: null}}
            alerts:
              - {{name: zorblax, query: zorblax, to: [a@test.example]}}
            """)
        )
        summary = ingest_run(load_config(config), delivery=Delivery(retry_delay=0))
    finally:
        smtp.stop()
    by_name = {s.source: s for s in summary.sources}
    assert summary.finished_at is not None
    assert by_name["good"].new == 3 and summary.alerts_sent == 1 and len(smtp.messages) == 1
    failed = by_name["stuck"].failed
    assert failed and stuck.url("/feed.xml") in failed
    assert "cut off after timeouts.total (2 s) while waiting for the status line and headers" in failed
    assert stuck.paths().count("/feed.xml") == 1


# ---------------------------------------------------------------- redirects and host state ---


def test_redirect_to_another_scheme_fails_that_url_only(make_hostile_server, make_http_server):
    site = make_http_server()
    site.routes["/robots.txt"] = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")
    port = site.port
    site.routes["/to-ftp"] = Reply(status=302, content_type=None, headers={"Location": f"ftp://127.0.0.1:{port}/x"})
    site.routes["/to-file"] = Reply(status=301, content_type=None, headers={"Location": "file:///etc/passwd"})
    # https on the same host and port: the TLS handshake fails there, and only there.
    site.routes["/to-https"] = Reply(status=302, content_type=None, headers={"Location": f"https://127.0.0.1:{port}/y"})
    site.routes["/page"] = html("<p>fine</p>")
    urls = [site.url(p) for p in ("/to-ftp", "/to-file", "/to-https", "/page")]
    with Fetcher(replace(FAST, total_timeout=5.0)) as fetcher:
        results = fetcher.fetch_many(urls)
        again = fetcher.fetch(site.url("/page"))
    ftp, file_, https, page = results
    assert isinstance(ftp.error, BadRedirect) and "only http and https redirects are followed" in str(ftp.error)
    assert f"ftp://127.0.0.1:{port}/x" in str(ftp.error)
    assert isinstance(file_.error, BadRedirect)
    assert https.error is not None and "robots.txt of https://127.0.0.1" in str(https.error)
    assert page.ok and again.ok  # the http host was not poisoned by either hop
    assert site.requests("/robots.txt") and len(site.requests("/robots.txt")) == 1


def test_host_key_is_scheme_host_and_port():
    assert host_key("http://Example.org/a") == "http://example.org:80"
    assert host_key("https://example.org/a") == "https://example.org:443"
    assert host_key("http://example.org:8080/") == "http://example.org:8080"
    assert host_key("http://[::1]:81/") == "http://[::1]:81"
    assert len({host_key(u) for u in ("http://h/", "https://h/", "http://h:8080/", "ftp://h/")}) == 4


# ----------------------------------------------------------------------- private networks ---


class Resolver:
    """A DNS stand-in: name -> answers, one list per call (the last one repeated)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        seq = self.answers[host]
        return seq[min(self.calls.count(host) - 1, len(seq) - 1)]


def test_redirect_to_the_metadata_address_is_refused(make_hostile_server):
    server = make_hostile_server(
        {
            **NO_ROBOTS,
            "/go": answer(302, {"Location": "http://169.254.169.254/latest/meta-data/"}),
            "/named": answer(302, {"Location": "http://metadata.test/computeMetadata/v1/"}),
        }
    )
    resolver = Resolver({"metadata.test": [["169.254.169.254"]]})
    with Fetcher(FAST, resolver=resolver) as fetcher:
        scoped = fetcher.for_source(server.url("/feed"))
        for path in ("/go", "/named"):
            error = scoped.fetch(server.url(path)).error
            assert isinstance(error, AddressNotAllowed), error
            assert "a link-local address" in str(error) and "allow_private_networks" in str(error)
    # Even a source configured on a link-local address gets nothing from there.
    with Fetcher(replace(FAST, obey_robots=False)) as fetcher:
        error = fetcher.for_source("http://169.254.169.254/").fetch("http://169.254.169.254/x").error
    assert isinstance(error, AddressNotAllowed)


def test_private_ranges_only_where_the_source_points(make_hostile_server):
    server = make_hostile_server(
        {
            **NO_ROBOTS,
            "/page": answer(200, {"Content-Type": "text/html"}, PAGE),
            "/to-ten": answer(302, {"Location": "http://10.255.0.1/x"}),
            "/to-name": answer(302, {"Location": "http://intranet.test/x"}),
        }
    )
    resolver = Resolver({"news.test": [["93.184.216.34"]], "intranet.test": [["192.168.1.20"]]})
    with Fetcher(FAST, resolver=resolver) as fetcher:
        local = fetcher.for_source(server.url("/feed"))  # a test site: loopback is its range
        assert local.fetch(server.url("/page")).ok
        # 127.0.0.2 is in the same block (127/8): allowed; nothing listens there, so it fails to connect.
        assert not isinstance(local.fetch(f"http://127.0.0.2:{server.port}/page").error, AddressNotAllowed)
        for path, where in (("/to-ten", "10.0.0.0/8"), ("/to-name", "192.168.0.0/16")):
            error = local.fetch(server.url(path)).error
            assert isinstance(error, AddressNotAllowed) and f"a private address ({where})" in str(error), error
        public = fetcher.for_source("http://news.test/feed")  # a public site's feed...
        error = public.fetch(server.url("/page")).error  # ...listing a loopback URL
        assert isinstance(error, AddressNotAllowed) and "a loopback address (127.0.0.0/8)" in str(error)
        assert "the source's url (http://news.test/feed)" in str(error)
    assert server.paths().count("/page") == 1  # the refused fetch never reached the server
    with Fetcher(replace(FAST, allow_private_networks=True), resolver=resolver) as fetcher:
        assert fetcher.for_source("http://news.test/feed").fetch(server.url("/page")).ok
    assert server.paths().count("/page") == 2


def test_dns_rebinding_connects_to_the_checked_address(make_http_server):
    site = make_http_server()  # keep-alive: robots.txt and the page share one connection
    site.routes["/robots.txt"] = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")
    site.routes["/page"] = html("<p>x</p>")
    port = site.port
    rebinding = Resolver({"rebind.test": [["127.0.0.1"], ["10.0.0.1"]]})
    with Fetcher(FAST, resolver=rebinding) as fetcher:
        result = fetcher.for_source(site.url("/")).fetch(f"http://rebind.test:{port}/page")
    assert result.ok, result.error
    assert rebinding.calls == ["rebind.test"]  # resolved once; connected to what was checked
    assert {r.headers["host"] for r in site.requests()} == {f"rebind.test:{port}"}
    first_private = Resolver({"rebind.test": [["10.0.0.1"], ["127.0.0.1"]]})
    with Fetcher(FAST, resolver=first_private) as fetcher:
        error = fetcher.for_source(site.url("/")).fetch(f"http://rebind.test:{port}/other").error
    assert isinstance(error, AddressNotAllowed) and "10.0.0.1" in str(error)
    assert "/other" not in [r.path for r in site.requests()]


@pytest.mark.timeout(120)
def test_a_hanging_dns_lookup_is_bounded_too(make_hostile_server):
    import threading

    release = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        release.wait(60)  # getaddrinfo that never answers
        return ["127.0.0.1"]

    server = make_hostile_server({**NO_ROBOTS, "/page": answer(200, {"Content-Type": "text/html"}, PAGE)})
    try:
        with Fetcher(replace(FAST, connect_timeout=0.5), resolver=hanging) as fetcher:
            # The source's own name does not resolve in time: it allows no special range...
            scoped = fetcher.for_source("http://slow.test/feed")
            error = scoped.fetch(server.url("/page")).error
            assert isinstance(error, AddressNotAllowed) and "a loopback address" in str(error), error
            # ...and a page on a name that does not resolve is cut off within the deadline.
            error = fetcher.fetch(f"http://slow.test:{server.port}/page").error
            assert isinstance(error, CutOff) and "while looking up slow.test" in str(error), error
    finally:
        release.set()


def test_every_special_range_is_classified():
    from scrapers.transport import special_block

    public = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"]
    assert all(special_block(ipaddress.ip_address(a)) is None for a in public)
    labels = {
        a: special_block(ipaddress.ip_address(a))[1]
        for a in (
            "169.254.169.254",
            "fe80::1",
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.31.0.1",
            "192.168.0.1",
            "fd00::1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "240.0.0.1",
        )
    }
    assert labels["169.254.169.254"] == labels["fe80::1"] == labels["::ffff:169.254.169.254"] == "link-local"
    assert labels["64:ff9b::a9fe:a9fe"] == labels["2002:a9fe:a9fe::1"] == "link-local"  # NAT64, 6to4
    assert labels["::ffff:127.0.0.1"] == "loopback" and labels["fd00::1"].startswith("private")


# -------------------------------------------------------------------- discovery size cap ---


def test_discovery_documents_have_their_own_cap(make_http_server):
    from fake_sites import sitemap

    from scrapers.discover import SourceSpec, discover

    site = make_http_server()
    paths = [f"/news/{i:05d}-" + "x" * 60 for i in range(1500)]  # ~150 KB of sitemap
    site.routes["/sitemap.xml"] = Reply(body=sitemap(site.base, paths), content_type="application/xml")
    site.routes["/big-sitemap.xml"] = Reply(
        body=b"<urlset>" + b" " * 400_000 + b"</urlset>", content_type="application/xml"
    )
    site.routes["/page"] = html("<p>" + "mot " * 30_000 + "</p>")  # ~120 KB
    settings = replace(FAST, max_page_bytes=100_000, max_document_bytes=300_000)
    with Fetcher(settings) as fetcher:
        found = discover(SourceSpec("s", site.url("/sitemap.xml"), kind="sitemap"), fetcher)
        assert found.ok and len(found.candidates) == 1500
        too_big = discover(SourceSpec("s", site.url("/big-sitemap.xml"), kind="sitemap"), fetcher)
        page = fetcher.fetch(site.url("/page")).error
    assert "max_document_bytes" in too_big.errors[0] and "300,000" in too_big.errors[0]
    assert isinstance(page, TooLarge) and "max_page_bytes" in str(page)


# ------------------------------------------------------------------------- inert text ---


def test_markdown_artifact_escapes_every_construct():
    from markdown_it import MarkdownIt

    from flows.orchestration.artifacts import ingest_markdown
    from flows.pipeline.summary import IngestSummary, NewArticle, SourceReport

    titles = [
        "X](javascript:alert(1)) [Y",
        "<img src=x onerror=alert(1)>",
        "**gras** _it_ `code` ~~s~~",
        "# titre\n| a | b |",
        "voir http://evil.example/ et www.evil.example et a@evil.example",
        "![img](http://evil.example/i.png) [lien](http://evil.example)",
        "\u202eexe.txt &amp; &#x3c;",
    ]
    articles = [NewArticle(i + 1, t, f"https://ok.example/a/{i}", None) for i, t in enumerate(titles)]
    articles += [
        NewArticle(90, "js", "javascript:alert(1)", None),
        NewArticle(91, "data", "data:text/html,<script>alert(1)</script>", None),
        NewArticle(92, "paren", 'https://ok.example/a (b)<c>"d"', None),
    ]
    summary = IngestSummary(
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:01:00+00:00",
        sources=[
            SourceReport(
                source="s1",
                new_articles=articles,
                failed="[x](javascript:alert(2)) <b>",
                errors=["https://ok.example/e: answered <script>alert(3)</script> | cell"],
            )
        ],
        rule_errors=["alert rule 'r' set aside: [r](javascript:alert(4))"],
    )
    markdown = ingest_markdown(summary)
    rendered = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(markdown)
    links = [a.split('"')[1] for a in rendered.split("<a href=")[1:]]
    assert links == [f"https://ok.example/a/{i}" for i in range(len(titles))] + [
        "https://ok.example/a%20%28b%29%3Cc%3E%22d%22"
    ]
    assert "<img" not in rendered and "<script" not in rendered and "<b>" not in rendered
    assert "<strong>gras" not in rendered and "<em>" not in rendered and "<code>code" not in rendered
    assert "<del>" not in rendered and "<h1>titre" not in rendered
    assert "\u202e" not in markdown
    for bare in ("http://evil", "www.evil", "a@evil"):  # nothing a GFM renderer would autolink
        assert bare not in markdown
    assert "X](javascript:alert(1)) [Y" in rendered  # shown as the text it is


def test_a_plain_title_is_its_link_text_as_it_is_and_a_hostile_one_is_text_beside_the_link():
    """The Prefect UI shows backslash escapes inside a link's text as they are: a title with
    ordinary punctuation is the link's text unescaped; one that could start a construct is
    escaped text beside a link named after the site."""
    from markdown_it import MarkdownIt

    from flows.orchestration.artifacts import md_link

    plain = "Mauritanie : Nouakchott et Bruxelles signent un partenariat de 210 millions d'euros (2024), 2/3"
    markdown = md_link(plain, "https://www.apr-news.example/fr/depeches-breves/mauritanie")
    assert markdown == f"[{plain}](https://www.apr-news.example/fr/depeches-breves/mauritanie)"
    rendered = MarkdownIt("commonmark").render(markdown)
    assert ">Mauritanie : Nouakchott et Bruxelles signent un partenariat de 210 millions d" in rendered
    assert "\\" not in markdown
    for hostile in ("a *b* c", "x [y](javascript:z)", "A & B", "see www.evil.example", "`code`", "<i>", "a|b"):
        markdown = md_link(hostile, "https://ok.example/a")
        assert markdown.endswith(" ([ok.example](https://ok.example/a))"), markdown
        rendered = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(markdown)
        assert rendered.count("<a href=") == 1 and "<em>" not in rendered and "<i>" not in rendered


FORMAT_CHARACTERS = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]


def test_every_format_character_is_dropped_or_kept_on_purpose():
    import re

    from core.text import KEPT_FORMAT, inert

    kept = re.compile(f"[{KEPT_FORMAT}]")
    for ch in FORMAT_CHARACTERS:
        assert inert(f"a{ch}b") == ("a" + ch + "b" if kept.match(ch) else "ab"), hex(ord(ch))
    assert inert("\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f") != "\U0001f3f4"
    assert inert("a\x1b[31mb\x07\r\nc") == "a[31mb\nc"


def test_bidi_and_invisible_characters_leave_emails_search_and_the_archive(tmp_path):
    from smtpserver import SmtpServer

    from alerts.deliver import deliver_immediate
    from alerts.settings import AlertRule
    from core.article import Article
    from flows.pipeline.stages import store_batch
    from storage.archive import Archive
    from storage.records import Incoming

    title = "Rapport \u202egnp.exe\u202c sur les mi\u2066gr\u2069ants"
    body = [
        "Les mi\u200bgrants et les pas\u2060seurs\u00ad: un rapport.",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f468\u200d\U0001f469 zorblax " + "texte " * 40,
    ]
    smtp = SmtpServer().start()
    try:
        with Archive.open(tmp_path / "a.db") as archive:
            rules = [AlertRule(name="r", query="migrants passeurs", to=["a@test.example"])]
            result, matches = store_batch(
                archive, [Incoming(Article(title, None, body, url="https://x.example/1"), "s")], rules
            )
            assert len(matches) == 1  # the hidden characters no longer split the words
            stored = archive.get(result.new_ids[0])
            assert [h.id for h in archive.search("migrants")] == [stored.id]
            assert [h.id for h in archive.search("mi\u2066grants")] == [stored.id]  # query side too
            deliver_immediate(archive, smtp.settings, retry_delay=0)
        [message] = smtp.messages
    finally:
        smtp.stop()
    invisible = {"\u202e", "\u202c", "\u2066", "\u2069", "\u200b", "\u2060", "\u00ad"}
    assert not invisible & set(stored.title + stored.body)
    assert stored.title == "Rapport gnp.exe sur les migrants"
    assert "\u200c" in stored.body and "\u200d" in stored.body  # ZWNJ (Persian), ZWJ (emoji)
    text = message["Subject"] + message.get_body(("plain",)).get_content() + message.get_body(("html",)).get_content()
    assert not invisible & set(text)
    assert "Rapport gnp.exe sur les migrants" in message["Subject"]


# ------------------------------------------------------------------------ bounded queries ---


def test_deep_or_long_queries_are_one_line_errors_naming_the_limit(tmp_path):
    from storage.query import parse
    from storage.query_lexer import MAX_DEPTH, MAX_QUERY_CHARACTERS, MAX_TERMS

    cases = {
        "(" * 400 + "a" + ")" * 400: f"nested more than {MAX_DEPTH} deep",
        " ".join(f"mot{i}" for i in range(10_000)): f"more than the limit of {MAX_QUERY_CHARACTERS:,}",
        " OR ".join(f"w{i}" for i in range(MAX_TERMS + 1)): f"more than the limit of {MAX_TERMS}",
        "NEAR(" + " ".join(f"w{i}" for i in range(20)) + ", 5)": "NEAR takes at most",
    }
    for query, limit in cases.items():
        with pytest.raises(QuerySyntaxError) as e:
            parse(query)
        assert limit in str(e.value) and "\n" not in str(e.value)
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "search", "--archive", str(tmp_path / "a.db"), "(" * 400 + "a" + ")" * 400],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"nested more than {MAX_DEPTH} deep" in proc.stderr
    # Exclusions compile flat: 150 of them no longer overflow FTS5's parser.
    assert parse("a " + " ".join(f"-w{i}" for i in range(150))).fts.count("NOT") == 1


def test_bad_alert_rules_are_set_aside_whatever_the_error(make_http_server, tmp_path):
    from smtpserver import SmtpServer

    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run
    from flows.pipeline.runner import Delivery

    site = zorblax_site(make_http_server(), 2)
    smtp = SmtpServer().start()
    rules = {
        "deep": "(" * 400 + "zorblax" + ")" * 400,
        "long": " ".join(["zorblax"] * 3000),
        "excluding": "zorblax " + " ".join(f"-w{i}" for i in range(150)),
        "good": "zorblax",
    }
    try:
        config = tmp_path / "newswatch.yaml"
        config.write_text(
            f"archive: {tmp_path / 'archive.db'}\nsources:\n"
            f"  - {{name: s, url: '{site.url('/feed.xml')}', kind: feed, profile: aprnews, delay: 0}}\n"
            f"smtp: {{host: 127.0.0.1, port: {smtp.port}, sender: nw@test.example, password_env: null}}\n"
            "alerts:\n" + "".join(f"  - {{name: {n}, query: '{q}', to: [a@test.example]}}\n" for n, q in rules.items())
        )
        summary = ingest_run(load_config(config), delivery=Delivery(retry_delay=0))
        [message] = smtp.messages
    finally:
        smtp.stop()
    assert [e.split("'")[1] for e in summary.rule_errors] == ["deep", "long"]
    assert all(e.count("\n") == 0 and "limit" in e for e in summary.rule_errors)
    assert summary.sources[0].new == 2 and summary.alerts_sent == 1
    assert "== excluding (2) ==" in message.get_body(("plain",)).get_content()


# ------------------------------------------------------------ the config, before anything ---


def test_a_hostile_config_stops_every_run_before_anything_starts(tmp_path):
    archive = tmp_path / "archive.db"
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        archive: {archive}
        max_page_bytes: lots
        allow_private_networks: maybe
        timeouts: {{total: -1}}
        sources:
          - {{name: s, url: 'http://127.0.0.1:9/feed.xml', kind: feed}}
        smtp: {{host: mail.example.org, password: hunter2}}
        health_alerts: {{to: [ops@example.org], cc: someone}}
        """)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and len(lines) == 5, proc.stderr
    assert all(line.startswith(f"newswatch run: {config}: ") for line in lines)
    for field in ("max_page_bytes", "allow_private_networks", "timeouts.total", "smtp.password_env", "health_alerts"):
        assert field in proc.stderr, field
    assert "hunter2" not in proc.stderr and "Traceback" not in proc.stderr and "Prefect" not in proc.stderr
    assert not archive.exists()  # nothing archived first, nothing fetched


# ------------------------------------------------------------------- newer archive schema ---


def test_archive_from_a_newer_newswatch_is_refused_for_writing(tmp_path):
    from storage.archive import Archive
    from storage.schema import LATEST

    path = tmp_path / "archive.db"
    Archive.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'from the future', '2030-01-01')", (LATEST + 3,))
    config = tmp_path / "newswatch.yaml"
    config.write_text(f"archive: {path}\nsources:\n  - {{name: a, url: 'http://127.0.0.1:9/feed.xml'}}\n")

    def dump() -> list[str]:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return list(conn.iterdump())

    before = dump()

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
        )

    expected = f"written by a newer newswatch (schema {LATEST + 3} > {LATEST}): upgrade newswatch"
    for args in (
        ["run", "--config", str(config)],
        ["import", "--archive", str(path), str(TESTS / "fixtures" / "pages")],
    ):
        proc = cli(*args)
        assert proc.returncode == 1 and expected in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "Prefect" not in proc.stderr
    for args in (
        ["search", "--archive", str(path), "migrants"],
        ["stats", "--archive", str(path)],
        ["sources", "--config", str(config)],
    ):
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert "warning:" in proc.stderr and expected in proc.stderr
    assert dump() == before


# --------------------------------------------------------------- the double-send window ---


def test_email_interrupted_after_acceptance_is_sent_again_byte_for_byte(tmp_path):
    from smtpserver import SmtpServer

    from alerts.deliver import deliver_immediate
    from alerts.email import send_email
    from alerts.settings import AlertRule
    from core.article import Article
    from flows.pipeline.stages import store_batch
    from storage.archive import Archive
    from storage.records import Incoming

    class Killed(BaseException):
        pass

    def accepted_then_killed(smtp_settings, message):
        send_email(smtp_settings, message)
        raise Killed  # the process dies before "sent" is committed

    smtp = SmtpServer().start()
    try:
        with Archive.open(tmp_path / "a.db") as archive:
            rules = [AlertRule(name="r", query="zorblax", to=["a@test.example"])]
            store_batch(
                archive,
                [
                    Incoming(
                        Article(f"Titre {i}", None, [f"zorblax {i} " + "mot " * 40], url=f"https://x.example/{i}"), "s"
                    )
                    for i in range(2)
                ],
                rules,
            )
            with pytest.raises(Killed):
                deliver_immediate(archive, smtp.settings, retry_delay=0, send=accepted_then_killed)
            # Meanwhile a new match arrives: it must not change the email already sent.
            store_batch(
                archive,
                [Incoming(Article("Titre 9", None, ["zorblax 9 " + "mot " * 40], url="https://x.example/9"), "s")],
                rules,
            )
            report = deliver_immediate(archive, smtp.settings, retry_delay=0)
            again = deliver_immediate(archive, smtp.settings, retry_delay=0)
    finally:
        smtp.stop()
    first, resent, newer = smtp.raw_messages
    assert resent == first  # the same bytes: Message-ID, Date, listings
    messages = smtp.messages
    assert messages[0]["Message-ID"] == messages[1]["Message-ID"] != messages[2]["Message-ID"]
    assert "Titre 9" not in messages[1].get_body(("plain",)).get_content()
    assert "Titre 9" in messages[2].get_body(("plain",)).get_content()
    assert len(report.sent) == 2 and not again.sent


# ------------------------------------------------------------------ clean: regular files ---


@pytest.mark.timeout(120)
def test_clean_reads_only_regular_files_up_to_max_bytes(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    big = tmp_path / "big.html"
    big.write_bytes(b"<p>" + b"x" * 2_000_000 + b"</p>")
    good = TESTS / "fixtures" / "pages" / "iom-fr-wrapped-haiti.txt"
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.cli",
                "clean",
                "--max-bytes",
                "1M",
                str(fifo),
                "/dev/zero",
                str(sock_path),
                str(big),
                str(good),
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        server.close()
    errors = proc.stderr.splitlines()
    assert proc.returncode == 1 and len(errors) == 4, proc.stderr
    assert errors[0] == f"newswatch clean: {fifo}: is a named pipe (FIFO), not a regular file: give a saved page"
    assert errors[1] == "newswatch clean: /dev/zero: is a character device, not a regular file: give a saved page"
    assert "is a socket" in errors[2]
    assert "is 2,000,007 bytes, more than --max-bytes (1,000,000)" in errors[3]
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == [str(good)]
