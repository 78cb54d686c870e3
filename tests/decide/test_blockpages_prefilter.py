"""The literal prefilter of regular-expression fingerprints never changes what matches."""

from __future__ import annotations

import pytest

from probe.decide.blockpages import parse_fingerprints, required_literal

HEADER = (
    "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
    "expected_countries,source,exp_url,notes\n"
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("(?i)доступ ограничен", ("доступ ограничен", True)),
        (r"(?i)ограничен\S* в законе", ("ограничен", True)),
        ("(a|b) blocked", (None, False)),
        ("URL .* Sp.*er Gate", ("er Gate", False)),
        ("abcd?ef", ("abc", False)),
        ("x{2}yz", (None, False)),
    ],
)
def test_required_literal(pattern: str, expected: tuple[str | None, bool]) -> None:
    assert required_literal(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "body", "matches"),
    [
        ("(?i)доступ ограничен", "<p>ДОСТУП ОГРАНИЧЕН</p>", True),
        ("(?i)доступ ограничен", "<p>доступ открыт</p>", False),
        ("URL .* Sp.*er Gate", "URL x Spider Gate", True),
        ("URL .* Sp.*er Gate", "URL x Spider gate", False),
        ("(?i)(ресурс|сайт) заблокирован", "Сайт заблокирован", True),
    ],
)
def test_prefiltered_regexp_matches_like_the_regexp(pattern: str, body: str, matches: bool) -> None:
    row = f'test.x,nat,,body,regexp,"{pattern}",5,,test,,\n'
    (fingerprint,) = parse_fingerprints(HEADER + row, "inline")
    assert fingerprint.matches(body) is matches
    assert fingerprint.regex is not None
    assert (fingerprint.regex.search(body) is not None) is matches
