"""Benchmarks for the throughput (throttling) test (issue 7), against loopback servers only.

- what the test adds to `probe check` for one accessible target whose page is large enough
  (defaults: 2 repeats of target, same address and control, 512 KiB each), wall and CPU;
- the fastest download the probe can measure here: a reference capped by our own CPU would
  compress the ratio (a 10× slowdown must stay visible below the fastest reference);
- 20 accessible targets at once, with and without the test: the downloads run one at a time.

The servers and the helper run in another process (bench/_rig.py). Results go to
bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from probe.config import Settings, load_settings
from probe.decide.throughput import rate_bps
from probe.models.observations import TransferRole
from probe.models.results import TargetResult
from probe.runner import check_targets
from probe.targets import load_catalogue, parse_target

REPO = Path(__file__).resolve().parent.parent


def _settings(rig: dict[str, Any], enabled: bool, **throughput: Any) -> Settings:
    huge = f"https://ctl.site.test:{rig['https_port']}/huge"
    return load_settings(
        None,
        {
            "resolver": {"servers": [f"udp://{rig['dns']}"], "late_reply_window_s": 0},
            "control": {
                "helpers": [rig["helper"]],
                "doh": [],
                "sites": [f"https://ctl.site.test:{rig['https_port']}/page"],
                "domestic_sites": [],  # the catalogue's Kazakh sites are not on loopback
            },
            "tls": {"ca_bundle": rig["ca_pem"]},
            "network": {"routable": ["127.0.0.0/8"]},
            "throughput": {"enabled": enabled, "pages": True, "controls": [huge], **throughput},
        },
    )


def _run(targets: list[str], settings: Settings) -> tuple[float, float, list[TargetResult]]:
    catalogue = load_catalogue()
    parsed = [parse_target(t, catalogue) for t in targets]
    cpu, wall = time.process_time(), time.perf_counter()
    results = asyncio.run(check_targets(parsed, settings))
    return time.perf_counter() - wall, time.process_time() - cpu, results


def _median_run(
    targets: list[str], settings: Settings, repeats: int
) -> tuple[float, float, list[TargetResult]]:
    runs = [_run(targets, settings) for _ in range(repeats)]
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    return statistics.median(walls), statistics.median(cpus), runs[-1][2]


def _rates(results: list[TargetResult], role: TransferRole) -> list[float]:
    return [
        rate_bps(t)
        for r in results
        if r.throughput is not None
        for t in r.throughput.transfers
        if t.role is role and t.failure is None
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    repeats = 3 if parser.parse_args().quick else 7
    with tempfile.TemporaryDirectory() as workdir:
        rig_process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "_rig.py"), workdir, "4"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert rig_process.stdout is not None
            rig = json.loads(rig_process.stdout.readline())
            one = [f"https://t0.site.test:{rig['https_port']}/page"]
            twenty = [f"https://t{i}.site.test:{rig['https_port']}/page" for i in range(20)]
            off_wall, off_cpu, _ = _median_run(one, _settings(rig, False), repeats)
            on_wall, on_cpu, on = _median_run(one, _settings(rig, True), repeats)
            big_wall, big_cpu, big = _median_run(
                one,
                _settings(rig, True, max_bytes=32 << 20, repeats=3, max_bytes_per_run=1 << 30),
                max(1, repeats // 2),
            )
            many_off, _, _ = _median_run(twenty, _settings(rig, False), max(1, repeats // 2))
            many_on, _, many = _median_run(twenty, _settings(rig, True), max(1, repeats // 2))
        finally:
            assert rig_process.stdin is not None
            rig_process.stdin.close()
            rig_process.wait(timeout=30)
    measured = {
        "one target, test off: wall s": off_wall,
        "one target, test off: CPU s": off_cpu,
        "one target, test on (defaults): wall s": on_wall,
        "one target, test on (defaults): CPU s": on_cpu,
        "added by the test: wall s": on_wall - off_wall,
        "added by the test: CPU s": on_cpu - off_cpu,
        "downloads per target": len(on[0].throughput.transfers) if on[0].throughput else 0,
        "verdict with the test": on[0].verdict.value,
        "fastest reference at 512 KiB: Mbit/s": max(_rates(on, TransferRole.CONTROL)) / 1e6,
        "fastest reference at 32 MiB: Mbit/s": max(_rates(big, TransferRole.CONTROL)) / 1e6,
        "same address at 32 MiB: Mbit/s": max(_rates(big, TransferRole.SAME_ADDRESS)) / 1e6,
        "32 MiB run: wall s / CPU s": f"{big_wall:.2f} / {big_cpu:.2f}",
        "20 targets, test off: wall s": many_off,
        "20 targets, test on: wall s": many_on,
        "20 targets: verdicts": sorted({r.verdict.value for r in many}),
    }
    width = max(len(k) for k in measured)
    for key, value in measured.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    out = REPO / "bench" / "results" / "throughput.json"
    out.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
