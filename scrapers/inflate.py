"""Decompression counted as it happens: HTTP content codings, `.gz` files, saved pages.

A few kilobytes of gzip can inflate to gigabytes, and layers multiply: `Content-Encoding:
gzip, gzip` of 6.8 KB is 4 GiB of zeros. So no layer is ever asked for more than `STEP`
bytes of output at a time (zlib's `max_length`), every layer's output is counted as it comes
out, and the first layer to exceed the limit stops the whole chain. Memory stays near the
limit (the caller's buffer) plus `STEP` per layer, whatever the layering.

    for piece in decode_stream(raw_chunks, ["gzip", "gzip"], limit=5_000_000): ...
    data = inflate_file(data, limit)          # a gzipped file (sitemap.xml.gz, page.html.gz)

Errors are this module's own (`TooMuchOutput`, `BadEncoding`): fetching, discovery and
`newswatch clean` each turn them into their error with the URL or file.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from errors import CleanError

STEP = 64 * 1024  # most output one decompress call may produce
MAX_LAYERS = 3  # more content codings than this on one response is refused
GZIP_MAGIC = b"\x1f\x8b"
# What newswatch asks for and decodes; anything else in Content-Encoding is refused.
ACCEPT_ENCODING = "gzip, deflate"
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class TooMuchOutput(Exception):
    """Decoding went past the limit: `layer` (1 = outermost coding removed first) says where."""

    def __init__(self, limit: int, layer: int, layers: int) -> None:
        self.limit, self.layer, self.layers = limit, layer, layers
        where = f" (content coding layer {layer} of {layers})" if layers > 1 else ""
        super().__init__(f"decompresses to more than {limit:,} bytes{where}")


class BadEncoding(Exception):
    """Corrupt compressed data, or a coding newswatch does not decode."""


def parse_codings(header: str | None) -> list[str]:
    """`Content-Encoding: gzip, deflate` -> ["gzip", "deflate"] (in the order applied);
    identity dropped; raises BadEncoding for an unknown coding or too many layers."""
    codings = []
    for token in (header or "").split(","):
        token = token.strip().lower()
        if not token or token == "identity":
            continue
        if token not in _CODINGS:
            raise BadEncoding(
                f"uses content coding {token!r}, which newswatch does not ask for nor "
                f"decode (it asks for {ACCEPT_ENCODING})"
            )
        codings.append(_CODINGS[token])
    if len(codings) > MAX_LAYERS:
        raise BadEncoding(f"stacks {len(codings)} content codings ({header}); more than {MAX_LAYERS} is not a web page")
    return codings


class _Inflater:
    """One content-coding layer, fed compressed pieces, giving out pieces of at most STEP bytes."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._z: zlib._Decompress | None = None
        self._raw_deflate = False  # "deflate" without its zlib header: some servers send that
        self._done = False  # the (last) gzip member or the deflate stream ended

    def _start(self, data: bytes) -> zlib._Decompress:
        if self.coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # zlib-wrapped deflate starts with a CMF byte whose low nibble is 8.
        self._raw_deflate = not (len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._done:
            if self._z is None:
                self._z = self._start(data)
            z = self._z
            try:
                out = z.decompress(data, STEP)
            except zlib.error as e:
                raise BadEncoding(f"corrupt {self.coding} data ({e})") from None
            if out:
                yield out
            if z.eof:
                rest = z.unused_data
                # Concatenated gzip members are one stream (RFC 1952); trailing junk is ignored.
                if self.coding == "gzip" and rest.startswith(GZIP_MAGIC):
                    self._z, data = None, rest
                else:
                    self._done = True
                continue
            data = z.unconsumed_tail
            if not data and len(out) == STEP:
                data = b""  # output may be pending inside zlib: drain it below
                yield from self._drain()

    @property
    def finished(self) -> bool:
        """The stream (its last gzip member) ended."""
        return self._done or (self._z is not None and self._z.eof)

    def _drain(self) -> Iterator[bytes]:
        z = self._z
        while z is not None and not z.eof:
            try:
                out = z.decompress(z.unconsumed_tail, STEP)
            except zlib.error as e:
                raise BadEncoding(f"corrupt {self.coding} data ({e})") from None
            if not out:
                return
            yield out


def _layer(upstream: Iterable[bytes], coding: str, limit: int, layer: int, layers: int) -> Iterator[bytes]:
    inflater = _Inflater(coding)
    produced = 0
    for data in upstream:
        for piece in inflater.feed(data):
            produced += len(piece)
            if produced > limit:
                raise TooMuchOutput(limit, layer, layers)
            yield piece


def decode_stream(chunks: Iterable[bytes], codings: list[str], limit: int) -> Iterator[bytes]:
    """The decoded bytes of a body whose `codings` (as `parse_codings` gives them) were
    applied in that order; every layer's output is bounded by `limit`."""
    stream: Iterable[bytes] = chunks
    for index, coding in enumerate(reversed(codings), start=1):
        stream = _layer(stream, coding, limit, index, len(codings))
    return iter(stream)


def read_bounded(chunks: Iterable[bytes], limit: int) -> bytes:
    """Join decoded pieces, raising TooMuchOutput past `limit` (peak memory: about `limit`)."""
    out = bytearray()
    for piece in chunks:
        if len(out) + len(piece) > limit:
            raise TooMuchOutput(limit, 1, 1)
        out += piece
    return bytes(out)


def inflate_file(data: bytes, limit: int, *, whole: bool = False) -> bytes:
    """A gzipped file's content (the data itself when it is not gzip), at most `limit` bytes.
    `whole`: a file cut short is an error (BadEncoding), not a shorter content."""
    if not data.startswith(GZIP_MAGIC):
        return data
    inflater = _Inflater("gzip")
    out = read_bounded(inflater.feed(data), limit)
    if whole and not inflater.finished:
        raise BadEncoding("truncated gzip data")
    return out


# A saved page is at most a few MB; a gzip member inflating past this is a bomb or not a page.
MAX_SAVED_INFLATED = 64 * 1024 * 1024


def gunzip_page(data: bytes, limit: int = MAX_SAVED_INFLATED) -> bytes:
    """A gzipped saved page, inflated (counted as it inflates: at most `limit` bytes)."""
    try:
        return inflate_file(data, limit, whole=True)
    except TooMuchOutput:
        raise CleanError(
            f"the input inflates to more than {limit:,} bytes: not a web page (or raise --max-bytes)"
        ) from None
    except BadEncoding as e:
        raise CleanError(f"the input is gzip-compressed but unreadable ({e}); save the page again") from None
