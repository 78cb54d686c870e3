"""Record the throughput tests of the throttling scenarios and the packet evidence of the
packet scenarios, for decide/'s unit tests.

`python -m lab record` (scripts/lab.sh record) builds the lab, runs `probe check` under each
scenario below, and writes Twitter's `ThroughputTest` to tests/decide/data/throughput/ and the
target's `PacketEvidence` (with its verdict) to tests/decide/data/packets/, where
tests/decide/test_throughput.py and test_packets.py judge them without a network. Re-record
after changing what the probe measures; the files are our own measurements (lab addresses
only), not OONI data.
"""

from __future__ import annotations

import json
from pathlib import Path

from .netns import Lab
from .scenarios import SCENARIOS

DATA = Path(__file__).resolve().parent.parent / "decide" / "data"
OUT = DATA / "throughput"
PACKETS_OUT = DATA / "packets"
# recording name → (scenario, target): the packet evidence of a blocked target
RECORDED_PACKETS = {
    "dns_injection": ("dns_injection", "twitter"),
    "sni_reset_border": ("tls_sni_reset_border", "twitter"),
    "reset_to_syn": ("tcp_reset_to_syn", "twitter"),
    "injected_page": ("http_injected_blockpage", "http://www.azattyq.org/"),
}
# recording name → scenario
RECORDED = {
    "clean": "clean_network",
    "sni_throttled": "sni_throttled",
    "sni_policed": "sni_policed",
    "address_throttled": "throttled_platform",
    "congested_link": "congested_link",
}


def record(out: Path = OUT) -> list[Path]:
    """Return the files written: one recording per entry of RECORDED."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    lab = Lab()
    try:
        lab.up()
        for name, scenario in RECORDED.items():
            lab.reset()
            lab.apply(SCENARIOS[scenario].censor)
            records, _ = lab.check(["twitter"])
            (twitter,) = records
            if twitter.get("throughput") is None:
                raise RuntimeError(f"{scenario}: no throughput test in the record")
            path = out / f"{name}.json"
            path.write_text(json.dumps(twitter["throughput"], indent=1) + "\n", encoding="utf-8")
            written.append(path)
            print(f"{name}: {twitter['verdict']} {twitter['reasons'][0][:160]}")
        written += _record_packets(lab)
    finally:
        lab.down()
    return written


def _record_packets(lab: Lab) -> list[Path]:
    PACKETS_OUT.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (scenario, target) in RECORDED_PACKETS.items():
        lab.reset()
        lab.apply(SCENARIOS[scenario].censor)
        records, _ = lab.check([target])
        (record,) = records
        if not record.get("packets") or record["packets"].get("skipped"):
            raise RuntimeError(f"{scenario}: no packet evidence in the record")
        kept = {k: record[k] for k in ("input", "verdict", "blocking", "reasons", "packets")}
        path = PACKETS_OUT / f"{name}.json"
        path.write_text(json.dumps(kept, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
        print(f"{name}: {record['verdict']}/{record['blocking']} {record['reasons'][0][:160]}")
    return written
