"""measure/packets.py against real loopback servers: raw-socket captures, no mocks.

The servers stand in for the network: a DNS server whose "injector" answers first from a raw
socket (its own IP TTL and IP-ID, the resolver's address and port) before the genuine answer; a
DNS server that plays the routers of a path (ICMP time-exceeded from 127.0.0.2 while the
query's TTL is low, read with IP_RECVTTL); TCP servers that reset with IP TTL 200 (an injected
RST's fingerprint), answer with data, or stay silent. On loopback every TTL reaches 127.0.0.1,
so a TCP trace reacts at TTL 1. Needs root (raw sockets) and scapy.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.rrset
import pytest
from servers import ServerLoop, StreamServer, closed_port, reset

from probe.config import PacketSettings
from probe.measure import _capture
from probe.measure._clock import Clock
from probe.measure.packets import NO_RAW_SOCKETS, measure_packets, privilege_problem
from probe.models.packets import (
    DnsProbeRole,
    DnsProbeSpec,
    PacketEvidence,
    PacketPlan,
    Reaction,
    TcpProbeSpec,
    Trace,
    TraceHop,
    TraceSpec,
    TraceStop,
    Trigger,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="packet tests need root (raw sockets)"),
    pytest.mark.skipif(importlib.util.find_spec("scapy") is None, reason="scapy is missing"),
]

LOOPBACK = "127.0.0.1"
ROUTER = "127.0.0.2"  # the "router" that says time-exceeded (all of 127/8 is local)
NAME = "blocked.test"
CONTROL = "control.test"
FORGED_IP = "10.10.34.35"
GENUINE_IP = "192.0.2.7"
FORGED_TTL = 50
FORGED_IP_ID = 0x4242
RESET_TTL = 200
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\nConnection: close\r\n\r\n" + b"x" * 3000
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
SETTINGS = PacketSettings(
    control_name=CONTROL,
    dns_listen_s=0.5,
    hop_timeout_s=0.5,
    probe_interval_s=0,
    max_ttl=5,
    max_silent_hops=2,
)


def _run(plan: PacketPlan, settings: PacketSettings = SETTINGS) -> PacketEvidence:
    evidence = asyncio.run(measure_packets(plan, settings, Clock(), connect_timeout_s=1.0))
    gc.collect()  # an unclosed socket would warn now (and warnings are errors)
    assert evidence.skipped is None
    return evidence


def _answer(query: dns.message.Message, ip: str) -> bytes:
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", ip))
    return reply.to_wire()


def _spoof(packet: Any) -> None:
    """Send a crafted IPv4 packet (scapy) as is: any source address, TTL and IP-ID."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.sendto(bytes(packet), (packet.dst, 0))


Behaviour = Callable[["UdpServer", dns.message.Message, tuple[str, int], int], None]


class UdpServer:
    """A loopback UDP DNS server that reads each query's IP TTL and acts out `behaviour`."""

    def __init__(self, loop: ServerLoop, behaviour: Behaviour) -> None:
        self.server_loop = loop
        self.behaviour = behaviour
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
        self.port = int(self.sock.getsockname()[1])
        self.ttls: list[int] = []
        self.server_loop.run(self._start())

    async def _start(self) -> None:
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        try:
            data, ancillary, _, client = self.sock.recvmsg(4096, socket.CMSG_SPACE(4))
            query = dns.message.from_wire(data)
        except (OSError, dns.exception.DNSException):
            return
        ttl = next((struct.unpack("i", d[:4])[0] for _, _, d in ancillary), 0)
        self.ttls.append(ttl)
        self.behaviour(self, query, client, ttl)

    def later(self, delay_s: float, data: bytes, client: tuple[str, int]) -> None:
        """Send `data` to `client` after `delay_s` (from the server loop's thread)."""
        self.server_loop.loop.call_later(delay_s, self.sock.sendto, data, client)

    def forge(self, data: bytes, client: tuple[str, int], *, ttl: int, ip_id: int) -> None:
        """Send `data` as if from this server's address and port, with our TTL and IP-ID."""
        from scapy.layers.inet import IP, UDP

        _spoof(
            IP(src=LOOPBACK, dst=client[0], ttl=ttl, id=ip_id)
            / UDP(sport=self.port, dport=client[1])
            / data
        )

    def time_exceeded(self, client: tuple[str, int]) -> None:
        """Send ICMP time-exceeded from ROUTER quoting the client's query to us."""
        from scapy.layers.inet import ICMP, IP, UDP

        quoted = IP(src=client[0], dst=LOOPBACK, ttl=1) / UDP(sport=client[1], dport=self.port)
        _spoof(IP(src=ROUTER, dst=client[0]) / ICMP(type=11, code=0) / bytes(quoted)[:28])

    async def _close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()

    def close(self) -> None:
        self.server_loop.run(self._close())


def _injected_then_genuine(
    server: UdpServer, query: dns.message.Message, client: tuple[str, int], ttl: int
) -> None:
    if query.question[0].name.to_text(omit_final_dot=True) == CONTROL:
        server.sock.sendto(_answer(query, GENUINE_IP), client)
        return
    server.forge(_answer(query, FORGED_IP), client, ttl=FORGED_TTL, ip_id=FORGED_IP_ID)
    server.later(0.2, _answer(query, GENUINE_IP), client)


def _genuine(
    server: UdpServer, query: dns.message.Message, client: tuple[str, int], _: int
) -> None:
    server.sock.sendto(_answer(query, GENUINE_IP), client)


def _garbage(
    server: UdpServer, query: dns.message.Message, client: tuple[str, int], _: int
) -> None:
    server.sock.sendto(query.id.to_bytes(2, "big") + b"\xff\x80\x01", client)  # a cut header
    server.sock.sendto(((query.id + 1) % 65536).to_bytes(2, "big") + b"\x81\x80", client)


def _path(expire_below: int, inject_at: int | None = None) -> Behaviour:
    """Act out a path: queries with TTL < expire_below expire at ROUTER; an on-path injector
    at TTL `inject_at` answers too (while the query also expires further on)."""

    def path(
        server: UdpServer, query: dns.message.Message, client: tuple[str, int], ttl: int
    ) -> None:
        if ttl == inject_at:
            server.forge(_answer(query, FORGED_IP), client, ttl=FORGED_TTL, ip_id=FORGED_IP_ID)
        if ttl < expire_below:
            server.time_exceeded(client)
        else:
            server.sock.sendto(_answer(query, GENUINE_IP), client)

    return path


@pytest.fixture
def udp_server(server_loop: ServerLoop, request: pytest.FixtureRequest) -> Iterator[UdpServer]:
    server = UdpServer(server_loop, request.param)
    yield server
    server.close()


class RecordingServer(StreamServer):
    """Records the first bytes of each connection, then acts: reset, answer or stay silent."""

    def __init__(self, loop: ServerLoop, action: str) -> None:
        super().__init__(loop)
        self.action = action
        self.received: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received.append(await reader.read(65536))
        if self.action == "reset":
            # An injected RST's fingerprint: another IP TTL than the SYN-ACK's.
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_IP, socket.IP_TTL, RESET_TTL)
            reset(writer)
        elif self.action == "answer":
            writer.write(RESPONSE)
            await writer.drain()  # then the base class closes: a FIN after the data
        else:
            while await reader.read(65536):
                pass


def _running(server_loop: ServerLoop, mode: str) -> Iterator[RecordingServer]:
    server = RecordingServer(server_loop, mode)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def reset_ttl_server(server_loop: ServerLoop) -> Iterator[RecordingServer]:
    yield from _running(server_loop, "reset")


@pytest.fixture(scope="module")
def answer_server(server_loop: ServerLoop) -> Iterator[RecordingServer]:
    yield from _running(server_loop, "answer")


@pytest.fixture(scope="module")
def quiet_server(server_loop: ServerLoop) -> Iterator[RecordingServer]:
    yield from _running(server_loop, "silent")


# DNS probes


@pytest.mark.parametrize("udp_server", [_injected_then_genuine], indirect=True)
def test_dns_probe_captures_the_injected_and_the_genuine_reply(udp_server: UdpServer) -> None:
    spec = DnsProbeSpec(NAME, LOOPBACK, DnsProbeRole.RESOLVER, port=udp_server.port)
    (probe,) = _run(PacketPlan(dns=(spec,))).dns
    forged, genuine = probe.replies
    assert [a.ipv4 for a in forged.answers] == [FORGED_IP]
    assert [a.ipv4 for a in genuine.answers] == [GENUINE_IP]
    assert (forged.ip_ttl, forged.ip_id, forged.src) == (FORGED_TTL, FORGED_IP_ID, LOOPBACK)
    assert genuine.ip_ttl == 64 and genuine.ip_id != FORGED_IP_ID
    assert forged.rcode == genuine.rcode == "NOERROR"
    assert forged.dns_flags == genuine.dns_flags == "QR RD"  # make_response copies RD
    assert (forged.ip_df, genuine.ip_df) == (False, True)  # the forger left DF clear
    assert probe.sent_t < forged.t < genuine.t  # the genuine answer left 0.2 s later
    assert probe.control_hostname == CONTROL and probe.control_rtt_s is not None
    assert 0 < probe.control_rtt_s < SETTINGS.dns_listen_s
    assert probe.failure is None and probe.listen_s == SETTINGS.dns_listen_s


def test_dns_probe_to_a_silent_host_hears_nothing() -> None:
    port = _free_udp_port()
    spec = DnsProbeSpec(NAME, LOOPBACK, DnsProbeRole.SILENT_HOST, port=port)
    (probe,) = _run(PacketPlan(dns=(spec,))).dns
    assert probe.replies == []
    # The kernel answers a closed UDP port with ICMP port unreachable: recorded, not a reply.
    assert probe.failure == "connection_refused"
    # The control name is asked first; nothing answered it, so the host is silent indeed.
    assert probe.control_hostname == CONTROL and probe.control_rtt_s is None


@pytest.mark.parametrize("udp_server", [_genuine], indirect=True)
def test_dns_probe_to_a_silent_host_records_a_reply(udp_server: UdpServer) -> None:
    spec = DnsProbeSpec(NAME, LOOPBACK, DnsProbeRole.SILENT_HOST, port=udp_server.port)
    (probe,) = _run(PacketPlan(dns=(spec,))).dns
    (reply,) = probe.replies
    assert [a.ipv4 for a in reply.answers] == [GENUINE_IP] and reply.ip_ttl == 64
    # It answered the innocuous control name too: a DNS server, not a silent host (decide/
    # then ignores its replies); the control query came first.
    assert probe.failure is None and probe.control_rtt_s is not None
    assert udp_server.ttls == [64, 64]


def test_dns_probe_to_a_resolver_that_never_answers_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind((LOOPBACK, 0))
        spec = DnsProbeSpec(NAME, LOOPBACK, DnsProbeRole.RESOLVER, port=mute.getsockname()[1])
        (probe,) = _run(PacketPlan(dns=(spec,))).dns
    assert (probe.replies, probe.failure, probe.control_rtt_s) == (
        [],
        "generic_timeout_error",
        None,
    )


@pytest.mark.parametrize("udp_server", [_garbage], indirect=True)
def test_dns_probe_records_a_malformed_reply_and_ignores_other_ids(udp_server: UdpServer) -> None:
    spec = DnsProbeSpec(NAME, LOOPBACK, DnsProbeRole.SILENT_HOST, port=udp_server.port)
    (probe,) = _run(PacketPlan(dns=(spec,))).dns
    (reply,) = probe.replies
    assert (reply.rcode, reply.answers, reply.ip_ttl) == ("malformed", [], 64)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# TCP probes


def test_tcp_probe_records_a_reset_with_another_ttl(reset_ttl_server: RecordingServer) -> None:
    spec = TcpProbeSpec(LOOPBACK, reset_ttl_server.port, Trigger.HTTP_REQUEST, NAME)
    (probe,) = _run(PacketPlan(tcp=(spec,))).tcp
    assert probe.syn_ack is not None and probe.syn_ack.flags == "SA"
    assert probe.syn_ack.ip_ttl == 64 and probe.syn_ack.src == LOOPBACK
    resets = [p for p in probe.packets if "R" in p.flags]
    assert resets and resets[0].ip_ttl == RESET_TTL
    assert probe.failure == "connection_reset"
    assert reset_ttl_server.received[-1].startswith(b"GET / HTTP/1.1\r\nHost: " + NAME.encode())
    assert probe.t0 <= resets[0].t <= probe.t


def test_tcp_probe_records_data_segments(answer_server: RecordingServer) -> None:
    spec = TcpProbeSpec(LOOPBACK, answer_server.port, Trigger.HTTP_REQUEST, NAME)
    (probe,) = _run(PacketPlan(tcp=(spec,))).tcp
    data = [p for p in probe.packets if p.payload_bytes]
    assert sum(p.payload_bytes for p in data) == len(RESPONSE)
    assert all(p.payload_sha256 and len(p.payload_sha256) == 64 for p in data)
    assert any("F" in p.flags for p in probe.packets), "the server closed with a FIN"
    assert probe.failure is None and probe.syn_ack is not None


def test_tcp_probe_sends_a_real_client_hello(quiet_server: RecordingServer) -> None:
    spec = TcpProbeSpec(LOOPBACK, quiet_server.port, Trigger.TLS_CLIENT_HELLO, NAME)
    (probe,) = _run(PacketPlan(tcp=(spec,))).tcp
    hello = quiet_server.received[-1]
    assert hello[:2] == b"\x16\x03" and hello[5] == 1, "a TLS handshake record, ClientHello"
    assert NAME.encode() in hello and b"h2" in hello and b"http/1.1" in hello
    # Drop-style blocking looks like this: connected, then nothing after the ClientHello.
    assert probe.failure == "generic_timeout_error"
    assert all(p.payload_bytes == 0 for p in probe.packets)


def test_tcp_probe_syn_only(reset_ttl_server: RecordingServer) -> None:
    received = len(reset_ttl_server.received)
    spec = TcpProbeSpec(LOOPBACK, reset_ttl_server.port, Trigger.SYN, "")
    (probe,) = _run(PacketPlan(tcp=(spec,))).tcp
    assert probe.syn_ack is not None and probe.failure is None
    assert not any(p.payload_bytes for p in probe.packets)
    assert len(reset_ttl_server.received) in (received, received + 1)  # an empty read at most
    assert all(not data for data in reset_ttl_server.received[received:])


def test_tcp_probe_syn_refused() -> None:
    spec = TcpProbeSpec(LOOPBACK, closed_port(), Trigger.SYN, "")
    (probe,) = _run(PacketPlan(tcp=(spec,))).tcp
    assert probe.syn_ack is None and probe.failure == "connection_refused"
    assert [p.flags for p in probe.packets] == ["RA"]


# Traces


@pytest.mark.parametrize(
    ("server", "trigger", "reaction"),
    [
        ("reset_ttl_server", Trigger.HTTP_REQUEST, Reaction.RESET),
        ("reset_ttl_server", Trigger.TLS_CLIENT_HELLO, Reaction.RESET),
        ("answer_server", Trigger.HTTP_REQUEST, Reaction.DATA),
        ("answer_server", Trigger.SYN, Reaction.SYN_ACK),
    ],
)
def test_trace_reacts_at_ttl_1_on_loopback(
    server: str, trigger: Trigger, reaction: Reaction, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(server).port
    (trace,) = _run(PacketPlan(traces=(TraceSpec(LOOPBACK, port, trigger, NAME),))).traces
    assert trace.stopped is TraceStop.REACTION and trace.failure is None
    (hop,) = trace.hops
    assert (hop.ttl, hop.reaction, hop.icmp_from) == (1, reaction, None)
    assert hop.reaction_packet is not None and hop.reaction_packet.src == LOOPBACK
    if reaction is Reaction.RESET:
        assert hop.reaction_packet.ip_ttl == RESET_TTL


def test_trace_syn_to_a_closed_port_is_a_reset_reaction() -> None:
    spec = TraceSpec(LOOPBACK, closed_port(), Trigger.SYN, "")
    (trace,) = _run(PacketPlan(traces=(spec,))).traces
    assert trace.stopped is TraceStop.REACTION
    assert [hop.reaction for hop in trace.hops] == [Reaction.RESET]


def test_trace_connect_failure_stops_the_trace() -> None:
    spec = TraceSpec(LOOPBACK, closed_port(), Trigger.HTTP_REQUEST, NAME)
    (trace,) = _run(PacketPlan(traces=(spec,))).traces
    assert (trace.stopped, trace.failure, trace.hops) == (
        TraceStop.FAILURE,
        "connection_refused",
        [],
    )


@pytest.mark.parametrize("udp_server", [_genuine], indirect=True)
def test_dns_trace_reaches_the_resolver(udp_server: UdpServer) -> None:
    spec = TraceSpec(LOOPBACK, udp_server.port, Trigger.DNS_QUERY, NAME)
    (trace,) = _run(PacketPlan(traces=(spec,))).traces
    assert trace.stopped is TraceStop.REACTION
    (hop,) = trace.hops
    assert hop.reaction is Reaction.DNS_REPLY and udp_server.ttls == [1]
    assert hop.reaction_packet is not None and hop.reaction_packet.ip_ttl == 64


@pytest.mark.parametrize("udp_server", [_path(expire_below=3)], indirect=True)
def test_dns_trace_records_the_routers_on_the_path(udp_server: UdpServer) -> None:
    spec = TraceSpec(LOOPBACK, udp_server.port, Trigger.DNS_QUERY, NAME, control=True)
    (trace,) = _run(PacketPlan(traces=(spec,))).traces
    assert trace.stopped is TraceStop.REACTION and trace.control
    assert [(h.ttl, h.icmp_from, h.reaction) for h in trace.hops] == [
        (1, ROUTER, Reaction.NONE),
        (2, ROUTER, Reaction.NONE),
        (3, None, Reaction.DNS_REPLY),
    ]
    assert trace.hops[0].icmp is not None and trace.hops[0].icmp.src == ROUTER
    assert udp_server.ttls == [1, 2, 3]


@pytest.mark.parametrize("udp_server", [_path(expire_below=4, inject_at=2)], indirect=True)
def test_dns_trace_on_path_injector_gives_icmp_and_reaction(udp_server: UdpServer) -> None:
    spec = TraceSpec(LOOPBACK, udp_server.port, Trigger.DNS_QUERY, NAME)
    (trace,) = _run(PacketPlan(traces=(spec,))).traces
    assert trace.stopped is TraceStop.REACTION and len(trace.hops) == 2
    hop = trace.hops[1]
    assert (hop.icmp_from, hop.reaction) == (ROUTER, Reaction.DNS_REPLY)
    assert hop.reaction_packet is not None and hop.reaction_packet.ip_ttl == FORGED_TTL


@pytest.mark.parametrize("udp_server", [_path(expire_below=99)], indirect=True)
def test_dns_trace_stops_at_max_ttl(udp_server: UdpServer) -> None:
    settings = SETTINGS.model_copy(update={"max_ttl": 3})
    spec = TraceSpec(LOOPBACK, udp_server.port, Trigger.DNS_QUERY, NAME)
    (trace,) = _run(PacketPlan(traces=(spec,)), settings).traces
    assert trace.stopped is TraceStop.MAX_TTL
    assert [h.icmp_from for h in trace.hops] == [ROUTER, ROUTER, ROUTER]


def test_dns_trace_stops_after_silent_hops() -> None:
    settings = SETTINGS.model_copy(update={"hop_timeout_s": 0.2})
    spec = TraceSpec(LOOPBACK, _free_udp_port(), Trigger.DNS_QUERY, NAME)
    (trace,) = _run(PacketPlan(traces=(spec,)), settings).traces
    assert trace.stopped is TraceStop.SILENCE and len(trace.hops) == SETTINGS.max_silent_hops
    assert all(h.reaction is Reaction.NONE and h.icmp is None for h in trace.hops)


# The whole run


@pytest.mark.parametrize("udp_server", [_genuine], indirect=True)
def test_measure_packets_runs_the_plan_in_order(
    udp_server: UdpServer, reset_ttl_server: RecordingServer
) -> None:
    plan = PacketPlan(
        dns=(DnsProbeSpec(NAME, LOOPBACK, DnsProbeRole.SILENT_HOST, port=udp_server.port),),
        tcp=(TcpProbeSpec(LOOPBACK, reset_ttl_server.port, Trigger.SYN, ""),),
        traces=(TraceSpec(LOOPBACK, reset_ttl_server.port, Trigger.SYN, ""),),
    )
    evidence = _run(plan)
    assert len(evidence.dns) == len(evidence.tcp) == len(evidence.traces) == 1
    # DNS probes first; then the TCP probes beside the traces (issue 19).
    assert evidence.dns[0].sent_t < min(evidence.tcp[0].t0, evidence.traces[0].t0)
    assert evidence.traces[0].t <= evidence.elapsed_s + 0.01
    assert PacketEvidence.model_validate_json(evidence.model_dump_json()) == evidence


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_cancelled_run_closes_every_socket(quiet_server: RecordingServer) -> None:
    spec = TraceSpec(LOOPBACK, quiet_server.port, Trigger.TLS_CLIENT_HELLO, NAME)
    before = _open_fds()

    async def cancelled() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # mid-hop: the silent server never reacts
                await measure_packets(PacketPlan(traces=(spec,)), SETTINGS, Clock(), 1.0)

    asyncio.run(cancelled())
    gc.collect()
    assert _open_fds() == before


def test_a_name_no_trigger_can_carry_is_a_failure(quiet_server: RecordingServer) -> None:
    name = "x" * 300  # a label longer than 63: the ssl module refuses to encode it
    evidence = _run(
        PacketPlan(
            tcp=(TcpProbeSpec(LOOPBACK, quiet_server.port, Trigger.TLS_CLIENT_HELLO, name),),
            traces=(
                TraceSpec(LOOPBACK, quiet_server.port, Trigger.HTTP_REQUEST, "bad\u00e9." + name),
            ),
        )
    )
    assert evidence.tcp[0].failure is not None
    assert evidence.tcp[0].failure.startswith("unknown_failure: UnicodeError")
    assert evidence.traces[0].stopped is TraceStop.FAILURE and evidence.traces[0].hops == []


def test_turned_off_is_skipped() -> None:
    settings = SETTINGS.model_copy(update={"enabled": False})
    evidence = asyncio.run(measure_packets(PacketPlan(), settings, Clock(), 1.0))
    assert evidence.skipped is not None and "turned off" in evidence.skipped


# Privilege, imports, hostile bytes

_SETPRIV = [
    "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
    "--bounding-set=-all",
]  # fmt: skip


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_unprivileged_run_is_skipped_with_the_reason() -> None:
    code = (
        "import asyncio\n"
        "from probe.config import PacketSettings\n"
        "from probe.measure._clock import Clock\n"
        "from probe.measure.packets import measure_packets, privilege_problem\n"
        "from probe.models.packets import PacketPlan\n"
        "print(privilege_problem())\n"
        "print(asyncio.run(measure_packets(PacketPlan(), PacketSettings(), Clock(), 1.0))"
        ".model_dump_json())\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [*_SETPRIV, sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
        check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out[0] == NO_RAW_SOCKETS and "CAP_NET_RAW" in out[0]
    assert PacketEvidence.model_validate_json(out[1]) == PacketEvidence(skipped=NO_RAW_SOCKETS)
    assert privilege_problem() is None, "root here: raw sockets open"


def test_importing_packets_does_not_import_scapy() -> None:
    code = (
        "import sys\n"
        "import probe.measure.packets\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hostile_bytes_never_raise() -> None:
    rng = random.Random(8)
    samples = [rng.randbytes(rng.randrange(0, 80)) for _ in range(1000)]
    # Plausible headers with nonsense after them reach the dissectors' deeper paths.
    for protocol in (1, 6, 17):
        for _ in range(300):
            head = bytes([0x45, 0, 0, rng.randrange(256), 0, 0, 0, 0, 64, protocol])
            samples.append(head + rng.randbytes(rng.randrange(0, 120)))
    for data in samples:
        _capture.route(data)
        item = _capture.Captured(0.0, data, is_icmp=False)
        _capture.tcp_packet(item)
        _capture.dns_reply(item, 0)
        _capture.icmp_error(item)
        _capture.packet_header(item)


def test_a_trace_stops_at_its_controls_destination_and_each_control_runs_once(
    quiet_server: RecordingServer,
) -> None:
    """Issue 19: a trace after its control stops at the TTL where the control got the
    destination's answer (past it nothing can answer), and a run traces a control once."""
    address, port = LOOPBACK, quiet_server.port
    known = Trace(
        trigger=Trigger.TLS_CLIENT_HELLO, address=address, port=port, name=CONTROL,
        control=True, stopped=TraceStop.REACTION, t0=0.0, t=0.1,
        hops=[TraceHop(ttl=1, reaction=Reaction.DATA)],
    )  # fmt: skip
    controls = {(address, port, Trigger.TLS_CLIENT_HELLO, CONTROL): known}
    plan = PacketPlan(
        traces=(
            TraceSpec(address, port, Trigger.TLS_CLIENT_HELLO, CONTROL, True),
            TraceSpec(address, port, Trigger.TLS_CLIENT_HELLO, NAME),
        )
    )
    heard: list[str] = []

    async def run() -> PacketEvidence:
        return await measure_packets(
            plan, SETTINGS, Clock(), 1.0, control_traces=controls, on_status=heard.append
        )

    control, traced = asyncio.run(run()).traces
    gc.collect()
    assert control is known, "the run's control trace is not run again"
    assert (traced.stopped, [h.ttl for h in traced.hops]) == (TraceStop.DESTINATION, [1])
    assert heard == [f"tracing the path to {address}: hop 1"], heard
