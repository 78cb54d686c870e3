"""Benchmark for `probe daemon` (issue 4): idle RSS (target ≤ 60 MB) and idle CPU (≈ 0).

Starts the loopback rig (bench/_rig.py), `probe init --yes`, then `probe daemon` with six
targets measured every hour: after the first run the daemon is idle, and we sample its RSS and
CPU time from /proc. A second phase runs the same job every 2 s to see whether memory grows
run after run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _cpu_s(pid: int, children: bool = False) -> float:
    """utime + stime (with `children`: of the workers it has waited for instead)."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(parts[first]) + int(parts[first + 1])) / CLK_TCK


def _worker_peak(pid: int, peak: float) -> float:
    """The larger of `peak` and the VmHWM of the supervisor's workers now alive."""
    for child in _children(pid):
        try:
            peak = max(peak, _rss_mb(child)[1])
        except (FileNotFoundError, ProcessLookupError, KeyError):
            pass  # the worker exited between the listing and the read
    return peak


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _config(
    workdir: Path, rig: dict[str, Any], every: str, metrics_port: int, count: int = 6
) -> Path:
    port = rig["https_port"]
    targets = [f"https://t{i}.site.test:{port}/page" for i in range(count)]
    path = workdir / f"probe-{every}-{count}.toml"
    path.write_text(
        f"""
[resolver]
servers = ["udp://{rig["dns"]}"]
[control]
helpers = ["{rig["helper"]}"]
doh = []
sites = ["https://ctl.site.test:{port}/page"]
domestic_sites = []
[tls]
ca_bundle = "{rig["ca_pem"]}"
[network]
routable = ["127.0.0.0/8"]
[storage]
data_dir = "{workdir / f"data-{every}-{count}"}"
[daemon]
metrics_listen = "127.0.0.1:{metrics_port}"
[[schedule.jobs]]
name = "platforms"
targets = {json.dumps(targets)}
every = "{every}"
""",
        encoding="utf-8",
    )
    return path


def _wait_runs(log: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count("event=run.finish") >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"the daemon did not finish {count} runs:\n{log.read_text()}")


def _daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    probe = str(REPO / ".venv" / "bin" / "probe")
    subprocess.run([probe, "init", "--yes", "--config", str(config)], check=True,
                   capture_output=True)  # fmt: skip
    return subprocess.Popen(
        [probe, "daemon", "--config", str(config)], stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def _idle(workdir: Path, rig: dict[str, Any], seconds: float) -> dict[str, Any]:
    log = workdir / "idle.log"
    proc = _daemon(_config(workdir, rig, "1h", 19781), log)
    try:
        _wait_runs(log, 1)
        time.sleep(2)  # let the first run's stragglers (threads, GC) settle
        rss_start, _ = _rss_mb(proc.pid)
        cpu_start = _cpu_s(proc.pid)
        rss_max = rss_start
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            time.sleep(1)
            rss_max = max(rss_max, _rss_mb(proc.pid)[0])
        cpu = _cpu_s(proc.pid) - cpu_start
        elapsed = time.monotonic() - started
        rss_end, hwm = _rss_mb(proc.pid)
        first = next(line for line in log.read_text().splitlines() if "event=run.finish" in line)
    finally:
        proc.terminate()
        proc.wait(30)
    seconds_field = next(f for f in first.split() if f.startswith("seconds="))
    return {
        "idle_window_s": round(elapsed, 1),
        "idle_rss_mb": round(rss_end, 1),
        "idle_rss_max_mb": round(rss_max, 1),
        "peak_rss_mb (VmHWM, first run included)": round(hwm, 1),
        "idle_cpu_s": round(cpu, 3),
        "idle_cpu_percent": round(100 * cpu / elapsed, 3),
        "first_run_6_targets_s": float(seconds_field.split("=")[1]),
    }


def _repeated(workdir: Path, rig: dict[str, Any], runs: int) -> dict[str, Any]:
    log = workdir / "repeat.log"
    proc = _daemon(_config(workdir, rig, "2s", 19782), log)
    try:
        _wait_runs(log, 2)
        rss_2, _ = _rss_mb(proc.pid)
        worker_peak = 0.0
        deadline = time.monotonic() + runs * 10
        while log.read_text().count("event=run.finish") < runs and time.monotonic() < deadline:
            worker_peak = _worker_peak(proc.pid, worker_peak)
            time.sleep(0.02)
        _wait_runs(log, runs)
        rss_n, hwm = _rss_mb(proc.pid)
        cpu = _cpu_s(proc.pid)
        worker_cpu = _cpu_s(proc.pid, children=True)
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "rss_after_2_runs_mb": round(rss_2, 1),
        f"rss_after_{runs}_runs_mb": round(rss_n, 1),
        f"peak_rss_{runs}_runs_mb": round(hwm, 1),
        f"supervisor_cpu_s_per_run ({runs} runs)": round(cpu / runs, 3),
        "worker_cpu_s_per_run (6 targets + controls, interpreter start included)": round(
            worker_cpu / runs, 3
        ),
        "worker_peak_rss_mb (sampled every 20 ms)": round(worker_peak, 1),
    }


def _large(workdir: Path, rig: dict[str, Any]) -> dict[str, Any]:
    """One run of 200 targets (a test list): the worker's peak memory and the run's length."""
    log = workdir / "large.log"
    proc = _daemon(_config(workdir, rig, "1h", 19783, count=200), log)
    peak = 0.0
    try:
        deadline = time.monotonic() + 300
        while "event=run.finish" not in log.read_text() and time.monotonic() < deadline:
            peak = _worker_peak(proc.pid, peak)
            time.sleep(0.02)
        _wait_runs(log, 1)
        supervisor = _rss_mb(proc.pid)[0]
    finally:
        proc.terminate()
        proc.wait(30)
    line = next(x for x in log.read_text().splitlines() if "event=run.finish" in x)
    seconds = next(f for f in line.split() if f.startswith("seconds="))
    return {
        "run_200_targets_s": float(seconds.split("=")[1]),
        "worker_peak_rss_200_targets_mb": round(peak, 1),
        "supervisor_rss_after_200_targets_mb": round(supervisor, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="20 s idle window, 10 runs")
    args = parser.parse_args()
    idle_s, runs = (20.0, 10) if args.quick else (60.0, 30)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rig_process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "_rig.py"), tmp, "4"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert rig_process.stdout is not None
            rig = json.loads(rig_process.stdout.readline())
            report = (
                _idle(workdir, rig, idle_s) | _repeated(workdir, rig, runs) | _large(workdir, rig)
            )
        finally:
            assert rig_process.stdin is not None
            rig_process.stdin.close()
            rig_process.wait(timeout=30)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "daemon.json").write_text(json.dumps(report, indent=2) + "\n")
    for key, value in report.items():
        print(f"{key:56} {value}")


if __name__ == "__main__":
    main()
