"""Packet evidence judged without a network: one hand-made set of probes per rule id, the
IP TTL arithmetic, and how the findings sharpen a blocked target's verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probe.decide.decision import Decision
from probe.decide.packet_evidence import initial_ttl, sender_hop
from probe.decide.packets import packet_findings, sharpen
from probe.decide.rules import ALL_RULES
from probe.models.observations import DnsAnswer
from probe.models.packets import (
    DnsPacketProbe,
    DnsProbeRole,
    DnsReplyPacket,
    PacketEvidence,
    PacketHeader,
    Reaction,
    TcpPacket,
    TcpPacketProbe,
    Trace,
    TraceHop,
    TraceStop,
    Trigger,
)
from probe.models.results import Blocking, Verdict

RESOLVER = "203.0.113.53"
SILENT = "203.0.113.80"
SERVER = "203.0.113.10"
FORGED = "192.0.2.66"
ROUTERS = ("10.77.0.1", "100.64.0.2", "100.64.0.6")


def reply(t: float, address: str, ttl: int, ip_id: int, src: str = RESOLVER) -> DnsReplyPacket:
    answer = DnsAnswer(answer_type="A", ipv4=address, ttl=300)
    return DnsReplyPacket(t=t, src=src, ip_ttl=ttl, ip_id=ip_id, rcode="NOERROR", answers=[answer])


def dns_probe(
    *replies: DnsReplyPacket, role: DnsProbeRole = DnsProbeRole.RESOLVER, rtt: float | None = None
) -> DnsPacketProbe:
    return DnsPacketProbe(
        role=role,
        hostname="twitter.com",
        resolver_address=RESOLVER if role is DnsProbeRole.RESOLVER else SILENT,
        sent_t=1.0,
        replies=list(replies),
        listen_s=1.0,
        control_hostname="example.com" if rtt is not None else None,
        control_rtt_s=rtt,
    )


def segment(flags: str, ttl: int, ip_id: int = 0, payload: int = 0) -> TcpPacket:
    return TcpPacket(
        t=2.0,
        src=SERVER,
        ip_ttl=ttl,
        ip_id=ip_id,
        flags=flags,
        seq=1,
        ack=1,
        window=0,
        payload_bytes=payload,
        payload_sha256="00" * 32 if payload else None,
    )


def tcp_probe(
    syn_ack_ttl: int | None, *packets: TcpPacket, trigger: Trigger = Trigger.TLS_CLIENT_HELLO
) -> TcpPacketProbe:
    return TcpPacketProbe(
        address=SERVER,
        port=443,
        trigger=trigger,
        name="twitter.com",
        syn_ack=segment("SA", syn_ack_ttl) if syn_ack_ttl is not None else None,
        packets=list(packets),
        t0=2.0,
        t=2.5,
    )


def hop(
    ttl: int,
    icmp: bool = True,
    reaction: Reaction = Reaction.NONE,
    packet: TcpPacket | DnsReplyPacket | None = None,
) -> TraceHop:
    router = ROUTERS[ttl - 1] if icmp and ttl <= len(ROUTERS) else None
    header = PacketHeader(t=3.0, src=router, ip_ttl=255 - ttl + 1, ip_id=0) if router else None
    return TraceHop(
        ttl=ttl, icmp_from=router, icmp=header, reaction=reaction, reaction_packet=packet
    )


def trace(
    *hops: TraceHop,
    control: bool = False,
    trigger: Trigger = Trigger.TLS_CLIENT_HELLO,
    stopped: TraceStop = TraceStop.REACTION,
) -> Trace:
    return Trace(
        trigger=trigger,
        address=SERVER,
        port=443,
        name="example.com" if control else "twitter.com",
        control=control,
        hops=list(hops),
        stopped=stopped,
        t0=3.0,
        t=4.0,
    )


DESTINATION = trace(
    hop(1), hop(2), hop(3), hop(4, False, Reaction.DATA, segment("PA", 61, 0, 900)), control=True
)

CASES: dict[str, PacketEvidence] = {
    "packets.not_run": PacketEvidence(skipped="packet tests need raw sockets"),
    "packets.dns_silent_host_answered": PacketEvidence(
        dns=[
            dns_probe(reply(1.01, SERVER, 61, 7)),
            dns_probe(reply(1.002, FORGED, 63, 4919, SILENT), role=DnsProbeRole.SILENT_HOST),
        ]
    ),
    "packets.dns_two_answers": PacketEvidence(
        dns=[
            dns_probe(reply(1.002, FORGED, 63, 4919), reply(1.2, SERVER, 61, 0)),
            dns_probe(role=DnsProbeRole.SILENT_HOST),
        ]
    ),
    "packets.dns_reply_too_fast": PacketEvidence(
        dns=[dns_probe(reply(1.002, FORGED, 63, 4919), rtt=0.080)]
    ),
    "packets.dns_resolver_answered": PacketEvidence(
        dns=[
            dns_probe(reply(1.05, FORGED, 63, 12), rtt=0.040),
            dns_probe(role=DnsProbeRole.SILENT_HOST),
        ]
    ),
    "packets.dns_no_reply": PacketEvidence(dns=[dns_probe()]),
    "packets.reset_injected": PacketEvidence(tcp=[tcp_probe(61, segment("R", 254))]),
    "packets.response_injected": PacketEvidence(
        tcp=[tcp_probe(61, segment("PA", 63, 0x1337, 512), segment("FA", 63, 0x1337))]
    ),
    "packets.reaction_like_server": PacketEvidence(tcp=[tcp_probe(61, segment("R", 61))]),
    "packets.reset_to_syn": PacketEvidence(
        tcp=[tcp_probe(None, segment("RA", 64), trigger=Trigger.SYN)]
    ),
    "packets.no_reaction": PacketEvidence(tcp=[tcp_probe(61)]),
    "packets.censor_on_path": PacketEvidence(
        traces=[
            trace(
                hop(1),
                hop(2, True, Reaction.DNS_REPLY, reply(3.1, FORGED, 63, 4919)),
                trigger=Trigger.DNS_QUERY,
            )
        ]
    ),
    "packets.censor_in_path": PacketEvidence(
        traces=[
            DESTINATION,
            trace(hop(1), hop(2), hop(3, False, Reaction.RESET, segment("R", 254))),
        ]
    ),
    "packets.dropped_after_hop": PacketEvidence(
        traces=[
            DESTINATION,
            trace(hop(1), hop(2), hop(3, False), hop(4, False), stopped=TraceStop.SILENCE),
        ]
    ),
    "packets.reaction_at_destination": PacketEvidence(
        traces=[
            DESTINATION,
            trace(hop(1), hop(2), hop(3), hop(4, False, Reaction.RESET, segment("R", 61))),
        ]
    ),
    "packets.trace_unfinished": PacketEvidence(
        traces=[trace(hop(1), hop(2), stopped=TraceStop.MAX_TTL)]
    ),
}
# What each case's reasons must say (hop numbers, addresses, fingerprints).
SAYS = {
    "packets.not_run": "raw sockets",
    "packets.dns_silent_host_answered": f"{SILENT} runs no DNS server",
    "packets.dns_two_answers": f"first {FORGED} after 2 ms (IP TTL 63, IP-ID 4919, from hop 2)",
    "packets.dns_reply_too_fast": "faster than 203.0.113.53 answers a cached name (80 ms)",
    "packets.dns_resolver_answered": "no on-path injector seen",
    "packets.dns_no_reply": "no reply",
    "packets.reset_injected": "IP TTL 254, IP-ID 0, from hop 2",
    "packets.response_injected": "2 hop(s) closer",
    "packets.reaction_like_server": "from the server's distance",
    "packets.reset_to_syn": "answered by a RST (IP TTL 64, IP-ID 0, from hop 1)",
    "packets.no_reaction": "nothing but the SYN-ACK",
    "packets.censor_on_path": f"on-path device at hop 2 ({ROUTERS[1]})",
    "packets.censor_in_path": f"the censor sits at hop 2 ({ROUTERS[1]})",
    "packets.dropped_after_hop": f"past hop 2 ({ROUTERS[1]})",
    "packets.reaction_at_destination": "from the destination's distance",
    "packets.trace_unfinished": "found no reaction",
}


def test_every_packet_rule_has_a_case() -> None:
    ids = {r.id for r in ALL_RULES if r.id.startswith("packets.")}
    assert ids == set(CASES), (
        f"missing {sorted(ids - set(CASES))}, extra {sorted(set(CASES) - ids)}"
    )


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_packet_rule_fires(rule_id: str) -> None:
    findings = {f.rule_id: f for f in packet_findings(CASES[rule_id])}
    assert rule_id in findings, f"{rule_id}: expected among {sorted(findings)}"
    text = " | ".join(findings[rule_id].reasons)
    assert SAYS[rule_id] in text, f"{rule_id}: expected {SAYS[rule_id]!r} in {text!r}"
    assert "{" not in text and "?" not in text.replace("?)", ""), f"{rule_id}: unfilled: {text}"


@pytest.mark.parametrize(
    ("ttl", "initial", "hop_number"),
    [(64, 64, 1), (63, 64, 2), (61, 64, 4), (254, 255, 2), (120, 128, 9), (30, 32, 3)],
)
def test_ttl_arithmetic(ttl: int, initial: int, hop_number: int) -> None:
    assert (initial_ttl(ttl), sender_hop(ttl)) == (initial, hop_number)


BLOCKED_DNS = Decision(
    Verdict.BLOCKED, Blocking.DNS_HIJACK, ("twitter.com: the answer differs", "more")
)


def test_dns_injection_becomes_the_method_with_its_evidence_first() -> None:
    sharpened = sharpen(BLOCKED_DNS, CASES["packets.dns_two_answers"])
    assert (sharpened.verdict, sharpened.blocking) == (Verdict.BLOCKED, Blocking.DNS_INJECTION)
    assert "and they differ" in sharpened.reasons[0] and sharpened.reasons[-1] == "more"
    assert sharpened.rules[-1] == "target.packets_dns_injection", sharpened.rules


def test_a_resolver_that_lies_stays_dns_hijack() -> None:
    sharpened = sharpen(BLOCKED_DNS, CASES["packets.dns_resolver_answered"])
    assert sharpened.blocking is Blocking.DNS_HIJACK
    reasons = sharpened.reasons
    assert reasons[0] == BLOCKED_DNS.reasons[0] and "no on-path injector seen" in reasons[1]
    assert sharpened.rules == ("packets.dns_resolver_answered", "target.packets_method_kept")


def test_reset_to_syn_short_of_the_destination_is_tcp_reset() -> None:
    injected = PacketEvidence(
        tcp=[tcp_probe(None, segment("RA", 64), trigger=Trigger.SYN)],
        traces=[
            trace(hop(1), hop(2, False, Reaction.RESET, segment("RA", 64)), trigger=Trigger.SYN)
        ],
    )
    decision = Decision(Verdict.BLOCKED, Blocking.TCP_REFUSED, ("refused",))
    sharpened = sharpen(decision, injected)
    assert sharpened.blocking is Blocking.TCP_RESET
    assert any("censor sits at hop 1 (10.77.0.1)" in r for r in sharpened.reasons), sharpened
    assert sharpened.rules[-1] == "target.packets_reset_to_syn", sharpened.rules


def test_reset_to_syn_from_the_destination_stays_refused() -> None:
    genuine = PacketEvidence(
        traces=[
            trace(
                hop(1),
                hop(2),
                hop(3),
                hop(4, False, Reaction.RESET, segment("RA", 61)),
                trigger=Trigger.SYN,
            )
        ],
    )
    decision = Decision(Verdict.BLOCKED, Blocking.TCP_REFUSED, ("refused",))
    assert sharpen(decision, genuine).blocking is Blocking.TCP_REFUSED


def test_skipped_tests_say_why_and_change_nothing() -> None:
    decision = Decision(Verdict.BLOCKED, Blocking.TLS_RESET, ("reset",))
    sharpened = sharpen(decision, CASES["packets.not_run"])
    assert (sharpened.verdict, sharpened.blocking) == (decision.verdict, decision.blocking)
    assert sharpened.reasons[0] == "reset"
    assert sharpened.reasons[-1] == "packet evidence not collected: packet tests need raw sockets"
    assert sharpened.rules == ("packets.not_run", "target.packets_not_run")


def test_tls_reset_keeps_its_method_and_gains_the_fingerprint() -> None:
    evidence = PacketEvidence(
        tcp=[tcp_probe(61, segment("R", 254))],
        traces=CASES["packets.censor_in_path"].traces,
    )
    decision = Decision(Verdict.BLOCKED, Blocking.TLS_RESET, ("first", "second"))
    sharpened = sharpen(decision, evidence)
    blocking, reasons = sharpened.blocking, sharpened.reasons
    assert blocking is Blocking.TLS_RESET and reasons[0] == "first" and reasons[-1] == "second"
    assert "by a device on the path" in reasons[1] and "hop 2" in reasons[2]


def test_most_telling_probe_wins() -> None:
    evidence = PacketEvidence(tcp=[tcp_probe(61), tcp_probe(61, segment("R", 254))])
    assert [f.rule_id for f in packet_findings(evidence)] == ["packets.reset_injected"]


def test_a_silent_host_that_answers_the_control_name_proves_nothing() -> None:
    server = dns_probe(reply(1.01, SERVER, 61, 9, SILENT), role=DnsProbeRole.SILENT_HOST)
    server = server.model_copy(update={"control_hostname": "example.com", "control_rtt_s": 0.01})
    evidence = PacketEvidence(dns=[dns_probe(reply(1.05, SERVER, 61, 7)), server])
    assert [f.rule_id for f in packet_findings(evidence)] == ["packets.dns_resolver_answered"]


RECORDED = Path(__file__).parent / "data" / "packets"
# Our own lab recordings (tests/lab/record.py): the rules each must fire, and the verdict.
EXPECTED = {
    "dns_injection": (
        {"packets.dns_silent_host_answered", "packets.dns_two_answers", "packets.censor_on_path"},
        Blocking.DNS_INJECTION,
        "on-path device at hop 2 (100.64.0.2)",
    ),
    "sni_reset_border": (
        {"packets.reset_injected", "packets.censor_in_path"},
        Blocking.TLS_RESET,
        "the censor sits at hop 2 (100.64.0.2)",
    ),
    "reset_to_syn": (
        {"packets.reset_to_syn", "packets.censor_in_path"},
        Blocking.TCP_RESET,
        "the censor sits at hop 1 (10.77.0.1)",
    ),
    "injected_page": (
        {"packets.response_injected", "packets.censor_on_path"},
        Blocking.HTTP_BLOCKPAGE,
        "IP-ID 4919, from hop 2",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lab_recordings_are_judged_again_offline(name: str) -> None:
    record = json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))
    evidence = PacketEvidence.model_validate(record["packets"])
    rules, blocking, says = EXPECTED[name]
    fired = {f.rule_id for f in packet_findings(evidence)}
    assert fired == rules, f"{name}: expected {sorted(rules)}, got {sorted(fired)}"
    assert record["blocking"] == blocking.value, "the recording's verdict"
    endpoint_method = Blocking.TCP_REFUSED if blocking is Blocking.TCP_RESET else blocking
    if blocking is Blocking.DNS_INJECTION:
        endpoint_method = Blocking.DNS_HIJACK  # what a lying resolver alone would give
    sharpened = sharpen(Decision(Verdict.BLOCKED, endpoint_method, ("first",)), evidence)
    assert (sharpened.verdict, sharpened.blocking) == (Verdict.BLOCKED, blocking)
    assert any(says in r for r in sharpened.reasons), sharpened.reasons
    row = {Blocking.DNS_INJECTION: "dns_injection", Blocking.TCP_RESET: "reset_to_syn"}
    expected = f"target.packets_{row.get(blocking, 'method_kept')}"
    cited = tuple(f.rule_id for f in packet_findings(evidence))
    assert sharpened.rules == (*cited, expected), sharpened.rules
