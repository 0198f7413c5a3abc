"""Polite HTTP fetching: one shared client per run, one request in flight per host.

`Fetcher.fetch_many(urls)` fetches a list of URLs, hosts in parallel, each host's URLs one
after the other with the configured delay between them; `Fetcher.stream(urls)` does the same
and yields each page as it arrives, so that the next stage can start on it. Nothing raises out of it: every
URL gets a `FetchResult`, whose `error` is the `errors.FetchError` when it failed (its class
says whether a later run may succeed: `errors.TemporaryError` or `errors.PermanentError`).

Why redirects are followed by hand: each hop may go to another host, which has its own
robots.txt and its own politeness gate; loops must be named as such; and only http(s) hops
are followed.

What a hostile server cannot do (scrapers/transport.py, scrapers/inflate.py):
- stretch an exchange past `total_timeout`: connect, TLS, status line, headers and body share
  one deadline (`CutOff`, not retried in the run); a host that timed out twice this run is not
  asked again until the next run, so one stuck host cannot hold the run back;
- make a response use more memory than its byte cap: content codings are decoded here, every
  layer counted as it inflates (`max_page_bytes` for pages, `max_document_bytes` for listing
  pages, feeds and sitemaps);
- send the fetcher into private or link-local networks: see `for_source`;
- poison another source's host: robots.txt, politeness and the timeout count are kept per
  scheme, host and port (`host_key`).
"""

from __future__ import annotations

import copy
import email.utils
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from protego import Protego

from core.urls import DEFAULT_PORTS, host_key
from errors import (
    AddressNotAllowed,
    BadRedirect,
    BadUrl,
    ClientError,
    ConnectFailed,
    CutOff,
    FetchError,
    Gone,
    HostNotFound,
    HttpStatusError,
    NotHtml,
    ProtocolFailure,
    RateLimited,
    RedirectLoop,
    RobotsDisallowed,
    ServerError,
    Timeout,
    TooLarge,
    TooManyRedirects,
    UnexpectedFetchError,
    UnsupportedEncoding,
)
from scrapers import inflate
from scrapers import transport as net
from scrapers.decoding import binary_signature

HTML_TYPES: frozenset[str] = frozenset({"text/html", "application/xhtml+xml"})
# Discovery documents: listing pages, feeds, sitemaps (possibly gzipped files).
DISCOVERY_TYPES: frozenset[str] = HTML_TYPES | frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/x-gzip",
        "application/gzip",
        "text/plain",
        "application/octet-stream",  # how some servers label sitemap.xml.gz
    }
)

_ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
_MAX_CRAWL_DELAY = 60.0  # a robots.txt Crawl-delay above this is treated as this
_HOST_TIMEOUTS = 2  # fetches of one host ending in a timeout before the host waits for next run


# --------------------------------------------------------------------------- results


class Validators(NamedTuple):
    """What a server said about a document, sent back to ask "has it changed?".

    A plain `(etag, last_modified)` tuple, as `storage.fetchstate` stores them.
    """

    etag: str | None = None
    last_modified: str | None = None

    @property
    def present(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass
class FetchResult:
    url: str
    final_url: str
    status: int | None
    content_type: str | None
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    error: FetchError | None = None
    attempts: int = 0  # HTTP requests made for this URL, retries and redirect hops included

    @property
    def ok(self) -> bool:
        """A body was fetched."""
        return self.error is None and self.body is not None

    @property
    def not_modified(self) -> bool:
        return False

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    @property
    def media_type(self) -> str | None:
        return _media_type(self.content_type)


@dataclass
class NotModified(FetchResult):
    """The server answered 304: the stored copy is still current; `body` is None."""

    @property
    def not_modified(self) -> bool:
        return True


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = "newswatch/0.1"
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # A server trickling bytes never trips the read timeout; this bounds a whole exchange
    # (lookup, connect, TLS, status line, headers, body) with one deadline.
    total_timeout: float = 120.0
    max_page_bytes: int = 5_000_000
    # Listing pages, feeds and sitemaps (`fetch_document`): a sitemap may hold 50,000 URLs
    # in 50 MB (sitemaps.org), far more than any article page.
    max_document_bytes: int = 50_000_000
    max_redirects: int = 5
    attempts: int = 3  # tries per request, the first one included
    backoff_base: float = 1.0  # seconds before the first retry; doubled each time, jittered
    backoff_max: float = 60.0
    max_retry_after: float = 120.0  # a longer Retry-After is recorded as an error, not waited
    default_delay: float = 1.0  # seconds between two requests to one host
    host_delays: Mapping[str, float] = field(default_factory=dict)  # host key -> delay
    max_parallel_hosts: int = 8
    obey_robots: bool = True
    # True: fetch from private, loopback and link-local addresses wherever a page points.
    allow_private_networks: bool = False


# --------------------------------------------------------------------------- the fetcher


class _HostGate:
    """One request in flight per host; `delay` seconds between the end of one and the next."""

    def __init__(self, delay: float) -> None:
        self.lock = threading.Lock()
        self.delay = delay
        self.last_end: float | None = None
        self.robots: Protego | None = None  # RFC 9309 rules, parsed by protego
        self.robots_error: FetchError | None = None
        self.robots_loaded = False
        self.timeouts = 0  # fetches of this host that ended in a timeout this run
        self.last_timeout: FetchError | None = None


@dataclass
class _Response:
    status: int
    headers: httpx.Headers
    url: str
    body: bytes | None = None


class Fetcher:
    """Fetches URLs politely through one `httpx.Client` (HTTP/1.1 and HTTP/2).

    Use as a context manager, or call `close()`. Thread-safe: `fetch` may be called from
    several threads; requests to one host are still serialised.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = net.pause,  # raises ProcessStopping on a stop
        clock: Callable[[], float] = time.monotonic,
        resolver: net.Resolver = net.system_resolver,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._resolve = resolver
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        self._client = httpx.Client(
            http2=True,
            timeout=timeout,
            follow_redirects=False,
            transport=transport or _guarded_transport(resolver),
            # No proxies from the environment: the addresses connected to are the ones checked.
            trust_env=False,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": inflate.ACCEPT_ENCODING},
        )
        self._gates: dict[str, _HostGate] = {}
        self._gates_lock = threading.Lock()
        self._scope: net.NetworkScope | None = None  # set by for_source
        self._scopes: dict[str, net.NetworkScope] = {}  # per URL host, when unscoped

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def for_source(self, source_url: str) -> Fetcher:
        """This fetcher (same client, same host gates) for the fetches of one source: they may
        connect to public addresses, and to the loopback, private or other special-purpose
        range the source's own URL resolves into (never link-local), unless
        `allow_private_networks`. Without it, each URL asked for is its own source."""
        view = copy.copy(self)
        view._scope = self._scope_of(source_url, f"the source's url ({source_url})")
        return view

    def _scope_of(self, url: str, origin: str | None = None) -> net.NetworkScope:
        parts = urlsplit(url)
        key = host_key(url)
        scope = None if origin else self._scopes.get(key)
        if scope is None:
            try:
                port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
            except ValueError:
                port = 80
            scope = net.scope_for(
                (parts.hostname or ""),
                port,
                self._resolve,
                allow_all=self.settings.allow_private_networks,
                origin=origin or f"the URL asked for ({key})",
                within=self.settings.connect_timeout,
            )
            if not origin:
                self._scopes[key] = scope
        return scope

    # ---- public API

    def fetch(
        self,
        url: str,
        *,
        validators: tuple[str | None, str | None] | None = None,
        accept: frozenset[str] = HTML_TYPES,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """Fetch one URL; never raises a `FetchError`: the result carries it. Raises
        `errors.ProcessStopping` when the process is being stopped (`transport.stop_work`):
        that is no outcome of the URL.

        `validators`: the stored `(etag, last_modified)` of the URL, for a conditional GET.
        `max_bytes`: the size cap (default `max_page_bytes`), wire and decoded bytes alike.
        """
        counter = [0]
        try:
            return self._fetch(url, validators, accept, counter, max_bytes or self.settings.max_page_bytes)
        except FetchError as e:
            return FetchResult(
                url=url,
                final_url=e.final_url,
                status=e.status,
                content_type=None,
                body=None,
                error=e,
                attempts=counter[0],
            )
        except Exception as e:  # noqa: BLE001 - one odd page must not end the run
            error = UnexpectedFetchError(
                url, f"unexpected {type(e).__name__} while fetching ({e}); please report it as a newswatch bug"
            )
            return FetchResult(
                url=url, final_url=url, status=None, content_type=None, body=None, error=error, attempts=counter[0]
            )

    def fetch_document(self, url: str, *, validators: tuple[str | None, str | None] | None = None) -> FetchResult:
        """A discovery document (listing page, feed, sitemap): the discovery types, and
        `max_document_bytes` as the cap."""
        return self.fetch(
            url, validators=validators, accept=DISCOVERY_TYPES, max_bytes=self.settings.max_document_bytes
        )

    def fetch_many(
        self,
        urls: Iterable[str],
        *,
        validators: Mapping[str, tuple[str | None, str | None]] | None = None,
        accept: frozenset[str] = HTML_TYPES,
    ) -> list[FetchResult]:
        """Fetch URLs, hosts in parallel, one host's URLs in turn; results in input order."""
        urls = list(urls)
        results: list[FetchResult | None] = [None] * len(urls)
        with closing(self._stream(urls, validators or {}, accept, buffer=len(urls) or 1)) as fetched:
            for i, result in fetched:
                results[i] = result
        return [r for r in results if r is not None]

    def stream(
        self, urls: Iterable[str], *, accept: frozenset[str] = HTML_TYPES, buffer: int = 16
    ) -> Generator[FetchResult, None, None]:
        """Fetch URLs as `fetch_many` does, yielding each result as soon as it is there: one
        host's in order, hosts interleaved. At most `buffer` results wait to be taken: a slow
        consumer pauses the fetching (memory stays bounded, politeness is unchanged). Closing
        the generator stops it after the requests in flight."""
        return (result for _, result in self._stream(list(urls), {}, accept, buffer=buffer))

    def _stream(
        self,
        urls: list[str],
        validators: Mapping[str, tuple[str | None, str | None]],
        accept: frozenset[str],
        *,
        buffer: int,
    ) -> Generator[tuple[int, FetchResult], None, None]:
        by_host: dict[str, list[int]] = {}
        for i, url in enumerate(urls):
            by_host.setdefault(host_key(url), []).append(i)
        done: queue.Queue[tuple[int, FetchResult]] = queue.Queue(maxsize=max(1, buffer))
        stop = threading.Event()

        def run_host(indices: list[int]) -> None:
            for i in indices:
                if stop.is_set():
                    return
                result = self.fetch(urls[i], validators=validators.get(urls[i]), accept=accept)
                while not stop.is_set():
                    try:
                        done.put((i, result), timeout=0.1)
                        break
                    except queue.Full:
                        continue

        workers = max(1, min(self.settings.max_parallel_hosts, len(by_host)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
        futures = [pool.submit(run_host, ix) for ix in by_host.values()]
        try:
            for _ in urls:
                while True:
                    try:
                        yield done.get(timeout=0.1)
                        break
                    except queue.Empty:
                        net.check_stop()  # the workers stop too, within a slice
                        if all(f.done() for f in futures) and done.empty():
                            for f in futures:
                                f.result()  # `fetch` does not raise: this is a bug, say so
                            return
        finally:
            stop.set()
            pool.shutdown(wait=True)

    # ---- one URL, redirects by hand

    def _fetch(
        self,
        url: str,
        validators: tuple[str | None, str | None] | None,
        accept: frozenset[str],
        counter: list[int],
        max_bytes: int,
    ) -> FetchResult:
        validators = Validators(*validators) if validators else None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadUrl(url, "not an http(s) URL with a host name: check the source's url")
        scope = self._scope or self._scope_of(url)
        seen = [url]
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            response = self._request_polite(
                current, validators, accept, counter, origin=url, scope=scope, max_bytes=max_bytes
            )
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise BadRedirect(
                        url,
                        f"redirect {response.status} from {current} without a Location "
                        "header; the site is misconfigured, nothing to do but report it",
                        status=response.status,
                        final_url=current,
                    )
                target = urljoin(current, location).split("#", 1)[0]
                target_parts = urlsplit(target)
                if target_parts.scheme not in ("http", "https") or not target_parts.hostname:
                    raise BadRedirect(
                        url,
                        f"redirect {response.status} from {current} to {target}: only "
                        "http and https redirects are followed; the URL is skipped",
                        status=response.status,
                        final_url=current,
                    )
                if target in seen:
                    chain = " -> ".join(seen + [target])
                    raise RedirectLoop(
                        url,
                        f"redirect loop ({chain}); the site is misconfigured, the URL is skipped",
                        status=response.status,
                        final_url=current,
                    )
                seen.append(target)
                current = target
                continue
            return self._result(url, response, counter[0])
        raise TooManyRedirects(
            url,
            f"more than {self.settings.max_redirects} redirects (last: {current}); "
            "raise max_redirects in the config if this is legitimate",
            final_url=current,
        )

    def _result(self, url: str, response: _Response, attempts: int) -> FetchResult:
        cls = NotModified if response.status == 304 else FetchResult
        return cls(
            url=url,
            final_url=response.url,
            status=response.status,
            content_type=response.headers.get("content-type"),
            body=response.body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            attempts=attempts,
        )

    # ---- one hop: politeness, robots, retries

    def _gate(self, url: str) -> _HostGate:
        key = host_key(url)
        with self._gates_lock:
            gate = self._gates.get(key)
            if gate is None:
                delay = self.settings.host_delays.get(key, self.settings.default_delay)
                gate = self._gates[key] = _HostGate(delay)
            return gate

    def _wait_turn(self, gate: _HostGate) -> None:
        if gate.last_end is not None:
            wait = gate.last_end + gate.delay - self._clock()
            if wait > 0:
                self._sleep(wait)

    def _request_polite(
        self,
        url: str,
        validators: Validators | None,
        accept: frozenset[str],
        counter: list[int],
        *,
        origin: str,
        scope: net.NetworkScope,
        max_bytes: int,
    ) -> _Response:
        gate = self._gate(url)
        with gate.lock:
            self._check_host_timeouts(gate, url, origin=origin)
            if self.settings.obey_robots:
                self._check_robots(gate, url, origin=origin, scope=scope)
            headers = {"Accept": _accept_header(accept)}
            if validators and validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators and validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
            return self._request_with_retries(
                gate, url, headers, counter, origin=origin, accept=accept, scope=scope, max_bytes=max_bytes
            )

    def _check_host_timeouts(self, gate: _HostGate, url: str, *, origin: str) -> None:
        """A host whose fetches timed out twice this run is not asked again until the next run:
        each timeout costs up to `total_timeout` per try, and the run must end."""
        if gate.timeouts >= _HOST_TIMEOUTS and gate.last_timeout is not None:
            raise Timeout(
                origin,
                f"not fetched: {host_key(url)} timed out on {gate.timeouts} fetches this "
                f"run (last: {gate.last_timeout.message}); it is asked again next run",
                final_url=url,
            )

    def _request_with_retries(
        self,
        gate: _HostGate,
        url: str,
        headers: dict[str, str],
        counter: list[int],
        *,
        origin: str,
        accept: frozenset[str] | None,
        scope: net.NetworkScope,
        max_bytes: int,
    ) -> _Response:
        attempts = max(1, self.settings.attempts)
        for attempt in range(1, attempts + 1):
            self._wait_turn(gate)
            counter[0] += 1
            try:
                response = self._request_once(
                    url, headers, origin=origin, accept=accept, scope=scope, max_bytes=max_bytes
                )
            except FetchError as e:
                if not e.retry_in_run or attempt == attempts:
                    if isinstance(e, Timeout):
                        gate.timeouts += 1
                        gate.last_timeout = e
                    if e.retry_in_run and attempts > 1:
                        raise e.again(origin, f"{e.message} (after {attempts} tries)") from e
                    raise
                self._sleep(self._backoff(attempt))
                continue
            finally:
                gate.last_end = self._clock()
            if response.status in (429, 503) and "retry-after" in response.headers:
                wait = _parse_retry_after(response.headers["retry-after"])
                if wait is None:
                    wait = self._backoff(attempt)
                if wait > self.settings.max_retry_after:
                    raise RateLimited(
                        origin,
                        f"answered {response.status} asking to wait {wait:.0f} s "
                        f"(Retry-After), more than retries.max_retry_after "
                        f"({self.settings.max_retry_after:g} s); it will be retried next run",
                        status=response.status,
                        final_url=url,
                    )
                if attempt == attempts:
                    raise RateLimited(
                        origin,
                        f"still answered {response.status} after {attempts} tries "
                        "honouring Retry-After; it will be retried next run",
                        status=response.status,
                        final_url=url,
                    )
                self._sleep(wait)
                continue
            if response.status >= 500 or response.status == 429:
                if attempt == attempts:
                    error = RateLimited if response.status == 429 else ServerError
                    raise error(
                        origin,
                        f"answered HTTP {response.status} after {attempts} tries; "
                        "the site is failing, it will be retried next run",
                        status=response.status,
                        final_url=url,
                    )
                self._sleep(self._backoff(attempt))
                continue
            return response
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _backoff(self, attempt: int) -> float:
        # Jitter spreads the retries of parallel runs so they do not hit the site in step.
        base = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    def _request_once(
        self,
        url: str,
        headers: dict[str, str],
        *,
        origin: str,
        accept: frozenset[str] | None,
        scope: net.NetworkScope,
        max_bytes: int,
    ) -> _Response:
        total = self.settings.total_timeout
        with net.exchange(total, scope) as ex:
            try:
                return self._exchange(url, headers, origin=origin, accept=accept, ex=ex, max_bytes=max_bytes)
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
        self,
        url: str,
        headers: dict[str, str],
        *,
        origin: str,
        accept: frozenset[str] | None,
        ex: net.Exchange,
        max_bytes: int,
    ) -> _Response:
        with self._client.stream("GET", url, headers=headers) as r:
            status = r.status_code
            if status in (301, 302, 303, 307, 308) or status == 304 or status == 429 or status >= 500:
                return _Response(status, r.headers, url)
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
                    f"({_cap_name(max_bytes, self.settings)}, {max_bytes:,}); raise it in the "
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
                    inflate.decode_stream(_wire_bytes(r, origin, url, max_bytes, self.settings), codings, max_bytes),
                    max_bytes,
                )
            except inflate.TooMuchOutput as e:
                raise TooLarge(
                    origin,
                    f"{e}, more than the cap ({_cap_name(max_bytes, self.settings)}); "
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
            return _Response(status, r.headers, url, body)

    # ---- robots.txt, once per host per run

    def _check_robots(self, gate: _HostGate, url: str, *, origin: str, scope: net.NetworkScope) -> None:
        if not gate.robots_loaded:
            self._load_robots(gate, url, scope)
        if gate.robots_error is not None:
            e = gate.robots_error
            raise type(e)(origin, e.message, status=e.status, final_url=url)
        if gate.robots is not None and not gate.robots.can_fetch(url, self.settings.user_agent):
            raise RobotsDisallowed(
                origin,
                f"disallowed by {host_key(url)}'s robots.txt for our user agent; "
                "it is not fetched (remove it from the sources, or ask the site)",
                final_url=url,
            )

    def _load_robots(self, gate: _HostGate, url: str, scope: net.NetworkScope) -> None:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        gate.robots_loaded = True
        current = robots_url
        try:
            for _hop in range(5):  # RFC 9309: follow at least five redirects
                response = self._request_with_retries(
                    gate, current, {}, [0], origin=robots_url, accept=None, scope=scope, max_bytes=_ROBOTS_MAX_BYTES
                )
                location = response.headers.get("location")
                if response.status in (301, 302, 303, 307, 308) and location:
                    current = urljoin(current, location)
                    if host_key(current) != host_key(robots_url):
                        break  # another host's rules do not apply here: allow all
                    continue
                break
            else:
                response = None
        except TooLarge:
            response = None  # an oversized robots.txt is treated as absent
        except AddressNotAllowed as e:  # the host itself is refused: say so, not "robots.txt"
            gate.robots_error = AddressNotAllowed(url, e.message)
            return
        except FetchError as e:
            if isinstance(e, HttpStatusError) and e.status is not None and e.status < 500:
                return  # 4xx: no robots.txt, everything allowed (RFC 9309 2.3.1.3)
            gate.robots_error = type(e)(
                url,
                f"robots.txt of {host_key(url)} could not be read ({e.message}); "
                "nothing is fetched from this host this run",
                status=e.status,
            )
            return
        if response is None or response.body is None or response.status != 200:
            return
        # RFC 9309: wildcards, `$`, the longest matching rule wins (Allow on a tie); the group
        # of our product token, else `*`.
        gate.robots = Protego.parse(response.body.decode("utf-8", errors="replace"))
        crawl_delay = gate.robots.crawl_delay(self.settings.user_agent)
        if crawl_delay:
            gate.delay = max(gate.delay, min(float(crawl_delay), _MAX_CRAWL_DELAY))


# --------------------------------------------------------------------------- helpers


def _guarded_transport(resolver: net.Resolver) -> httpx.HTTPTransport:
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
                f"sent more than the cap ({_cap_name(max_bytes, settings)}, "
                f"{max_bytes:,} bytes); download aborted; raise the limit in the config if the "
                "page is wanted",
                status=response.status_code,
                final_url=url,
            )
        yield chunk


def _cap_name(max_bytes: int, settings: FetchSettings) -> str:
    if max_bytes == settings.max_page_bytes:
        return "max_page_bytes"
    if max_bytes == settings.max_document_bytes:
        return "max_document_bytes"
    return "the robots.txt cap" if max_bytes == _ROBOTS_MAX_BYTES else "the size cap"


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _accept_header(accept: frozenset[str]) -> str:
    if accept == HTML_TYPES:
        return "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
    return (
        "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
        "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
    )


def _check_declared_type(origin: str, url: str, content_type: str | None, accept: frozenset[str], status: int) -> None:
    media = _media_type(content_type)
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


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
