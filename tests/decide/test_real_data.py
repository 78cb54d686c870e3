"""Real data from the shared directory (never copied here): OONI's blocking fingerprints and
OONI's web_connectivity QA measurements, judged against METHODS.md §11's correct verdicts."""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from pathlib import Path

import pytest

from probe.decide import DecisionContext, Fingerprint, endpoint_verdict, parse_fingerprints
from probe.decide.blockpages import address_matches, response_matches
from probe.models.observations import HttpResponseRecord
from probe.models.results import Blocking, Verdict
from probe.observe.ooni import to_test_keys
from probe.runner import PACKAGED_FINGERPRINTS

from .builders import SITES_OK

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PROBE_SHARED_DIR", ROOT.parent / "shared"))
FINGERPRINTS = SHARED / "data" / "ooni" / "blocking-fingerprints"
QA = SHARED / "data" / "ooni" / "wc05_qa"


def _require(path: Path) -> None:
    if not path.exists():
        pytest.skip(
            f"shared data not found at {path} (set PROBE_SHARED_DIR to the shared directory)"
        )


@cache
def _ooni(kind: str) -> tuple[Fingerprint, ...]:
    path = FINGERPRINTS / f"fingerprints_{kind}.csv"
    return parse_fingerprints(path.read_text(encoding="utf-8"), str(path))


def _packaged() -> tuple[Fingerprint, ...]:
    """Return our packaged fingerprints and block-page phrases, as probe.runner loads them."""
    found: tuple[Fingerprint, ...] = ()
    for name in PACKAGED_FINGERPRINTS:
        text = (resources.files("probe") / "data" / name).read_text(encoding="utf-8")
        found += parse_fingerprints(text, f"probe/data/{name}")
    return found


def test_ooni_fingerprint_counts() -> None:
    _require(FINGERPRINTS)
    http, dns = _ooni("http"), _ooni("dns")
    assert 1700 <= len(http) <= 1800, (
        f"fingerprints_http.csv: expected ~1,730 rows, got {len(http)}"
    )
    assert 200 <= len(dns) <= 250, f"fingerprints_dns.csv: expected ~226 rows, got {len(dns)}"
    assert len({f.name for f in http}) == len(http), "fingerprints_http.csv: duplicate names"
    assert {f.location_found for f in dns} == {"dns"}, "fingerprints_dns.csv: non-DNS locations"


@pytest.mark.parametrize(
    ("name", "response"),
    [
        (
            "ooni.ae_0",
            HttpResponseRecord(code=200, headers={"Server": "Protected by WireFilter 8000"}),
        ),
        (
            "ooni.ru_5",
            HttpResponseRecord(code=200, body="<a href='http://eais.rkn.gov.ru/'>реестр</a>"),
        ),
        (
            "cp.b_nat_sa_national_2",
            HttpResponseRecord(
                code=200,
                body="If you believe the requested page should not be blocked please visit"
                " http://www.internet.gov.sa",
            ),
        ),
        (
            "ooni.ru_2",
            HttpResponseRecord(
                code=302, headers_list=[("Location", "http://erblock.crimea.com/x")]
            ),
        ),
    ],
)
def test_known_http_fingerprints_match(name: str, response: HttpResponseRecord) -> None:
    _require(FINGERPRINTS)
    matched = {f.name for f in response_matches(response, _ooni("http"))}
    assert name in matched, f"{name}: expected to match the crafted page, got {sorted(matched)}"


def test_benign_page_matches_nothing_strong() -> None:
    _require(FINGERPRINTS)
    page = HttpResponseRecord(code=200, body="<html><title>Example Domain</title>hello</html>")
    strong = [f.name for f in response_matches(page, _ooni("http")) if f.is_strong]
    assert not strong, f"a plain page matched strong fingerprints {strong}"


@pytest.mark.parametrize(
    ("ip", "name"), [("10.10.34.34", "ooni.ir_4"), ("8.7.198.45", "ooni.cn_0")]
)
def test_known_dns_fingerprints_match(ip: str, name: str) -> None:
    _require(FINGERPRINTS)
    matched = {f.name for f in address_matches(ip, _ooni("dns"))}
    assert name in matched, f"{ip}: expected {name}, got {sorted(matched)}"


def test_packaged_fingerprints_are_ours() -> None:
    ours = _packaged()
    assert ours, "probe/data/blockpages.csv is empty"
    for fingerprint in ours:
        assert fingerprint.source == "probe", f"{fingerprint.name}: source expected 'probe'"
        assert fingerprint.name.startswith("probe."), f"{fingerprint.name}: name expected probe.*"
    assert not any(f.is_strong for f in ours), "our unverified phrases must stay below strong"
    challenge = HttpResponseRecord(code=503, body="<title>Just a moment...</title>")
    assert any(f.is_benign for f in response_matches(challenge, ours)), (
        "Cloudflare challenge not fp"
    )


# METHODS.md §11: the correct verdict for each OONI QA case (OONI's own answer is in EXPECTED.csv).
B, A, D, U = Verdict.BLOCKED, Verdict.ACCESSIBLE, Verdict.SERVICE_DOWN, Verdict.INCONCLUSIVE
QA_EXPECTED: dict[str, tuple[Verdict, Blocking | None]] = {
    "badSSLWithUnknownAuthorityWithConsistentDNS": (D, None),  # 19
    "badSSLWithExpiredCertificate": (D, None),  # 19
    "badSSLWithWrongServerName": (D, None),  # 19
    "badSSLWithUnknownAuthorityWithInconsistentDNS": (B, Blocking.DNS_HIJACK),  # 5
    "cloudflareCAPTCHAWithHTTP": (U, None),  # 20
    "cloudflareCAPTCHAWithHTTPS": (U, None),  # 20
    "controlFailureWithSuccessfulHTTPWebsite": (U, None),  # 21
    "controlFailureWithSuccessfulHTTPSWebsite": (A, None),  # 21
    "dnsBlockingAndroidDNSCacheNoData": (B, Blocking.DNS_NXDOMAIN),  # 2
    "dnsBlockingBOGON": (B, Blocking.DNS_HIJACK),  # 3
    "dnsBlockingNXDOMAIN": (B, Blocking.DNS_NXDOMAIN),  # 2
    "dnsHijackingToLocalhostWithHTTP": (B, Blocking.DNS_HIJACK),  # 3
    "dnsHijackingToLocalhostWithHTTPS": (B, Blocking.DNS_HIJACK),  # 3
    "dnsHijackingToProxyWithHTTPURL": (A, None),  # 4
    "dnsHijackingToProxyWithHTTPSURL": (A, None),  # 4
    "ghostDNSBlockingWithHTTP": (B, Blocking.DNS_HIJACK),  # 6
    "ghostDNSBlockingWithHTTPS": (B, Blocking.DNS_HIJACK),  # 6
    "httpBlockingConnectionReset": (B, Blocking.HTTP_RESET),  # 14
    # 15: the QA page's "<title>Access Denied</title>" is OONI fingerprint ooni.in_11
    "httpDiffWithConsistentDNS": (B, Blocking.HTTP_BLOCKPAGE),
    "httpDiffWithInconsistentDNS": (B, Blocking.DNS_HIJACK),  # 16
    "idnaWithoutCensorshipLowercase": (A, None),  # 1
    "idnaWithoutCensorshipWithFirstLetterUppercase": (A, None),  # 1
    "largeFileWithHTTP": (A, None),  # 1
    "largeFileWithHTTPS": (A, None),  # 1
    "localhostWithHTTP": (D, None),  # 18
    "localhostWithHTTPS": (D, None),  # 18
    "redirectWithBrokenLocationForHTTP": (B, Blocking.HTTP_DIFF),  # 17
    "redirectWithBrokenLocationForHTTPS": (U, None),  # 17
    "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP": (B, Blocking.TCP_REFUSED),  # 10
    "redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS": (B, Blocking.TCP_REFUSED),  # 10
    "redirectWithConsistentDNSAndThenConnectionResetForHTTP": (B, Blocking.HTTP_RESET),  # 14
    "redirectWithConsistentDNSAndThenConnectionResetForHTTPS": (B, Blocking.TLS_RESET),  # 11
    "redirectWithConsistentDNSAndThenNXDOMAIN": (B, Blocking.DNS_NXDOMAIN),  # 2
    "redirectWithConsistentDNSAndThenEOFForHTTP": (B, Blocking.HTTP_RESET),  # 14
    "redirectWithConsistentDNSAndThenEOFForHTTPS": (B, Blocking.TLS_RESET),  # 11
    "redirectWithConsistentDNSAndThenTimeoutForHTTP": (B, Blocking.HTTP_TIMEOUT),  # 14
    "redirectWithConsistentDNSAndThenTimeoutForHTTPS": (B, Blocking.TLS_TIMEOUT),  # 13
    "redirectWithMoreThanTenRedirectsAndHTTP": (D, None),  # 18
    "redirectWithMoreThanTenRedirectsAndHTTPS": (D, None),  # 18
    "successWithHTTP": (A, None),  # 1
    "successWithHTTPS": (A, None),  # 1
    "tcpBlockingConnectTimeout": (B, Blocking.TCP_TIMEOUT),  # 9
    "tcpBlockingConnectionRefusedWithInconsistentDNS": (B, Blocking.DNS_HIJACK),  # 5
    "tlsBlockingConnectionResetWithConsistentDNS": (B, Blocking.TLS_RESET),  # 11
    "tlsBlockingConnectionResetWithInconsistentDNS": (B, Blocking.DNS_HIJACK),  # 12
    "websiteDownNXDOMAIN": (D, None),  # 18
    "websiteDownNoAddrs": (D, None),  # 18
    "websiteDownTCPConnect": (D, None),  # 18
}
# §11 #22 wants `throttled` from a ratio over repeats, which one OONI record cannot show (no
# reference download, no repeats, no byte samples): these are judged on what they do show below.
QA_NOT_JUDGED = {"throttlingWithHTTP", "throttlingWithHTTPS"}


@pytest.mark.parametrize("case", sorted(QA_NOT_JUDGED))
def test_ooni_qa_throttling_is_a_slow_body_not_a_block(case: str) -> None:
    # The 200 response began and its body was cut by the timeout: a slow transfer, not a block.
    _require(QA)
    measurement = json.loads((QA / f"{case}.json").read_text(encoding="utf-8"))
    endpoint, keys = to_test_keys(measurement)
    result = endpoint_verdict(endpoint, keys, DecisionContext(controls=SITES_OK))
    rules = [f.rule_id for f in result.findings]
    assert (result.verdict, result.blocking) == (Verdict.INCONCLUSIVE, None), (
        f"{case}: expected inconclusive, got {result.verdict}/{result.blocking} {rules}"
    )
    assert "http.body_timeout" in rules, f"{case}: expected http.body_timeout among {rules}"


def test_every_qa_case_is_listed() -> None:
    _require(QA)
    cases = {p.stem for p in QA.glob("*.json")}
    unlisted = cases - set(QA_EXPECTED) - QA_NOT_JUDGED
    assert not unlisted, f"QA cases without an expected verdict: {sorted(unlisted)}"


@pytest.mark.parametrize("case", sorted(QA_EXPECTED))
def test_ooni_qa_case(case: str) -> None:
    _require(QA)
    measurement = json.loads((QA / f"{case}.json").read_text(encoding="utf-8"))
    endpoint, keys = to_test_keys(measurement)
    fingerprints = _packaged() + (_ooni("http") + _ooni("dns") if FINGERPRINTS.exists() else ())
    result = endpoint_verdict(
        endpoint, keys, DecisionContext(controls=SITES_OK, fingerprints=fingerprints)
    )
    expected = QA_EXPECTED[case]
    got = (result.verdict, result.blocking)
    assert got == expected, (
        f"{case}: (verdict, blocking) expected {expected}, got {got}: "
        f"{result.reasons} {[f.rule_id for f in result.findings]}"
    )


def test_ooni_qa_block_page_without_fingerprints_is_a_diff() -> None:
    # §11 #15: "http_blockpage if fingerprinted, else http_diff".
    _require(QA)
    measurement = json.loads((QA / "httpDiffWithConsistentDNS.json").read_text(encoding="utf-8"))
    endpoint, keys = to_test_keys(measurement)
    result = endpoint_verdict(
        endpoint, keys, DecisionContext(controls=SITES_OK, fingerprints=_packaged())
    )
    got = (result.verdict, result.blocking)
    assert got == (B, Blocking.HTTP_DIFF), (
        f"httpDiffWithConsistentDNS unfingerprinted: got {got} {result.reasons}"
    )
