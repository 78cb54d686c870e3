"""Record the throughput tests of the throttling scenarios, for decide/'s unit tests.

`python -m lab record` (scripts/lab.sh record) builds the lab, runs `probe check twitter` under
each scenario below, and writes Twitter's `ThroughputTest` to tests/decide/data/throughput/, where
tests/decide/test_throughput.py judges it without a network. Re-record after changing what the
probe measures; the files are our own measurements (lab addresses only), not OONI data.
"""

from __future__ import annotations

import json
from pathlib import Path

from .netns import Lab
from .scenarios import SCENARIOS

OUT = Path(__file__).resolve().parent.parent / "decide" / "data" / "throughput"
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
    finally:
        lab.down()
    return written
