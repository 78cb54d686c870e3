"""Scrub the probe's own addresses from a record, as OONI does ("[scrubbed]"), in every spelling
and in every encoding the record holds (issue 18).

`scrub_json()` walks a serialized record value by value, so an address is found wherever it
hides and in whatever form it was stored:

- text (headers, URLs, titles, DNS answers, certificate summaries, UTF-8 bodies): every spelling
  `spellings.address_pattern()` knows, and UTF-16 text that happens to be valid UTF-8;
- bodies that are not UTF-8, stored as base64: decoded, scrubbed as bytes in any ASCII-compatible
  encoding (Latin-1, Windows-125x, Shift-JIS, GB18030, …) and in UTF-16 (either byte order, any
  alignment), then encoded again; a gzip or zlib body (recorded raw: served without
  `Content-Encoding`) is inflated with a bound, scrubbed and compressed again; a body in a content
  coding the probe cannot open (br, zstd) cannot be checked and is replaced by "[scrubbed]";
- bytes are searched without the boundaries text has (a digit after a string in a binary
  structure may be the next field's first byte: in DER the tag 0x30 is "0");
- DER certificates: the address masked with the same length (text forms, and the 4- or 16-byte
  iPAddress of a subjectAltName), so the certificate still parses.

A scrubbed body's `x_body_sha256` is recomputed, and a masked certificate's SHA-256 replaced
wherever the record repeats it: a hash of bytes that held the address would let whoever wrote
the page find the address by trying all 2³² of them.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from probe.observe.spellings import Family, Spellings, address_pattern, packed_forms

SCRUBBED = "[scrubbed]"
MAX_INFLATE_BYTES = 16 << 20  # a compressed body is opened this far; the rest is dropped
# Content codings measure/_body.py decodes before recording; any other is recorded raw.
_DECODED_CODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})

_Replace = Callable[[re.Match[str]], str]
# Every character any spelling is made of (spellings.py): a match lies inside a run of them (of
# 3 or more), so the full pattern runs only there, not at every position of a 512 KiB page (50×
# faster).
_RUN_CHARS = "[0-9A-Fa-fxX.:%_-]"
_MIN_RUN = 3
_RUNS = re.compile(f"{_RUN_CHARS}{{{_MIN_RUN},}}")
_RUN_REST = re.compile(f"{_RUN_CHARS}*")
_CONTEXT = 3  # the longest lookaround of a spelling's boundaries
_SHORT = 256  # a text this short is cheaper to take run by run
_MEMO_CHARS, _MEMO_TEXTS = 256, 16384  # short texts' results are kept (Spellings.texts)


def _sub(pattern: Spellings, text: str, replace: _Replace) -> str:
    """Return `text` with every match of `pattern` replaced (as `pattern.sub`, but only within
    runs of the characters spellings use, their boundaries seen around them)."""
    families = pattern.families_in(text)
    if not families:
        return text
    pieces: list[str] = []
    done = 0
    for start, stop in _runs_with_keys(text, families):
        lowered = text[start:stop].lower()
        if not any(all(key in lowered for key in family.keys) for family in families):
            continue
        end = min(len(text), stop + _CONTEXT)
        for match in pattern.finditer(families, text, start, end):
            pieces += [text[done : match.start()], replace(match)]
            done = match.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _runs_with_keys(text: str, families: tuple[Family, ...]) -> list[tuple[int, int]]:
    """Return, in order, the runs of spelling characters (maximal, 3 or more) that hold an
    occurrence of the rarest key of one of `families`.

    A run holding a spelling of a family holds all its keys, so its rarest one too: the runs
    that hold none (most runs of a page: hex-looking words, numbers, dashes) are never looked
    at, and finding a key is C's work (`str.find`), not a Python loop over every run.
    """
    if len(text) < _SHORT or any(not family.keys for family in families):
        return [run.span() for run in _RUNS.finditer(text)]  # (no key: a spelling of zeros)
    lowered = text.lower()
    if len(lowered) != len(text):  # a character whose lower case is longer: positions differ
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    runs: dict[int, int] = {}
    size, backwards = len(text), ""
    for family in families:
        key = min(family.keys, key=lowered.count)
        at = lowered.find(key)
        while at >= 0:
            backwards = backwards or text[::-1]  # the run's start: its end, read backwards
            start = size - _run_end(backwards, size - at)
            stop = _run_end(text, at + len(key))
            if stop - start >= _MIN_RUN:
                runs[start] = stop
            at = lowered.find(key, stop)  # the rest of this run holds nothing new
    return sorted(runs.items())


def _run_end(text: str, pos: int) -> int:
    """Return where the run of spelling characters going on at `pos` ends (`pos`: none)."""
    found = _RUN_REST.match(text, pos)
    return found.end() if found is not None else pos


def _scrubbed(_: re.Match[str]) -> str:
    return SCRUBBED


def _masked(match: re.Match[str]) -> str:
    """Return a replacement as long as the match (DER lengths must not change)."""
    size = len(match.group())
    return (SCRUBBED + "*" * size)[:size] if size >= len(SCRUBBED) else "*" * size


def _wide(data: bytes, pattern: Spellings, replace: _Replace) -> bytes:
    """Return `data` scrubbed as UTF-16 (both byte orders, both alignments)."""
    if b"\x00" not in data:
        return data
    for codec in ("utf-16-le", "utf-16-be"):
        for offset in (0, 1):
            end = offset + (len(data) - offset) // 2 * 2
            text = data[offset:end].decode(codec, "surrogatepass")  # lossless for any bytes
            scrubbed = _sub(pattern, text, replace)
            if scrubbed != text:
                data = data[:offset] + scrubbed.encode(codec, "surrogatepass") + data[end:]
    return data


def _plain(data: bytes, pattern: Spellings, replace: _Replace) -> bytes:
    """Return `data` scrubbed as any ASCII-compatible encoding (Latin-1 maps bytes 1:1)."""
    narrow = _sub(pattern, data.decode("latin-1"), replace).encode("latin-1")
    return _wide(narrow, pattern, replace)


def _compressed(data: bytes) -> int | None:
    """Return zlib's wbits for a gzip or zlib stream at the start of `data`, else None."""
    if data[:2] == b"\x1f\x8b":
        return 31
    if len(data) >= 2 and data[0] & 0x8F == 8 and (data[0] * 256 + data[1]) % 31 == 0:
        return 15  # deflate, window ≤ 32 KiB, header checksum (RFC 1950 §2.2)
    return None


def _inflated(data: bytes, pattern: Spellings) -> bytes | None:
    """Return a compressed `data` scrubbed inside (compressed again), None if nothing changed
    or `data` is not a gzip or zlib stream."""
    wbits = _compressed(data)
    if wbits is None:
        return None
    inflater = zlib.decompressobj(wbits)
    try:
        inner = inflater.decompress(data, MAX_INFLATE_BYTES)
    except zlib.error:
        return None
    scrubbed = _plain(inner, pattern, _scrubbed)
    if scrubbed == inner:
        return None
    packed = gzip.compress(scrubbed, mtime=0) if wbits == 31 else zlib.compress(scrubbed)
    return packed + _plain(inflater.unused_data, pattern, _scrubbed)


def scrub_text(text: str, addresses: Iterable[str]) -> str:
    """Return `text` with every spelling of each address replaced by "[scrubbed]"."""
    pattern = address_pattern(addresses)
    return text if pattern is None else _text(text, pattern)


def _text(text: str, pattern: Spellings) -> str:
    if len(text) > _MEMO_CHARS:
        return _scrub_text(text, pattern)
    done = pattern.texts.get(text)
    if done is None:
        if len(pattern.texts) >= _MEMO_TEXTS:
            pattern.texts.clear()
        done = pattern.texts[text] = _scrub_text(text, pattern)
    return done


def _scrub_text(text: str, pattern: Spellings) -> str:
    text = _sub(pattern, text, _scrubbed)
    if "\x00" in text:  # ASCII in UTF-16 is valid UTF-8 too ("2\x000\x003\x00…")
        raw = text.encode("utf-8", "surrogatepass")
        wide = _wide(raw, pattern, _scrubbed)  # replaces ASCII and NUL bytes only
        if wide != raw:
            text = wide.decode("utf-8", "surrogatepass")
    return text


def scrub_bytes(data: bytes, addresses: Iterable[str]) -> bytes:
    """Return `data` with every spelling of each address replaced by "[scrubbed]", in any
    ASCII-compatible encoding or UTF-16, inside a gzip or zlib stream too."""
    pattern = address_pattern(addresses, loose=True)
    return data if pattern is None else _bytes(data, pattern)


def _bytes(data: bytes, pattern: Spellings) -> bytes:
    inflated = _inflated(data, pattern)
    return inflated if inflated is not None else _plain(data, pattern, _scrubbed)


def scrub_der(der: bytes, addresses: Iterable[str]) -> bytes:
    """Return a DER certificate with the addresses masked in place (same length)."""
    addresses = list(addresses)
    pattern = address_pattern(addresses, loose=True)
    if pattern is None:
        return der
    out = bytearray(_plain(der, pattern, _masked))
    for packed in packed_forms(addresses):
        tag = bytes([0x87, len(packed)]) + packed  # GeneralName iPAddress [7], primitive
        start = out.find(tag)
        while start >= 0:
            out[start + 2 : start + 2 + len(packed)] = bytes(len(packed))
            start = out.find(tag, start + 2)
    return bytes(out)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Walk:
    """One pass over a serialized record; `renamed` maps hashes of bytes that changed."""

    def __init__(self, pattern: Spellings, addresses: list[str]) -> None:
        self.pattern = pattern  # text: with boundaries
        self.loose = address_pattern(addresses, loose=True) or pattern  # bytes: without
        self.addresses = addresses
        self.renamed: dict[str, str] = {}

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return _text(value, self.pattern)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if not isinstance(value, dict):
            return value
        if _is_binary(value):
            return _binary(_bytes(_decoded(value), self.loose))
        if {"code", "body", "x_body_sha256"} <= value.keys():
            return self.response(value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "peer_certificates" and isinstance(item, list):
                out[key] = [self.certificate(c) if _is_binary(c) else c for c in item]
            else:
                out[_text(key, self.pattern)] = self.value(item)
        return out

    def certificate(self, value: dict[str, Any]) -> dict[str, Any]:
        der = _decoded(value)
        masked = scrub_der(der, self.addresses)
        if masked == der:
            return value
        self.renamed[_sha256(der)] = _sha256(masked)
        return _binary(masked)

    def response(self, value: dict[str, Any]) -> dict[str, Any]:
        """Return an HTTP response record scrubbed, its body hash that of the new body."""
        body = value["body"]
        out = {k: self.value(v) for k, v in value.items() if k != "body"}
        coding = _header(value.get("headers"), "content-encoding").strip().lower()
        if coding not in _DECODED_CODINGS:  # recorded raw and unreadable: cannot be checked
            out["body"], recorded = SCRUBBED, SCRUBBED.encode()
        elif isinstance(body, str):
            out["body"] = _text(body, self.pattern)
            recorded = out["body"].encode("utf-8", "surrogatepass")
        elif _is_binary(body):
            recorded = _bytes(_decoded(body), self.loose)
            out["body"] = _binary(recorded)
        else:
            out["body"] = self.value(body)
            return out
        if out["body"] != body:
            out["x_body_sha256"] = _sha256(recorded)
        return out


def _header(headers: object, name: str) -> str:
    if not isinstance(headers, dict):
        return ""
    return next((str(v) for k, v in headers.items() if str(k).lower() == name), "")


def _is_binary(value: object) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"format", "data"}
        and value["format"] == "base64"
        and isinstance(value["data"], str)
    )


def _decoded(value: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(value["data"], validate=True)
    except (binascii.Error, ValueError):
        return str(value["data"]).encode("latin-1", "replace")


def _binary(data: bytes) -> dict[str, str]:
    return {"format": "base64", "data": base64.b64encode(data).decode("ascii")}


def _rename(value: Any, renamed: dict[str, str]) -> Any:
    if isinstance(value, str):
        return renamed.get(value, value)
    if isinstance(value, list):
        return [_rename(item, renamed) for item in value]
    if isinstance(value, dict):
        return {key: _rename(item, renamed) for key, item in value.items()}
    return value


def scrub_json(text: str, addresses: Iterable[str]) -> str:
    """Return a serialized record (JSON) with the addresses scrubbed from every value, in every
    spelling and encoding (see the module docstring). Without a valid address: `text` as is."""
    addresses = list(addresses)
    pattern = address_pattern(addresses)
    if pattern is None:
        return text
    walk = _Walk(pattern, addresses)
    data = walk.value(json.loads(text))
    if walk.renamed:
        data = _rename(data, walk.renamed)
    return json.dumps(data, ensure_ascii=False)
