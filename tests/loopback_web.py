"""Many web hosts on one machine: one site per loopback address (127.0.x.y), all on one port,
served by one asyncio loop in a thread (a thousand `LocalServer`s would be a thousand threads).

    web = LoopbackWeb({address: {path: Reply}}).start()
    web.url(address, "/feed.xml")          # http://127.0.1.7:PORT/feed.xml
    web.requests(address)                  # what that host was asked, in order, with times
    web.stop()

`one_page_feeds(n, page)`: n hosts, each an RSS feed of one article (`page(i)` gives its
bytes): what a run of a thousand sources looks like from the network. Replies are
`flows.demo.servers.Reply` (status, body, content type, headers, a delay for a hanging page).
The whole 127.0.0.0/8 is the loopback on Linux: nothing here leaves the machine.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from flows.demo.servers import Reply


def loopback_addresses(count: int) -> list[str]:
    """`count` distinct loopback addresses, 127.0.1.1 onwards (250 per third byte)."""
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(count)]


@dataclass
class Served:
    """One request a host received: when it came in and when its answer was written."""

    address: str
    path: str
    started: float  # time.monotonic()
    finished: float = 0.0


class LoopbackWeb:
    def __init__(self, sites: dict[str, dict[str, Reply]], *, fallback: Reply | None = None) -> None:
        self.sites = sites
        self.fallback = fallback or Reply(status=404, body=b"not found", content_type="text/plain")
        self.port = 0
        self.log: list[Served] = []
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback-web", daemon=True)
        self._stopping: asyncio.Event | None = None

    def url(self, address: str, path: str = "/") -> str:
        return f"http://{address}:{self.port}{path}"

    def requests(self, address: str | None = None) -> list[Served]:
        return [r for r in list(self.log) if address is None or r.address == address]

    def start(self) -> LoopbackWeb:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._bind_all(), self._loop).result(timeout=120)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._stopping is not None:
                self._stopping.set()
            for server in self._servers:
                server.close()
            for server in self._servers:
                await server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=30)
        except (TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _bind_all(self) -> None:
        """Every address on one port: the first address picks a free one, the others follow;
        a port taken on another address makes it start over with a new one."""
        self._stopping = asyncio.Event()
        addresses = list(self.sites)
        for _attempt in range(10):
            servers: list[asyncio.base_events.Server] = []
            try:
                first = await asyncio.start_server(self._handle, addresses[0], 0, backlog=64)
                servers.append(first)
                port = first.sockets[0].getsockname()[1]
                for address in addresses[1:]:
                    servers.append(await asyncio.start_server(self._handle, address, port, backlog=64))
            except OSError:
                for server in servers:
                    server.close()
                continue
            self._servers, self.port = servers, port
            return
        raise OSError("no port free on every loopback address after 10 tries")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("sockname")[0]
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _version = (lines[0].split(" ") + ["", "", ""])[:3]
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                served = Served(address, path, time.monotonic())
                self.log.append(served)
                reply = self.sites.get(address, {}).get(path, self.fallback)
                if reply.delay:
                    assert self._stopping is not None
                    try:
                        await asyncio.wait_for(self._stopping.wait(), reply.delay)
                        return  # stopping: drop the connection, as a hanging server would
                    except TimeoutError:
                        pass
                body = reply.data if method != "HEAD" else b""
                out = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
                out += [f"{k}: {v}" for k, v in reply.headers.items()]
                if reply.content_type:
                    out.append(f"Content-Type: {reply.content_type}")
                out += [f"Content-Length: {len(reply.data)}", f"Date: {formatdate(usegmt=True)}", "", ""]
                writer.write("\r\n".join(out).encode("latin-1") + body)
                await writer.drain()
                served.finished = time.monotonic()
                if headers.get("connection", "").lower() == "close":
                    return
        except ConnectionError:
            return
        finally:
            writer.close()


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 500: "Internal Server Error"}

ROBOTS = Reply(body=b"User-agent: *\nAllow: /\n", content_type="text/plain")


def rss_of_one(url: str, title: str, published: str = "Mon, 02 Mar 2026 08:00:00 GMT") -> bytes:
    from html import escape

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(url.rsplit('/', 2)[0])}/</link>"
        f"<item><title>{escape(title)}</title><link>{escape(url)}</link><pubDate>{published}</pubDate></item>"
        "</channel></rss>"
    ).encode()


def one_page_feeds(
    count: int, page: Callable[[int], bytes], *, title: Callable[[int], str] = lambda i: f"Article {i}"
) -> tuple[dict[str, dict[str, Reply]], list[str]]:
    """`count` hosts, each a feed (`/feed.xml`) of one article (`/news/article-I`, `page(i)`):
    (the sites for `LoopbackWeb`, the addresses in order). The feeds name their article with a
    `{origin}` placeholder the caller fills once the port is known (`fill_origins`)."""
    addresses = loopback_addresses(count)
    sites = {}
    for i, address in enumerate(addresses):
        sites[address] = {
            "/robots.txt": ROBOTS,
            "/feed.xml": Reply(
                body=rss_of_one("{origin}" + f"/news/article-{i}", title(i)),
                content_type="application/rss+xml; charset=utf-8",
            ),
            f"/news/article-{i}": Reply(body=page(i), content_type="text/html"),
        }
    return sites, addresses


def fill_origins(web: LoopbackWeb) -> None:
    """Every feed's `{origin}` placeholder becomes its host's address and port."""
    for address, routes in web.sites.items():
        for path, reply in list(routes.items()):
            data = reply.data
            if b"{origin}" in data:
                routes[path] = Reply(
                    status=reply.status,
                    body=data.replace(b"{origin}", f"http://{address}:{web.port}".encode()),
                    content_type=reply.content_type,
                    headers=reply.headers,
                    delay=reply.delay,
                )
