"""The steps that combine findings into a decision, as rule rows with stable ids (issue 22).

rules.py judges a layer's evidence; these tables judge how an endpoint's findings, and a
target's endpoints, throughput test and packets, become one `Decision`: which finding an
endpoint adopts (`endpoint.*`), and every way a target's verdict or method is set or rewritten
after its table (`target.*`): a host that another port serves, the method copied from the first
blocked endpoint, the control sites that failed too, packet evidence sharpening the method,
the throughput test calling the target throttled.

A step row's `verdict` and `blocking` are what the step sets; `None` keeps (or adopts from the
finding or endpoint the step chose) the decision's. A row that `adds_reason` puts its rendered
sentence among the reasons; the others leave the adopted evidence to speak, and their reason
is a plain sentence saying what the step did (`probe check --explain` shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from probe.decide.evidence import cite, fill
from probe.models.results import Blocking, Verdict

E = TypeVar("E")


@dataclass(frozen=True)
class StepRule(Generic[E]):
    """One row of a step table: the first row whose `matches` holds is the step taken."""

    id: str
    verdict: Verdict | None
    blocking: Blocking | None
    reason: str
    matches: Callable[[E], bool]
    adds_reason: bool = False

    def render(self, facts: Mapping[str, str]) -> str:
        """Return the reason sentence with the evidence's facts filled in."""
        return fill(self.reason, facts)


def first_step(table: tuple[StepRule[E], ...], evidence: E) -> StepRule[E] | None:
    """Return the first row of `table` matching `evidence`, or None when no step applies."""
    return next((rule for rule in table if rule.matches(evidence)), None)


@dataclass(frozen=True)
class CombineEvidence:
    """An endpoint's findings, sorted by what they imply (decide/verdict.py)."""

    succeeded: bool = False
    network_outage: bool = False  # the network finding says the network itself failed
    network_unfit: bool = False  # sandwich changed or captive portal suspected
    network_inconclusive: bool = False
    blocked: bool = False  # some finding blocked
    self_evident: bool = False  # some blocked finding self-evident (rules.py)
    down: bool = False  # some finding service_down
    unverifiable_answer: bool = False  # dns.answer_unverifiable fired
    body_cut: bool = False  # http.body_timeout fired
    inconclusive: bool = False  # some finding inconclusive

    def facts(self) -> dict[str, str]:
        """Return the strings the combining rows cite (none: they adopt a finding's)."""
        return {}


@dataclass(frozen=True)
class PortEvidence:
    """One endpoint of a target, and whether another port of its host works."""

    endpoint: str = ""
    method: str = ""
    blocked: bool = False
    is_tcp: bool = False
    other_port_open: bool = False

    def facts(self) -> dict[str, str]:
        """Return the strings the port row cites."""
        return {"endpoint": self.endpoint, "method": self.method or "blocked"}


@dataclass(frozen=True)
class MethodEvidence:
    """A blocked or throttled target's endpoints that name a method, first in order."""

    verdict: Verdict | None = None  # the target rule's verdict
    first_blocked: str = ""  # the first blocked endpoint that names a method
    first_throttled_method: str = ""  # the method of the first throttled endpoint

    def facts(self) -> dict[str, str]:
        """Return the strings the method rows cite (none: the summary names the methods)."""
        return {}


@dataclass(frozen=True)
class ControlSitesEvidence:
    """The run's foreign control sites, for a blocked target: which never loaded."""

    sites: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()

    def facts(self) -> dict[str, str]:
        """Return the strings the control-site row cites."""
        return {
            "failed_count": str(len(self.failed)),
            "sites": str(len(self.sites)),
            "failed": ", ".join(self.failed),
        }


@dataclass(frozen=True)
class SharpenEvidence:
    """A target's decision against its packet findings (decide/packets.py)."""

    skipped: bool = False
    blocked: bool = False
    dns_method: bool = False  # the target is blocked at DNS
    injected: bool = False  # a packet finding proves on-path DNS injection
    refused: bool = False  # the target's method is tcp_refused
    reset_before_destination: bool = False  # a RST answered the SYN short of the server

    def facts(self) -> dict[str, str]:
        """Return the strings the packet rows cite (none: the packet findings speak)."""
        return {}


@dataclass(frozen=True)
class ThroughputStepEvidence:
    """A loading target's throughput finding (decide/throughput.py)."""

    throttled: bool = False
    cut_pages: tuple[str, ...] = ()  # endpoints whose page the timeout cut while arriving

    def facts(self) -> dict[str, str]:
        """Return the strings the throughput rows cite."""
        return {"cut_pages": cite(self.cut_pages)}


OK = Verdict.ACCESSIBLE
BLOCKED = Verdict.BLOCKED
DOWN = Verdict.SERVICE_DOWN
UNSURE = Verdict.INCONCLUSIVE
OUTAGE = Verdict.NETWORK_OUTAGE
THROTTLED = Verdict.THROTTLED
_S = StepRule

# fmt: off
# decide/verdict.py: which of an endpoint's findings decides it (docs/methodology.md
# "Combining an endpoint's findings"). The ids of the adopted findings precede the row's.
COMBINE_RULES: tuple[StepRule[CombineEvidence], ...] = (
    _S("endpoint.network_outage", OUTAGE, None,
       "no attempt succeeded and the probe's own network failed: the network finding decides",
       lambda e: not e.succeeded and e.network_outage),
    _S("endpoint.blocked_on_unfit_network", UNSURE, None,
       "a finding blocked, but the network was unfit to judge and the sign is not"
       " self-evident: the network finding and the blocked one are cited",
       lambda e: e.blocked and not e.succeeded and e.network_unfit and not e.self_evident),
    _S("endpoint.self_evident_on_unfit_network", BLOCKED, None,
       "the network was unfit to judge: the first self-evident blocked finding decides, with"
       " its method",
       lambda e: e.blocked and not e.succeeded and e.network_unfit),
    _S("endpoint.first_blocked", BLOCKED, None,
       "the first blocked finding in layer order (DNS, TCP, TLS, HTTP) decides, with its"
       " method",
       lambda e: e.blocked),
    _S("endpoint.succeeded", None, None,
       "an attempt succeeded: the last page (or connect) finding has the last word (accessible,"
       " inconclusive or service_down)",
       lambda e: e.succeeded),
    _S("endpoint.unverifiable_answer", UNSURE, None,
       "the failures were on addresses only this resolver gave (dns.answer_unverifiable): not"
       " service_down",
       lambda e: e.down and e.unverifiable_answer),
    _S("endpoint.control_failed_too", DOWN, None,
       "the first finding whose control failed the same way decides",
       lambda e: e.down),
    _S("endpoint.body_cut", UNSURE, None,
       "a page was cut by the timeout while arriving (http.body_timeout): the most specific"
       " account of the failed attempts",
       lambda e: e.body_cut),
    _S("endpoint.network_inconclusive", UNSURE, None,
       "the network finding leaves the endpoint inconclusive",
       lambda e: e.network_inconclusive),
    _S("endpoint.first_inconclusive", UNSURE, None,
       "the first inconclusive finding says what is missing",
       lambda e: e.inconclusive),
    _S("endpoint.unexplained", UNSURE, None,
       "the target failed but no step explains how",
       lambda e: True, adds_reason=True),
)

# decide/target.py, before the target table: how an endpoint counts for the target.
PORT_RULES: tuple[StepRule[PortEvidence], ...] = (
    _S("target.port_fallback", OK, None,
       "{endpoint} is blocked ({method}) but another port of the host works",
       lambda e: e.blocked and e.is_tcp and e.other_port_open, adds_reason=True),
)

# decide/target.py, after the target table: where a blocked or throttled target's method comes
# from.
METHOD_RULES: tuple[StepRule[MethodEvidence], ...] = (
    _S("target.first_blocked_method", BLOCKED, None,
       "the method is the first blocked endpoint's, in the target's order",
       lambda e: e.verdict is BLOCKED and bool(e.first_blocked)),
    _S("target.blocked_without_method", UNSURE, None,
       "no blocked endpoint names a method",
       lambda e: e.verdict is BLOCKED, adds_reason=True),
    _S("target.first_throttled_method", THROTTLED, None,
       "the method is the first throttled endpoint's",
       lambda e: e.verdict is THROTTLED and bool(e.first_throttled_method)),
    _S("target.throttled_without_method", THROTTLED, Blocking.THROTTLING,
       "no throttled endpoint names a method: throttling",
       lambda e: e.verdict is THROTTLED),
)

# decide/target.py, a blocked target: the run's control sites that failed too.
CONTROL_SITE_RULES: tuple[StepRule[ControlSitesEvidence], ...] = (
    _S("target.control_sites_failed_too", None, None,
       "{failed_count} of {sites} control sites failed too ({failed}): if the network admits"
       " only allow-listed destinations (whitelisting), far more than this target is blocked",
       lambda e: bool(e.failed) and len(e.failed) < len(e.sites), adds_reason=True),
)

# decide/packets.py: a target's packet findings folded into its decision. The ids of the packet
# findings precede the row's.
SHARPEN_RULES: tuple[StepRule[SharpenEvidence], ...] = (
    _S("target.packets_not_run", None, None,
       "the packet tests did not run: their reason follows the decision's",
       lambda e: e.skipped),
    _S("target.packets_not_blocked", None, None,
       "the target is not blocked: the packet findings follow its reasons",
       lambda e: not e.blocked),
    _S("target.packets_dns_injection", BLOCKED, Blocking.DNS_INJECTION,
       "packets prove on-path DNS injection: a target blocked at DNS becomes dns_injection,"
       " the packet findings first",
       lambda e: e.injected and e.dns_method),
    _S("target.packets_reset_to_syn", BLOCKED, Blocking.TCP_RESET,
       "a RST answered the SYN short of the destination: tcp_refused becomes tcp_reset, the"
       " packet findings first",
       lambda e: e.refused and e.reset_before_destination),
    _S("target.packets_method_kept", None, None,
       "the packets name no other method: their findings follow the first reason",
       lambda e: True),
)

# decide/target.py: the throughput test of a target that loads, if slowly. The throughput
# finding's id precedes the row's.
THROUGHPUT_STEP_RULES: tuple[StepRule[ThroughputStepEvidence], ...] = (
    _S("target.throughput_throttled_pages_cut", THROTTLED, Blocking.THROTTLING,
       "pages cut by the timeout while arriving: {cut_pages}",
       lambda e: e.throttled and bool(e.cut_pages), adds_reason=True),
    _S("target.throughput_throttled", THROTTLED, Blocking.THROTTLING,
       "the throughput test found throttling: the target is throttled, its finding first",
       lambda e: e.throttled),
    _S("target.throughput_not_throttled", None, None,
       "the throughput test found no throttling: its finding follows the reasons",
       lambda e: True),
)
# fmt: on

STEP_TABLES: dict[str, tuple[tuple[StepRule[Any], ...], type]] = {
    "combine": (COMBINE_RULES, CombineEvidence),
    "port": (PORT_RULES, PortEvidence),
    "method": (METHOD_RULES, MethodEvidence),
    "control_sites": (CONTROL_SITE_RULES, ControlSitesEvidence),
    "sharpen": (SHARPEN_RULES, SharpenEvidence),
    "throughput_step": (THROUGHPUT_STEP_RULES, ThroughputStepEvidence),
}
ALL_STEP_RULES: tuple[StepRule[Any], ...] = tuple(r for t, _ in STEP_TABLES.values() for r in t)
STEP_RULES_BY_ID: dict[str, StepRule[Any]] = {rule.id: rule for rule in ALL_STEP_RULES}
