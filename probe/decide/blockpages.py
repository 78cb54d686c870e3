"""Blockpage fingerprints in OONI's blocking-fingerprints CSV format, and matching them.

A fingerprint says where a censor's mark is found (`location_found`: `dns` for an answer IP,
`body`, or `header.<name>`), how to match it (`full`, `contains`, `prefix`, `regexp`) and how sure
its authors are that it never matches a benign page (`confidence_no_fp`, 0–10). Scope `fp` marks a
benign look-alike (CDN challenge, parking page): such a match explains a difference as the
server's doing, never as censorship (METHODS.md §8 "HTTP block pages").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from probe.models.observations import HttpResponseRecord, response_text

COLUMNS = (
    "name",
    "scope",
    "other_names",
    "location_found",
    "pattern_type",
    "pattern",
    "confidence_no_fp",
    "expected_countries",
    "source",
    "exp_url",
    "notes",
)
PATTERN_TYPES = frozenset({"full", "contains", "prefix", "regexp"})
BENIGN_SCOPE = "fp"
VAGUE_SCOPE = "vbw"
# Ours: a generic block-page phrase (probe/data/blockphrases.csv). Never a fingerprint match: it
# counts only on a short cleartext page nothing shows to be the target's (decide/page.py).
PHRASE_SCOPE = "phrase"
# A match at or above this confidence, outside the vague and benign scopes, stands on its own.
STRONG_CONFIDENCE = 5
# Regular expressions only see the start of a body: block pages are small, and a `.*` pattern
# over a 512 KiB body would cost quadratic time.
REGEXP_BODY_CHARS = 65_536


@dataclass(frozen=True)
class Fingerprint:
    """One row of a blocking-fingerprints CSV, its regular expression compiled."""

    name: str
    scope: str
    location_found: str
    pattern_type: str
    pattern: str
    confidence_no_fp: int
    other_names: tuple[str, ...] = ()
    expected_countries: tuple[str, ...] = ()
    source: str = ""
    exp_url: str = ""
    notes: str = ""
    origin: str = ""
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    required: str | None = field(default=None, compare=False, repr=False)
    ignore_case: bool = field(default=False, compare=False, repr=False)

    @property
    def is_benign(self) -> bool:
        """Return whether this fingerprint marks a benign look-alike (scope `fp`)."""
        return self.scope == BENIGN_SCOPE

    @property
    def is_phrase(self) -> bool:
        """Return whether this row is a generic block-page phrase (scope `phrase`)."""
        return self.scope == PHRASE_SCOPE

    @property
    def is_strong(self) -> bool:
        """Return whether a match is evidence on its own (not vague, benign or a phrase, and
        confident)."""
        return (
            self.scope not in (BENIGN_SCOPE, VAGUE_SCOPE, PHRASE_SCOPE)
            and self.confidence_no_fp >= STRONG_CONFIDENCE
        )

    def matches(self, value: str) -> bool:
        """Return whether `value` (an IP, a body or a header value) matches the pattern."""
        if self.pattern_type == "full":
            return value == self.pattern
        if self.pattern_type == "contains":
            return self.pattern in value
        if self.pattern_type == "prefix":
            return value.startswith(self.pattern)
        if self.regex is None:
            return False
        head = value[:REGEXP_BODY_CHARS]
        # A literal the pattern cannot match without: a substring test is thousands of times
        # cheaper than a case-insensitive regular expression over a page.
        if self.required is not None:
            haystack = head.lower() if self.ignore_case else head
            if self.required not in haystack:
                return False
        return self.regex.search(head) is not None


_REGEX_META = set("\\.^$*+?{}[]()|")


def required_literal(pattern: str) -> tuple[str | None, bool]:
    """Return (the longest literal every match must contain, whether matching ignores case).

    Conservative: no literal for a pattern with alternation or inline flags other than a leading
    `(?i)`; a character followed by a quantifier is optional and ends the run.
    """
    ignore_case = pattern.startswith("(?i)")
    body = pattern[4:] if ignore_case else pattern
    if "|" in body or "(?" in body:
        return None, ignore_case
    runs, current, index = [], "", 0
    while index < len(body):
        char = body[index]
        following = body[index + 1] if index + 1 < len(body) else ""
        if char == "\\" or char in _REGEX_META or following in ("?", "*", "{"):
            runs.append(current)
            current = ""
            index += 2 if char == "\\" else 1
            continue
        current += char
        index += 1
    runs.append(current)
    longest = max(runs, key=len)
    if len(longest) < 3:
        return None, ignore_case
    return (longest.lower() if ignore_case else longest), ignore_case


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _row_error(source: str, line: int, message: str) -> ValueError:
    return ValueError(f"{source}:{line}: {message}")


def _check_header(header: Sequence[str] | None, source: str) -> None:
    if header is None:
        raise _row_error(source, 1, "empty file: expected the header " + ",".join(COLUMNS))
    missing = [c for c in COLUMNS if c not in [h.strip() for h in header]]
    if missing:
        raise _row_error(source, 1, f"missing column(s) {', '.join(missing)}")


def _fingerprint(row: Mapping[str, str], source: str, line: int) -> Fingerprint:
    def value(column: str) -> str:
        return (row.get(column) or "").strip()

    name, pattern_type, location = value("name"), value("pattern_type"), value("location_found")
    pattern = row.get("pattern") or ""
    if not name:
        raise _row_error(source, line, "empty name")
    if pattern_type not in PATTERN_TYPES:
        raise _row_error(source, line, f"{name}: unknown pattern_type {pattern_type!r}")
    if location != "dns" and location != "body" and not location.startswith("header."):
        raise _row_error(source, line, f"{name}: unknown location_found {location!r}")
    if not pattern:
        raise _row_error(source, line, f"{name}: empty pattern")
    try:
        confidence = int(value("confidence_no_fp") or "0")
    except ValueError:
        raise _row_error(source, line, f"{name}: confidence_no_fp is not an integer") from None
    regex, required, ignore_case = None, None, False
    if pattern_type == "regexp":
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise _row_error(source, line, f"{name}: invalid regexp: {exc}") from None
        required, ignore_case = required_literal(pattern)
    return Fingerprint(
        name=name,
        scope=value("scope"),
        location_found=location.lower(),
        pattern_type=pattern_type,
        pattern=pattern,
        confidence_no_fp=max(0, min(10, confidence)),
        other_names=_split_list(value("other_names")),
        expected_countries=_split_list(value("expected_countries")),
        source=value("source"),
        exp_url=value("exp_url"),
        notes=value("notes"),
        origin=f"{source}:{line}",
        regex=regex,
        required=required,
        ignore_case=ignore_case,
    )


def parse_fingerprints(csv_text: str, source: str) -> tuple[Fingerprint, ...]:
    """Return the fingerprints of an OONI blocking-fingerprints CSV.

    Raises ValueError naming `source` and the line of the first malformed row (missing column,
    unknown pattern type or location, empty pattern, non-integer confidence, invalid regexp).
    """
    reader = csv.DictReader(io.StringIO(csv_text))
    _check_header(reader.fieldnames, source)
    found: list[Fingerprint] = []
    line = reader.line_num + 1
    try:
        for row in reader:
            if None in row:
                raise _row_error(source, line, "more fields than columns")
            if any((v or "").strip() for v in row.values()):
                found.append(_fingerprint(row, source, line))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise _row_error(source, line, f"malformed CSV: {exc}") from None
    return tuple(found)


# The recorded body as text: one function for the page summary and the fingerprints.
body_text = response_text


def header_values(response: HttpResponseRecord, name: str) -> list[str]:
    """Return every value of header `name` (case-insensitive), from headers_list and headers."""
    wanted = name.lower()
    values = [v for k, v in response.headers_list if k.lower() == wanted]
    values += [v for k, v in response.headers.items() if k.lower() == wanted and v not in values]
    return values


def response_matches(
    response: HttpResponseRecord, fingerprints: Iterable[Fingerprint]
) -> tuple[Fingerprint, ...]:
    """Return the HTTP fingerprints (body or header) that match `response` (phrases excluded:
    decide/page.py matches them on a page's visible text)."""
    body: str | None = None
    found: list[Fingerprint] = []
    for fingerprint in fingerprints:
        if fingerprint.is_phrase:
            continue
        location = fingerprint.location_found
        if location == "body":
            body = body_text(response) if body is None else body
            values = [body]
        elif location.startswith("header."):
            values = header_values(response, location.removeprefix("header."))
        else:
            continue
        if any(fingerprint.matches(v) for v in values):
            found.append(fingerprint)
    return tuple(found)


def address_matches(ip: str, fingerprints: Iterable[Fingerprint]) -> tuple[Fingerprint, ...]:
    """Return the DNS fingerprints (`location_found` = dns) that match the answer `ip`."""
    return tuple(f for f in fingerprints if f.location_found == "dns" and f.matches(ip))
