"""A real HTTP server on 127.0.0.1 for tests: scripted routes and a request log.

Fixtures (registered by tests/conftest.py through `pytest_plugins`):
- `http_server`: one started server, stopped after the test;
- `make_http_server`: a factory for more (each one is a distinct host for politeness).

Routes map a path (with its query string, else without) to:
- a `Reply`;
- a list of `Reply`: one per request in order, the last one repeated (500, 500, 200...);
- a callable `(Request) -> Reply`.
A `Reply` with `etag`/`last_modified` answers 304 to a matching conditional request.
Routes can be changed while the server runs (`server.routes["/x"] = Reply(...)`).
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None  # an HTTP date
    delay: float = 0.0  # seconds to wait before answering: a hanging page
    declare_length: bool = True  # False: chunked, so only streaming can notice the size

    @property
    def data(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


def html(body: str, *, charset: str = "utf-8", **kw: object) -> Reply:
    return Reply(body=body.encode(charset), content_type=f"text/html; charset={charset}", **kw)


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, content_type=None, headers={"Location": location})


@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # header names lower-cased
    started: float  # time.monotonic() when the request line was read
    finished: float = 0.0  # time.monotonic() after the answer was written
    status: int | None = None

    @property
    def route(self) -> str:
        return urlsplit(self.path).path


Route = Reply | list[Reply] | Callable[[Request], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client closing its keep-alive connection, or giving up mid-body
        super().handle_error(request, client_address)


class LocalServer:
    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.log: list[Request] = []
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging routes
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests(self, path: str | None = None) -> list[Request]:
        """Logged requests, optionally only those for `path` (query string ignored unless given)."""
        with self._lock:
            log = list(self.log)
        if path is None:
            return log
        return [r for r in log if r.path == path or ("?" not in path and r.route == path)]

    def paths(self, *, robots: bool = False) -> list[str]:
        return [r.path for r in self.requests() if robots or r.route != "/robots.txt"]

    # ---- used by the handler

    def _reply_for(self, request: Request) -> Reply:
        route = self.routes.get(request.path)
        if route is None:
            route = self.routes.get(request.route)
        if route is None:
            return Reply(status=404, body=b"not found", content_type="text/plain")
        if callable(route):
            return route(request)
        if isinstance(route, list):
            with self._lock:
                n = self._served.get(request.path, 0)
                self._served[request.path] = n + 1
            return route[min(n, len(route) - 1)]
        return route


def _not_modified(reply: Reply, headers: dict[str, str]) -> bool:
    if reply.status != 200:
        return False
    inm = headers.get("if-none-match")
    if inm is not None and reply.etag is not None:
        return reply.etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    ims = headers.get("if-modified-since")
    if ims is not None and reply.last_modified is not None:
        try:
            return parsedate_to_datetime(reply.last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


def _make_handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: with Nagle's algorithm on, the client's
        # delayed ACK stalls every keep-alive response ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # the request log replaces stderr noise

        def do_GET(self) -> None:  # noqa: N802
            request = Request(
                method=self.command, path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                started=time.monotonic(),
            )
            with server._lock:
                server.log.append(request)
            reply = server._reply_for(request)
            if reply.delay and server._stopping.wait(reply.delay):
                return
            try:
                self._answer(request, reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (too large, timeout): that is what some tests want
            finally:
                request.finished = time.monotonic()

        def _answer(self, request: Request, reply: Reply) -> None:
            status = 304 if _not_modified(reply, request.headers) else reply.status
            request.status = status
            self.send_response(status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.etag:
                self.send_header("ETag", reply.etag)
            if reply.last_modified:
                self.send_header("Last-Modified", reply.last_modified)
            if status == 304:
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            data = reply.data
            if reply.declare_length:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 64 * 1024):
                chunk = data[i:i + 64 * 1024]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@pytest.fixture
def make_http_server() -> Iterator[Callable[..., LocalServer]]:
    servers: list[LocalServer] = []

    def make(routes: dict[str, Route] | None = None) -> LocalServer:
        server = LocalServer(routes).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def http_server(make_http_server: Callable[..., LocalServer]) -> LocalServer:
    return make_http_server()
