"""Issue 18: the probe's address survives in no spelling and no encoding the record can hold.

Property tests (hypothesis) generate an address, a spelling of it as pages, hostnames and URLs
write it, a page around it and an encoding for the page; the scrubbed bytes, decoded back, must
hold no trace of the spelling. And the other way: an address that is not ours is left alone.
"""

from __future__ import annotations

import gzip
import ipaddress
import re
import zlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from probe.observe.privacy import SCRUBBED, scrub_bytes, scrub_text
from probe.observe.spellings import address_pattern

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ipv4 = st.integers(min_value=1 << 24, max_value=(224 << 24) - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(min_value=1, max_value=(1 << 128) - 1).map(ipaddress.IPv6Address)
# Many zero groups, as real addresses have (2001:db8::7): compression is then exercised.
sparse_ipv6 = st.lists(
    st.sampled_from([0, 0, 0, 1, 7, 0xDB8, 0x2001, 0xFFFF, 0xABCD]), min_size=8, max_size=8
).map(lambda g: ipaddress.IPv6Address(sum(v << (16 * (7 - i)) for i, v in enumerate(g))))
sparse_ipv6 = sparse_ipv6.filter(lambda a: not a.is_unspecified)  # "::" is no host's address


@st.composite
def ipv4_spelling(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """Return one way a page, a hostname or a URL writes `address`."""
    octets = list(address.packed)
    kind = draw(st.sampled_from(["separated", "reversed", "mapped", "decimal", "hex"]))
    if kind == "decimal":
        return str(int(address))
    if kind == "hex":
        prefix = draw(st.sampled_from(["0x", "0X"]))
        return prefix + format(int(address), draw(st.sampled_from("xX")))
    if kind == "mapped":
        return draw(st.sampled_from(["::ffff:", "::FFFF:", "64:ff9b::"])) + str(address)
    if kind == "reversed":
        octets.reverse()
    separator = draw(st.sampled_from([".", "-", "_", "%2E", "%2e", "%252E", "%2D", "%5F"]))
    padded = draw(st.booleans())
    return separator.join(f"{o:03d}" if padded else str(o) for o in octets)


@st.composite
def ipv6_spelling(draw: st.DrawFn, address: ipaddress.IPv6Address) -> str:
    """Return `address` with random case, leading zeros, `::` and separators."""
    groups = [format(int(address.exploded[i : i + 4], 16), "x") for i in range(0, 39, 5)]
    groups = [g.zfill(draw(st.integers(len(g), 4))) for g in groups]
    groups = ["".join(c.upper() if draw(st.booleans()) else c for c in g) for g in groups]
    runs = [
        (i, j)
        for i in range(8)
        for j in range(i + 1, 9)
        if all(int(g, 16) == 0 for g in groups[i:j])
    ]
    separator = draw(st.sampled_from([":", "-", "%3A", "%3a"]))
    if runs and draw(st.booleans()):
        start, end = draw(st.sampled_from(runs))
        text = separator.join(groups[:start]) + separator * 2 + separator.join(groups[end:])
    else:
        text = separator.join(groups)
    return f"[{text}]" if separator == ":" and draw(st.booleans()) else text


def surrounding() -> st.SearchStrategy[str]:
    """Page text: anything printable, in any script (some encodings cannot hold it all)."""
    return st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=60)


ENCODINGS = ["utf-8", "latin-1", "cp1252", "utf-16-le", "utf-16-be", "utf-16", "shift_jis"]


def encoded(page: str, encoding: str) -> bytes | None:
    try:
        return page.encode(encoding)
    except UnicodeEncodeError:
        return None


def decoded(data: bytes, encoding: str, compressed: str) -> str:
    if compressed == "gzip":
        data = gzip.decompress(data)
    elif compressed == "zlib":
        data = zlib.decompress(data)
    return data.decode(encoding, errors="replace")


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data)
    if how == "zlib":
        return zlib.compress(data)
    return data


@PROPERTY
@given(
    data=st.data(),
    address=ipv4,
    before=surrounding(),
    after=surrounding(),
    encoding=st.sampled_from(ENCODINGS),
    compressed=st.sampled_from(["", "gzip", "zlib"]),
)
def test_an_ipv4_spelling_never_survives_in_any_encoding(
    data: st.DataObject,
    address: ipaddress.IPv4Address,
    before: str,
    after: str,
    encoding: str,
    compressed: str,
) -> None:
    spelling = data.draw(ipv4_spelling(address))
    raw = encoded(f"{before} {spelling} {after}", encoding)
    assume(raw is not None)
    assert raw is not None
    scrubbed = scrub_bytes(compress(raw, compressed), [str(address)])
    text = decoded(scrubbed, encoding, compressed)
    assert spelling not in text, f"{spelling!r} survived ({encoding}, {compressed or 'raw'})"
    assert SCRUBBED in text


@PROPERTY
@given(
    data=st.data(),
    address=st.one_of(ipv6, sparse_ipv6),
    before=surrounding(),
    after=surrounding(),
    encoding=st.sampled_from(ENCODINGS),
    compressed=st.sampled_from(["", "gzip"]),
)
def test_an_ipv6_spelling_never_survives_in_any_encoding(
    data: st.DataObject,
    address: ipaddress.IPv6Address,
    before: str,
    after: str,
    encoding: str,
    compressed: str,
) -> None:
    assume(address.ipv4_mapped is None)
    spelling = data.draw(ipv6_spelling(address))
    raw = encoded(f"{before} {spelling} {after}", encoding)
    assume(raw is not None)
    assert raw is not None
    scrubbed = scrub_bytes(compress(raw, compressed), [str(address)])
    text = decoded(scrubbed, encoding, compressed)
    assert spelling.strip("[]") not in text, f"{spelling!r} survived ({encoding})"


@PROPERTY
@given(data=st.data(), address=st.one_of(ipv4, ipv6, sparse_ipv6), page=surrounding())
def test_text_values_are_scrubbed_in_every_spelling(
    data: st.DataObject, address: ipaddress.IPv4Address | ipaddress.IPv6Address, page: str
) -> None:
    if isinstance(address, ipaddress.IPv4Address):
        spelling = data.draw(ipv4_spelling(address))
    else:
        assume(address.ipv4_mapped is None)
        spelling = data.draw(ipv6_spelling(address)).strip("[]")
    text = scrub_text(f"{page}<b>{spelling}</b>{page}", [str(address)])
    assert spelling not in text


@PROPERTY
@given(ours=ipv4, other=ipv4)
def test_an_address_that_is_not_ours_is_left_alone(
    ours: ipaddress.IPv4Address, other: ipaddress.IPv4Address
) -> None:
    assume(other != ours and other.packed != ours.packed[::-1])
    text = f"resolved to {other} (ptr {other.reverse_pointer})"
    assert scrub_text(text, [str(ours)]) == text


@PROPERTY
@given(ours=ipv6, other=ipv6)
def test_an_ipv6_address_that_is_not_ours_is_left_alone(
    ours: ipaddress.IPv6Address, other: ipaddress.IPv6Address
) -> None:
    assume(other != ours)
    text = f"resolved to [{other}] and {other.exploded.upper()}"
    assert scrub_text(text, [str(ours)]) == text


SPELLINGS = {
    "dashed hostname": "host-203-0-113-77.example.net",
    "underscores": "ip_203_0_113_77",
    "url-encoded": "/?ip=203%2E0%2E113%2E77",
    "after a percent-escape": "your%20ip%20203.0.113.77",
    "double url-encoded": "/?ip=203%252E0%252E113%252E77",
    "reverse dns": "77.113.0.203.in-addr.arpa",
    "zero-padded": "203.000.113.077",
    "decimal": "http://3405803853/",
    "hex": "0xcb00714d",
    "ipv4-mapped": "::ffff:203.0.113.77",
    "ipv4-mapped hex": "::FFFF:CB00:714D",
    "nat64": "64:ff9b::cb00:714d",
    "ipv6 expanded upper": "2001:0DB8:0000:0000:0000:0000:0000:0007",
    "ipv6 uncompressed": "2001:db8:0:0:0:0:0:7",
    "ipv6 partly compressed": "2001:db8:0:0::7",
    "ipv6 url-encoded": "%5B2001%3Adb8%3A%3A7%5D",
    "ipv6 dashed": "2001-db8--7.ipv6-literal.net",
    "ipv6 reverse dns": "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
}


@pytest.mark.parametrize("case", sorted(SPELLINGS))
def test_each_named_spelling_is_scrubbed(case: str) -> None:
    text = SPELLINGS[case]
    scrubbed = scrub_text(text, ["203.0.113.77", "2001:db8::7"])
    assert SCRUBBED in scrubbed, f"{case}: {text!r} left as {scrubbed!r}"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("10.203.0.113.77", "a longer dotted number"),
        ("203.0.113.770", "another number"),
        ("1203.0.113.77", "another number"),
        ("2001:db8::70", "another address"),
        ("2001:db8::7:1", "another address"),
        ("34058038530", "a longer number"),
    ],
)
def test_boundaries_keep_other_numbers(text: str, why: str) -> None:
    assert scrub_text(text, ["203.0.113.77", "2001:db8::7"]) == text, why


def test_no_valid_address_no_pattern() -> None:
    assert address_pattern(["", "not an address"]) is None
    assert scrub_bytes(b"203.0.113.77", ["nope"]) == b"203.0.113.77"


def test_the_pattern_is_compiled_only_for_text_that_may_hold_a_spelling() -> None:
    """Issue 19: compiling every spelling costs ≈ 45 ms per address, at the end of every check;
    a record whose text passes no prefilter never compiles it, and a text that may hold the
    IPv4 spellings compiles those, not the IPv6 forms the address travels as."""
    from probe.observe import spellings
    from probe.observe.privacy import scrub_json

    addresses = ["198.51.100.23"]  # a fresh set: lru_cache holds no compiled pattern for it
    compiled = spellings._regex.cache_info().misses
    record = '{"title": "BBC - Home", "address": "203.0.113.30:443", "t": 0.052}'
    assert scrub_json(record, addresses) == record
    pattern = address_pattern(addresses)
    assert pattern is not None
    assert spellings._regex.cache_info().misses == compiled  # never compiled
    text = '{"via": "198.51.100.23"}'
    assert "198.51.100.23" not in scrub_json(text, addresses)
    assert spellings._regex.cache_info().misses == compiled + 1
    held = pattern.families_in(text)
    assert 0 < len(held) < len(pattern.families)
    assert all("ffff" not in f.source.lower() for f in held)  # nor ::ffff:198.51.100.23


@pytest.mark.parametrize(
    "text",
    [
        "via 198.51.100.23, 2001:db8::7 and ::ffff:198.51.100.23 (0xc6336417, 3325256727)",
        "23.100.51.198.in-addr.arpa 64:ff9b::c633:6417 2001:0DB8:0:0::0007 198-51-100-23",
        "198.51.100.230 10.198.51.100.23 ffff:198.51.100.2 %2E198%2E51%2E100%2E23",
    ],
)
def test_the_families_match_as_the_whole_alternation(text: str) -> None:
    """The regex of the families a text may hold finds what the whole alternation finds."""
    from probe.observe.privacy import _sub

    for loose in (False, True):
        pattern = address_pattern(["198.51.100.23", "2001:db8::7"], loose=loose)
        assert pattern is not None
        whole = re.compile("|".join(f.source for f in pattern.families), re.IGNORECASE)
        assert _sub(pattern, text, lambda m: "[x]") == whole.sub("[x]", text)


def test_an_unspecified_address_is_no_address_to_scrub() -> None:
    """ "::" and 0.0.0.0 (a socket not yet bound) name no host: scrubbing their spellings would
    cut every other IPv6 address and plain text apart."""
    text = "std::vector at 2001:db8::7 -- 0 results"
    assert scrub_text(text, ["::", "0.0.0.0"]) == text
    assert scrub_text(text, ["::", "2001:db8::7"]) == "std::vector at " + SCRUBBED + " -- 0 results"


_FRAGMENTS = (
    "198.51.100.23", "23.100.51.198.in-addr.arpa", "::ffff:198.51.100.23", "0xc6336417",
    "3325256727", "2001:db8::7", "2001:0DB8:0:0::0007", "64:ff9b::c633:6417", "198-51-100-23",
    "%2E", "dead", "beef", "77", "0", "23", "-", ".", ":", " ", "<p>", "İ", "ß", "\u212a", "x",
)  # fmt: skip


@given(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join),
    st.integers(min_value=0, max_value=600),
    st.booleans(),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_the_runs_looked_at_find_what_the_whole_alternation_finds(
    text: str, padding: int, loose: bool
) -> None:
    """Issue 19: a long text is searched only in the runs holding a family's rarest key (found
    with `str.find`), a short one run by run; both find exactly what the whole alternation of
    every spelling finds, whatever surrounds them (a text longer than 256 characters takes the
    first way: the padding; characters whose lower case is longer shift no position)."""
    from probe.observe.privacy import _sub

    text = "a1 İ" * padding + text
    pattern = address_pattern(["198.51.100.23", "2001:db8::7"], loose=loose)
    assert pattern is not None
    whole = re.compile("|".join(f.source for f in pattern.families), re.IGNORECASE)
    assert _sub(pattern, text, lambda m: "[x]") == whole.sub("[x]", text)


def test_a_short_text_is_scrubbed_once_per_set_of_addresses() -> None:
    """Issue 19: a run's records repeat most of their short texts; each is scrubbed once per set
    of addresses (kept with its spellings, bounded), never with another set's result."""
    from probe.observe.privacy import _MEMO_TEXTS

    ours = ["198.51.100.99"]
    pattern = address_pattern(ours)
    assert pattern is not None
    text = "via 198.51.100.99"
    assert scrub_text(text, ours) == "via " + SCRUBBED
    assert pattern.texts[text] == "via " + SCRUBBED
    assert scrub_text(text, ours) == "via " + SCRUBBED
    assert scrub_text(text, ["198.51.100.98"]) == text  # another set: its own memo
    assert scrub_text(text, ["198.51.100.99", "2001:db8::9"]) == "via " + SCRUBBED
    for number in range(_MEMO_TEXTS + 10):
        scrub_text(f"x{number}", ours)
    assert 0 < len(pattern.texts) <= _MEMO_TEXTS
