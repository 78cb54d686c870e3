"""Benchmarks for packet evidence (issue 8): the time each packet test adds to `probe check`.

Packet tests need a path with routers, so this runs in the censorship lab (tests/lab: network
namespaces it creates and removes; no traffic leaves them). For each scenario below it runs
`probe check` with the packet tests off, then on (the lab's quick settings, and the defaults),
and reports the wall time added, `packets.elapsed_s` and each probe's own duration. Also: the
cost of importing the scapy layers the capture uses (a fresh interpreter, never paid by a check
without packet tests). Needs root. Results go to bench/results/packets.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from lab.netns import Lab, prerequisites  # noqa: E402
from lab.scenarios import PACKETS, SCENARIOS  # noqa: E402

from probe.config import PacketSettings  # noqa: E402

CASES = {  # scenario → the target whose packet tests are timed
    "dns_injection": "twitter",
    "tls_sni_reset_border": "twitter",
    "tcp_reset_to_syn": "twitter",
}
# The shipped settings (1 s between TTL probes, 2 s DNS capture), over the scenario's quick ones.
DEFAULTS = {"packets": PacketSettings().model_dump(mode="json")}


def _import_cost(repeats: int) -> dict[str, float]:
    code = (
        "import time; t = time.perf_counter();"
        "from scapy.layers.inet import IP, TCP, UDP, ICMP; from scapy.layers.dns import DNS;"
        "print(time.perf_counter() - t)"
    )
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(repeats)
    ]  # fmt: skip
    return {"median_s": statistics.median(times), "min_s": min(times)}


def _probe_times(record: dict[str, Any]) -> dict[str, Any]:
    packets = record.get("packets") or {}
    traces = packets.get("traces", [])
    return {
        "elapsed_s": packets.get("elapsed_s"),
        "dns_probes": len(packets.get("dns", [])),
        "tcp_probes": [round(p["t"] - p["t0"], 3) for p in packets.get("tcp", [])],
        "traces": [
            {"control": t["control"], "hops": len(t["hops"]), "s": round(t["t"] - t["t0"], 3)}
            for t in traces
        ],
        "verdict": f"{record['verdict']}/{record.get('blocking')}",
    }


def _timed(lab: Lab, target: str, config: dict[str, Any] | None) -> tuple[float, dict[str, Any]]:
    merged = {section: dict(values) for section, values in lab.overrides.items()}
    for section, values in (config or {}).items():
        merged.setdefault(section, {}).update(values)
    started = time.perf_counter()
    records, _ = lab.check([target], merged)
    return time.perf_counter() - started, records[0]


def run(repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {"scapy_import": _import_cost(repeats), "scenarios": {}}
    lab = Lab()
    try:
        lab.up()
        for name, target in CASES.items():
            lab.reset()
            lab.apply(SCENARIOS[name].censor)
            row: dict[str, Any] = {}
            for label, config in (
                ("off", {"packets": {"enabled": False}}),
                ("lab", PACKETS),
                ("defaults", DEFAULTS),
            ):
                runs = [_timed(lab, target, config) for _ in range(repeats)]
                row[label] = {
                    "wall_s": round(statistics.median(t for t, _ in runs), 3),
                    **_probe_times(runs[-1][1]),
                }
                time.sleep(1)  # let residual state (conntrack, `recent` lists) settle
            row["added_lab_s"] = round(row["lab"]["wall_s"] - row["off"]["wall_s"], 3)
            row["added_defaults_s"] = round(row["defaults"]["wall_s"] - row["off"]["wall_s"], 3)
            results["scenarios"][name] = row
            print(name, json.dumps(row, indent=1))
    finally:
        lab.down()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reason = prerequisites()
    if reason is not None:
        print(f"packet bench skipped: {reason}", file=sys.stderr)
        return 1
    results = run(args.repeats)
    out = REPO / "bench" / "results" / "packets.json"
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"scapy import: {results['scapy_import']}")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
