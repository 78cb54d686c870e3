"""Bounded body reading: decompress with a ceiling, record a prefix, count the rest.

A hostile server can send a compression bomb (a few KiB of gzip that inflate to gigabytes) or an
endless stream. httpx's own decoders inflate a whole network chunk at once, so we read the raw
stream and inflate it ourselves, never more than `_STEP_BYTES` at a time and never past the limit.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx

_STEP_BYTES = 1 << 16  # inflate at most this much per call, so memory stays flat
_GZIP_MAGIC = b"\x1f\x8b"


class _Inflater:
    """Incremental gzip/deflate decoding whose every call returns at most `max_bytes`."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._started = False
        self._zlib = self._new()

    def _new(self) -> zlib._Decompress:
        if self._encoding == "deflate":
            return zlib.decompressobj()
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def inflate(self, data: bytes, max_bytes: int) -> tuple[bytes, bytes]:
        """Return (decoded bytes, input left over because max_bytes was reached)."""
        try:
            out = self._zlib.decompress(data, max_bytes)
        except zlib.error:
            # "deflate" should be zlib-wrapped (RFC 9110) but some servers send raw deflate.
            if self._encoding != "deflate" or self._started:
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._zlib.decompress(data, max_bytes)
        self._started = True
        if self._zlib.eof and self._zlib.unused_data.startswith(_GZIP_MAGIC):
            rest = self._zlib.unused_data  # another gzip member follows (RFC 1952 §2.2)
            self._zlib = self._new()
            return out, rest
        return out, self._zlib.unconsumed_tail


class BoundedBody:
    """What was read of one body: the recorded prefix, the decoded count and whether we stopped.

    `limit_bytes` decoded (or raw) bytes are read at most; the first `cap_bytes` are kept.
    `is_truncated` says the recorded body is not the whole body (cap exceeded or reading stopped).
    """

    def __init__(self, content_encoding: str, *, cap_bytes: int, limit_bytes: int) -> None:
        encoding = content_encoding.strip().lower()
        self._inflater = _Inflater(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None
        self._cap = cap_bytes
        self._limit = limit_bytes
        self.recorded = bytearray()
        self.length = 0
        self.raw_length = 0
        self.is_truncated = False
        self.is_full = False

    def _keep(self, decoded: bytes) -> None:
        allowed = self._limit - self.length
        if len(decoded) > allowed:
            decoded = decoded[:allowed]
            self.is_full = True
        room = self._cap - len(self.recorded)
        if room > 0:
            self.recorded += decoded[:room]
        self.length += len(decoded)
        if self.length > len(self.recorded) or self.is_full:
            self.is_truncated = True

    def feed(self, raw: bytes) -> None:
        """Add one raw chunk; `is_full` is set at the read limit. Raises httpx.DecodingError."""
        self.raw_length += len(raw)
        if self._inflater is None:
            self._keep(raw)
            return
        self._inflate(raw)
        # Raw bytes are bounded too (a stream of empty deflate blocks decodes to nothing), with
        # room for incompressible data, which deflate expands by a few bytes per block.
        if self.raw_length > 2 * self._limit + _STEP_BYTES and not self.is_full:
            self.is_full = self.is_truncated = True

    def _inflate(self, raw: bytes) -> None:
        assert self._inflater is not None
        pending = raw
        while pending and not self.is_full:
            # One byte over the remaining budget tells "exactly at the limit" from "past it".
            step = min(_STEP_BYTES, self._limit - self.length + 1)
            try:
                decoded, pending = self._inflater.inflate(pending, step)
            except zlib.error as exc:
                raise httpx.DecodingError(f"cannot decode the body: {exc}") from exc
            self._keep(decoded)
            if not decoded and pending:
                # Input left but no output: zlib needs more data, or trailing garbage follows.
                break


async def read_into(body: BoundedBody, chunks: AsyncIterator[bytes]) -> None:
    """Feed raw chunks into `body` until the stream ends or its read limit is reached."""
    async for chunk in chunks:
        body.feed(chunk)
        if body.is_full:
            return


async def read_capped(response: httpx.Response, cap_bytes: int) -> BoundedBody:
    """Return a service's whole response body (decoded, at most `cap_bytes`; `is_truncated`
    when it held more): a helper's answer, a DoH reply."""
    body = BoundedBody(
        response.headers.get("content-encoding", ""), cap_bytes=cap_bytes, limit_bytes=cap_bytes + 1
    )
    await read_into(body, response.aiter_raw())
    return body
