"""The network's state once per run (decide/network.py) and what it does to a target (issue 17).

Each `state.*` rule has its case, and neighbours that must not change: a partial cut is not a
whitelist, a single certificate failure is not interception, a cut that spares nothing is an
outage. Then the target-level rules: a whitelisted network turns a target that failed with the
network into blocked (whitelisting), never network_outage; an intercepted one leaves nothing
accessible in cleartext.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from probe.decide import network_assessment, outage_beyond_doubt, target_verdict
from probe.decide.rules import NETWORK_STATE_RULES
from probe.models.results import (
    Blocking,
    ControlSiteCheck,
    EndpointResult,
    Finding,
    Layer,
    NetworkState,
    SiteScope,
    TestKeys,
    Verdict,
)
from probe.models.targets import Endpoint, Target, TargetKind

from .builders import context, http, https, site

WIKI = "https://www.wikipedia.org/"
EXAMPLE = "https://example.com/"
KASPI = "https://kaspi.kz/"
EGOV = "https://egov.kz/"
DOMESTIC = SiteScope.DOMESTIC


def up(url: str, scope: SiteScope = SiteScope.FOREIGN, phase: str = "before") -> ControlSiteCheck:
    return site(phase, True, url=url, scope=scope)


def down(
    url: str,
    scope: SiteScope = SiteScope.FOREIGN,
    step: str = "tcp",
    failure: str = "generic_timeout_error",
    phase: str = "before",
) -> ControlSiteCheck:
    return site(phase, False, step, failure, url=url, scope=scope)


def cert(url: str, scope: SiteScope = SiteScope.FOREIGN) -> ControlSiteCheck:
    return down(url, scope, "tls", "ssl_invalid_hostname")


@dataclass(frozen=True)
class StateCase:
    controls: tuple[ControlSiteCheck, ...]
    state: NetworkState
    reason: str
    loaded: tuple[str, ...] = ()


STATE_CASES: dict[str, StateCase] = {
    "state.no_controls": StateCase((), NetworkState.UNKNOWN, "no control site was measured"),
    "state.intercepted": StateCase(
        (cert(WIKI), cert(EXAMPLE), cert(KASPI, DOMESTIC)),
        NetworkState.INTERCEPTED,
        "failed on its certificate",
    ),
    "state.foreign_reachable": StateCase(
        (up(WIKI), down(EXAMPLE), up(KASPI, DOMESTIC)), NetworkState.NORMAL, "reaches abroad"
    ),
    "state.whitelisted_domestic_loads": StateCase(
        (down(WIKI), down(EXAMPLE), up(KASPI, DOMESTIC), down(EGOV, DOMESTIC)),
        NetworkState.WHITELISTED,
        f"domestic sites loaded ({KASPI})",
    ),
    "state.whitelisted_targets_load": StateCase(
        (down(WIKI), down(EXAMPLE)),
        NetworkState.WHITELISTED,
        "https://kaspi.kz/ loaded in the same run",
        loaded=("https://kaspi.kz/",),
    ),
    "state.resolver_down": StateCase(
        (
            down(WIKI, step="dns", failure="dns_servfail_error"),
            down(KASPI, DOMESTIC, "dns", "dns_servfail_error"),
        ),
        NetworkState.OUTAGE,
        "the local DNS is down",
    ),
    "state.outage": StateCase(
        (down(WIKI), down(EXAMPLE), down(KASPI, DOMESTIC)),
        NetworkState.OUTAGE,
        "abroad (https://www.wikipedia.org/, https://example.com/) and domestic",
    ),
    "state.outage_unverified": StateCase(
        (down(WIKI), down(EXAMPLE)), NetworkState.OUTAGE, "no domestic site was measured"
    ),
    "state.domestic_only_measured": StateCase(
        (up(KASPI, DOMESTIC),), NetworkState.NORMAL, "no foreign control site was measured"
    ),
}


@pytest.mark.parametrize("rule_id", sorted(STATE_CASES))
def test_state_rule(rule_id: str) -> None:
    case = STATE_CASES[rule_id]
    got = network_assessment(case.controls, case.loaded)
    assert (got.rule_id, got.state) == (rule_id, case.state), (
        f"{rule_id}: expected {case.state}, got {got.rule_id} {got.state} {got.reasons}"
    )
    assert case.reason in got.reasons[0], f"{rule_id}: reason {case.reason!r} not in {got.reasons}"


def test_every_state_rule_has_a_case() -> None:
    missing = {r.id for r in NETWORK_STATE_RULES} - set(STATE_CASES)
    assert not missing, f"state rules without a unit test: {sorted(missing)}"


NEIGHBOURS: dict[str, tuple[tuple[ControlSiteCheck, ...], tuple[str, ...], str]] = {
    # One foreign site loaded before and failed after: the network reaches abroad.
    "sandwich_changed_is_not_a_cut": (
        (up(WIKI), down(WIKI, phase="after"), down(EXAMPLE)),
        (),
        "state.foreign_reachable",
    ),
    # An allow-list that lets one foreign control through is a partial cut (the endpoints'
    # allow-list note covers it), not whitelisting of everything abroad.
    "allow_listed_foreign_site": (
        (up(WIKI), down(EXAMPLE), up(KASPI, DOMESTIC)),
        (),
        "state.foreign_reachable",
    ),
    # One certificate failure and one timeout abroad: not interception, and with domestic sites
    # loading, a whitelist.
    "mixed_failures_are_not_interception": (
        (cert(WIKI), down(EXAMPLE), up(KASPI, DOMESTIC)),
        (),
        "state.whitelisted_domestic_loads",
    ),
    # A captive portal that lets domestic sites through still intercepts the sites abroad.
    "walled_garden_portal": (
        (cert(WIKI), cert(EXAMPLE), up(KASPI, DOMESTIC)),
        (),
        "state.intercepted",
    ),
    # Domestic sites configured and all failing beat a loaded target: still selective.
    "loaded_target_beats_failing_domestic_sites": (
        (down(WIKI), down(KASPI, DOMESTIC)),
        ("https://bank.kz/",),
        "state.whitelisted_targets_load",
    ),
    # DNS dead for everything but a target loaded by IP literal: the network still works.
    "resolver_down_but_literal_loads": (
        (down(WIKI, step="dns", failure="dns_servfail_error"),),
        ("http://192.0.2.10/",),
        "state.whitelisted_targets_load",
    ),
}


@pytest.mark.parametrize("name", sorted(NEIGHBOURS))
def test_state_neighbours(name: str) -> None:
    controls, loaded, expected = NEIGHBOURS[name]
    got = network_assessment(controls, loaded)
    assert got.rule_id == expected, f"{name}: expected {expected}, got {got.rule_id} {got.reasons}"


# Target-level ----------------------------------------------------------------------------


def result(
    endpoint: Endpoint,
    verdict: Verdict,
    blocking: Blocking | None = None,
    rule_id: str | None = None,
) -> EndpointResult:
    findings = []
    if rule_id is not None:
        layer = Layer(rule_id.split(".")[0])
        findings.append(Finding(layer=layer, rule_id=rule_id, verdict=verdict, blocking=blocking))
    return EndpointResult(
        endpoint=endpoint,
        verdict=verdict,
        blocking=blocking,
        reasons=[f"{verdict.value}: the endpoint's own evidence"],
        findings=findings,
        test_keys=TestKeys(),
    )


def target(*results: EndpointResult) -> Target:
    return Target(
        input="twitter.com",
        kind=TargetKind.DOMAIN,
        name="twitter.com",
        endpoints=[r.endpoint for r in results],
    )


WHITELISTED = network_assessment((down(WIKI), down(EXAMPLE), up(KASPI, DOMESTIC)))
INTERCEPTED = network_assessment((cert(WIKI), cert(EXAMPLE)))
OUTAGE = network_assessment((down(WIKI), down(EXAMPLE), down(KASPI, DOMESTIC)))
NORMAL = network_assessment((up(WIKI), up(EXAMPLE)))
N, A, B, U, D = (
    Verdict.NETWORK_OUTAGE,
    Verdict.ACCESSIBLE,
    Verdict.BLOCKED,
    Verdict.INCONCLUSIVE,
    Verdict.SERVICE_DOWN,
)
H, C = https("twitter.com"), http("twitter.com")

TARGET_CASES = {
    # The case that needs it (Kazakhstan, January 2022): failed with the network, abroad cut.
    "whitelist_blocks_failed_target": (
        WHITELISTED,
        (result(H, N), result(C, N)),
        (B, Blocking.WHITELISTING),
        "target.whitelisted_network",
    ),
    "whitelist_with_inconclusive_twin": (
        WHITELISTED,
        (result(H, N), result(C, U)),
        (B, Blocking.WHITELISTING),
        "target.whitelisted_network",
    ),
    # Neighbours: what loads, or names its own method, keeps it.
    "whitelist_keeps_accessible": (
        WHITELISTED,
        (result(H, A), result(C, A)),
        (A, None),
        "target.all_accessible",
    ),
    "whitelist_keeps_own_method": (
        WHITELISTED,
        (result(H, B, Blocking.TLS_RESET), result(C, N)),
        (B, Blocking.TLS_RESET),
        "target.endpoint_blocked",
    ),
    "whitelist_keeps_service_down": (
        WHITELISTED,
        (result(H, D),),
        (D, None),
        "target.all_service_down",
    ),
    "outage_stays_outage": (
        OUTAGE,
        (result(H, N), result(C, N)),
        (N, None),
        "target.all_network_outage",
    ),
    "normal_outage_endpoints_stay": (
        NORMAL,
        (result(H, N),),
        (N, None),
        "target.all_network_outage",
    ),
    # Intercepted: nothing accessible in cleartext, nothing blocked but a known MITM issuer.
    "intercepted_cleartext_accessible": (
        INTERCEPTED,
        (result(C, A),),
        (U, None),
        "target.intercepted_network",
    ),
    "intercepted_mixed": (
        INTERCEPTED,
        (result(H, U), result(C, A)),
        (U, None),
        "target.intercepted_network",
    ),
    "intercepted_hijack_not_trusted": (
        INTERCEPTED,
        (result(H, B, Blocking.DNS_HIJACK, "dns.bogon_not_in_control"),),
        (U, None),
        "target.intercepted_network",
    ),
    "intercepted_verified_https_stays": (
        INTERCEPTED,
        (result(H, A),),
        (A, None),
        "target.all_accessible",
    ),
    "intercepted_known_issuer_stays": (
        INTERCEPTED,
        (result(H, B, Blocking.TLS_MITM, "tls.known_interception_issuer"),),
        (B, Blocking.TLS_MITM),
        "target.endpoint_blocked",
    ),
}


@pytest.mark.parametrize("name", sorted(TARGET_CASES))
def test_state_at_target_level(name: str) -> None:
    network, results, expected, rule = TARGET_CASES[name]
    decision = target_verdict(target(*results), list(results), context(), network=network)
    verdict, blocking, reasons = decision.verdict, decision.blocking, list(decision.reasons)
    assert (verdict, blocking) == expected, f"{name}: expected {expected}, got {verdict}/{blocking}"
    if rule.startswith("target.") and rule.endswith("_network"):
        assert network.reasons[0] in reasons[0], f"{name}: the state's reason leads: {reasons}"


def test_whitelisting_never_without_a_state() -> None:
    """Without a network assessment (OONI data, older records) nothing is whitelisting."""
    results = [result(H, N), result(C, N)]
    decision = target_verdict(target(*results), results, context())
    verdict, blocking = decision.verdict, decision.blocking
    assert (verdict, blocking) == (N, None)


FOREIGN = ("https://www.wikipedia.org/", "https://example.com/")
DOMESTIC = ("https://kaspi.kz/",)
HELPERS_DOWN = {"https://helper.test/": "generic_timeout_error"}


@pytest.mark.parametrize(
    ("case", "first", "domestic", "helpers", "reached", "expected"),
    [
        ("everything cut at DNS or connect", {"w": "dns", "e": "tcp", "k": "dns"},
         DOMESTIC, HELPERS_DOWN, False, True),
        ("a control site not over yet", {"w": "dns", "e": "tcp"},
         DOMESTIC, HELPERS_DOWN, False, False),
        ("the domestic site loaded (a whitelist)", {"w": "tcp", "e": "tcp", "k": None},
         DOMESTIC, HELPERS_DOWN, False, False),
        ("a certificate came back (a portal)", {"w": "tls", "e": "tcp", "k": "tcp"},
         DOMESTIC, HELPERS_DOWN, False, False),
        ("no domestic site to tell a whitelist", {"w": "dns", "e": "dns"},
         (), HELPERS_DOWN, False, False),
        ("the helper connected", {"w": "dns", "e": "dns", "k": "dns"},
         DOMESTIC, {"https://helper.test/": None}, False, False),
        ("no helper at all", {"w": "dns", "e": "dns", "k": "dns"}, DOMESTIC, {}, False, False),
        ("a target loaded", {"w": "dns", "e": "dns", "k": "dns"},
         DOMESTIC, HELPERS_DOWN, True, False),
    ],
)  # fmt: skip
def test_an_outage_is_beyond_doubt_only_when_everything_failed_early(
    case: str,
    first: dict[str, str | None],
    domestic: tuple[str, ...],
    helpers: dict[str, str | None],
    reached: bool,
    expected: bool,
) -> None:
    """Issue 19: the run stops retrying only on decisive evidence of an outage."""
    sites = {"w": FOREIGN[0], "e": FOREIGN[1], "k": DOMESTIC[0]}
    attempts = {sites[key]: step for key, step in first.items()}
    got = outage_beyond_doubt(attempts, FOREIGN, domestic, helpers, anything_reached=reached)
    assert got is expected, f"{case}: expected {expected}, got {got}"
