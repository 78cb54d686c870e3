"""Every way an address is commonly written, as one regular expression per set of addresses.

A page, a header or a certificate that echoes the probe's address rarely writes it as Python
would: CDNs and "what is my IP" pages write `203.0.113.77`, hostnames `host-203-0-113-77` or
`203_0_113_77`, URLs `203%2E0%2E113%2E77`, reverse DNS `77.113.0.203.in-addr.arpa`, IPv6 pages
any mix of case, leading zeros and `::` compression (`2001:DB8:0:0::7`, `2001:0db8::0007`), and
IPv4 reaches IPv6 as `::ffff:203.0.113.77`. `address_pattern()` builds case-insensitive
regexes that match all of these (issue 18), one per family of spellings, matched together as
one alternation (`Spellings.finditer`); `privacy.py` applies them to text and to bytes.

Boundaries: in text a spelling is not matched inside a longer number or address (10.0.0.1 does
not eat 10.0.0.10, nor 192.0.2.7 the end of 10.192.0.2.7); in binary data (`loose`) it is, since
a digit there may be the next field's first byte.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Between IPv4 octets: a dot, a dash or an underscore, literal or percent-encoded (once or twice).
_SEP4 = r"(?:[._-]|%(?:25)?(?:2[eEdD]|5[fF]))"
# Between IPv6 groups: a colon (literal or percent-encoded) or a dash (ipv6-literal.net, sslip.io).
_SEP6 = r"(?::|-|%(?:25)?3[aA])"
_ESCAPED = r"(?<=%[0-9A-Fa-f]{2})"  # right after a percent-escape (%20, %5B): a boundary
_BEFORE4 = rf"(?:(?<![0-9])|{_ESCAPED})(?<![0-9]\.)"
_AFTER4 = r"(?![0-9])(?!\.[0-9])"
_BEFORE6 = rf"(?:(?<![0-9A-Za-z])|{_ESCAPED})(?<![0-9A-Fa-f]:)"
_AFTER6 = r"(?![0-9A-Fa-f])(?!:[0-9A-Fa-f:])"
# Below this an address as one decimal number is too short a number to scrub wherever it occurs.
_MIN_DECIMAL = 1 << 24


def _parse(text: str) -> _Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        address = address.ipv4_mapped or address
    # "::" and 0.0.0.0 name no host (a socket not yet bound): never the probe's address, and
    # their spellings ("::", "--", "0") stand in every other IPv6 address and in plain text.
    return None if address.is_unspecified else address


def _octet(value: int) -> str:
    return f"0{{0,{3 - len(str(value))}}}{value}" if value < 100 else str(value)


def _dotted(octets: Iterable[int], separator: str = _SEP4) -> str:
    return separator.join(_octet(o) for o in octets)


def _ipv4_forms(address: ipaddress.IPv4Address, loose: bool) -> list[str]:
    octets = list(address.packed)
    before, after = ("", "") if loose else (_BEFORE4, _AFTER4)
    hexadecimal = rf"0x0*{int(address):x}"
    forms = [
        before + _dotted(octets) + after,
        before + _dotted(reversed(octets)) + after,  # reverse DNS: d.c.b.a.in-addr.arpa
        hexadecimal if loose else rf"(?<![0-9A-Za-z]){hexadecimal}(?![0-9A-Fa-f])",
    ]
    if int(address) >= _MIN_DECIMAL:
        forms.append(rf"{before}{int(address)}{after}")
    return forms


def _group(value: int) -> str:
    digits = f"{value:x}"
    return f"0{{0,{4 - len(digits)}}}{digits}"


def _compressions(tokens: list[str], zero: list[bool], tail: str = "") -> list[str]:
    """Return `tokens` (then `tail`, the last 32 bits as IPv4, if given) joined with every
    legal `::` (one run of zero groups) and without."""

    def join(parts: list[str]) -> str:
        return _SEP6.join([*parts, tail] if tail else parts)

    forms = [join(tokens)]
    for start in range(len(zero)):
        for end in range(start + 1, len(zero) + 1):
            if not all(zero[start:end]):
                break
            forms.append(_SEP6.join(tokens[:start]) + _SEP6 * 2 + join(tokens[end:]))
    return forms


def _ipv6_forms(address: ipaddress.IPv6Address, loose: bool) -> list[str]:
    groups = [int(address.exploded[i : i + 4], 16) for i in range(0, 39, 5)]
    tokens = [_group(g) for g in groups]
    zero = [g == 0 for g in groups]
    forms = _compressions(tokens, zero)
    # The last 32 bits written as IPv4 (RFC 4291 §2.2 form 3): ::ffff:203.0.113.77
    quad = r"\.".join(_octet(o) for o in address.packed[12:])
    forms += _compressions(tokens[:6], zero[:6], quad)
    nibbles = r"\.".join(reversed(address.exploded.replace(":", "")))  # x.x….ip6.arpa
    before, after = ("", "") if loose else (_BEFORE6, _AFTER6)
    return [before + f"(?:{'|'.join(forms)})" + after, nibbles]


def _related(address: _Address) -> list[_Address]:
    """Return `address` and the IPv6 addresses an IPv4 one travels as (mapped, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        return [address]
    value = int(address)
    return [
        address,
        ipaddress.IPv6Address((0xFFFF << 32) | value),  # ::ffff:a.b.c.d
        ipaddress.IPv6Address((0x64FF9B << 96) | value),  # 64:ff9b::a.b.c.d
    ]


def _keys(address: _Address) -> list[tuple[str, ...]]:
    """Return, per family of spellings, substrings each of its spellings contains (lowercase)."""
    if isinstance(address, ipaddress.IPv4Address):
        octets = tuple(str(o) for o in address.packed)
        return [octets, (str(int(address)),), (f"{int(address):x}",)]
    groups = [int(address.exploded[i : i + 4], 16) for i in range(0, 39, 5)]
    nibbles = ".".join(reversed(address.exploded.replace(":", "")))
    return [tuple(f"{g:x}" for g in groups[:6] if g), (nibbles,)]


@dataclass(frozen=True)
class Family:
    """Spellings of one address that share their keys: substrings each of them contains."""

    keys: tuple[str, ...]
    source: str  # the alternation of its spellings


def _families(address: _Address, loose: bool) -> list[Family]:
    """Return the families of `address`'s spellings, in the order of the alternation."""
    keys = _keys(address)
    if isinstance(address, ipaddress.IPv4Address):  # dotted and reverse, hex, decimal
        forms = _ipv4_forms(address, loose)
        keys, grouped = [keys[0], keys[2], keys[1]], [forms[0:2], forms[2:3], forms[3:]]
    else:  # groups (any compression, IPv4 tail), nibbles
        forms = _ipv6_forms(address, loose)
        grouped = [forms[0:1], forms[1:2]]
    return [
        Family(k, "|".join(f"(?:{form})" for form in group))
        for k, group in zip(keys, grouped, strict=True)
        if group
    ]


@lru_cache(maxsize=256)
def _regex(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE)


@dataclass(frozen=True)
class Spellings:
    """The spellings of some addresses, by family, and a cheap test that rules text out.

    A text is matched with the regexes of the families it may hold, each compiled when first
    needed (and kept by its source): the whole alternation took ≈ 45 ms per address and
    boundary kind to compile, in series with the end of every check (issue 19), while a page
    holds the digits of an IPv4 address far more often than the groups of its IPv6 travel
    forms; and `compile()` compiles the families of the addresses known during a check's
    late-reply window. A family a text cannot hold cannot match in it: the families it may
    hold match exactly what the whole alternation would (`finditer`).
    """

    families: tuple[Family, ...]  # in the order of the whole alternation
    # Short texts scrubbed with these spellings, by text (privacy.py): a run's records repeat
    # most of theirs (header names and values, tags, failures, resolvers), ≈ 700 distinct
    # among 75,000 in 200 records of one platform (issue 19). In memory only, bounded.
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def families_in(self, text: str) -> tuple[Family, ...]:
        """Return the families of spellings `text` may hold: those whose every key it holds
        (none: `text` holds no spelling for sure)."""
        lowered = text.lower()
        return tuple(f for f in self.families if all(key in lowered for key in f.keys))

    def finditer(
        self, families: tuple[Family, ...], text: str, pos: int, endpos: int
    ) -> Iterator[re.Match[str]]:
        """Yield the matches in `text[pos:endpos]` of the alternation of `families` (from
        `families_in`), as its regex's `finditer` would: at the first position where any
        family matches, the first such family in the alternation's order."""
        regexes = [_regex(f.source) for f in families]
        while True:
            first: re.Match[str] | None = None
            for regex in regexes:
                found = regex.search(text, pos, endpos)
                if found is not None and (first is None or found.start() < first.start()):
                    first = found
            if first is None:
                return
            yield first
            pos = max(first.end(), first.start() + 1)

    def compile(self) -> None:
        """Compile every family's regex now (idempotent)."""
        for family in self.families:
            _regex(family.source)


@lru_cache(maxsize=64)
def _compiled(addresses: frozenset[str], loose: bool) -> Spellings | None:
    families: list[Family] = []
    seen: set[_Address] = set()
    parsed = sorted({a for a in map(_parse, addresses) if a is not None}, key=str)
    for address in parsed:
        for related in _related(address):
            if related in seen:
                continue
            seen.add(related)
            if isinstance(related, ipaddress.IPv4Address):
                families += _families(related, loose)
            else:  # IPv6 first in the alternation: ::ffff:a.b.c.d goes whole
                families = _families(related, loose) + families
    return Spellings(tuple(families)) if families else None


def address_pattern(addresses: Iterable[str], *, loose: bool = False) -> Spellings | None:
    """Return the spellings of every address: regexes and prefilters (None: no valid address).

    Strings that are not IP literals are ignored. An IPv4-mapped IPv6 address counts as its
    IPv4 address. `loose` drops the boundaries, for bytes where the next byte of a binary
    structure may well be a digit (a DER string followed by the tag 0x30, "0").
    """
    return _compiled(frozenset(a for a in addresses if a), loose)


def compile_spellings(addresses: Iterable[str]) -> None:
    """Compile the regexes that scrubbing `addresses` may need (text and bytes), ahead of use:
    while a check waits out its late-reply window (issue 19). Thread-safe."""
    for loose in (False, True):
        pattern = address_pattern(addresses, loose=loose)
        if pattern is not None:
            pattern.compile()


def canonical(address: str) -> str | None:
    """Return the canonical text of an IP literal (IPv4-mapped IPv6 unwrapped), else None."""
    parsed = _parse(address)
    return None if parsed is None else str(parsed)


def packed_forms(addresses: Iterable[str]) -> list[bytes]:
    """Return the binary forms (4 or 16 bytes) of the addresses and their IPv6 travel forms."""
    found: list[bytes] = []
    for address in {a for a in map(_parse, addresses) if a is not None}:
        found += [related.packed for related in _related(address)]
    return found
