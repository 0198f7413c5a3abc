"""The fetcher's network layer: where it may connect, and a deadline no peer can stretch.

`httpx` is given a connection pool whose network backend (`GuardedBackend`) does two things
that httpx's own timeouts and resolver cannot:

- **A deadline over the whole exchange.** httpx's `read` timeout bounds one wait for bytes,
  so a server sending its status line one byte every few seconds never trips it. Each
  exchange (`Exchange`, set for the calling thread by `exchange(...)`) has an absolute
  deadline; every DNS lookup, connect, TLS handshake, read and write is given only the time
  left (CPython's TLS handshake honours one timeout for the whole call). When the deadline
  passes the operation fails and `Exchange.cut_off` names the phase it interrupted.
- **Addresses checked before connecting.** The host is resolved once, each address is
  judged by the exchange's `NetworkScope`, and the socket connects to an address that was
  checked, never to a name resolved again (DNS rebinding). Link-local addresses (cloud
  metadata services live at 169.254.169.254) are refused always; loopback, private and other
  special-purpose ranges only when the source's own URL resolves into that same range;
  `allow_private_networks` lifts both.
- **A stop that every wait obeys.** `stop_work()` (set by the run's signal handler, see
  `flows/pipeline/stopping.py`) makes every lookup, connect, read and write of the process, and every
  polite wait (`pause`), raise `errors.ProcessStopping` within `SLICE` seconds: they wait in
  slices and look at the stop between two. A blocking socket call cannot be interrupted from
  another thread, and a run's threads must end before its process may (Prefect waits for its
  task threads before it lets a SIGTERM kill the process).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import httpcore
from httpcore._backends.sync import SyncStream  # the plain socket stream httpx itself uses

from errors import ProcessStopping

T = TypeVar("T")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # (host, port) -> IP addresses, in preference order

# Special-purpose blocks (IANA registries), most specific first where they nest. An address in
# none of them and not global (`ipaddress`) is judged as a block of its own.
_LINK_LOCAL = "link-local"
_BLOCKS: list[tuple[Network, str]] = [
    (ipaddress.ip_network(n), label)
    for n, label in (
        ("169.254.0.0/16", _LINK_LOCAL),
        ("fe80::/10", _LINK_LOCAL),
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("fc00::/7", "private (unique local)"),
        ("fec0::/10", "private (site-local)"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("0.0.0.0/8", "'this host'"),
        ("::/128", "unspecified"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("2001::/23", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("2001:db8::/32", "documentation"),
        ("198.18.0.0/15", "benchmarking"),
        ("100::/64", "discard-only"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def special_block(address: IPAddress) -> tuple[Network, str] | None:
    """The special-purpose block holding `address` and its name; None for a public address.

    IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged by that address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return special_block(embedded)
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])  # zone id off
    for network, label in _BLOCKS:
        if address.version == network.version and address in network:
            return network, label
    if not address.is_global:
        return ipaddress.ip_network(address), "reserved"
    return None


class AddressRefused(Exception):
    """The host resolves only to addresses this exchange may not connect to."""


@dataclass(frozen=True)
class NetworkScope:
    """Where the fetches of one source may connect: public addresses, plus the special blocks
    its own configured URL resolves into (never link-local), or everywhere (`allow_all`)."""

    allowed: frozenset = frozenset()  # special blocks (networks) allowed
    allow_all: bool = False
    origin: str = "the source's url"  # what the allowed networks come from, for messages

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why `address` may not be connected to (None: it may)."""
        if self.allow_all:
            return None
        block = special_block(address)
        if block is None:
            return None
        network, label = block
        what = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
        if label == _LINK_LOCAL:
            return (
                f"{what} a link-local address (where cloud metadata services answer): "
                "newswatch never fetches from link-local addresses unless "
                "allow_private_networks: true"
            )
        if network in self.allowed:
            return None
        return (
            f"{what} a {label} address ({network}) outside the networks {self.origin} "
            "points to: not fetched (allow_private_networks: true allows it)"
        )


def scope_for(
    url_host: str, port: int, resolve: Resolver, *, allow_all: bool, origin: str, within: float | None = None
) -> NetworkScope:
    """The scope of a source whose configured URL has this host: the special blocks its
    addresses are in (link-local excepted). A host that does not resolve (within `within`
    seconds) allows nothing more."""
    if allow_all:
        return NetworkScope(allow_all=True, origin=origin)
    try:
        addresses = [ipaddress.ip_address(a) for a in resolve_within(resolve, url_host, port, within)]
    except (OSError, ValueError):  # a lookup that timed out is a TimeoutError, an OSError
        addresses = []
    blocks = {block for a in addresses if (block := special_block(a)) is not None}
    return NetworkScope(frozenset(n for n, label in blocks if label != _LINK_LOCAL), origin=origin)


# ------------------------------------------------------------------------------ the stop ---

SLICE = 0.5  # seconds a wait lasts at most before it looks at the stop again
_stopping = threading.Event()


def stop_work() -> None:
    """From now on every network operation and polite wait of this process raises
    `ProcessStopping` (within `SLICE` seconds for those in progress)."""
    _stopping.set()


def resume_work() -> None:
    """Undo `stop_work` (a stop that did not end the process; tests)."""
    _stopping.clear()


def work_stopped() -> bool:
    return _stopping.is_set()


def check_stop() -> None:
    if _stopping.is_set():
        raise ProcessStopping()


def pause(seconds: float) -> None:
    """Sleep `seconds` (a polite delay, a back-off), or raise `ProcessStopping` as soon as
    the work is stopped."""
    if _stopping.wait(max(0.0, seconds)):
        raise ProcessStopping()


def _sliced(timeout: float | None) -> tuple[float | None, float]:
    """(when the whole wait ends, monotonic; None: never, the first slice's length)."""
    until = None if timeout is None else time.monotonic() + timeout
    return until, SLICE if timeout is None else min(SLICE, max(0.0, timeout))


def _slice_left(until: float | None) -> float | None:
    """The next slice of a wait that ends at `until`: None once it is over; ProcessStopping
    once the work is stopped."""
    check_stop()
    if until is None:
        return SLICE
    left = until - time.monotonic()
    return None if left <= 0 else min(SLICE, left)


def wait_for(future: Future[T], timeout: float | None) -> T:
    """`future.result(timeout)`, in slices that look at the stop (FutureTimeout after
    `timeout` seconds)."""
    until, step = _sliced(timeout)
    while True:
        check_stop()
        try:
            return future.result(timeout=step)
        except FutureTimeout:
            if (left := _slice_left(until)) is None:
                raise
            step = left


def _literal(host: str) -> list[str]:
    """[host] when it is an IP address already, else []."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return []
    return [host.strip("[]")]


# getaddrinfo cannot be interrupted: it runs here, and the exchange waits at most its time left.
_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


def resolve_within(resolve: Resolver, host: str, port: int, seconds: float | None) -> list[str]:
    """`resolve(host, port)`, waited for at most `seconds` (TimeoutError): getaddrinfo cannot be
    interrupted, so it runs in a pool thread. A literal address is returned as it is."""
    return _literal(host) or wait_for(_resolver_pool.submit(resolve, host, port), seconds)


def system_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo's addresses for a TCP connection, in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # [0]: the address, always text


# ------------------------------------------------------------------------- the exchange ---


@dataclass
class Exchange:
    """One request-response exchange of the calling thread: its deadline and scope."""

    deadline: float  # time.monotonic() after which every operation fails
    total: float  # the budget in seconds, for messages
    scope: NetworkScope
    phase: str = "waiting for the status line and headers"
    cut_off: str | None = None  # the phase the deadline interrupted
    connected_to: list[str] = field(default_factory=list)  # addresses connected to

    def left(self, timeout: float | None) -> float:
        """The time an operation may take: its own timeout, never past the deadline."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.cut_off = self.cut_off or self.phase
            return 0.0
        return remaining if timeout is None else min(timeout, remaining)

    def expired(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.cut_off = self.cut_off or self.phase
            return True
        return False


_local = threading.local()
# Outside any exchange (a pooled connection closed in the background): public addresses only.
_NO_EXCHANGE = NetworkScope()


def current() -> Exchange | None:
    return getattr(_local, "exchange", None)


@contextmanager
def exchange(total: float, scope: NetworkScope) -> Iterator[Exchange]:
    """Run one exchange in this thread with a deadline `total` seconds from now."""
    ex = Exchange(deadline=time.monotonic() + total, total=total, scope=scope)
    previous = current()
    _local.exchange = ex
    try:
        yield ex
    finally:
        _local.exchange = previous


@contextmanager
def _phase(ex: Exchange | None, name: str) -> Iterator[None]:
    if ex is None:
        yield
        return
    before, ex.phase = ex.phase, name
    try:
        yield
    finally:
        # A deadline that passed during the phase is this phase's: name it before leaving.
        if ex.cut_off is None and not ex.expired():
            ex.phase = before


# -------------------------------------------------------------------------- the backend ---


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation gets at most the exchange's time left, and
    waits in slices of at most `SLICE` seconds (a stop is seen between two)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    @staticmethod
    def _time(timeout: float | None, expired: type[Exception]) -> float | None:
        """The operation's timeout within the exchange's deadline; `expired` once it passed."""
        ex = current()
        if ex is None:
            return timeout
        left = ex.left(timeout)
        if left <= 0:
            raise expired(f"cut off: timeouts.total ({ex.total:g} s) ran out")
        return left

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        check_stop()
        until, step = _sliced(self._time(timeout, httpcore.ReadTimeout))
        while True:
            try:  # a read that timed out took no byte: the next slice reads on
                return self._inner.read(max_bytes, step)
            except httpcore.ReadTimeout:
                if (left := _slice_left(until)) is None:
                    raise
                step = left

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        check_stop()
        sock = self._inner.get_extra_info("socket")
        until, step = _sliced(self._time(timeout, httpcore.WriteTimeout))
        data = memoryview(buffer)
        while data:
            sock.settimeout(step)
            try:
                data = data[sock.send(data) :]  # a send that timed out sent nothing
                continue
            except TimeoutError:
                pass
            except OSError as e:
                raise httpcore.WriteError(e) from e
            if (left := _slice_left(until)) is None:
                raise httpcore.WriteTimeout("timed out")
            step = left

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # Not sliced: a stop waits for the handshake, at most timeouts.connect.
        check_stop()
        ex = current()
        with _phase(ex, "TLS handshake"):
            left = timeout
            if ex is not None and (left := ex.left(timeout)) <= 0:
                self.close()
                raise httpcore.ConnectTimeout(f"cut off: timeouts.total ({ex.total:g} s) ran out")
            return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, check every address against the exchange's scope, connect to a checked
    address, all within the exchange's deadline."""

    def __init__(self, resolve: Resolver = system_resolver) -> None:
        self._resolve = resolve

    def addresses(self, host: str, port: int, ex: Exchange | None) -> list[str]:
        wait = None
        if ex is not None and (wait := ex.left(None)) <= 0:
            raise httpcore.ConnectTimeout(f"cut off: timeouts.total ({ex.total:g} s) ran out")
        try:
            return resolve_within(self._resolve, host, port, wait)
        except FutureTimeout:
            if ex is not None:  # always: only a lookup with a deadline times out
                ex.left(0)  # marks the cut-off
            raise httpcore.ConnectTimeout(f"cut off looking up {host}") from None
        except OSError as e:
            raise httpcore.ConnectError(str(e)) from e

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.NetworkStream:
        ex = current()
        scope = ex.scope if ex else _NO_EXCHANGE
        with _phase(ex, f"looking up {host}"):
            found = self.addresses(host, port, ex)
        allowed, refusals = [], []
        for text in found:
            reason = scope.refusal(host, ipaddress.ip_address(text))
            (refusals.append(reason) if reason else allowed.append(text))
        if not allowed:
            raise AddressRefused(refusals[0] if refusals else f"{host} has no address")
        last: Exception | None = None
        with _phase(ex, f"connecting to {host}"):
            for address in allowed:
                left = timeout
                if ex is not None and (left := ex.left(timeout)) <= 0:
                    break
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    for option in socket_options or ():
                        sock.setsockopt(*option)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if local_address is not None:
                        sock.bind((local_address, 0))
                    _connect(sock, (address, port), left)
                except OSError as e:
                    sock.close()
                    last = e
                    continue
                if ex is not None:
                    ex.connected_to.append(address)
                return DeadlineStream(SyncStream(sock))
        if ex is not None and ex.expired():
            raise httpcore.ConnectTimeout(f"cut off: timeouts.total ({ex.total:g} s) ran out")
        if isinstance(last, socket.timeout):
            raise httpcore.ConnectTimeout(str(last)) from last
        raise httpcore.ConnectError(str(last or f"cannot connect to {host}")) from last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable | None = None
    ) -> httpcore.NetworkStream:
        raise AddressRefused("unix sockets are not fetched from")

    def sleep(self, seconds: float) -> None:
        pause(seconds)


def _connect(sock: socket.socket, address: tuple[str, int], timeout: float | None) -> None:
    """`sock.connect(address)` within `timeout` seconds (socket.timeout), waiting in slices
    that look at the stop."""
    check_stop()
    sock.setblocking(False)
    code = sock.connect_ex(address)
    until, step = _sliced(timeout)
    poll = select.poll()
    poll.register(sock, select.POLLOUT)
    while code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR):
        if poll.poll(step * 1000):
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            break
        if (left := _slice_left(until)) is None:
            raise TimeoutError("timed out")
        step = left
    if code:
        raise OSError(code, os.strerror(code))  # ConnectionRefusedError and its kin
    sock.setblocking(True)
