"""Real servers on 127.0.0.1: an HTTP server with scripted routes, an SMTP server that keeps
what it accepts. `newswatch demo` serves its bundled site and receives its email with them;
the tests script them (tests/httpserver.py and tests/smtpserver.py add the pytest fixtures).

HTTP: routes map a path (with its query string, else without) to
- a `Reply`;
- a list of `Reply`: one per request in order, the last one repeated (500, 500, 200...);
- a callable `(Request) -> Reply`;
and `fallback` answers the paths no route names (`site_files(root)` serves a directory).
A `Reply` with `etag`/`last_modified` answers 304 to a matching conditional request. Routes
can be changed while the server runs (`server.routes["/x"] = Reply(...)`); `server.log`
records every request.

SMTP (aiosmtpd): `SmtpServer().start()` on a free port; `refuse_next(n)` makes the next n
DATA commands answer 451 (temporary failure), or the reply given; `messages` are the accepted
messages, parsed; `settings` the matching `SmtpSettings`. `closed_port()` is a port with
nothing listening: SMTP down.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from alerts.settings import SmtpSettings
from core.ports import free_port

# ------------------------------------------------------------------------------- HTTP ---


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


def html(body: str, *, charset: str = "utf-8", **kw: Any) -> Reply:
    """A page of `body` encoded in `charset`; `kw`: the other fields of its Reply."""
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

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client closing its keep-alive connection, or giving up mid-body
        super().handle_error(request, client_address)


class LocalServer:
    def __init__(self, routes: dict[str, Route] | None = None, *, fallback: Route | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.fallback = fallback
        self.log: list[Request] = []
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True, kwargs={"poll_interval": 0.05})

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
            route = self.routes.get(request.route, self.fallback)
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
        # delayed ACK stalls every keep-alive response (docs/benchmarks.md, bench/ingest.py).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # the request log replaces stderr noise

        def do_GET(self) -> None:
            request = Request(
                method=self.command,
                path=self.path,
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
                if request.method != "HEAD":
                    self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data) if request.method != "HEAD" else 0, 64 * 1024):
                chunk = data[i : i + 64 * 1024]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

        do_HEAD = do_GET

    return Handler


_SITE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def site_files(root: Path) -> Callable[[Request], Reply]:
    """A route serving the files under `root`: `/a/b` is `a/b`, `a/b.html` or `a/b/index.html`,
    `/` is `index`; an ETag per content. In `.xml` files (feeds hold absolute links) `@SITE@`
    becomes the server's own address, taken from the request's Host header."""

    def serve(request: Request) -> Reply:
        path = unquote(request.route).strip("/")
        if ".." in path.split("/"):
            return Reply(status=404, body=b"not found\n", content_type="text/plain; charset=utf-8")
        base = root / path if path else root / "index"
        for file in (base, base.with_name(base.name + ".html"), base / "index.html"):
            if file.is_file():
                break
        else:
            return Reply(status=404, body=b"not found\n", content_type="text/plain; charset=utf-8")
        data = file.read_bytes()
        if file.suffix == ".xml":
            data = data.replace(b"@SITE@", f"http://{request.headers.get('host', '')}".encode())
        return Reply(
            body=data,
            content_type=_SITE_TYPES.get(file.suffix, "application/octet-stream"),
            etag='"' + hashlib.sha1(data).hexdigest()[:16] + '"',
        )

    return serve


# ------------------------------------------------------------------------------- SMTP ---


def closed_port() -> int:
    """A port with nothing listening: SMTP down."""
    return free_port()


class _Handler:
    def __init__(self):
        self.lock = threading.Lock()
        self.refusals_left = 0
        self.refusal = "451 4.3.0 Mailbox busy, try again later"
        self.refused = 0
        self.accepted: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refusals_left > 0:
                self.refusals_left -= 1
                self.refused += 1
                return self.refusal
            self.accepted.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 OK"


class SmtpServer:
    def __init__(self):
        from aiosmtpd.controller import Controller  # only a server that runs needs it

        self.handler = _Handler()
        self.port = closed_port()  # aiosmtpd checks readiness by connecting: it needs a real port
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def refuse_next(self, count: int, reply: str = "451 4.3.0 Mailbox busy, try again later") -> None:
        with self.handler.lock:
            self.handler.refusals_left = count
            self.handler.refusal = reply

    @property
    def refused(self) -> int:
        return self.handler.refused

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=email.policy.default) for _, raw in self.handler.accepted]

    @property
    def raw_messages(self) -> list[bytes]:
        return [raw for _, raw in self.handler.accepted]

    def to(self, recipient: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == recipient]

    @property
    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, sender="newswatch@test.example", timeout=5)
