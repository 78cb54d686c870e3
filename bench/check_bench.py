"""Benchmarks for `probe check` (issue 2), against loopback servers only.

The servers and the helper run in another process (bench/_rig.py) so they do not share the
probe's interpreter lock. On loopback the network's round trips cost microseconds, so the wall
time of an accessible target is our own overhead (plus the deliberate UDP late-reply window,
reported separately).
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
from probe.models.results import TargetResult
from probe.runner import check_targets
from probe.targets import load_catalogue, parse_target

REPO = Path(__file__).resolve().parent.parent
CONNECT_TIMEOUT_S = 4.0
HELPER_TIMEOUT_S = 4.0


def _startup(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(REPO / ".venv/bin/probe"), *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _settings(rig: dict[str, Any], **sections: dict[str, Any]) -> Settings:
    base: dict[str, dict[str, Any]] = {
        "resolver": {"servers": [f"udp://{rig['dns']}"]},
        "control": {
            "helpers": [rig["helper"]],
            "doh": [],
            "sites": [f"https://ctl.site.test:{rig['https_port']}/page"],
            "domestic_sites": [],  # the catalogue's Kazakh sites are not on loopback
        },
        "tls": {"ca_bundle": rig["ca_pem"]},
        "network": {"routable": ["127.0.0.0/8"]},
        "timeouts": {"connect": CONNECT_TIMEOUT_S, "tls": CONNECT_TIMEOUT_S},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return load_settings(None, base)


_CPU: dict[str, float] = {}


def _run(targets: list[str], settings: Settings) -> tuple[float, list[TargetResult]]:
    catalogue = load_catalogue()
    parsed = [parse_target(t, catalogue) for t in targets]
    started, cpu = time.perf_counter(), time.process_time()
    results = asyncio.run(check_targets(parsed, settings))
    _CPU["last"] = time.process_time() - cpu
    return time.perf_counter() - started, results


def _cli_one(rig: dict[str, Any], url: str, repeats: int) -> float:
    """Return the median wall time of a whole `probe check --json URL` process (imports too)."""
    settings = _settings(rig, resolver={"late_reply_window_s": 0.0})
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(_toml(settings))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [str(REPO / ".venv/bin/probe"), "check", "--json", "--config", handle.name, url],
            capture_output=True, check=True,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
    Path(handle.name).unlink()
    return statistics.median(times)


def _toml(settings: Settings) -> str:
    lines = []
    for section in ("resolver", "control", "tls", "network", "timeouts"):
        lines.append(f"[{section}]")
        for key, value in getattr(settings, section).model_dump(mode="json").items():
            if value is not None:
                lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _measure(rig: dict[str, Any], repeats: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    port = rig["https_port"]
    one = f"https://t0.site.test:{port}/page"
    for window in (0.0, 0.5):
        settings = _settings(rig, resolver={"late_reply_window_s": window})
        walls, cpus = [], []
        for _ in range(repeats):
            walls.append(_run([one], settings)[0])
            cpus.append(_CPU["last"])
        report[f"accessible_one_wall_s_late_window_{window}"] = statistics.median(walls)
        report[f"accessible_one_probe_cpu_s_late_window_{window}"] = statistics.median(cpus)
    many = [f"https://t{i}.site.test:{port}/page" for i in range(200)]
    variants = {
        "defaults": (32, 8, 0.5),
        "own_helper": (200, 200, 0.5),
        "own_helper_no_late_window": (200, 200, 0.0),
    }
    for name, (targets_at_once, helper_requests, window) in variants.items():
        settings = _settings(
            rig,
            resolver={"late_reply_window_s": window},
            measure={"target_concurrency": targets_at_once},
            control={"helper_requests_in_flight": helper_requests},
        )
        wall, results = _run(many, settings)
        key = f"targets_200_{name}"
        report[f"{key}_wall_s"] = wall
        report[f"{key}_probe_cpu_s"] = _CPU["last"]
        report[f"{key}_over_1"] = wall / report[f"accessible_one_wall_s_late_window_{window}"]
        report[f"{key}_accessible"] = sum(r.verdict == "accessible" for r in results)
    # The helper blocked (its address blackholed), defaults otherwise: the cost of a censor that
    # blocks the control vantage point (found by the lab's controls_unreachable_bogon scenario).
    unreachable = _settings(
        rig,
        control={
            "helpers": [f"https://127.0.0.1:{rig['blackhole_port']}/"],
            "helper_timeout_s": HELPER_TIMEOUT_S,
        },
    )
    wall, results = _run(many, unreachable)
    report["targets_200_helper_unreachable_helper_timeout_s"] = HELPER_TIMEOUT_S
    report["targets_200_helper_unreachable_wall_s"] = wall
    report["targets_200_helper_unreachable_accessible"] = sum(
        r.verdict == "accessible" for r in results
    )
    report["cli_one_target_wall_s"] = _cli_one(rig, one, repeats)
    blackholed = f"https://t1.site.test:{rig['blackhole_port']}/"
    wall, results = _run([blackholed], _settings(rig, resolver={"late_reply_window_s": 0.0}))
    report["blackhole_connect_timeout_s"] = CONNECT_TIMEOUT_S
    report["blackhole_wall_s"] = wall
    report["blackhole_over_connect_timeout"] = wall / CONNECT_TIMEOUT_S
    report["blackhole_verdict"] = results[0].verdict.value
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    report: dict[str, Any] = {
        "startup_version_s": _startup(["--version"], repeats),
        "startup_check_help_s": _startup(["check", "--help"], repeats),
    }
    with tempfile.TemporaryDirectory() as tmp:
        rig_process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "_rig.py"), tmp, str(CONNECT_TIMEOUT_S)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert rig_process.stdout is not None
            rig = json.loads(rig_process.stdout.readline())
            report.update(_measure(rig, repeats))
        finally:
            assert rig_process.stdin is not None
            rig_process.stdin.close()
            rig_process.wait(timeout=30)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "check.json").write_text(json.dumps(report, indent=2) + "\n")
    for key, value in report.items():
        print(f"{key:48} {value:.3f}" if isinstance(value, float) else f"{key:48} {value}")


if __name__ == "__main__":
    main()
