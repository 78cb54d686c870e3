"""Claims files and the finding rules: pure functions, no engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.errors import ClaimsError
from probe.models.reports import ClaimFinding
from probe.report.claims import evidence_of, judge, load_claims, parse_claims

REPO = Path(__file__).resolve().parents[2]
ONE = '[[claim]]\nstart = "2022-01-05T10:00:00Z"\nend = "2022-01-05T12:00:00Z"\n'


def _row(platform: str, verdict: str, n: int, *, blocking: str = "", up: int = 1,
         failed: int = 0, sites: str = "", network: str = "AS9198", state: str = "normal",
         probes: str = "p1") -> tuple[object, ...]:  # fmt: skip
    return (network, platform, verdict, blocking, sites, failed, up, state, n, probes)


def _finding(*rows: tuple[object, ...]) -> tuple[ClaimFinding, str]:
    (claim,) = parse_claims(ONE + 'statement = "technical problems"\n')
    assessed = judge(claim, evidence_of(rows))
    return assessed.finding, assessed.summary


def test_the_shipped_claims_file() -> None:
    claims = load_claims(REPO / "configs" / "claims.toml")
    assert len(claims) == 9
    assert all(c.start.tzinfo is not None and c.end > c.start for c in claims)
    assert {c.network for c in claims} == {None, "AS9198", "AS21299", "AS29355"}


def test_selective_blocking_contradicts() -> None:
    finding, summary = _finding(
        _row("twitter", "blocked", 4, blocking="tls_reset", sites="https://a/|https://b/"),
        _row("vk", "accessible", 4),
    )
    assert finding is ClaimFinding.CONTRADICTED_BY_BLOCKING
    assert "twitter (tls_reset; 4 measurements)" in summary and "2 control sites" in summary
    assert "vk" in summary


def test_blocking_without_working_controls_is_not_selective() -> None:
    # The control sites failed in the blocked measurements and nothing else loaded.
    finding, _ = _finding(_row("twitter", "blocked", 4, blocking="tls_reset", up=0))
    assert finding is ClaimFinding.INSUFFICIENT_DATA


def test_one_blocked_measurement_is_too_little() -> None:
    finding, summary = _finding(
        _row("twitter", "blocked", 1, blocking="tls_reset", sites="https://a/"),
        _row("twitter", "accessible", 9),
    )
    assert finding is ClaimFinding.INSUFFICIENT_DATA and "1 blocked" in summary


def test_an_outage_is_consistent() -> None:
    finding, summary = _finding(
        _row("twitter", "network_outage", 6, up=0, failed=1),
        _row("vk", "network_outage", 6, up=0, failed=1),
        _row("twitter", "blocked", 1, blocking="tls_reset", sites="https://a/"),
    )
    assert finding is ClaimFinding.CONSISTENT_WITH_OUTAGE
    assert "12 of 13" in summary and "too few to show selectivity" in summary


def test_blocking_beside_an_outage_still_contradicts() -> None:
    # Kazakhstan, January 2022: messengers were blocked first, then the network was cut.
    finding, summary = _finding(
        _row("whatsapp", "blocked", 3, blocking="tls_timeout", sites="https://a/"),
        _row("twitter", "network_outage", 6, up=0, failed=1),
    )
    assert finding is ClaimFinding.CONTRADICTED_BY_BLOCKING
    assert "6 measurements also saw the whole network fail" in summary


def test_the_platform_itself_down() -> None:
    finding, summary = _finding(_row("youtube", "service_down", 3), _row("vk", "accessible", 3))
    assert finding is ClaimFinding.PLATFORM_OUTAGE and "youtube" in summary


def test_nothing_measured_or_nothing_wrong() -> None:
    assert _finding()[0] is ClaimFinding.INSUFFICIENT_DATA
    finding, summary = _finding(_row("twitter", "accessible", 10))
    assert finding is ClaimFinding.INSUFFICIENT_DATA and "10 accessible" in summary


KASPI = "https://kaspi.kz/"


def test_whitelisting_contradicts_technical_problems() -> None:
    finding, summary = _finding(
        _row("twitter", "blocked", 3, blocking="whitelisting", sites=KASPI, state="whitelisted"),
        _row("youtube", "blocked", 3, blocking="whitelisting", sites=KASPI, state="whitelisted",
             probes="p2"),
        _row("kaspi", "accessible", 3, state="whitelisted"),
    )  # fmt: skip
    assert finding is ClaimFinding.CONTRADICTED_BY_BLOCKING
    assert "only allow-listed destinations" in summary
    assert "6 of 9 measurements from 2 probes" in summary
    assert "twitter (3); youtube (3)" in summary and KASPI in summary
    assert "kaspi loaded too" in summary
    assert "selective blocking" not in summary


def test_whitelisting_without_domestic_sites_cites_the_targets_that_loaded() -> None:
    # state.whitelisted_targets_load: no domestic site configured, every control site failed.
    finding, summary = _finding(
        _row("twitter", "blocked", 2, blocking="whitelisting", up=0, failed=1,
             state="whitelisted"),
        _row("kaspi", "accessible", 2, up=0, failed=1, state="whitelisted"),
    )  # fmt: skip
    assert finding is ClaimFinding.CONTRADICTED_BY_BLOCKING
    assert "while kaspi loaded. A deliberate cut" in summary
    assert "domestic control sites" not in summary


def test_whitelisting_seen_through_one_platform_only() -> None:
    finding, summary = _finding(
        _row("twitter", "blocked", 2, blocking="whitelisting", up=0, state="whitelisted")
    )
    assert finding is ClaimFinding.CONTRADICTED_BY_BLOCKING
    assert "destinations at home loaded in the same runs" in summary


def test_whitelisting_beside_a_platforms_own_block_names_both() -> None:
    finding, summary = _finding(
        _row("twitter", "blocked", 2, blocking="whitelisting", sites=KASPI, state="whitelisted"),
        _row("whatsapp", "blocked", 2, blocking="tls_reset", sites="https://a/"),
    )
    assert finding is ClaimFinding.CONTRADICTED_BY_BLOCKING
    assert "2 measurements were also blocked by a method of their own" in summary


def test_one_whitelisting_measurement_beside_an_outage_is_an_outage() -> None:
    finding, summary = _finding(
        _row("twitter", "network_outage", 6, up=0, failed=1, state="outage"),
        _row("youtube", "blocked", 1, blocking="whitelisting", sites=KASPI, state="whitelisted"),
    )
    assert finding is ClaimFinding.CONSISTENT_WITH_OUTAGE
    assert "6 of them in runs whose network state was outage" in summary
    assert "1 blocked measurement(s) too few" in summary


def test_probes_are_counted_once_across_rows() -> None:
    evidence = evidence_of([
        _row("twitter", "accessible", 2, probes="p1|p2"),
        _row("vk", "accessible", 2, probes="p2|p3"),
    ])  # fmt: skip
    assert evidence.probes == 3 and evidence.measurements == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[claim]\n", "not valid TOML"),
        ('title = "x"\n', "unknown top-level key(s) ['title']"),
        ('claim = "x"\n', "array of tables"),
        (ONE, "claim 1: statement: Field required"),
        (ONE + 'statement = "x"\nspeaker = "y"\n', "claim 1: speaker: Extra inputs"),
        ('[[claim]]\nstart = 2022-01-05T10:00:00\nend = 2022-01-05T11:00:00\nstatement = "x"\n',
         "with a time zone"),
        ('[[claim]]\nstart = "2022-01-05T10:00:00Z"\nend = "2022-01-05T09:00:00Z"\n'
         'statement = "x"\n', "end must be after start"),
        (ONE + 'statement = "x"\n' + ONE + "statement = 3\n", "claim 2: statement"),
    ],
)  # fmt: skip
def test_bad_claims_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ClaimsError, match="claims") as caught:
        parse_claims(text, "claims.toml")
    assert message in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ClaimsError, match="cannot read"):
        load_claims(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ClaimsError, match="not UTF-8"):
        load_claims(binary)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ClaimsError, match="larger than"):
        load_claims(huge)
