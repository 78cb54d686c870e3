"""parse_fingerprints: OONI's CSV format, and a clear error naming the file and line."""

from __future__ import annotations

import pytest

from probe.decide import parse_fingerprints
from probe.decide.blockpages import address_matches, body_text, response_matches
from probe.models.observations import BinaryData, HttpResponseRecord

from .builders import FINGERPRINT_HEADER, fingerprint_csv


def test_parses_every_column() -> None:
    text = fingerprint_csv(
        'x.a,nat,"y.b,y.c",body,contains,"blocked, sorry",7,"KZ,RU",ours,http://e/,"a note"'
    )
    (fp,) = parse_fingerprints(text, "f.csv")
    assert (fp.name, fp.scope, fp.location_found, fp.pattern_type) == (
        "x.a",
        "nat",
        "body",
        "contains",
    )
    assert fp.pattern == "blocked, sorry" and fp.confidence_no_fp == 7
    assert fp.other_names == ("y.b", "y.c") and fp.expected_countries == ("KZ", "RU")
    assert (fp.source, fp.exp_url, fp.notes, fp.origin) == (
        "ours",
        "http://e/",
        "a note",
        "f.csv:2",
    )
    assert fp.is_strong and not fp.is_benign


def test_blank_lines_are_skipped_and_lines_counted_across_quoted_newlines() -> None:
    text = (
        FINGERPRINT_HEADER
        + 'a,nat,,body,contains,"two\nlines",5,,,,\n\n,,,,,,,,,,\nb,nat,,body,regexp,(,5,,,,\n'
    )
    with pytest.raises(ValueError, match=r"^f\.csv:6: b: invalid regexp"):
        parse_fingerprints(text, "f.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"f\.csv:1: empty file"),
        ("name,scope\nx,nat\n", r"f\.csv:1: missing column\(s\) other_names"),
        (fingerprint_csv(",nat,,body,contains,x,5,,,,"), r"f\.csv:2: empty name"),
        (fingerprint_csv("a,nat,,body,glob,x,5,,,,"), r"f\.csv:2: a: unknown pattern_type 'glob'"),
        (fingerprint_csv("a,nat,,cookie,contains,x,5,,,,"), r"f\.csv:2: a: unknown location_found"),
        (fingerprint_csv("a,nat,,body,contains,,5,,,,"), r"f\.csv:2: a: empty pattern"),
        (fingerprint_csv("a,nat,,body,contains,x,high,,,,"), r"f\.csv:2: a: confidence_no_fp"),
        (fingerprint_csv("a,nat,,body,contains,x,5,,,,,extra"), r"f\.csv:2: more fields"),
        (fingerprint_csv("a,nat,,body,regexp,[,5,,,,"), r"f\.csv:2: a: invalid regexp"),
    ],
)
def test_malformed_files_name_source_and_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fingerprints(text, "f.csv")


def test_matching_locations_and_types() -> None:
    prints = parse_fingerprints(
        fingerprint_csv(
            "full,isp,,dns,full,10.10.34.34,5,,,,",
            "loc,nat,,header.location,prefix,http://block.example/,5,,,,",
            "srv,prod,,header.server,full,Filter,5,,,,",
            "re,nat,,body,regexp,blocked.*order,5,,,,",
        ),
        "f.csv",
    )
    assert [f.name for f in address_matches("10.10.34.34", prints)] == ["full"]
    assert address_matches("10.10.34.3", prints) == ()
    response = HttpResponseRecord(
        code=302,
        headers={"server": "Filter"},
        headers_list=[("LOCATION", "http://block.example/x")],
        body="you are blocked by court order",
    )
    assert [f.name for f in response_matches(response, prints)] == ["loc", "srv", "re"]


def test_binary_bodies_are_decoded() -> None:
    response = HttpResponseRecord(code=200, body=BinaryData(data="0JTQvtGB0YLRg9C/"))
    assert body_text(response) == "Доступ"
    assert body_text(HttpResponseRecord(code=200, body=BinaryData(data="!!!"))) == ""
