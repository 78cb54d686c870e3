"""A payload read line by line under the caps (issue 18): the record cap, the field cap, the
line count, and the plausible-time window."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from probe.errors import BundleError
from probe.ship.bundle import Bundle, Limits
from probe.ship.lines import check_fields, check_time, iter_lines


class _Manifest:
    def __init__(self, count: int, uncompressed: int) -> None:
        self.count = count
        self.uncompressed_bytes = uncompressed


def _bundle(text: bytes, count: int) -> Bundle:
    manifest = _Manifest(count, len(text))
    return Bundle(manifest, b"", b"", gzip.compress(text, mtime=0))  # type: ignore[arg-type]


LIMITS = Limits(max_record_bytes=1024, max_field_bytes=256)


def test_lines_come_out_whole_and_counted() -> None:
    lines = [json.dumps({"n": n, "pad": "p" * (n * 37 % 500)}).encode() for n in range(300)]
    text = b"".join(line + b"\n" for line in lines)
    assert list(iter_lines(_bundle(text, 300), LIMITS)) == lines


@pytest.mark.parametrize(
    ("text", "count", "code"),
    [
        (b"a\n" + b"x" * 2000 + b"\n", 2, "record_too_large"),
        (b"x" * (50 << 20), 1, "record_too_large"),  # 50 MiB, no newline: stopped at the cap
        (b"a\nb\nc\n", 2, "manifest_mismatch"),
        (b"a\nb\n", 3, "manifest_mismatch"),
        (b"a\nb", 2, "manifest_mismatch"),
    ],
)
def test_a_payload_that_breaks_a_cap_or_the_count_is_refused(
    text: bytes, count: int, code: str
) -> None:
    with pytest.raises(BundleError) as refused:
        list(iter_lines(_bundle(text, count), LIMITS))
    assert refused.value.code == code


def test_a_field_is_measured_as_written() -> None:
    short = json.dumps({"a": "x" * 200, "b": "y" * 200, "c": 'q"' * 60}).encode()
    check_fields(short, 1, LIMITS)  # each string under 256 bytes, the line over it
    escaped = json.dumps({"a": "\x00" * 50}).encode()  # 50 characters, 300 bytes as written
    with pytest.raises(BundleError) as refused:
        check_fields(escaped, 7, LIMITS)
    assert refused.value.code == "field_too_large" and "record 7" in str(refused.value)


def test_times_need_an_offset_and_a_plausible_moment() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    window = Limits(measured_not_before=datetime(2019, 1, 1, tzinfo=UTC), max_ahead_s=86400)
    check_time(now - timedelta(days=365), "t", window, now)
    check_time(now + timedelta(hours=23), "t", window, now)
    for moment in (
        datetime(2026, 11, 1),  # naive
        datetime(2018, 12, 31, 23, 59, tzinfo=UTC),
        now + timedelta(hours=25),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),  # overflows into UTC
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    ):
        with pytest.raises(BundleError) as refused:
            check_time(moment, "t", window, now)
        assert refused.value.code == "implausible_time", moment
