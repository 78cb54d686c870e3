"""The lab's hops, TTLs and injector fingerprints are real, without the probe.

The packet-evidence scenarios (lab/scenarios.py, PACKETS) expect the probe to read who answered
it from IP TTLs and IP-IDs, and to find the censor's hop with TTL-limited triggers. These tests
prove the lab gives what those scenarios assume, with an independent observer: this module, run
as `python -m lab.test_packets_lab` in the client namespace, sends with the kernel's own sockets
(IP_TTL set per socket) and captures what comes back on the client's link with scapy.

(a) every router answers ICMP time-exceeded from its address (hops 1–3), the servers are hop 4;
(b) the border's reset of a ClientHello naming twitter.com has TTL 254, the SYN-ACK 61; the
    ClientHello sent with TTL 2 expires at the border, with TTL 3 it is reset;
(c) the border's DNS injector answers first (TTL 63, its IP-ID), the resolver later (TTL 61);
    it answers for a host that runs no DNS server, and for a query that expires at the border;
and the ISP's own reset (TTL 64) and the border's injected HTTP response (TTL 63).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
from typing import Any

import pytest

from . import world
from .netns import CLIENT_LINK, TESTS_DIR, Lab
from .scenarios import FORGED_ANSWER, SCENARIOS
from .world import FORGED_IP_ID, FORGED_TTL

TWITTER = world.SITES_BY_KEY["twitter"].address
AZATTYQ = world.SITES_BY_KEY["azattyq"].address
SERVER_TTL = world.LINUX_TTL - (world.SERVER_HOP - 1)  # 61
BORDER_TTL = world.BORDER_TTL - 1  # 254: the border's own packets cross the ISP
FORGED_AT_BORDER = FORGED_TTL - 1  # 63
TRACE_PORT = 33434
LISTEN_S = 1.0

Packet = dict[str, Any]

# The observer (runs in the client namespace) -----------------------------------------------


def _summary(packet: Any) -> Packet:
    """Return what a test asserts on of one captured packet."""
    from scapy.all import (  # type: ignore[import-untyped]
        DNS,
        ICMP,
        IP,
        TCP,
        UDP,
        TCPerror,
        UDPerror,
    )

    ip = packet[IP]
    out: Packet = {"t": float(packet.time), "src": ip.src, "ttl": ip.ttl, "id": ip.id}
    if ICMP in packet:
        icmp = packet[ICMP]
        out |= {"kind": "icmp", "type": icmp.type, "code": icmp.code}
        quoted = packet[UDPerror] if UDPerror in packet else packet.getlayer(TCPerror)
        if quoted is not None:
            out["quoted_dport"] = quoted.dport
    elif TCP in packet:
        tcp = packet[TCP]
        out |= {"kind": "tcp", "flags": str(tcp.flags), "payload": len(bytes(tcp.payload))}
    elif UDP in packet and DNS in packet:
        records = packet[DNS].an or []
        if not isinstance(records, list):  # scapy < 2.6 chains records as payloads
            records = list(records.iterpayloads())
        answers = [str(r.rdata) for r in records if getattr(r, "type", None) == 1]
        out |= {"kind": "dns", "answers": answers}
    return out


class _Capture:
    """Capture, on the client's link, incoming IPv4 packets that `keep` selects."""

    def __init__(self, keep: Any) -> None:
        from scapy.all import IP, AsyncSniffer

        started = threading.Event()

        def wanted(packet: Any) -> bool:
            return IP in packet and packet[IP].dst == world.CLIENT_ADDRESS and keep(packet)

        self.sniffer = AsyncSniffer(
            iface=CLIENT_LINK, lfilter=wanted, store=True, started_callback=started.set
        )
        self.sniffer.start()
        if not started.wait(10):
            raise RuntimeError("the sniffer did not start")

    def stop(self, after_s: float = LISTEN_S) -> list[Packet]:
        time.sleep(after_s)
        return [_summary(p) for p in self.sniffer.stop() or []]


def _icmp_or(predicate: Any, quoting: int | None = None) -> Any:
    """Select ICMP errors (quoting a packet to port `quoting`, if given) or what `predicate`
    selects. (Packets of an earlier observer's connection may still expire on the way.)"""
    from scapy.all import ICMP, TCPerror, UDPerror

    def quoted(packet: Any) -> bool:
        inner = packet[UDPerror] if UDPerror in packet else packet.getlayer(TCPerror)
        return quoting is None or (inner is not None and inner.dport == quoting)

    return lambda packet: (ICMP in packet and quoted(packet)) or predicate(packet)


def observe_trace(address: str) -> list[Packet]:
    """UDP datagrams to `address` with IP TTL 1..SERVER_HOP+1 (traceroute): the ICMP replies."""
    capture = _Capture(_icmp_or(lambda _: False))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for ttl in range(1, world.SERVER_HOP + 2):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock.sendto(b"lab trace", (address, TRACE_PORT + ttl))
            time.sleep(0.05)
    return capture.stop()


def observe_tls(address: str, name: str, ttl: int) -> Packet:
    """Connect to address:443, then send a ClientHello naming `name` with IP TTL `ttl`."""
    from scapy.all import TCP

    capture = _Capture(_icmp_or(lambda p: TCP in p and p[TCP].sport == 443, 443))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    outcome = "handshake"
    with socket.create_connection((address, 443), timeout=LISTEN_S) as sock:
        # Close with a RST: no orphaned ClientHello or FIN retransmitted (and expiring) later.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        try:
            with context.wrap_socket(sock, server_hostname=name):
                pass
        except ConnectionResetError:
            outcome = "reset"
        except (TimeoutError, ssl.SSLError, OSError) as error:
            outcome = type(error).__name__
    return {"outcome": outcome, "packets": capture.stop(after_s=0.3)}


def observe_http(address: str, host: str) -> Packet:
    """GET / with `host` from address:80: every TCP segment back."""
    from scapy.all import TCP

    capture = _Capture(lambda p: TCP in p and p[TCP].sport == 80)
    with socket.create_connection((address, 80), timeout=3) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        body = b""
        try:
            while chunk := sock.recv(65536):
                body += chunk
        except OSError:
            pass
    return {"body": body.decode("utf-8", "replace"), "packets": capture.stop(after_s=1.5)}


def observe_syn(address: str, port: int) -> Packet:
    """Connect to address:port; the TCP segments back."""
    from scapy.all import TCP

    capture = _Capture(lambda p: TCP in p and p[TCP].sport == port)
    outcome = "connected"
    try:
        socket.create_connection((address, port), timeout=LISTEN_S).close()
    except OSError as error:
        outcome = type(error).__name__
    return {"outcome": outcome, "packets": capture.stop(after_s=0.3)}


def observe_dns(server: str, name: str, ttl: int) -> list[Packet]:
    """One UDP query for `name` to `server` with IP TTL `ttl`: every reply and ICMP back."""
    from scapy.all import DNS, DNSQR, UDP

    capture = _Capture(_icmp_or(lambda p: UDP in p and p[UDP].sport == 53, 53))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.sendto(bytes(DNS(id=0x4242, rd=1, qd=DNSQR(qname=name))), (server, 53))
        return capture.stop()


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "trace":
        result: Any = observe_trace(args[0])
    elif command == "tls":
        result = observe_tls(args[0], args[1], int(args[2]))
    elif command == "http":
        result = observe_http(args[0], args[1])
    elif command == "syn":
        result = observe_syn(args[0], int(args[1]))
    else:
        result = observe_dns(args[0], args[1], int(args[2]))
    print(json.dumps(result))


# The tests -----------------------------------------------------------------------------------


def _observe(lab: Lab, *args: str) -> Any:
    done = lab.exec(
        "client",
        "env",
        f"PYTHONPATH={TESTS_DIR}",
        sys.executable,
        "-m",
        "lab.test_packets_lab",
        *args,
        check=False,
    )
    assert done.returncode == 0, f"observer {args} → {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


@pytest.fixture
def scenario_lab(lab: Lab) -> Any:
    """The lab, reset before and after; `apply(name)` puts a scenario's censor in place."""
    lab.reset()

    def apply(name: str) -> Lab:
        lab.apply(SCENARIOS[name].censor)
        return lab

    yield apply
    lab.reset()


def _icmp(packets: list[Packet], kind: int) -> list[Packet]:
    return [p for p in packets if p.get("kind") == "icmp" and p["type"] == kind]


def _tcp(packets: list[Packet], flag: str) -> list[Packet]:
    return [p for p in packets if p.get("kind") == "tcp" and flag in p["flags"]]


def test_every_hop_answers_and_the_servers_are_hop_4(scenario_lab: Any) -> None:
    lab = scenario_lab("clean_network")
    packets = _observe(lab, "trace", TWITTER)
    by_ttl = {p.get("quoted_dport", 0) - TRACE_PORT: p for p in packets}
    seen = {ttl: (p["src"], p["type"], p["ttl"]) for ttl, p in sorted(by_ttl.items())}
    expected = {
        1: (world.ISP_CLIENT_SIDE, 11, world.LINUX_TTL),
        2: (world.BORDER_ADDRESS, 11, BORDER_TTL),
        3: (world.TRANSIT_ADDRESS, 11, world.LINUX_TTL - 2),
        4: (TWITTER, 3, SERVER_TTL),  # port unreachable: the server itself
        5: (TWITTER, 3, SERVER_TTL),
    }
    # The server rate-limits its port unreachables: hop 5 may go unanswered.
    assert {ttl: seen.get(ttl) for ttl in range(1, 5)} == {
        ttl: expected[ttl] for ttl in range(1, 5)
    }, f"trace to {TWITTER}: ttl → (from, ICMP type, IP TTL): {seen}"
    assert seen.get(5, expected[5]) == expected[5], f"trace beyond the server: {seen}"


def test_border_resets_client_hello_with_its_own_ttl(scenario_lab: Any) -> None:
    lab = scenario_lab("tls_sni_reset_border")
    full = _observe(lab, "tls", TWITTER, "twitter.com", "64")
    syn_acks = [(p["ttl"], p["flags"]) for p in _tcp(full["packets"], "S")]
    resets = [(p["ttl"], p["flags"]) for p in _tcp(full["packets"], "R")]
    assert full["outcome"] == "reset", f"ClientHello naming twitter.com: {full}"
    assert syn_acks and all(ttl == SERVER_TTL for ttl, _ in syn_acks), f"SYN-ACKs: {syn_acks}"
    assert resets and all(ttl == BORDER_TTL for ttl, _ in resets), f"RSTs: {resets}"

    # Localised: at TTL 2 the ClientHello expires at the border (which acts only on what it
    # forwards), at TTL 3 it passes the border's FORWARD chain and is reset.
    at_2 = _observe(lab, "tls", TWITTER, "twitter.com", "2")
    expired = {(p["src"], p["ttl"]) for p in _icmp(at_2["packets"], 11)}
    assert expired == {(world.BORDER_ADDRESS, BORDER_TTL)}, f"ClientHello at TTL 2: {at_2}"
    assert not _tcp(at_2["packets"], "R"), f"ClientHello at TTL 2 was reset: {at_2}"
    at_3 = _observe(lab, "tls", TWITTER, "twitter.com", "3")
    assert at_3["outcome"] == "reset", f"ClientHello at TTL 3: {at_3}"
    assert {p["ttl"] for p in _tcp(at_3["packets"], "R")} == {BORDER_TTL}, at_3

    # Another name to the same address: the server answers, at hop 4 (TTL 4 suffices).
    control = _observe(lab, "tls", TWITTER, "example.org", "4")
    assert control["outcome"] == "handshake", f"ClientHello naming example.org: {control}"
    data = [p["ttl"] for p in control["packets"] if p.get("payload")]
    assert data and set(data) == {SERVER_TTL}, f"the server's data: {control}"


def test_isp_reset_to_syn_has_the_isps_ttl(scenario_lab: Any) -> None:
    lab = scenario_lab("tcp_reset_to_syn")
    seen = _observe(lab, "syn", TWITTER, "443")
    resets = [(p["src"], p["ttl"]) for p in _tcp(seen["packets"], "R")]
    assert seen["outcome"] == "ConnectionRefusedError", seen
    assert resets and set(resets) == {(TWITTER, world.LINUX_TTL)}, f"RSTs: {resets}"


def test_border_injects_dns_with_its_fingerprint(scenario_lab: Any) -> None:
    lab = scenario_lab("dns_injection")
    replies = _observe(lab, "dns", world.PUBLIC_RESOLVER, "twitter.com", "64")
    seen = [(p["ttl"], p["id"], p["answers"]) for p in replies if p.get("kind") == "dns"]
    assert len(seen) == 2, f"expected the forged and the genuine reply: {seen}"
    assert seen[0] == (FORGED_AT_BORDER, FORGED_IP_ID, [FORGED_ANSWER]), f"first: {seen}"
    assert seen[1][0] == SERVER_TTL and seen[1][1] != FORGED_IP_ID, f"second: {seen}"
    assert seen[1][2] == [TWITTER], f"the genuine answer: {seen}"

    # A host that runs no DNS server: only the injector answers.
    silent = _observe(lab, "dns", world.HELPER_ADDRESS, "twitter.com", "64")
    seen = [(p["src"], p["ttl"], p["id"]) for p in silent if p.get("kind") == "dns"]
    assert seen == [(world.HELPER_ADDRESS, FORGED_AT_BORDER, FORGED_IP_ID)], f"silent: {seen}"

    # TTL 1: expires at the ISP, nothing forged; TTL 2: expires at the border, which sniffs
    # the query first and answers it.
    at_1 = _observe(lab, "dns", world.PUBLIC_RESOLVER, "twitter.com", "1")
    assert [(p["src"], p.get("kind")) for p in at_1] == [(world.ISP_CLIENT_SIDE, "icmp")], at_1
    at_2 = _observe(lab, "dns", world.PUBLIC_RESOLVER, "twitter.com", "2")
    icmp = [(p["src"], p["ttl"]) for p in _icmp(at_2, 11)]
    forged = [(p["ttl"], p["id"]) for p in at_2 if p.get("kind") == "dns"]
    assert icmp == [(world.BORDER_ADDRESS, BORDER_TTL)], f"TTL 2: {at_2}"
    assert forged == [(FORGED_AT_BORDER, FORGED_IP_ID)], f"TTL 2: {at_2}"

    # A name the injector leaves alone: the genuine reply only.
    clean = _observe(lab, "dns", world.PUBLIC_RESOLVER, "example.com", "64")
    seen = [(p["ttl"], p["answers"]) for p in clean if p.get("kind") == "dns"]
    assert seen == [(SERVER_TTL, [world.SITES_BY_KEY["example"].address])], f"clean: {seen}"


def test_border_injects_http_with_its_fingerprint(scenario_lab: Any) -> None:
    lab = scenario_lab("http_injected_blockpage")
    seen = _observe(lab, "http", AZATTYQ, "www.azattyq.org")
    syn_acks = [p["ttl"] for p in _tcp(seen["packets"], "S")]
    data = [(p["ttl"], p["id"]) for p in seen["packets"] if p.get("payload")]
    assert world.BLOCKPAGE_MARKER in seen["body"], f"no block page: {seen['body'][:200]}"
    assert syn_acks == [SERVER_TTL], f"SYN-ACKs: {syn_acks}"
    assert data and data[0] == (FORGED_AT_BORDER, FORGED_IP_ID), f"data: {data}"
    genuine = [ttl for ttl, ip_id in data[1:] if ip_id != FORGED_IP_ID]
    assert genuine and set(genuine) == {SERVER_TTL}, f"the genuine response came too: {data}"


if __name__ == "__main__":
    if os.geteuid() != 0:
        raise SystemExit("the observer needs root (raw sockets)")
    main(sys.argv[1:])
