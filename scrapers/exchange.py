"""One HTTP exchange, bounded: the connection pool whose backend checks addresses and keeps the
exchange's deadline (`guarded_transport`, scrapers/transport.py), one GET within that deadline
(`request_once`), its body counted on the wire and as it inflates (scrapers/inflate.py), its
type checked as declared and as sniffed, and every failure turned into the `errors.FetchError`
that says it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from core.urls import host_key
from errors import (
    AddressNotAllowed,
    BadUrl,
    ClientError,
    ConnectFailed,
    CutOff,
    Gone,
    HostNotFound,
    NotHtml,
    ProtocolFailure,
    Timeout,
    TooLarge,
    UnsupportedEncoding,
)
from scrapers import inflate
from scrapers import transport as net
from scrapers.decoding import binary_signature
from scrapers.fetch_types import HTML_TYPES, FetchSettings, media_type

ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB


@dataclass
class Response:
    status: int
    headers: httpx.Headers
    url: str
    body: bytes | None = None


def request_once(
    client: httpx.Client,
    settings: FetchSettings,
    url: str,
    headers: dict[str, str],
    *,
    origin: str,
    accept: frozenset[str] | None,
    scope: net.NetworkScope,
    max_bytes: int,
) -> Response:
    """One GET of `url` under one deadline (`total_timeout`), its body read within `max_bytes`
    (wire and decoded); every failure is the `errors.FetchError` that says it, for `origin`
    (the URL asked for, when `url` is a redirect hop)."""
    total = settings.total_timeout
    with net.exchange(total, scope) as ex:
        try:
            return _exchange(client, settings, url, headers, origin=origin, accept=accept, ex=ex, max_bytes=max_bytes)
        except (httpx.TimeoutException, httpcore.TimeoutException) as e:
            if ex.cut_off or ex.expired():
                raise CutOff(
                    origin,
                    f"cut off after timeouts.total ({total:g} s) while "
                    f"{ex.cut_off}: the server is too slow or stalling; it will be "
                    "retried next run",
                    final_url=url,
                ) from e
            phase = "connecting" if isinstance(e, (httpx.ConnectTimeout, httpx.PoolTimeout)) else "waiting for data"
            raise Timeout(
                origin,
                f"timed out {phase} ({type(e).__name__}); the site is slow or down, it will be retried next run",
                final_url=url,
            ) from e
        except net.AddressRefused as e:
            raise AddressNotAllowed(origin, str(e), final_url=url) from None
        except httpx.ConnectError as e:
            if _caused_by(e, socket.gaierror):
                raise HostNotFound(
                    origin,
                    f"host name {urlsplit(url).hostname} not found (DNS); check the source's url, or the network",
                    final_url=url,
                ) from e
            raise ConnectFailed(
                origin,
                f"cannot connect to {host_key(url)} ({e or type(e).__name__}); check the network or the host name",
                final_url=url,
            ) from e
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.DecodingError) as e:
            raise ProtocolFailure(
                origin,
                f"the connection failed mid-response ({type(e).__name__}: {e}); it will be retried",
                final_url=url,
            ) from e
        except httpx.InvalidURL as e:
            raise BadUrl(origin, f"not a valid URL ({e})") from e
        except httpx.TransportError as e:  # unsupported protocols, the rest
            raise ProtocolFailure(
                origin, f"transport error ({type(e).__name__}: {e}); it will be retried", final_url=url
            ) from e


def _exchange(
    client: httpx.Client,
    settings: FetchSettings,
    url: str,
    headers: dict[str, str],
    *,
    origin: str,
    accept: frozenset[str] | None,
    ex: net.Exchange,
    max_bytes: int,
) -> Response:
    with client.stream("GET", url, headers=headers) as r:
        status = r.status_code
        if status in (301, 302, 303, 307, 308) or status == 304 or status == 429 or status >= 500:
            return Response(status, r.headers, url)
        if status >= 400:  # what happens next is the caller's to say (a source, a page)
            raise (Gone if status in (404, 410) else ClientError)(
                origin, f"answered HTTP {status} {r.reason_phrase}", status=status, final_url=url
            )
        if accept is not None:
            _check_declared_type(origin, url, r.headers.get("content-type"), accept, status)
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(
                origin,
                f"declares {int(declared):,} bytes, more than the cap "
                f"({cap_name(max_bytes, settings)}, {max_bytes:,}); raise it in the "
                "config if the page is wanted",
                status=status,
                final_url=url,
            )
        try:
            codings = inflate.parse_codings(r.headers.get("content-encoding"))
        except inflate.BadEncoding as e:
            raise UnsupportedEncoding(
                origin, f"{e}; it is recorded and not parsed", status=status, final_url=url
            ) from None
        ex.phase = "receiving the body"
        try:
            body = inflate.read_bounded(
                inflate.decode_stream(_wire_bytes(r, origin, url, max_bytes, settings), codings, max_bytes),
                max_bytes,
            )
        except inflate.TooMuchOutput as e:
            raise TooLarge(
                origin,
                f"{e}, more than the cap ({cap_name(max_bytes, settings)}); "
                "download aborted; raise the limit in the config if the page is wanted",
                status=status,
                final_url=url,
            ) from None
        except inflate.BadEncoding as e:
            raise ProtocolFailure(
                origin, f"the response body is {e}; it will be retried", status=status, final_url=url
            ) from None
        if accept is not None:
            _check_sniffed_type(origin, url, body, status)
        return Response(status, r.headers, url, body)


def guarded_transport(resolver: net.Resolver) -> httpx.HTTPTransport:
    """httpx's own transport (HTTP/1.1 and HTTP/2, TLS verified as usual) on a connection
    pool whose network backend checks addresses and enforces the exchange deadline."""
    http = httpx.HTTPTransport(http2=True, trust_env=False)
    pool = http._pool  # the httpcore pool httpx built; the same one, with our backend
    http._pool = httpcore.ConnectionPool(
        ssl_context=pool._ssl_context,
        max_connections=pool._max_connections,
        max_keepalive_connections=pool._max_keepalive_connections,
        keepalive_expiry=pool._keepalive_expiry,
        http1=True,
        http2=True,
        network_backend=net.GuardedBackend(resolver),
    )
    return http


def _wire_bytes(
    response: httpx.Response, origin: str, url: str, max_bytes: int, settings: FetchSettings
) -> Iterator[bytes]:
    """The body as sent (still content-coded), refused past `max_bytes` on the wire."""
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(
                origin,
                f"sent more than the cap ({cap_name(max_bytes, settings)}, "
                f"{max_bytes:,} bytes); download aborted; raise the limit in the config if the "
                "page is wanted",
                status=response.status_code,
                final_url=url,
            )
        yield chunk


def cap_name(max_bytes: int, settings: FetchSettings) -> str:
    if max_bytes == settings.max_page_bytes:
        return "max_page_bytes"
    if max_bytes == settings.max_document_bytes:
        return "max_document_bytes"
    return "the robots.txt cap" if max_bytes == ROBOTS_MAX_BYTES else "the size cap"


def accept_header(accept: frozenset[str]) -> str:
    if accept == HTML_TYPES:
        return "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
    return (
        "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
        "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
    )


def _check_declared_type(origin: str, url: str, content_type: str | None, accept: frozenset[str], status: int) -> None:
    media = media_type(content_type)
    if media is None or media in accept or media.endswith("+xml") and accept != HTML_TYPES:
        return
    raise NotHtml(origin, f"is {media}, not a web page; it is recorded and not parsed", status=status, final_url=url)


def _check_sniffed_type(origin: str, url: str, body: bytes, status: int) -> None:
    signature = binary_signature(body)
    # gzip is let through: a .xml.gz sitemap, or a page the cleaner decompresses.
    if signature is not None and signature[0] != "application/gzip":
        raise NotHtml(
            origin,
            f"holds {signature[0]} data although it is served as text; it is recorded and not parsed",
            status=status,
            final_url=url,
        )


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
