"""decide/: pure functions from observations and controls to findings, verdicts and reasons.

Owns the verdict vocabulary's semantics (docs/methodology.md). Never does I/O, reads a clock,
uses randomness, logs, mutates its inputs or keeps state; imports nothing from `probe` but
`probe.models`. Total: any input gives a result, missing evidence gives `inconclusive`.

Modules:
    attempts    observations grouped by attempt; how each attempt ended
    evidence    the per-layer summaries the rules test, and the facts reasons cite
    rules       ordered rule tables with stable ids (the first match wins)
    blockpages  OONI-format blockpage fingerprints: parse, match
    dns         DNS: answers per resolver against the control resolvers
    tcp         TCP: connects against the helper's connects
    tls         TLS: handshakes, chains, interception
    http        HTTP: failed fetch steps, the final page against the control's
    page        page identity: is a cleartext page the target's (positive evidence only)
    identity    PageIdentity: the signs for and against a page being the target's
    verdict     one endpoint's verdict from its findings; DecisionContext
    decision    Decision: verdict, method, reasons and the ids of the rules that made it
    steps       the combining steps as rule rows: endpoint.*, and target.* after the table
    target      a target's verdict from its endpoints (its throughput test, its packets)
    network     the network's state once per run: normal, intercepted, whitelisted, outage
    throughput  throttling: a download's rate and plateau against its references
    packet_evidence  IP TTL arithmetic and the summaries the packet rules test
    packets     packet evidence: forged DNS replies, injected RSTs, the censor's hop
    followup    follow-up plans: a blocked target's packet probes, a throughput test's objects
                and the run's byte budget

The names below are imported from their module when first used (PEP 562): `probe check`
parses its fingerprints (blockpages) before its first query, and imports the rest inside the
late-reply window, where the wait costs nothing (runner.py `WINDOW_IMPORTS`, issue 19).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probe.decide.blockpages import Fingerprint, parse_fingerprints
    from probe.decide.decision import Decision
    from probe.decide.followup import (
        ThroughputPlan,
        packet_plan,
        packets_due,
        throughput_budget_bytes,
        throughput_candidates,
        throughput_plan,
    )
    from probe.decide.network import network_assessment, outage_beyond_doubt
    from probe.decide.target import cut_while_arriving, may_be_throttled, target_verdict
    from probe.decide.tls import DEFAULT_INTERCEPTION_ISSUERS
    from probe.decide.verdict import DecisionContext, endpoint_verdict

MODULES: dict[str, tuple[str, ...]] = {
    "blockpages": ("Fingerprint", "parse_fingerprints"),
    "decision": ("Decision",),
    "followup": (
        "ThroughputPlan", "packet_plan", "packets_due", "throughput_budget_bytes",
        "throughput_candidates", "throughput_plan",
    ),
    "network": ("network_assessment", "outage_beyond_doubt"),
    "target": ("cut_while_arriving", "may_be_throttled", "target_verdict"),
    "tls": ("DEFAULT_INTERCEPTION_ISSUERS",),
    "verdict": ("DecisionContext", "endpoint_verdict"),
}  # fmt: skip
_HOME = {name: module for module, names in MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Return `name` from its module, imported now (once: it is then a global here)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_INTERCEPTION_ISSUERS",
    "Decision",
    "DecisionContext",
    "Fingerprint",
    "ThroughputPlan",
    "cut_while_arriving",
    "endpoint_verdict",
    "may_be_throttled",
    "network_assessment",
    "outage_beyond_doubt",
    "packet_plan",
    "packets_due",
    "parse_fingerprints",
    "target_verdict",
    "throughput_budget_bytes",
    "throughput_candidates",
    "throughput_plan",
]
