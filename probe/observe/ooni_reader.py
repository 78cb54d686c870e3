"""Records from a file of OONI measurements, each a parsed measurement or a clear error.

A file is one JSON measurement (pretty-printed or not), a JSON array of them, or JSON Lines, as
OONI publishes them; gzip'd files are recognised by their first bytes. Reading never raises:
a line that is not JSON, not an object, not web_connectivity or malformed, a line over the size
cap, a corrupt gzip stream or an unreadable file each become one error record, and the records
around it are still read.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from probe.models.ooni import OoniMeasurement
from probe.observe.ooni import OoniFormatError, parse_measurement

# A line, or a single measurement, longer than this is refused: one record is held in memory
# at a time, and OONI's own measurements are far smaller.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# A file that is one JSON document (a JSON array) is parsed at once: it has a cap of its own.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
_MiB = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class OoniRecord:
    """One record of a file: a measurement to convert, or why it could not be read.

    `number` is the line (JSON Lines), the element (JSON array), 1 (a single measurement) or 0
    (the file itself); `where` names it in messages; `envelope` is the record's top-level
    object when it was one, for the fields worth printing beside an error.
    """

    number: int
    where: str
    measurement: OoniMeasurement | None = None
    error: str | None = None
    envelope: dict[str, Any] | None = None


def _record(number: int, where: str, value: object) -> OoniRecord:
    envelope = value if isinstance(value, dict) else None
    try:
        return OoniRecord(number, where, parse_measurement(value), envelope=envelope)
    except OoniFormatError as exc:
        return OoniRecord(number, where, error=f"{where}: {exc}", envelope=envelope)


def _loads(content: bytes) -> tuple[object, str | None]:
    """Return the JSON value of `content`, or (None, why it is not JSON)."""
    try:
        return json.loads(content), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:  # e.g. an integer longer than Python converts
        return None, f"not usable JSON ({exc})"


def _plain(raw: BinaryIO) -> Iterator[bytes]:
    while chunk := raw.read(_CHUNK):
        yield chunk


def _gunzip(raw: BinaryIO) -> Iterator[bytes]:
    """Return the decompressed bytes of a gzip stream as they come (so a truncated file still
    gives its first records), in bounded pieces (so a compression bomb cannot fill memory)."""
    decompressor = zlib.decompressobj(wbits=31)
    pending = b""
    while True:
        if not pending and not (pending := raw.read(_CHUNK)):
            break
        if decompressor.eof:  # concatenated members (`cat a.gz b.gz`) are one gzip file
            decompressor = zlib.decompressobj(wbits=31)
        out = decompressor.decompress(pending, _CHUNK)
        pending = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
        if out:
            yield out
    if rest := decompressor.flush():
        yield rest
    if not decompressor.eof:
        raise EOFError("the gzip data ends early (truncated file)")


class _Lines:
    """The lines of a stream of byte chunks, each capped: an over-long line is read as None.
    `number` is the line last read."""

    def __init__(self, chunks: Iterable[bytes], limit: int) -> None:
        self._chunks = chunks
        self._limit = limit
        self.number = 0

    def __iter__(self) -> Iterator[tuple[int, bytes | None]]:
        pending = bytearray()
        too_long = False
        for chunk in self._chunks:
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                piece = chunk[start : end + 1]
                start = end + 1
                self.number += 1
                too_long = too_long or len(pending) + len(piece) > self._limit
                yield self.number, None if too_long else bytes(pending) + piece
                pending.clear()
                too_long = False
            if not too_long:
                pending += chunk[start:]
                if len(pending) > self._limit:
                    too_long = True
                    pending.clear()
        if pending or too_long:
            self.number += 1
            yield self.number, None if too_long else bytes(pending)


def _json_lines(lines: Iterable[tuple[int, bytes | None]], limit: int) -> Iterator[OoniRecord]:
    for number, content in lines:
        where = f"line {number}"
        if content is None:
            yield OoniRecord(number, where, error=f"{where}: longer than {limit // _MiB} MiB")
            continue
        if not content.strip():
            continue
        value, why = _loads(content)
        if why is None:
            yield _record(number, where, value)
        else:
            yield OoniRecord(number, where, error=f"{where}: {why}")


def _document(value: object) -> Iterator[OoniRecord]:
    if isinstance(value, list):
        for index, item in enumerate(value, 1):
            yield _record(index, f"record {index}", item)
    else:
        yield _record(1, "record 1", value)


def _next_line_is_json(lines: list[tuple[int, bytes | None]], after: int) -> bool:
    following = next((c for n, c in lines if n > after and (c is None or c.strip())), None)
    return following is not None and _loads(following)[1] is None


def _frames(lines: _Lines, record_limit: int, document_limit: int) -> Iterator[OoniRecord]:
    """Return the records of a file: JSON Lines when its first line is JSON by itself (a lone
    array on it is a JSON array file), else one JSON document spread over lines."""
    reading = iter(lines)
    head: list[tuple[int, bytes | None]] = []
    for number, content in reading:
        head.append((number, content))
        if content is None or content.strip():
            break
    else:
        yield OoniRecord(0, "file", error="file: empty, no records")
        return
    number, content = head[-1]
    value, why = _loads(content) if content is not None else (None, "too long")
    if why is None:
        rest = _json_lines(reading, record_limit)
        following = next(rest, None)
        if following is None and isinstance(value, list):
            yield from _document(value)
            return
        yield from _json_lines(head, record_limit)
        yield from [following] if following is not None else []
        yield from rest
        return
    if content is not None:
        size = sum(len(c or b"") for _, c in head)
        for line in reading:
            head.append(line)
            size += len(line[1] or b"")
            if line[1] is None or size > document_limit:
                break
        else:  # the whole file is in `head`: one document, unless its first line is broken
            try:
                yield from _document(json.loads(b"".join(c or b"" for _, c in head)))
                return
            except json.JSONDecodeError as exc:
                # Valid past its first line and no second record: a broken document. (JSON
                # Lines whose first line was cut after a comma also parse past it.)
                if exc.lineno > number and not _next_line_is_json(head, number):
                    error = f"file: not JSON ({exc.msg} at line {exc.lineno})"
                    yield OoniRecord(0, "file", error=error)
                    return
            except (ValueError, RecursionError):
                pass
    yield from _json_lines(head, record_limit)
    yield from _json_lines(reading, record_limit)


def read_records(
    path: Path,
    *,
    record_limit: int = MAX_RECORD_BYTES,
    document_limit: int = MAX_DOCUMENT_BYTES,
) -> Iterator[OoniRecord]:
    """Return the records of `path`, each a measurement or a clear error; never raises.

    A file is one JSON measurement, a JSON array of them, or JSON Lines; gzip'd files are
    recognised by their first bytes. A line longer than `record_limit` is skipped with an
    error; a file that is one JSON document may be `document_limit` bytes.
    """
    lines: _Lines | None = None
    try:
        with path.open("rb") as raw:
            is_gzip = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            lines = _Lines(_gunzip(raw) if is_gzip else _plain(raw), record_limit)
            yield from _frames(lines, record_limit, document_limit)
    except (OSError, EOFError, zlib.error) as exc:
        after = f" after line {lines.number}" if lines is not None and lines.number else ""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        yield OoniRecord(0, "file", error=f"file: cannot read{after}: {reason}")
