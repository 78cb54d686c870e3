"""measure._body: bounded decoding records a prefix, counts up to the limit, never inflates more."""

from __future__ import annotations

import gzip
import random
import zlib

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.measure._body import BoundedBody


def _feed(body: BoundedBody, raw: bytes, chunk: int) -> None:
    for start in range(0, len(raw), chunk):
        body.feed(raw[start : start + chunk])
        if body.is_full:
            return


def _encode(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    return data


@given(
    data=st.binary(max_size=5000),
    encoding=st.sampled_from(["", "gzip", "deflate", "GZIP ", "br"]),
    cap=st.integers(1, 3000),
    limit=st.integers(1, 6000),
    chunk=st.integers(1, 700),
)
def test_prefix_count_and_truncation(
    data: bytes, encoding: str, cap: int, limit: int, chunk: int
) -> None:
    known = encoding.strip().lower() in ("gzip", "deflate")
    raw = _encode(data, encoding.strip().lower()) if known else data
    body = BoundedBody(encoding, cap_bytes=cap, limit_bytes=limit)
    _feed(body, raw, chunk)
    counted = min(len(data), limit)
    assert body.length == counted
    assert bytes(body.recorded) == data[: min(cap, counted)]
    assert body.is_truncated == (len(data) > cap or len(data) > limit)


@given(data=st.binary(max_size=3000), limit=st.integers(1, 4000), chunk=st.integers(1, 500))
def test_invariants(data: bytes, limit: int, chunk: int) -> None:
    body = BoundedBody("gzip", cap_bytes=100, limit_bytes=limit)
    _feed(body, gzip.compress(data), chunk)
    assert body.length <= limit and len(body.recorded) <= 100
    assert bytes(body.recorded) == data[: len(body.recorded)]


def test_exactly_at_the_limit_is_not_truncated() -> None:
    body = BoundedBody("gzip", cap_bytes=1000, limit_bytes=1000)
    body.feed(gzip.compress(b"a" * 1000))
    assert (body.length, body.is_truncated, body.is_full) == (1000, False, False)


def test_bomb_stops_at_the_limit() -> None:
    body = BoundedBody("gzip", cap_bytes=10, limit_bytes=1 << 20)
    body.feed(gzip.compress(bytes(64 << 20)))
    assert (body.length, body.is_full, body.is_truncated) == (1 << 20, True, True)


def test_concatenated_gzip_members() -> None:
    body = BoundedBody("gzip", cap_bytes=100, limit_bytes=100)
    body.feed(gzip.compress(b"hello ") + gzip.compress(b"world"))
    assert bytes(body.recorded) == b"hello world"


def test_trailing_garbage_after_gzip_is_ignored() -> None:
    body = BoundedBody("gzip", cap_bytes=100, limit_bytes=100)
    body.feed(gzip.compress(b"hello") + b"\x00\x00junk")
    assert bytes(body.recorded) == b"hello"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_corrupt_stream_raises_decoding_error(encoding: str) -> None:
    body = BoundedBody(encoding, cap_bytes=100, limit_bytes=100)
    with pytest.raises(httpx.DecodingError):
        body.feed(b"definitely not compressed")


def test_raw_bytes_are_bounded_too() -> None:
    # Empty stored deflate blocks decode to nothing: only the raw bound stops such a stream.
    body = BoundedBody("deflate", cap_bytes=100, limit_bytes=1000)
    stream = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = b"".join(stream.compress(b"") + stream.flush(zlib.Z_FULL_FLUSH) for _ in range(50_000))
    _feed(body, raw, 1024)
    assert body.is_full and body.is_truncated and body.length == 0
    assert body.raw_length < len(raw), "reading stopped before the end of the stream"


def test_incompressible_body_near_the_limit_is_whole() -> None:
    data = random.Random(1).randbytes(1024)
    raw = gzip.compress(data)
    assert len(raw) > len(data), "random bytes grow when compressed"
    body = BoundedBody("gzip", cap_bytes=2000, limit_bytes=len(data))
    body.feed(raw)
    assert (body.length, body.is_truncated) == (len(data), False)
