"""A failed control is absent, never an answer (issue 17, "Controls that fail are absent").

Every way a control can fail (the helper unreachable or overloaded, the helper's own resolver
unreachable, each DoH control failing on its way — its own name NXDOMAIN, a timeout, a refused
handshake, an HTTP error — and the control sites failing) is crossed with every way a target can
fail. In no cell may a verdict rest on a failed control:

- never `service_down` (only a control that saw the target fail can say so);
- `blocked` only through a self-evident sign (a bogon answer, a block-page fingerprint, …);
- `accessible` only where the probe itself verified the page (https), never a cleartext page;
- no finding from a rule that needs a working control.

The regression that asked for it: the ISP resolver answered NXDOMAIN for the target and for
`dns.google` itself, the helper was unreachable, and `probe check` said `service_down` because the
failed DoH lookup was read as the control's NXDOMAIN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from probe.decide.rules import RULES_BY_ID
from probe.models.control import ControlResponse
from probe.models.observations import DnsObservation
from probe.models.results import EndpointResult, Verdict
from probe.models.targets import Endpoint

from .builders import (
    IP,
    connect,
    context,
    control,
    doh,
    fetch,
    http,
    https,
    judge,
    keys,
    query,
    site,
    tls_step,
)

DOH_URL = "https://dns.google/dns-query"


def doh_transport(failure: str) -> DnsObservation:
    """Return a DoH control lookup whose way to the resolver failed (no reply, no rcode)."""
    return doh((), failure=failure).model_copy(update={"rcode": None, "resolver_address": DOH_URL})


@dataclass(frozen=True)
class ControlFailure:
    """Every control path failing one way."""

    helper: ControlResponse | None
    helper_failure: str | None
    doh: tuple[DnsObservation, ...]
    sites_fail: bool = False


UNREACHABLE = "generic_timeout_error"
# The helper answered, but its own resolver was unreachable: it never measured the site.
HELPER_BLIND = control(
    (), dns_failure="unknown_error", http_failure="dns_lookup_error", ports=()
).model_copy(update={"tcp_connect": {}, "tls_handshake": {}})

CONTROL_FAILURES: dict[str, ControlFailure] = {
    "helper_timeout_doh_name_nxdomain": ControlFailure(
        None, UNREACHABLE, (doh_transport("dns_nxdomain_error"),)
    ),
    "helper_refused_doh_timeout": ControlFailure(
        None, "connection_refused", (doh_transport("generic_timeout_error"),)
    ),
    "helper_overloaded_doh_http_error": ControlFailure(
        None, "http_request_failed", (doh_transport("http_request_failed"),)
    ),
    "helper_tls_failed_doh_tls_failed": ControlFailure(
        None, "ssl_invalid_hostname", (doh_transport("ssl_invalid_hostname"),)
    ),
    "helper_blind_doh_reset": ControlFailure(
        HELPER_BLIND, None, (doh_transport("connection_reset"),)
    ),
    "no_helper_no_doh": ControlFailure(None, "unknown_failure: no test helper to ask", ()),
    "everything_and_the_control_sites": ControlFailure(
        None, UNREACHABLE, (doh_transport("dns_nxdomain_error"),), sites_fail=True
    ),
}

Observations = list[object]


def _https(*steps: object) -> tuple[Endpoint, Observations]:
    return https(), list(steps)


TARGET_FAILURES: dict[str, Callable[[], tuple[Endpoint, Observations]]] = {
    "dns_nxdomain": lambda: _https(query((), failure="dns_nxdomain_error", rcode="NXDOMAIN")),
    "dns_servfail": lambda: _https(query((), failure="dns_servfail_error", rcode="SERVFAIL")),
    "dns_timeout": lambda: _https(query((), failure="generic_timeout_error", rcode=None)),
    "dns_other_address": lambda: _https(
        query(["104.244.42.1"]), tls_step("104.244.42.1", "connection_reset")
    ),
    "tcp_timeout": lambda: _https(query(), tls_step(tcp_failure="generic_timeout_error")),
    "tcp_refused": lambda: _https(query(), tls_step(tcp_failure="connection_refused")),
    "tls_reset": lambda: _https(query(), tls_step(failure="connection_reset")),
    "tls_timeout": lambda: _https(query(), tls_step(failure="generic_timeout_error")),
    "tls_untrusted": lambda: _https(query(), tls_step(failure="ssl_unknown_authority")),
    "http_reset": lambda: (
        http(),
        [query(), connect(IP, 80), fetch("http://example.com/", None, failure="connection_reset")],
    ),
    "http_timeout": lambda: (
        http(),
        [
            query(),
            connect(IP, 80),
            fetch("http://example.com/", None, failure="generic_timeout_error", operation="read"),
        ],
    ),
    "cleartext_page": lambda: (
        http(),
        [query(), connect(IP, 80), fetch("http://example.com/", 200)],
    ),
}

# Rules that conclude from a control that answered: none may fire when every control failed.
NEEDS_A_CONTROL = {
    "dns.nxdomain_everywhere",
    "dns.no_answer_everywhere",
    "dns.nxdomain_control_resolved",
    "dns.empty_answer_control_resolved",
    "dns.failure_everywhere",
    "dns.failure_other_names_resolve",
    "dns.ghost_answer",
    "dns.inconsistent_answer",
    "dns.consistent",
    "tcp.control_failed_too",
    "tls.control_failed_too",
    "http.control_failed_too",
    "http.page_matches_control",
    "http.page_differs",
}


def _decide(control_name: str, target_name: str) -> EndpointResult:
    failure = CONTROL_FAILURES[control_name]
    endpoint, observations = TARGET_FAILURES[target_name]()
    test_keys = keys(
        *observations,  # type: ignore[arg-type]
        control=failure.helper,
        control_failure=failure.helper_failure,
        doh=failure.doh,
    )
    checks = (
        (site("before", False, "tcp"), site("after", False, "tcp")) if failure.sites_fail else ()
    )
    return judge(endpoint, test_keys, context(*checks))


@pytest.mark.parametrize("target_name", sorted(TARGET_FAILURES))
@pytest.mark.parametrize("control_name", sorted(CONTROL_FAILURES))
def test_no_verdict_rests_on_a_failed_control(control_name: str, target_name: str) -> None:
    result = _decide(control_name, target_name)
    cell = f"{control_name} × {target_name}"
    fired = [f.rule_id for f in result.findings]
    assert result.verdict is not Verdict.SERVICE_DOWN, f"{cell}: service_down from {fired}"
    assert not set(fired) & NEEDS_A_CONTROL, (
        f"{cell}: rules that need a working control fired: {sorted(set(fired) & NEEDS_A_CONTROL)}"
        f" ({result.reasons})"
    )
    if result.verdict is Verdict.BLOCKED:
        decisive = [f for f in result.findings if f.verdict is Verdict.BLOCKED]
        assert RULES_BY_ID[decisive[0].rule_id].self_evident, (
            f"{cell}: blocked through {decisive[0].rule_id}, which needs a control"
        )
    if result.verdict is Verdict.ACCESSIBLE:
        assert (result.endpoint.url or "").startswith("https://"), (
            f"{cell}: a cleartext page called accessible without a control: {result.reasons}"
        )


def test_the_regression_case() -> None:
    """NXDOMAIN for the target and for dns.google itself, the helper unreachable."""
    result = _decide("helper_timeout_doh_name_nxdomain", "dns_nxdomain")
    assert result.verdict is Verdict.INCONCLUSIVE, result.reasons
    assert any("no control resolver answered" in r for r in result.reasons), result.reasons


def test_a_doh_reply_is_still_an_answer() -> None:
    """Neighbour: a DoH resolver that did answer NXDOMAIN (an rcode) is a control's answer."""
    endpoint, observations = TARGET_FAILURES["dns_nxdomain"]()
    answered = doh((), failure="dns_nxdomain_error")  # rcode NXDOMAIN: the resolver's reply
    result = judge(endpoint, keys(*observations, control_failure=UNREACHABLE, doh=[answered]))  # type: ignore[arg-type]
    assert result.verdict is Verdict.SERVICE_DOWN, result.reasons


def test_a_doh_answer_with_addresses_still_convicts() -> None:
    """Neighbour: the DoH control resolved the name while the ISP said NXDOMAIN: blocked."""
    endpoint, observations = TARGET_FAILURES["dns_nxdomain"]()
    result = judge(endpoint, keys(*observations, control_failure=UNREACHABLE, doh=[doh()]))  # type: ignore[arg-type]
    assert result.blocking is not None and result.blocking.value == "dns_nxdomain", result.reasons
