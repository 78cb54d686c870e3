"""Packet evidence: who answered the probe, and where the censor sits.

Three kinds of probe, one table each (rules.py): the DNS probes (every reply to one query, and
a query to an address that runs no DNS server), the TCP probes (the genuine SYN-ACK against the
RST or response that followed the trigger) and the traces (the trigger with IP TTL 1, 2, 3…,
against a control run with an innocuous name). `packet_findings` returns one finding per probe
kind that ran; `sharpen` folds them into a blocked target's verdict: the findings' reasons come
first, an on-path DNS injection becomes the method, and a RST to the SYN that a device on the
path sent is `tcp_reset` rather than `tcp_refused` (a closed port).
"""

from __future__ import annotations

from typing import TypeVar

from probe.decide.decision import Decision, stepped
from probe.decide.packet_evidence import (
    DnsPacketEvidence,
    TcpPacketEvidence,
    TraceEvidence,
    answers_text,
    sender_hop,
)
from probe.decide.rules import DNS_PACKET_RULES, TCP_PACKET_RULES, TRACE_RULES, Rule, first_match
from probe.decide.rules import finding as make_finding
from probe.decide.steps import SHARPEN_RULES, SharpenEvidence, first_step
from probe.models.packets import (
    DnsPacketProbe,
    DnsProbeRole,
    PacketEvidence,
    Reaction,
    TcpPacketProbe,
    Trace,
    Trigger,
)
from probe.models.results import DNS_BLOCKING, Blocking, Finding, Verdict

E = TypeVar("E")


def dns_evidence(probes: list[DnsPacketProbe]) -> DnsPacketEvidence:
    """Return the DNS summary: the resolver probe that shows most, and the silent hosts'."""
    resolver_probes = [p for p in probes if p.role is DnsProbeRole.RESOLVER]
    # A "silent" host that answered the innocuous control name runs a DNS server: not evidence.
    silent_probes = [
        p for p in probes if p.role is DnsProbeRole.SILENT_HOST and p.control_rtt_s is None
    ]
    # The most telling resolver probe: different answers, else the most replies.
    chosen = max(
        resolver_probes,
        key=lambda p: (len({(r.rcode, answers_text(r)) for r in p.replies}), len(p.replies)),
        default=None,
    )
    silent = next((p for p in silent_probes if p.replies), None) or next(iter(silent_probes), None)
    source = chosen or silent
    return DnsPacketEvidence(
        hostname=source.hostname if source else "",
        resolver=chosen.resolver_address if chosen else "",
        replies=tuple(chosen.replies) if chosen else (),
        reply_delays_s=tuple(r.t - chosen.sent_t for r in chosen.replies) if chosen else (),
        control_rtt_s=chosen.control_rtt_s if chosen else None,
        silent_host=silent.resolver_address if silent else "",
        silent_replies=tuple(silent.replies) if silent else (),
        silent_probed=silent is not None,
    )


_REACTIONS = {"R": "reset", "F": "fin"}


def tcp_evidence(probe: TcpPacketProbe) -> TcpPacketEvidence:
    """Return the TCP summary: the first RST, else the first response segment, else a FIN."""
    reaction, packet = "none", None
    for wanted in ("reset", "data", "fin"):
        for segment in probe.packets:
            kind = "data" if segment.payload_bytes else _kind(segment.flags)
            if kind == wanted:
                reaction, packet = kind, segment
                break
        if packet is not None:
            break
    return TcpPacketEvidence(
        address=probe.address, port=probe.port, trigger=probe.trigger.value, name=probe.name,
        syn_ack=probe.syn_ack, reaction=reaction, reaction_packet=packet,
    )  # fmt: skip


def _kind(flags: str) -> str:
    return next((kind for flag, kind in _REACTIONS.items() if flag in flags), "none")


def trace_evidence(trace: Trace, control: Trace | None) -> TraceEvidence:
    """Return the trace summary: its first reaction, the hops around it, the control's end."""
    reacted = next((h for h in trace.hops if h.reaction is not Reaction.NONE), None)
    t = reacted.ttl if reacted else None
    answered = [h for h in trace.hops if h.icmp_from and (t is None or h.ttl < t)]
    before = next((h for h in trace.hops if t is not None and h.ttl == t - 1), None)
    packet = reacted.reaction_packet if reacted else None
    control_hops = control.hops if control else []
    control_end = next((h for h in control_hops if h.reaction is not Reaction.NONE), None)
    control_icmp = [h.ttl for h in control_hops if h.icmp_from]
    return TraceEvidence(
        address=trace.address,
        trigger=trace.trigger.value,
        name=trace.name,
        reaction=reacted.reaction.value if reacted else "none",
        reaction_ttl=t,
        reaction_hop=sender_hop(packet.ip_ttl) if packet is not None else None,
        icmp_at_reaction=reacted.icmp_from if reacted else None,
        last_icmp_ttl=answered[-1].ttl if answered else None,
        last_icmp_from=answered[-1].icmp_from if answered else None,
        hop_before=before.icmp_from if before else None,
        control_name=control.name if control else None,
        destination_ttl=control_end.ttl if control_end else None,
        control_last_icmp_ttl=max(control_icmp, default=None),
        stopped=trace.stopped.value,
    )


def _control_for(trace: Trace, traces: list[Trace]) -> Trace | None:
    key = (trace.address, trace.port, trace.trigger)
    return next((c for c in traces if c.control and (c.address, c.port, c.trigger) == key), None)


def packet_findings(evidence: PacketEvidence) -> list[Finding]:
    """Return the findings of the packet probes that ran: for DNS every sign of injection (or
    the one finding that fits), for TCP probes and traces the most telling probe's; a skipped
    test gives the one `packets.not_run` finding."""
    if evidence.skipped is not None:
        skipped = DnsPacketEvidence(skipped=evidence.skipped)
        return [make_finding(DNS_PACKET_RULES[0], skipped.facts())]
    found: list[Finding] = []
    if evidence.dns:
        summary = dns_evidence(evidence.dns)
        # Every sign of injection that holds is cited: a silent host's forged reply, and the
        # forged and genuine replies to one query, each with its TTL and IP-ID.
        signs = [r for r in DNS_PACKET_RULES if r.self_evident and r.matches(summary)]
        for rule in signs or [first_match(DNS_PACKET_RULES, summary)]:
            found.append(make_finding(rule, summary.facts()))
    tcp = [tcp_evidence(p) for p in evidence.tcp]
    if tcp:
        best = min(tcp, key=lambda e: _rank(TCP_PACKET_RULES, e))
        found.append(make_finding(first_match(TCP_PACKET_RULES, best), best.facts()))
    traces = [
        trace_evidence(t, _control_for(t, evidence.traces))
        for t in evidence.traces
        if not t.control
    ]
    if traces:
        best_trace = min(traces, key=lambda e: _rank(TRACE_RULES, e))
        found.append(make_finding(first_match(TRACE_RULES, best_trace), best_trace.facts()))
    return found


def _rank(table: tuple[Rule[E], ...], evidence: E) -> int:
    """Return the position of the rule `evidence` matches: the lower, the more telling."""
    return table.index(first_match(table, evidence))


def injected_reset_to_syn(evidence: PacketEvidence) -> bool:
    """Return whether a RST answering a SYN came from a device short of the destination."""
    for trace in evidence.traces:
        if trace.control or trace.trigger is not Trigger.SYN:
            continue
        summary = trace_evidence(trace, None)
        if summary.reaction == Reaction.RESET and summary.before_destination:
            return True
    return False


def sharpen(decision: Decision, evidence: PacketEvidence) -> Decision:
    """Return a target's decision with its packet evidence folded in (the `target.packets_*`
    rows, the packet findings' ids before the row's).

    Only a blocked target is changed: an on-path DNS injection proven by packets becomes the
    method of a target blocked at DNS, and a RST to the SYN sent short of the destination makes
    `tcp_refused` `tcp_reset`. The packet reasons follow the decision's first reason (they come
    first when they changed the method); a skipped test adds its reason at the end.
    """
    findings = packet_findings(evidence)
    blocked = decision.verdict is Verdict.BLOCKED
    summary = SharpenEvidence(
        skipped=evidence.skipped is not None,
        blocked=blocked,
        dns_method=decision.blocking in DNS_BLOCKING,
        injected=any(f.blocking is Blocking.DNS_INJECTION for f in findings),
        refused=decision.blocking is Blocking.TCP_REFUSED,
        reset_before_destination=blocked
        and decision.blocking is Blocking.TCP_REFUSED
        and injected_reset_to_syn(evidence),
    )
    rule = first_step(SHARPEN_RULES, summary) or SHARPEN_RULES[-1]
    told = [r for f in findings for r in f.reasons]
    reasons = list(decision.reasons)
    if rule.blocking is not None:  # the packets changed the method: their findings first
        reasons = [*told, *reasons]
    elif rule.id == _METHOD_KEPT:
        reasons = [*reasons[:1], *told, *reasons[1:]]
    else:
        reasons = [*reasons, *told]
    cited = [f.rule_id for f in findings]
    return stepped(decision, rule, reasons, blocking=decision.blocking, cited=cited)


_METHOD_KEPT = "target.packets_method_kept"
