"""What a polite fetcher does per host: one request in flight and a delay between two
(`HostGate`), robots.txt read once per run and obeyed (`check_robots`, RFC 9309 by protego),
retries with backoff honouring Retry-After (`request_with_retries`, by tenacity), and a host
whose fetches keep timing out left for the next run (`check_host_timeouts`).
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import tenacity
from protego import Protego

from core.urls import host_key
from errors import (
    AddressNotAllowed,
    FetchError,
    HttpStatusError,
    RateLimited,
    RobotsDisallowed,
    ServerError,
    Timeout,
    TooLarge,
)
from scrapers.exchange import Response

_MAX_CRAWL_DELAY = 60.0  # a robots.txt Crawl-delay above this is treated as this
_HOST_TIMEOUTS = 2  # fetches of one host ending in a timeout before the host waits for next run

# One GET of a URL for a robots.txt (url, the robots.txt asked for): politely, with retries.
Request = Callable[[str, str], Response]


class HostGate:
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

    def wait_turn(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        if self.last_end is not None:
            wait = self.last_end + self.delay - clock()
            if wait > 0:
                sleep(wait)


def check_host_timeouts(gate: HostGate, url: str, *, origin: str) -> None:
    """A host whose fetches timed out twice this run is not asked again until the next run:
    each timeout costs up to `total_timeout` per try, and the run must end."""
    if gate.timeouts >= _HOST_TIMEOUTS and gate.last_timeout is not None:
        raise Timeout(
            origin,
            f"not fetched: {host_key(url)} timed out on {gate.timeouts} fetches this "
            f"run (last: {gate.last_timeout.message}); it is asked again next run",
            final_url=url,
        )


class _Again(Exception):
    """This try asks for another one, `wait` seconds later."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"again in {wait:.1f} s")
        self.wait = wait


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before try `attempt` + 1: doubled each time up to `cap`, jittered, so the retries
    of parallel runs do not hit the site in step."""
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def request_with_retries(
    gate: HostGate,
    url: str,
    send: Callable[[], Response],
    counter: list[int],
    *,
    origin: str,
    attempts: int,
    backoff_base: float,
    backoff_max: float,
    max_retry_after: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Response:
    """`send()` (one exchange), in the host's turn, tried again while the failure may pass
    within the run (a timeout, a dropped connection, a 5xx, a 429; the wait a Retry-After asks
    for, up to `max_retry_after`), at most `attempts` times; `counter[0]` counts the tries."""
    attempts = max(1, attempts)
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=lambda state: _wait_asked(state),
        retry=tenacity.retry_if_exception_type(_Again),
        sleep=sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            n = attempt.retry_state.attempt_number
            gate.wait_turn(sleep, clock)
            counter[0] += 1
            try:
                response = send()
            except FetchError as e:
                if not e.retry_in_run or n == attempts:
                    if isinstance(e, Timeout):
                        gate.timeouts += 1
                        gate.last_timeout = e
                    if e.retry_in_run and attempts > 1:
                        raise e.again(origin, f"{e.message} (after {attempts} tries)") from e
                    raise
                raise _Again(backoff(n, backoff_base, backoff_max)) from e
            finally:
                gate.last_end = clock()
            if response.status in (429, 503) and "retry-after" in response.headers:
                wait = parse_retry_after(response.headers["retry-after"])
                if wait is None:
                    wait = backoff(n, backoff_base, backoff_max)
                if wait > max_retry_after:
                    raise RateLimited(
                        origin,
                        f"answered {response.status} asking to wait {wait:.0f} s "
                        f"(Retry-After), more than retries.max_retry_after "
                        f"({max_retry_after:g} s); it will be retried next run",
                        status=response.status,
                        final_url=url,
                    )
                if n == attempts:
                    raise RateLimited(
                        origin,
                        f"still answered {response.status} after {attempts} tries "
                        "honouring Retry-After; it will be retried next run",
                        status=response.status,
                        final_url=url,
                    )
                raise _Again(wait)
            if response.status >= 500 or response.status == 429:
                if n == attempts:
                    error = RateLimited if response.status == 429 else ServerError
                    raise error(
                        origin,
                        f"answered HTTP {response.status} after {attempts} tries; "
                        "the site is failing, it will be retried next run",
                        status=response.status,
                        final_url=url,
                    )
                raise _Again(backoff(n, backoff_base, backoff_max))
            return response
    raise AssertionError("unreachable: tenacity returns the response or raises")


def _wait_asked(state: tenacity.RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    return error.wait if isinstance(error, _Again) else 0.0


def parse_retry_after(value: str) -> float | None:
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


def check_robots(gate: HostGate, url: str, *, origin: str, user_agent: str, request: Request) -> None:
    """Raise RobotsDisallowed when the host's robots.txt (read once per run, through `request`:
    politely, with retries) keeps our user agent from `url`; its failure to load, when it must
    stop the host's fetches, as the error it was."""
    if not gate.robots_loaded:
        _load_robots(gate, url, request, user_agent)
    if gate.robots_error is not None:
        e = gate.robots_error
        raise type(e)(origin, e.message, status=e.status, final_url=url)
    if gate.robots is not None and not gate.robots.can_fetch(url, user_agent):
        raise RobotsDisallowed(
            origin,
            f"disallowed by {host_key(url)}'s robots.txt for our user agent; "
            "it is not fetched (remove it from the sources, or ask the site)",
            final_url=url,
        )


def _load_robots(gate: HostGate, url: str, request: Request, user_agent: str) -> None:
    parts = urlsplit(url)
    robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
    gate.robots_loaded = True
    current = robots_url
    try:
        for _hop in range(5):  # RFC 9309: follow at least five redirects
            response = request(current, robots_url)
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
    crawl_delay = gate.robots.crawl_delay(user_agent)
    if crawl_delay:
        gate.delay = max(gate.delay, min(float(crawl_delay), _MAX_CRAWL_DELAY))
