"""A bundle's payload as lines, inflated a chunk at a time, each line checked before it is parsed.

Issue 18: one valid record with a 60 MiB string field was 63 KB on the wire, 654 MB of memory
while the whole payload was inflated and validated, and 283 MB on disk. Here the payload is
inflated as it is read and a line longer than `max_record_bytes` is refused before its end is
inflated; once a line has parsed, a JSON string in it longer than `max_field_bytes` refuses
it too. What a bundle costs in memory is bounded by one record, whatever it declares.
Times are checked here too: every one must carry a UTC offset and lie in the plausible window.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from probe.errors import BundleError

if TYPE_CHECKING:
    from probe.ship.bundle import Bundle, Limits

_INFLATE_CHUNK = 64 << 10
# One JSON string token, escapes included: its length is what it costs to store.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _inflated_too_far(bundle: Bundle, limits: Limits) -> BundleError:
    declared = bundle.manifest.uncompressed_bytes
    if declared < limits.max_uncompressed_bytes:  # a lying manifest, whatever the payload
        return BundleError(f"the payload inflates past the {declared} bytes its manifest"
                           " declares", "manifest_mismatch")  # fmt: skip
    return BundleError(f"the payload inflates past {limits.max_uncompressed_bytes} bytes, the"
                       " most this collector accepts", "uncompressed_too_large")  # fmt: skip


def _record_too_large(number: int, limits: Limits) -> BundleError:
    return BundleError(f"record {number} is longer than {limits.max_record_bytes} bytes, the"
                       " most this collector accepts per record", "record_too_large")  # fmt: skip


def _chunks(bundle: Bundle, limits: Limits) -> Iterator[bytes]:
    """Yield the inflated payload in chunks; BundleError past the cap or on bad gzip.

    Input goes in slices of `_INFLATE_CHUNK` so that zlib's unconsumed tail stays small.
    """
    cap = min(limits.max_uncompressed_bytes, bundle.manifest.uncompressed_bytes)
    inflater = zlib.decompressobj(wbits=31)  # gzip framing only
    payload = memoryview(bundle.payload)
    consumed = total = 0
    try:
        while consumed < len(payload) and not inflater.eof:
            pending: bytes | memoryview = payload[consumed : consumed + _INFLATE_CHUNK]
            consumed += len(pending)
            while pending and not inflater.eof:
                out = inflater.decompress(pending, _INFLATE_CHUNK)
                pending = inflater.unconsumed_tail
                total += len(out)
                if total > cap:
                    raise _inflated_too_far(bundle, limits)
                yield out
    except zlib.error as exc:
        raise BundleError(f"the payload is not valid gzip: {exc}", "invalid_compression") from exc
    if not inflater.eof or inflater.unused_data or consumed < len(payload):
        raise BundleError("the payload is not one complete gzip stream", "invalid_compression")
    declared = bundle.manifest.uncompressed_bytes
    if total != declared:
        raise BundleError(f"the payload inflates to {total} bytes, the manifest says"
                          f" {declared}", "manifest_mismatch")  # fmt: skip


def iter_lines(bundle: Bundle, limits: Limits) -> Iterator[bytes]:
    """Yield the payload's lines (without "\\n"), each within the record cap.

    Raises BundleError: `record_too_large` (as soon as a line passes the cap, before its end is
    inflated), `manifest_mismatch` (more or fewer lines than the manifest counts, or a last line
    without its newline), and the inflating errors of `_chunks`.
    """
    count = bundle.manifest.count
    pending = bytearray()
    number = 0
    for chunk in _chunks(bundle, limits):
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            number += 1
            if end - start > limits.max_record_bytes:
                raise _record_too_large(number, limits)
            if number > count:
                raise BundleError(f"the payload holds more than the {count} lines its manifest"
                                  " says", "manifest_mismatch")  # fmt: skip
            yield bytes(pending[start:end])
            start = end + 1
        del pending[:start]  # once per chunk: the rest moves once, not once per line
        if len(pending) > limits.max_record_bytes:
            raise _record_too_large(number + 1, limits)
    if pending or number != count:
        raise BundleError(f"the payload holds {number} whole lines, the manifest says {count}",
                          "manifest_mismatch")  # fmt: skip


def check_fields(line: bytes, number: int, limits: Limits) -> None:
    """Return if no JSON string in `line` is longer than `max_field_bytes` (as written).

    Only for a line already parsed as JSON: in valid JSON every match starts at a string's
    opening quote, so the scan is linear (an unterminated quote would make it quadratic).
    """
    cap = limits.max_field_bytes
    if len(line) <= cap:
        return
    for match in _STRING.finditer(line):
        if match.end() - match.start() - 2 > cap:
            raise BundleError(f"record {number} has a field of {match.end() - match.start() - 2}"
                              f" bytes; this collector accepts at most {cap} per field",
                              "field_too_large")  # fmt: skip


def check_time(moment: datetime, what: str, limits: Limits, now: datetime) -> None:
    """Return if `moment` has a UTC offset and lies in the limits' window around `now`.

    Raises BundleError `implausible_time`.
    """
    try:
        if moment.utcoffset() is None:
            raise BundleError(f"{what} {moment.isoformat()} has no UTC offset", "implausible_time")
        utc = moment.astimezone(UTC)
    except OverflowError as exc:
        raise BundleError(f"{what} {moment.isoformat()} is outside the calendar in UTC",
                          "implausible_time") from exc  # fmt: skip
    earliest = limits.measured_not_before
    if earliest is not None and utc < earliest:
        raise BundleError(f"{what} {utc.isoformat()} is before {earliest.isoformat()}, the"
                          " earliest this collector accepts", "implausible_time")  # fmt: skip
    ahead = limits.max_ahead_s
    if ahead is not None and utc > now + timedelta(seconds=ahead):
        raise BundleError(f"{what} {utc.isoformat()} is more than {ahead:g} s ahead of the"
                          " collector's clock", "implausible_time")  # fmt: skip


def check_manifest_times(bundle: Bundle, limits: Limits, now: datetime) -> None:
    """Return if the manifest's times pass `check_time`; BundleError `implausible_time`."""
    manifest = bundle.manifest
    check_time(manifest.created_at, "created_at", limits, now)
    check_time(manifest.first_measured_at, "first_measured_at", limits, now)
    check_time(manifest.last_measured_at, "last_measured_at", limits, now)


__all__ = ["check_fields", "check_manifest_times", "check_time", "iter_lines"]
