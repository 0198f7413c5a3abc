"""Polite HTTP fetching: one shared client per run, one request in flight per host.

`Fetcher.fetch_many(urls)` fetches a list of URLs, hosts in parallel, each host's URLs one
after the other with the configured delay between them; `Fetcher.stream(urls)` does the same
and yields each page as it arrives, so that the next stage can start on it. Nothing raises out of it: every
URL gets a `FetchResult`, whose `error` is the `errors.FetchError` when it failed (its class
says whether a later run may succeed: `errors.TemporaryError` or `errors.PermanentError`).

Why redirects are followed by hand: each hop may go to another host, which has its own
robots.txt and its own politeness gate; loops must be named as such; and only http(s) hops
are followed.

The fetcher's pieces: what it takes and gives (`scrapers/fetch_types.py`), one bounded
exchange (`scrapers/exchange.py`), what it does per host: politeness, robots.txt, retries
(`scrapers/politeness.py`).

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
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from urllib.parse import urljoin, urlsplit

import httpx

from core.urls import DEFAULT_PORTS, MAX_URL_LENGTH, host_key
from errors import BadRedirect, BadUrl, FetchError, RedirectLoop, TooManyRedirects, UnexpectedFetchError
from scrapers import inflate
from scrapers import transport as net
from scrapers.exchange import ROBOTS_MAX_BYTES, Response, accept_header, guarded_transport, request_once
from scrapers.fetch_types import (
    DISCOVERY_TYPES,
    HTML_TYPES,
    FetchResult,
    FetchSettings,
    NotModified,
    Validators,
)
from scrapers.politeness import HostGate, check_host_timeouts, check_robots, request_with_retries

__all__ = ["DISCOVERY_TYPES", "HTML_TYPES", "FetchResult", "FetchSettings", "Fetcher", "NotModified", "Validators"]


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
            transport=transport or guarded_transport(resolver),
            # No proxies from the environment: the addresses connected to are the ones checked.
            trust_env=False,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": inflate.ACCEPT_ENCODING},
        )
        self._gates: dict[str, HostGate] = {}
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
                if len(target) > MAX_URL_LENGTH:
                    raise BadRedirect(
                        url,
                        f"redirect {response.status} from {current} to an address of {len(target):,} "
                        f"characters (at most {MAX_URL_LENGTH:,}); the URL is skipped",
                        status=response.status,
                        final_url=current,
                    )
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

    def _result(self, url: str, response: Response, attempts: int) -> FetchResult:
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

    def _gate(self, url: str) -> HostGate:
        key = host_key(url)
        with self._gates_lock:
            gate = self._gates.get(key)
            if gate is None:
                delay = self.settings.host_delays.get(key, self.settings.default_delay)
                gate = self._gates[key] = HostGate(delay)
            return gate

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
    ) -> Response:
        gate = self._gate(url)
        with gate.lock:
            check_host_timeouts(gate, url, origin=origin)
            if self.settings.obey_robots:

                def robots_request(robots_url: str, asked: str) -> Response:
                    return self._request(
                        gate, robots_url, {}, [0], origin=asked, accept=None, scope=scope, max_bytes=ROBOTS_MAX_BYTES
                    )

                check_robots(gate, url, origin=origin, user_agent=self.settings.user_agent, request=robots_request)
            headers = {"Accept": accept_header(accept)}
            if validators and validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators and validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
            return self._request(
                gate, url, headers, counter, origin=origin, accept=accept, scope=scope, max_bytes=max_bytes
            )

    def _request(
        self,
        gate: HostGate,
        url: str,
        headers: dict[str, str],
        counter: list[int],
        *,
        origin: str,
        accept: frozenset[str] | None,
        scope: net.NetworkScope,
        max_bytes: int,
    ) -> Response:
        """One hop, tried again as `politeness.request_with_retries` says."""
        s = self.settings
        return request_with_retries(
            gate,
            url,
            lambda: request_once(
                self._client, s, url, headers, origin=origin, accept=accept, scope=scope, max_bytes=max_bytes
            ),
            counter,
            origin=origin,
            attempts=s.attempts,
            backoff_base=s.backoff_base,
            backoff_max=s.backoff_max,
            max_retry_after=s.max_retry_after,
            sleep=self._sleep,
            clock=self._clock,
        )
