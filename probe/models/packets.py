"""Packet evidence: what raw sockets saw of the packets that answered the probe (no opinion).

Socket-level tests say *that* something interfered; the IP headers of the packets that came back
say *who*. A forged DNS answer, an injected RST or an injected page usually leaves a device
closer than the server, with its own IP TTL and IP-ID. Every packet here is one the probe
received, with the header fields that fingerprint its sender. Times `t`/`t0` are seconds since
the measurement started, as everywhere.

The probe specs and `PacketPlan` say what to probe: `decide/followup.py` plans them, and
`measure/packets.py` runs them (never stored: the evidence records what they found).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field

from probe.models._base import Record
from probe.models.observations import DnsAnswer


class PacketHeader(Record):
    """The IP header fields of one received packet that fingerprint its sender."""

    t: float
    src: str = Field(description="The packet's source address (who it claims to be from).")
    ip_ttl: int = Field(ge=0, le=255, description="IP TTL (IPv4) as received.")
    ip_id: int = Field(ge=0, le=65535, description="IP identification field.")
    ip_df: bool = Field(default=False, description="Whether the don't-fragment bit was set.")


class DnsReplyPacket(PacketHeader):
    """One UDP reply to a query, every one captured (not only the first)."""

    rcode: str = Field(description='"NOERROR", "NXDOMAIN", … or "malformed".')
    dns_flags: str = Field(default="", description='Header flags, e.g. "QR RD RA" or "QR AA".')
    answers: list[DnsAnswer] = Field(default_factory=list)


class TcpPacket(PacketHeader):
    """One TCP segment from the server's address (SYN-ACK, RST, data, FIN)."""

    flags: str = Field(description='TCP flags as scapy writes them: "SA", "R", "RA", "PA", "FA"…')
    seq: int
    ack: int
    window: int
    payload_bytes: int = 0
    payload_sha256: str | None = Field(
        default=None, description="SHA-256 of the segment's payload (hex), when it had one."
    )


class DnsProbeRole(StrEnum):
    """Whom a DNS packet probe asked."""

    RESOLVER = "resolver"  # a resolver the measurement used: replies are expected
    SILENT_HOST = "silent_host"  # an address that runs no DNS server: any reply is forged


class DnsPacketProbe(Record):
    """One UDP query for the target's name, and every reply captured with its IP header."""

    role: DnsProbeRole
    hostname: str
    query_type: str = "A"
    resolver_address: str
    sent_t: float = Field(description="When the query left.")
    replies: list[DnsReplyPacket] = Field(default_factory=list)
    listen_s: float = Field(description="How long replies were awaited after the query left.")
    control_hostname: str | None = Field(
        default=None, description="An innocuous name asked of the same address first."
    )
    control_rtt_s: float | None = Field(
        default=None,
        description="The fastest answer to the control name. From a resolver: a reply to the"
        " target's name much faster than this did not come from it. From a silent host: it runs"
        " a DNS server after all, and its replies prove nothing.",
    )
    failure: str | None = None


class Trigger(StrEnum):
    """What a packet probe sends to provoke the censor."""

    SYN = "syn"  # the TCP handshake itself (IP/port blocking)
    TLS_CLIENT_HELLO = "tls_client_hello"  # a ClientHello naming the server (SNI)
    HTTP_REQUEST = "http_request"  # a GET naming the Host
    DNS_QUERY = "dns_query"


@dataclass(frozen=True)
class DnsProbeSpec:
    """One A query for `hostname` to a resolver (or a silent host), every reply captured."""

    hostname: str
    resolver_address: str  # IPv4
    role: DnsProbeRole
    port: int = 53


@dataclass(frozen=True)
class TcpProbeSpec:
    """One connection to address:port with the trigger sent at full TTL, fully captured."""

    address: str  # IPv4
    port: int
    trigger: Trigger  # SYN, TLS_CLIENT_HELLO or HTTP_REQUEST
    name: str  # SNI / Host ("" for SYN)


@dataclass(frozen=True)
class TraceSpec:
    """One TTL-limited trace toward address:port carrying `name`."""

    address: str
    port: int
    trigger: Trigger  # DNS_QUERY: address is a resolver
    name: str  # the SNI / Host / query name carried
    control: bool = False  # a control run (the caller passes the innocuous name)


@dataclass(frozen=True)
class PacketPlan:
    """What to measure with raw sockets for one target."""

    dns: tuple[DnsProbeSpec, ...] = ()
    tcp: tuple[TcpProbeSpec, ...] = ()
    traces: tuple[TraceSpec, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Return whether the plan probes nothing."""
        return not (self.dns or self.tcp or self.traces)


class TcpPacketProbe(Record):
    """One connection to a target address with the trigger sent at full TTL, fully captured.

    The genuine SYN-ACK is the reference: a RST or a response whose IP TTL (so the number of
    hops it crossed) or IP-ID differs from it left another device.
    """

    address: str
    port: int
    trigger: Trigger
    name: str = Field(description="The SNI or Host the trigger carried ('' for a SYN).")
    syn_ack: TcpPacket | None = None
    packets: list[TcpPacket] = Field(
        default_factory=list, description="Segments from the address after the SYN-ACK (capped)."
    )
    failure: str | None = Field(
        default=None, description="What the socket saw: connection_reset, a timeout…"
    )
    t0: float
    t: float


class Reaction(StrEnum):
    """What came back (besides ICMP) to one TTL-limited trigger."""

    NONE = "none"  # nothing before the timeout
    RESET = "reset"  # a RST from the target's address
    DATA = "data"  # a response (payload) from the target's address
    FIN = "fin"  # a FIN without data
    SYN_ACK = "syn_ack"  # the handshake completed (SYN trigger)
    DNS_REPLY = "dns_reply"  # a DNS reply (DNS trigger)


class TraceHop(Record):
    """One TTL of a trace: who said time-exceeded, and what the trigger provoked."""

    ttl: int = Field(ge=1, le=255)
    icmp_from: str | None = Field(
        default=None, description="The router that answered ICMP time-exceeded at this TTL."
    )
    icmp: PacketHeader | None = None
    reaction: Reaction = Reaction.NONE
    reaction_packet: TcpPacket | DnsReplyPacket | None = None


class TraceStop(StrEnum):
    """Why a trace ended."""

    REACTION = "reaction"  # the trigger provoked a response (the destination or a censor)
    SILENCE = "silence"  # several TTLs in a row with no ICMP and no reaction
    MAX_TTL = "max_ttl"
    FAILURE = "failure"  # the connection could not be set up
    # No reaction up to the TTL at which the control run toward the same address got its own
    # (the destination's distance): nothing further can answer (issue 19).
    DESTINATION = "destination"


class Trace(Record):
    """A CenTrace-style run: the trigger sent with IP TTL 1, 2, 3… toward one address.

    `control` runs carry an innocuous name instead of the target's, to find where the
    destination itself answers (the hop count of the path).
    """

    trigger: Trigger
    address: str
    port: int
    name: str
    control: bool = False
    hops: list[TraceHop] = Field(default_factory=list)
    stopped: TraceStop
    failure: str | None = None
    t0: float
    t: float


class PacketEvidence(Record):
    """The packet-level tests of one target (`TargetResult.packets`).

    Run for targets the socket-level tests found blocked, with raw-socket privilege (root or
    CAP_NET_RAW). Without it, `skipped` says why and nothing else is set; with the tests turned
    off (`[packets] enabled = false`) the target has no `packets` at all.
    """

    skipped: str | None = None
    dns: list[DnsPacketProbe] = Field(default_factory=list)
    tcp: list[TcpPacketProbe] = Field(default_factory=list)
    traces: list[Trace] = Field(default_factory=list)
    elapsed_s: float = Field(default=0.0, description="Time the packet tests took.")
