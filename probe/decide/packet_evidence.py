"""What the packet rules test: summaries of a target's packet probes, and the facts they cite.

A received packet's IP TTL tells how far its sender is: senders start from one of a few initial
TTLs (64 for Linux, 128 for Windows, 255 for most routers, 32 rarely), and each router on the way
takes one off. So `initial − received` is the number of routers crossed, and the sender sits one
hop further. Two packets "from" one address whose senders sit at different hops, or start from
different initial TTLs, came from two devices.
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.decide.evidence import cite
from probe.models.packets import DnsReplyPacket, PacketHeader

INITIAL_TTLS = (32, 64, 128, 255)


def initial_ttl(ttl: int) -> int:
    """Return the initial TTL a packet received with `ttl` most likely started from."""
    return next(start for start in INITIAL_TTLS if ttl <= start)


def sender_hop(ttl: int) -> int:
    """Return the hop (1 = the first router) at which a packet received with `ttl` was sent."""
    return initial_ttl(ttl) - ttl + 1


def packet_text(packet: PacketHeader) -> str:
    """Return "IP TTL 63, IP-ID 4919, from hop 2" for a received packet."""
    return f"IP TTL {packet.ip_ttl}, IP-ID {packet.ip_id}, from hop {sender_hop(packet.ip_ttl)}"


def answers_text(reply: DnsReplyPacket) -> str:
    """Return a reply's addresses (or its rcode when it has none)."""
    found = [a.ipv4 or a.ipv6 or a.hostname or "" for a in reply.answers]
    return cite([f for f in found if f], empty=reply.rcode)


TRIGGER_TEXT = {
    "syn": "SYN",
    "tls_client_hello": "ClientHello",
    "http_request": "HTTP request",
    "dns_query": "DNS query",
}


def sent_text(trigger: str, name: str) -> str:
    """Return "ClientHello naming twitter.com", or "SYN" for a trigger that names nothing."""
    text = TRIGGER_TEXT.get(trigger, trigger)
    return f"{text} naming {name}" if name else text


def _count(n: int, one: str, many: str) -> str:
    return f"a {one}" if n == 1 else f"{n} {many}"


def _ms(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class DnsPacketEvidence:
    """The DNS packet probes of one target: replies per resolver, and the silent hosts'."""

    skipped: str | None = None
    hostname: str = ""
    resolver: str = ""
    replies: tuple[DnsReplyPacket, ...] = ()  # to the resolver probe, in order of arrival
    reply_delays_s: tuple[float, ...] = ()  # each reply's time after the query left
    control_rtt_s: float | None = None
    silent_host: str = ""
    silent_replies: tuple[DnsReplyPacket, ...] = ()
    silent_probed: bool = False

    @property
    def different_answers(self) -> bool:
        """Two replies to one query whose answers (or rcodes) differ."""
        seen = {(r.rcode, answers_text(r)) for r in self.replies}
        return len(seen) > 1

    @property
    def too_fast(self) -> bool:
        """The first reply beat half the resolver's RTT for a cached control name (≥ 5 ms)."""
        rtt = self.control_rtt_s
        return bool(
            self.reply_delays_s and rtt is not None and rtt >= 0.005
            and self.reply_delays_s[0] < rtt / 2
        )  # fmt: skip

    def facts(self) -> dict[str, str]:
        first = self.replies[0] if self.replies else None
        last = self.replies[-1] if self.replies else None
        silent = self.silent_replies[0] if self.silent_replies else None
        delays = self.reply_delays_s
        return {
            "skipped": self.skipped or "",
            "hostname": self.hostname,
            "resolver": self.resolver,
            "replies": str(len(self.replies)),
            "first_answer": answers_text(first) if first else "none",
            "first_packet": packet_text(first) if first else "",
            "first_delay": _ms(delays[0] if delays else None),
            "last_answer": answers_text(last) if last else "none",
            "last_packet": packet_text(last) if last else "",
            "last_delay": _ms(delays[-1] if delays else None),
            "control_rtt": _ms(self.control_rtt_s),
            "silent_host": self.silent_host or "no silent host",
            "silent_count": _count(len(self.silent_replies), "reply", "replies"),
            "silent_answer": answers_text(silent) if silent else "none",
            "silent_packet": packet_text(silent) if silent else "",
        }


@dataclass(frozen=True)
class TcpPacketEvidence:
    """One TCP probe: the genuine SYN-ACK against what came after the trigger."""

    address: str = ""
    port: int = 0
    trigger: str = ""
    name: str = ""
    syn_ack: PacketHeader | None = None
    reaction: str = "none"  # "reset", "data", "fin" or "none"
    reaction_packet: PacketHeader | None = None

    @property
    def mismatch(self) -> bool:
        """The reaction's sender is not where the SYN-ACK's is (hop or initial TTL differ)."""
        if self.syn_ack is None or self.reaction_packet is None:
            return False
        return self.reaction_packet.ip_ttl != self.syn_ack.ip_ttl

    def facts(self) -> dict[str, str]:
        syn_ack, reaction = self.syn_ack, self.reaction_packet
        distance = ""
        if syn_ack is not None and reaction is not None:
            gap = sender_hop(syn_ack.ip_ttl) - sender_hop(reaction.ip_ttl)
            distance = f"{gap} hop(s) closer" if gap > 0 else f"{-gap} hop(s) further"
            if initial_ttl(syn_ack.ip_ttl) != initial_ttl(reaction.ip_ttl):
                distance += (
                    f", from another kind of system (initial TTL {initial_ttl(reaction.ip_ttl)},"
                    f" the server's {initial_ttl(syn_ack.ip_ttl)})"
                )
        return {
            "endpoint": f"{self.address}:{self.port}",
            "trigger": TRIGGER_TEXT.get(self.trigger, self.trigger),
            "name": self.name or "-",
            "sent": sent_text(self.trigger, self.name),
            "syn_ack": packet_text(syn_ack) if syn_ack else "none",
            "server_hop": str(sender_hop(syn_ack.ip_ttl)) if syn_ack else "?",
            "reaction": {"reset": "RST", "data": "response", "fin": "FIN"}.get(self.reaction, ""),
            "reaction_packet": packet_text(reaction) if reaction else "",
            "reaction_hop": str(sender_hop(reaction.ip_ttl)) if reaction else "?",
            "distance": distance,
        }


_REACTION_TEXT = {
    "reset": "a RST",
    "data": "a response",
    "fin": "a FIN",
    "dns_reply": "a DNS reply",
    "syn_ack": "a SYN-ACK",
}


@dataclass(frozen=True)
class TraceEvidence:
    """A trace toward one address with the trigger, and its control run (if any)."""

    address: str = ""
    trigger: str = ""
    name: str = ""
    reaction: str = "none"
    reaction_ttl: int | None = None  # the first TTL that provoked a reaction
    reaction_hop: int | None = None  # where the reaction's own IP TTL says it came from
    icmp_at_reaction: str | None = None  # a router also said time-exceeded at that TTL
    last_icmp_ttl: int | None = None  # the last TTL before the reaction answered by ICMP
    last_icmp_from: str | None = None
    hop_before: str | None = None  # the router at TTL reaction_ttl − 1, if it answered
    control_name: str | None = None
    destination_ttl: int | None = None  # where the control run got the destination's answer
    control_last_icmp_ttl: int | None = None
    stopped: str = ""

    @property
    def before_destination(self) -> bool:
        """The reaction came from short of the destination: by the control run, or by its TTL."""
        t = self.reaction_ttl
        if t is None:
            return False
        if self.destination_ttl is not None and t < self.destination_ttl:
            return True
        return self.reaction_hop is not None and self.reaction_hop < t

    @property
    def died_early(self) -> bool:
        """No reaction, while the control run got further than the test's last ICMP."""
        if self.reaction_ttl is not None or self.control_name is None:
            return False
        furthest = self.destination_ttl or self.control_last_icmp_ttl or 0
        return furthest > (self.last_icmp_ttl or 0)

    def _short_because(self) -> str:
        """Say why the reaction came from short of the destination."""
        t = self.reaction_ttl
        if self.destination_ttl is not None and t is not None and t < self.destination_ttl:
            return (
                f"while the destination answers {self.control_name} at TTL {self.destination_ttl}"
            )
        if self.reaction_hop is not None and t is not None and self.reaction_hop < t:
            return f"a hop nearer than the TTL {t} that provoked it, so not from the destination"
        return "not from the destination"

    def facts(self) -> dict[str, str]:
        t = self.reaction_ttl
        censor_hop = "?" if t is None else str(t - 1)
        return {
            "address": self.address,
            "trigger": TRIGGER_TEXT.get(self.trigger, self.trigger),
            "name": self.name or "-",
            "sent": sent_text(self.trigger, self.name),
            "reaction": _REACTION_TEXT.get(self.reaction, "nothing"),
            "reaction_ttl": str(t) if t is not None else "?",
            "reaction_hop": str(self.reaction_hop) if self.reaction_hop is not None else "?",
            "router": self.icmp_at_reaction or "?",
            "censor_hop": censor_hop,
            "hop_before": self.hop_before or "no ICMP reply",
            "last_icmp_ttl": str(self.last_icmp_ttl) if self.last_icmp_ttl else "?",
            "last_icmp_from": self.last_icmp_from or "?",
            "control_name": self.control_name or "-",
            "destination_ttl": str(self.destination_ttl) if self.destination_ttl else "?",
            "short_because": self._short_because(),
            "stopped": self.stopped,
        }
