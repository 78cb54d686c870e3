"""The lab's on-path injectors (scapy), run in a router's namespace on its client-facing link.

    python -m lab.inject dns IFACE READY DESTINATIONS ANSWER SUFFIX...
    python -m lab.inject http IFACE READY HOST...
    python -m lab.inject http_redirect IFACE READY LOCATION HOST...

The ISP's injector sniffs its client link (it sees the client's own address), the border's its
link to the ISP (it sees the client's public address: the ISP's conntrack takes the forged
packets back to the client, as it does any reply).

dns: for UDP queries (port 53) to one of DESTINATIONS (comma-separated addresses, or "any": a
    GFW-style injector that answers for hosts that run no DNS server too) for names under a
    SUFFIX, send a forged A answer (ANSWER; an empty answer for other types) from the queried
    address at once, racing the genuine answer, which the scenario delays.
http: for the client's HTTP requests naming a HOST, send a forged response carrying the ISP's
    block page, with FIN, from the server's address and in the connection's sequence space,
    racing the genuine response (which the scenario delays); the client's TCP stack then drops
    the genuine bytes as already received.
http_redirect: the same, with a 302 to LOCATION instead of the block page.
Every forged packet carries the injector's fingerprint: IP TTL FORGED_TTL (a Linux host's 64,
whoever the packet claims to come from) and IP-ID FORGED_IP_ID, so tests can tell it from the
genuine packets (servers 4 hops away arrive with TTL 61 and changing IP-IDs).
Writes READY once the sniffer runs (importing scapy takes about a second). Packets are chosen
with a Python filter: a BPF `filter=` would need tcpdump installed to compile it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scapy.all import DNS, DNSRR, IP, TCP, UDP, AsyncSniffer, Raw, conf  # type: ignore[import-untyped]

from . import world
from .world import FORGED_IP_ID, FORGED_TTL

__all__ = ["FORGED_IP_ID", "FORGED_TTL", "dns_injector", "forged_ip", "http_injector", "main"]

Handler = Callable[[Any], None]


def _under(name: str, suffixes: list[str]) -> bool:
    return any(name == s or name.endswith("." + s) for s in suffixes)


def forged_ip(src: str, dst: str) -> Any:
    """Return the IP header of a forged packet: the injector's TTL and IP-ID fingerprint."""
    return IP(src=src, dst=dst, ttl=FORGED_TTL, id=FORGED_IP_ID)


def dns_injector(out: Any, destinations: str, answer: str, suffixes: list[str]) -> Handler:
    """Return the handler forging DNS answers for `suffixes` to queries to `destinations`."""
    wanted = None if destinations == "any" else set(destinations.split(","))

    def forge(packet: Any) -> None:
        if IP not in packet or DNS not in packet or UDP not in packet:
            return
        ip, udp, query = packet[IP], packet[UDP], packet[DNS]
        if udp.dport != 53 or query.qr != 0 or query.qd is None:
            return
        if wanted is not None and ip.dst not in wanted:
            return
        if not _under(query.qd.qname.decode().rstrip(".").lower(), suffixes):
            return
        records, count = None, 0
        if query.qd.qtype == 1:
            records = DNSRR(rrname=query.qd.qname, type="A", ttl=300, rdata=answer)
            count = 1
        out.send(
            forged_ip(ip.dst, ip.src)
            / UDP(sport=udp.dport, dport=udp.sport)
            / DNS(id=query.id, qr=1, rd=query.rd, ra=1, qd=query.qd, an=records, ancount=count)
        )

    return forge


def http_injector(out: Any, hosts: list[str], location: str | None = None) -> Handler:
    """Return the handler forging responses to requests for `hosts`: the block page, or a 302
    to `location`."""
    page = world.blockpage() if location is None else b""
    status = "200 OK" if location is None else f"302 Found\r\nLocation: {location}"
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n"
    ).encode()

    def forge(packet: Any) -> None:
        if IP not in packet or TCP not in packet or Raw not in packet:
            return
        ip, tcp = packet[IP], packet[TCP]
        payload = bytes(packet[Raw].load)
        if tcp.dport != 80 or not payload.startswith(b"GET "):
            return
        host = next(
            (
                line.split(b":", 1)[1].strip().decode("latin-1").lower()
                for line in payload.split(b"\r\n")
                if line.lower().startswith(b"host:")
            ),
            "",
        )
        if not _under(host.split(":")[0], hosts):
            return
        print(f"forging for {host} lag={time.time() - float(packet.time):.3f}s", flush=True)
        out.send(
            forged_ip(ip.dst, ip.src)
            / TCP(
                sport=tcp.dport,
                dport=tcp.sport,
                flags="PAF",
                seq=tcp.ack,
                ack=tcp.seq + len(payload),
                window=65535,
            )
            / Raw(load=head + page)
        )

    return forge


def main(argv: list[str]) -> None:
    mode, iface, ready = argv[0], argv[1], Path(argv[2])
    out = conf.L3socket()
    if mode == "dns":
        handler = dns_injector(out, argv[3], argv[4], argv[5:])
    elif mode == "http_redirect":
        handler = http_injector(out, argv[4:], location=argv[3])
    else:
        handler = http_injector(out, argv[3:])
    sniffer = AsyncSniffer(
        iface=iface,
        prn=handler,
        store=False,
        started_callback=lambda: ready.write_text("ready\n"),
    )
    sniffer.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1:])
