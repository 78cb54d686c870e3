"""Decide the state of the probe's own network once per run (issue 17, METHODS §11 #24, #29, #30).

From the run's control sites (foreign and domestic, before and after the targets) and the
targets that loaded in the same run: `normal` (abroad reachable), `intercepted` (every control
that failed, failed on its certificate: a captive portal or TLS interception), `whitelisted`
(abroad unreachable while domestic destinations load: a deliberate cut, never an outage),
`outage` (everything fails, domestic included) or `unknown` (no controls).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from probe.decide.evidence import NetworkStateEvidence, failure_kind
from probe.decide.rules import NETWORK_STATE_RULES, first_match
from probe.models.failures import FailureKind
from probe.models.results import (
    ControlSiteCheck,
    NetworkAssessment,
    NetworkState,
    SiteScope,
    Verdict,
)

# What each rule's verdict means for the state (a rule says what it implies for a target that
# failed with the network; the state names the network).
_STATES = {
    Verdict.ACCESSIBLE: NetworkState.NORMAL,
    Verdict.BLOCKED: NetworkState.WHITELISTED,
    Verdict.NETWORK_OUTAGE: NetworkState.OUTAGE,
}
_INTERCEPTED_RULE = "state.intercepted"
_NO_CONTROLS_RULE = "state.no_controls"


def _sites(controls: Iterable[ControlSiteCheck], scope: SiteScope) -> tuple[list[str], list[str]]:
    """Return the sites of `scope` that loaded in some phase, and those that never did."""
    checks = [c for c in controls if c.scope is scope]
    urls = list(dict.fromkeys(c.url for c in checks))
    loaded = {c.url for c in checks if c.success}
    return [u for u in urls if u in loaded], [u for u in urls if u not in loaded]


def network_state_evidence(
    controls: Iterable[ControlSiteCheck], loaded_targets: Iterable[str] = ()
) -> NetworkStateEvidence:
    """Return the evidence about the run's network from its control sites and loaded targets."""
    checks = list(controls)
    foreign_loaded, foreign_failed = _sites(checks, SiteScope.FOREIGN)
    domestic_loaded, domestic_failed = _sites(checks, SiteScope.DOMESTIC)
    failed = [c for c in checks if not c.success]
    # Interception shows on the sites abroad: answered in their place with another certificate.
    foreign = [c for c in failed if c.scope is SiteScope.FOREIGN and c.url in foreign_failed]
    untrusted = [c for c in foreign if failure_kind(c.failure) == FailureKind.UNTRUSTED]
    return NetworkStateEvidence(
        foreign=len(foreign_loaded) + len(foreign_failed),
        foreign_loaded=tuple(foreign_loaded),
        foreign_failed=tuple(foreign_failed),
        domestic=len(domestic_loaded) + len(domestic_failed),
        domestic_loaded=tuple(domestic_loaded),
        domestic_failed=tuple(domestic_failed),
        certificate_failures=tuple(dict.fromkeys(f"{c.url} ({c.failure})" for c in untrusted)),
        failed_elsewhere=tuple(dict.fromkeys(c.url for c in foreign if c not in untrusted)),
        all_failed_at_dns=bool(failed) and all(c.step == "dns" for c in failed),
        loaded_targets=tuple(dict.fromkeys(loaded_targets)),
    )


# The steps at which a control fails when the network carries nothing: no answer from the
# resolver, or no connection. A certificate or a page says something answered.
_CUT_AT = frozenset({"dns", "tcp"})


def outage_beyond_doubt(
    first_attempts: Mapping[str, str | None],
    foreign: Sequence[str],
    domestic: Sequence[str],
    helper_connects: Mapping[str, str | None],
    *,
    anything_reached: bool,
) -> bool:
    """Return whether the run's first evidence already shows an outage, so that no attempt
    need be retried (issue 19): the first attempt of every control site, foreign and domestic
    (at least one of each), failed at DNS or at connect, every helper (at least one) failed to
    connect, and nothing in the run reached its goal. `first_attempts` maps a site to the step
    its first attempt failed at (None: it loaded; absent: not over yet)."""
    sites = [*foreign, *domestic]
    if anything_reached or not foreign or not domestic or not helper_connects:
        return False
    if any(first_attempts.get(site, "pending") not in _CUT_AT for site in sites):
        return False
    return all(failure is not None for failure in helper_connects.values())


def network_assessment(
    controls: Iterable[ControlSiteCheck], loaded_targets: Iterable[str] = ()
) -> NetworkAssessment:
    """Return the network's state during a run, with the rule that decided it and why."""
    evidence = network_state_evidence(controls, loaded_targets)
    rule = first_match(NETWORK_STATE_RULES, evidence)
    if rule.id == _INTERCEPTED_RULE:
        state = NetworkState.INTERCEPTED
    elif rule.id == _NO_CONTROLS_RULE:
        state = NetworkState.UNKNOWN
    else:
        state = _STATES.get(rule.verdict, NetworkState.UNKNOWN)
    return NetworkAssessment(
        state=state,
        rule_id=rule.id,
        reasons=[rule.render(evidence.facts())],
        loaded_targets=list(evidence.loaded_targets),
    )
