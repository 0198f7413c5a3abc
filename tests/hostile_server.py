"""A hostile web server on 127.0.0.1 for tests: answers written byte by byte, on a raw socket.

What `tests/httpserver.py` (a well-behaved `http.server`) cannot do: trickle the status line
or the headers, stall a TLS handshake, stack content codings, send exactly the bytes a
test wants. Each route is a function `(conn, request) -> None` that writes what it likes on
the socket; `HostileServer.base` / `.url(path)` address it; `.requests` logs request lines.

Builders of answers and payloads:
- `respond(status, headers, body)`: a complete HTTP/1.1 answer (Connection: close);
- `trickle(data, every)`: bytes one at a time, `every` seconds apart, until the client
  hangs up or the server stops;
- `gzip_zeros(n)`: a gzip member of `n` zero bytes built in milliseconds (identical
  compressed blocks repeated), so bombs of gigabytes cost nothing to make;
- `stacked_gzip_bomb(n, layers)`: `n` zeros gzipped `layers` times;
- `tls_stall()`: a TLS record header promising 16 KB, then one byte at a time.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

Route = Callable[[socket.socket, "RawRequest"], None]


class RawRequest:
    def __init__(self, line: str, headers: dict[str, str]) -> None:
        self.line = line
        self.headers = headers  # names lower-cased
        parts = line.split()
        self.method = parts[0] if parts else ""
        self.path = parts[1] if len(parts) > 1 else ""


class HostileServer:
    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[RawRequest] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            request = _read_request(conn)
            if request is None:
                return
            self.requests.append(request)
            route = self.routes.get(request.path.split("?", 1)[0]) or self.routes.get("*")
            if route is None:
                conn.sendall(respond(404, {}, b"not found"))
            else:
                route(conn, request)
        except OSError:
            pass  # the client gave up: what most hostile routes expect
        finally:
            conn.close()

    # ---- answers that need the server (they stop when it does)

    def trickle(self, data: bytes, every: float) -> Route:
        """A route sending `data` (then nothing more) one byte per `every` seconds."""

        def route(conn: socket.socket, request: RawRequest) -> None:
            for i in range(len(data)):
                if self.stopping.wait(every):
                    return
                conn.sendall(data[i : i + 1])
            self.stopping.wait(60)

        return route

    def stall(self, first: bytes = b"") -> Route:
        """A route sending `first`, then nothing, until the client hangs up."""

        def route(conn: socket.socket, request: RawRequest) -> None:
            if first:
                conn.sendall(first)
            self.stopping.wait(60)

        return route


def _read_request(conn: socket.socket) -> RawRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > 65536:
            return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawRequest(head[0], headers)


def respond(status: int, headers: dict[str, str], body: bytes = b"", *, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    headers = {"Content-Length": str(len(body)), "Connection": "close", **headers}
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answer(status: int, headers: dict[str, str], body: bytes = b"") -> Route:
    data = respond(status, headers, body)
    return lambda conn, request: conn.sendall(data)


# ------------------------------------------------------------------------------ payloads ---


def gzip_zeros(size: int) -> bytes:
    """A gzip member of `size` zero bytes (size a multiple of 1 MiB), in milliseconds: after a
    full flush deflate restarts from nothing, so each MiB of zeros compresses to the same bytes."""
    mib = 1 << 20
    assert size % mib == 0
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = deflate.compress(b"\0" * mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    unit = deflate.compress(b"\0" * mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    crc, zeros = 0, b"\0" * mib
    for _ in range(size // mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + first + unit * (size // mib - 1) + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def stacked_gzip_bomb(size: int, layers: int = 2) -> bytes:
    """`size` zeros gzipped `layers` times (the outer layers with the gzip module)."""
    data = gzip_zeros(size)
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


def tls_stall() -> bytes:
    """The start of a TLS record that promises 16 KB of handshake; what follows trickles."""
    return b"\x16\x03\x03\x40\x00"


@pytest.fixture
def make_hostile_server() -> Iterator[Callable[..., HostileServer]]:
    servers: list[HostileServer] = []

    def make(routes: dict[str, Route] | None = None) -> HostileServer:
        server = HostileServer(routes).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def wait_for(condition: Callable[[], bool], limit: float = 60.0) -> bool:
    """Poll `condition` until true, at most `limit` seconds (a hang guard, not a measure)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
