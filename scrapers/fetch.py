"""Polite HTTP fetching: one shared client per run, one request in flight per host.

`Fetcher.fetch_many(urls)` fetches a list of URLs, hosts in parallel, each host's URLs one
after the other with the configured delay between them. Nothing raises out of it: every
URL gets a `FetchResult`, whose `error` is the `errors.FetchError` when it failed (its class
says whether a later run may succeed: `errors.TemporaryError` or `errors.PermanentError`).

Why redirects are followed by hand: each hop may go to another host, which has its own
robots.txt and its own politeness gate; and loops must be named as such.
"""
from __future__ import annotations

import email.utils
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from errors import (BadRedirect, BadUrl, ClientError, ConnectFailed, FetchError, Gone, HostNotFound,
                    HttpStatusError, NotHtml, ProtocolFailure, RateLimited, RedirectLoop,
                    RobotsDisallowed, ServerError, Timeout, TooLarge, TooManyRedirects,
                    UnexpectedFetchError)
from scrapers.decoding import binary_signature

HTML_TYPES: frozenset[str] = frozenset({"text/html", "application/xhtml+xml"})
# Discovery documents: listing pages, feeds, sitemaps (possibly gzipped files).
DISCOVERY_TYPES: frozenset[str] = HTML_TYPES | frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
    "text/xml", "application/x-gzip", "application/gzip", "text/plain",
    "application/octet-stream",  # how some servers label sitemap.xml.gz
})

_ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
_MAX_CRAWL_DELAY = 60.0  # a robots.txt Crawl-delay above this is treated as this


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
    # A server trickling bytes never trips the read timeout; this bounds a whole response.
    total_timeout: float = 120.0
    max_page_bytes: int = 5_000_000
    max_redirects: int = 5
    attempts: int = 3  # tries per request, the first one included
    backoff_base: float = 1.0  # seconds before the first retry; doubled each time, jittered
    backoff_max: float = 60.0
    max_retry_after: float = 120.0  # a longer Retry-After is recorded as an error, not waited
    default_delay: float = 1.0  # seconds between two requests to one host
    host_delays: Mapping[str, float] = field(default_factory=dict)  # host key -> delay
    max_parallel_hosts: int = 8
    obey_robots: bool = True


def host_key(url: str) -> str:
    """The politeness unit: scheme-less host[:port] of a URL, lower-cased."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


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
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        timeout = httpx.Timeout(
            connect=settings.connect_timeout, read=settings.read_timeout,
            write=settings.read_timeout, pool=settings.connect_timeout,
        )
        self._client = httpx.Client(
            http2=True, timeout=timeout, follow_redirects=False, transport=transport,
            headers={"User-Agent": settings.user_agent},
        )
        self._gates: dict[str, _HostGate] = {}
        self._gates_lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # ---- public API

    def fetch(self, url: str, *, validators: tuple[str | None, str | None] | None = None,
              accept: frozenset[str] = HTML_TYPES) -> FetchResult:
        """Fetch one URL; never raises a `FetchError`: the result carries it.

        `validators`: the stored `(etag, last_modified)` of the URL, for a conditional GET.
        """
        counter = [0]
        try:
            return self._fetch(url, validators, accept, counter)
        except FetchError as e:
            return FetchResult(url=url, final_url=e.final_url, status=e.status, content_type=None,
                               body=None, error=e, attempts=counter[0])
        except Exception as e:  # noqa: BLE001 - one odd page must not end the run
            error = UnexpectedFetchError(url, f"unexpected {type(e).__name__} while fetching ({e}); "
                                         "please report it as a newswatch bug")
            return FetchResult(url=url, final_url=url, status=None, content_type=None, body=None,
                               error=error, attempts=counter[0])

    def fetch_many(self, urls: Iterable[str], *,
                   validators: Mapping[str, tuple[str | None, str | None]] | None = None,
                   accept: frozenset[str] = HTML_TYPES) -> list[FetchResult]:
        """Fetch URLs, hosts in parallel, one host's URLs in turn; results in input order."""
        urls = list(urls)
        validators = validators or {}
        by_host: dict[str, list[int]] = {}
        for i, url in enumerate(urls):
            by_host.setdefault(host_key(url), []).append(i)
        results: list[FetchResult | None] = [None] * len(urls)

        def run_host(indices: list[int]) -> None:
            for i in indices:
                results[i] = self.fetch(urls[i], validators=validators.get(urls[i]), accept=accept)

        workers = max(1, min(self.settings.max_parallel_hosts, len(by_host)))
        if workers == 1:
            for indices in by_host.values():
                run_host(indices)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
                for future in [pool.submit(run_host, ix) for ix in by_host.values()]:
                    future.result()
        return [r for r in results if r is not None]

    # ---- one URL, redirects by hand

    def _fetch(self, url: str, validators: tuple[str | None, str | None] | None,
               accept: frozenset[str], counter: list[int]) -> FetchResult:
        validators = Validators(*validators) if validators else None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadUrl(url, "not an http(s) URL with a host name: check the source's url")
        seen = [url]
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            response = self._request_polite(current, validators, accept, counter, origin=url)
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise BadRedirect(
                        url, f"redirect {response.status} from {current} without a Location "
                        "header; the site is misconfigured, nothing to do but report it",
                        status=response.status, final_url=current)
                target = urljoin(current, location).split("#", 1)[0]
                if target in seen:
                    chain = " -> ".join(seen + [target])
                    raise RedirectLoop(
                        url, f"redirect loop ({chain}); the site is misconfigured, the URL is "
                        "skipped", status=response.status, final_url=current)
                seen.append(target)
                current = target
                continue
            return self._result(url, response, counter[0])
        raise TooManyRedirects(
            url, f"more than {self.settings.max_redirects} redirects (last: {current}); "
            "raise max_redirects in the config if this is legitimate", final_url=current)

    def _result(self, url: str, response: _Response, attempts: int) -> FetchResult:
        cls = NotModified if response.status == 304 else FetchResult
        return cls(
            url=url, final_url=response.url, status=response.status,
            content_type=response.headers.get("content-type"), body=response.body,
            etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"),
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

    def _request_polite(self, url: str, validators: Validators | None, accept: frozenset[str],
                        counter: list[int], *, origin: str) -> _Response:
        gate = self._gate(url)
        with gate.lock:
            if self.settings.obey_robots:
                self._check_robots(gate, url, origin=origin)
            headers = {"Accept": _accept_header(accept)}
            if validators and validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators and validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
            return self._request_with_retries(
                gate, url, headers, counter, origin=origin, accept=accept,
                max_bytes=self.settings.max_page_bytes)

    def _request_with_retries(self, gate: _HostGate, url: str, headers: dict[str, str],
                              counter: list[int], *, origin: str, accept: frozenset[str] | None,
                              max_bytes: int) -> _Response:
        attempts = max(1, self.settings.attempts)
        for attempt in range(1, attempts + 1):
            self._wait_turn(gate)
            counter[0] += 1
            try:
                response = self._request_once(url, headers, origin=origin, accept=accept,
                                              max_bytes=max_bytes)
            except FetchError as e:
                if not e.retry_in_run or attempt == attempts:
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
                        origin, f"answered {response.status} asking to wait {wait:.0f} s "
                        f"(Retry-After), more than retries.max_retry_after "
                        f"({self.settings.max_retry_after:g} s); it will be retried next run",
                        status=response.status, final_url=url)
                if attempt == attempts:
                    raise RateLimited(
                        origin, f"still answered {response.status} after {attempts} tries "
                        "honouring Retry-After; it will be retried next run",
                        status=response.status, final_url=url)
                self._sleep(wait)
                continue
            if response.status >= 500 or response.status == 429:
                if attempt == attempts:
                    error = RateLimited if response.status == 429 else ServerError
                    raise error(
                        origin, f"answered HTTP {response.status} after {attempts} tries; "
                        "the site is failing, it will be retried next run",
                        status=response.status, final_url=url)
                self._sleep(self._backoff(attempt))
                continue
            return response
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _backoff(self, attempt: int) -> float:
        # Jitter spreads the retries of parallel runs so they do not hit the site in step.
        base = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    def _request_once(self, url: str, headers: dict[str, str], *, origin: str,
                      accept: frozenset[str] | None, max_bytes: int) -> _Response:
        started = self._clock()
        try:
            with self._client.stream("GET", url, headers=headers) as r:
                status = r.status_code
                if status in (301, 302, 303, 307, 308) or status == 304 or status == 429 \
                        or status >= 500:
                    return _Response(status, r.headers, url)
                if status >= 400:  # what happens next is the caller's to say (a source, a page)
                    raise (Gone if status in (404, 410) else ClientError)(
                        origin, f"answered HTTP {status} {r.reason_phrase}", status=status, final_url=url)
                if accept is not None:
                    _check_declared_type(origin, url, r.headers.get("content-type"), accept,
                                         status)
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise TooLarge(
                        origin, f"declares {int(declared):,} bytes, more than "
                        f"max_page_bytes ({max_bytes:,}); raise it in the config if the page "
                        "is wanted", status=status, final_url=url)
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(
                            origin, f"sent more than max_page_bytes ({max_bytes:,}) bytes; "
                            "download aborted; raise the limit in the config if the page is "
                            "wanted", status=status, final_url=url)
                    if self._clock() - started > self.settings.total_timeout:
                        raise Timeout(
                            origin, f"took more than {self.settings.total_timeout:g} s to "
                            "send its page; download aborted", status=status, final_url=url)
                    chunks.append(chunk)
                body = b"".join(chunks)
                if accept is not None:
                    _check_sniffed_type(origin, url, body, status)
                return _Response(status, r.headers, url, body)
        except httpx.TimeoutException as e:
            phase = "connecting" if isinstance(e, (httpx.ConnectTimeout, httpx.PoolTimeout)) \
                else "waiting for data"
            raise Timeout(origin, f"timed out {phase} ({type(e).__name__}); the site is "
                          "slow or down, it will be retried next run", final_url=url) from e
        except httpx.ConnectError as e:
            if _caused_by(e, socket.gaierror):
                raise HostNotFound(origin, f"host name {urlsplit(url).hostname} not found (DNS); "
                                   "check the source's url, or the network", final_url=url) from e
            raise ConnectFailed(origin, f"cannot connect to {host_key(url)} ({e or type(e).__name__});"
                                " check the network or the host name", final_url=url) from e
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError,
                httpx.DecodingError) as e:
            raise ProtocolFailure(origin, f"the connection failed mid-response "
                                  f"({type(e).__name__}: {e}); it will be retried",
                                  final_url=url) from e
        except httpx.InvalidURL as e:
            raise BadUrl(origin, f"not a valid URL ({e})") from e
        except httpx.TransportError as e:  # proxies, unsupported protocols, the rest
            raise ProtocolFailure(origin, f"transport error ({type(e).__name__}: {e}); it will "
                                  "be retried", final_url=url) from e

    # ---- robots.txt, once per host per run

    def _check_robots(self, gate: _HostGate, url: str, *, origin: str) -> None:
        if not gate.robots_loaded:
            self._load_robots(gate, url)
        if gate.robots_error is not None:
            e = gate.robots_error
            raise type(e)(origin, e.message, status=e.status)
        if gate.robots is not None and not gate.robots.can_fetch(url, self.settings.user_agent):
            raise RobotsDisallowed(
                origin, f"disallowed by {host_key(url)}'s robots.txt for our user agent; "
                "it is not fetched (remove it from the sources, or ask the site)", final_url=url)

    def _load_robots(self, gate: _HostGate, url: str) -> None:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        gate.robots_loaded = True
        current = robots_url
        try:
            for _hop in range(5):  # RFC 9309: follow at least five redirects
                response = self._request_with_retries(
                    gate, current, {}, [0], origin=robots_url, accept=None,
                    max_bytes=_ROBOTS_MAX_BYTES)
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
        except FetchError as e:
            if isinstance(e, HttpStatusError) and e.status is not None and e.status < 500:
                return  # 4xx: no robots.txt, everything allowed (RFC 9309 2.3.1.3)
            gate.robots_error = type(e)(
                url, f"robots.txt of {host_key(url)} could not be read ({e.message}); "
                "nothing is fetched from this host this run", status=e.status)
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


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _accept_header(accept: frozenset[str]) -> str:
    if accept == HTML_TYPES:
        return "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
    return "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml," \
           "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"


def _check_declared_type(origin: str, url: str, content_type: str | None,
                         accept: frozenset[str], status: int) -> None:
    media = _media_type(content_type)
    if media is None or media in accept or media.endswith("+xml") and accept != HTML_TYPES:
        return
    raise NotHtml(origin, f"is {media}, not a web page; it is recorded and not parsed",
                  status=status, final_url=url)


def _check_sniffed_type(origin: str, url: str, body: bytes, status: int) -> None:
    signature = binary_signature(body)
    # gzip is let through: a .xml.gz sitemap, or a page the cleaner decompresses.
    if signature is not None and signature[0] != "application/gzip":
        raise NotHtml(origin, f"holds {signature[0]} data although it is served as text; "
                      "it is recorded and not parsed", status=status, final_url=url)


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
