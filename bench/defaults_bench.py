"""Benchmarks for issue 19: what a check costs with DEFAULT settings, in the censorship lab.

Every row of the issue's table, run with the installed CLI (`python -m probe check --json`) in the
lab's client namespace (tests/lab: network namespaces it creates and removes; round trips ≈ 0, so
everything above the network is the probe's own time). The configuration names only where the
lab's servers are (resolver, helper, DoH, control sites, the CA, the routable ranges, the
throughput references, the block-page fingerprints) and the connect timeout (4 s); every timeout,
retry, throughput and packet setting is the shipped default. Root runs the packet tests, as the
issue's table does.

Each case runs `--repeats` times (at least 3); the medians are reported with `uptime` (the
machine is shared). Received bytes are the client interface's rx counter. Needs root.
Results go to bench/results/defaults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from lab import netns  # noqa: E402
from lab.netns import Lab, prerequisites  # noqa: E402
from lab.scenarios import SCENARIOS  # noqa: E402

CONNECT_TIMEOUT_S = 4.0
PLATFORM_URLS = 200
DUMP = "--dump" in sys.argv  # keep the last run's first records in the results (to study)
ONE = "https://bbc.com/"
BLACKHOLED = "https://twitter.com/"
OUTAGE_TARGETS = ("https://twitter.com/", "https://bbc.com/")


def defaults_config(lab: Lab) -> dict[str, dict[str, Any]]:
    """Return the lab's addresses with every other setting at its default (connect 4 s)."""
    lab_config = lab.config
    control = {
        key: lab_config["control"][key] for key in ("helpers", "doh", "sites", "domestic_sites")
    }
    throughput = {"controls": lab_config["throughput"]["controls"]}
    return {
        "resolver": {"servers": lab_config["resolver"]["servers"]},
        "control": control,
        "tls": lab_config["tls"],
        "network": lab_config["network"],
        "blockpages": lab_config["blockpages"],
        "timeouts": {"connect": CONNECT_TIMEOUT_S},
        "throughput": throughput,
    }


def _uptime() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _rx_bytes(lab: Lab) -> int:
    path = f"/sys/class/net/{netns.CLIENT_LINK}/statistics/rx_bytes"
    return int(lab.exec("client", "cat", path).stdout)


def _children_cpu_s() -> float:
    """Return the CPU time (user + system) of every child process waited for so far: a run's
    share is less disturbed by the other jobs on the machine than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check(lab: Lab, targets: list[str], extra: list[str] | None = None) -> dict[str, Any]:
    """Run one `probe check --json` with the defaults; return its wall time, bytes, records."""
    path = lab.run_dir / "defaults.toml"
    path.write_text(netns._toml(defaults_config(lab)))
    load = _uptime()
    received = _rx_bytes(lab)
    cpu = _children_cpu_s()
    started = time.perf_counter()
    done = lab.probe(
        "check", "--json", "--config", str(path), *(extra or []), *targets, timeout_s=900
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu_s() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"probe check exited {done.returncode}: {done.stderr[-3000:]}")
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "received_mib": round((_rx_bytes(lab) - received) / (1 << 20), 2),
        "loadavg": load,
        "verdicts": sorted({f"{r['verdict']}/{r.get('blocking')}" for r in records}),
        "records": records,
    }


def _import_cost(lab: Lab) -> float:
    """Return the time to import what `probe check` imports (a fresh interpreter)."""
    code = (
        "import time; t = time.perf_counter(); import probe.cli.app, probe.cli.render,"
        " probe.runner, probe.config; print(time.perf_counter() - t)"
    )
    done = lab.exec("client", sys.executable, "-c", code)
    return float(done.stdout)


def _timeline(lab: Lab) -> dict[str, Any]:
    """Return where one accessible check's wall time goes, phase by phase (seconds), from a run
    of the CLI through bench/_timeline.py and the record it printed."""
    marks_path = lab.run_dir / "timeline.json"
    config = lab.run_dir / "defaults.toml"
    config.write_text(netns._toml(defaults_config(lab)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}
    env["BENCH_TIMELINE"] = str(marks_path)
    script = str(REPO / "bench" / "_timeline.py")
    command = ["ip", "netns", "exec", lab.ns("client"), sys.executable, script]
    cpu = _children_cpu_s()
    spawned = time.monotonic()
    env["BENCH_SPAWNED_AT"] = repr(spawned)
    done = subprocess.run(
        [*command, "check", "--json", "--config", str(config), ONE],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    ended = time.monotonic() - spawned
    cpu = _children_cpu_s() - cpu
    marks = json.loads(marks_path.read_text())
    record = json.loads(done.stdout.splitlines()[0])
    start = datetime.fromisoformat(record["measurement_start_time"].replace("Z", "+00:00"))
    measuring = start.timestamp() - marks["wall_offset"]  # since the spawn
    measured = measuring + record["test_runtime"]
    keys = record["endpoints"][0]["test_keys"]
    first_reply = min((q["t"] for q in keys["queries"] if not q["failure"]), default=None)

    def span(a: float, b: float) -> float:
        return round(b - a, 3)

    return {
        "wall_s": round(ended, 3),
        "cpu_s": round(cpu, 3),
        "interpreter_s": span(0, marks["started"]),
        "imports_cli_s": span(marks["started"], marks["cli_imported"]),
        "imports_check_and_arguments_s": span(marks["cli_imported"], marks["check_imported"]),
        "settings_s": span(marks["check_imported"], marks["settings_loaded"]),
        "targets_s": span(marks["settings_loaded"], marks["run_started"]),
        "run_setup_s": span(marks["run_started"], measuring),
        "measurement_s": round(record["test_runtime"], 3),
        "measurement": {
            "dns_sent_s": min((q["t0"] for q in keys["queries"]), default=None),
            "dns_first_reply_s": first_reply,
            "connect_end_s": max((c["t"] for c in keys["tcp_connect"]), default=None),
            "tls_end_s": max((h["t"] for h in keys["tls_handshakes"]), default=None),
            "http_end_s": max((r["t"] for r in keys["requests"]), default=None),
            "doh_end_s": max((q["t"] for q in keys.get("x_doh", [])), default=None),
            "controls_end_s": max((c["elapsed_s"] for c in record["controls"]), default=None),
        },
        "decide_scrub_print_s": span(measured, marks["result_printed"]),
        "close_s": span(marks["result_printed"], marks["exiting"]),  # to the atexit handlers
        "exit_s": span(marks["exiting"], ended),
    }


def _breakdown(record: dict[str, Any]) -> dict[str, Any]:
    """Return where one accessible target's measurement spent its time (from its record)."""
    parts: dict[str, Any] = {"test_runtime_s": record["test_runtime"]}
    for endpoint in record["endpoints"]:
        keys = endpoint["test_keys"]
        url = endpoint["endpoint"].get("url") or endpoint["endpoint"]["host"]
        parts[url] = {
            "dns_end_s": max((q["t"] for q in keys["queries"]), default=None),
            "tls_end_s": max((h["t"] for h in keys["tls_handshakes"]), default=None),
            "http_end_s": max((r["t"] for r in keys["requests"]), default=None),
            "doh_end_s": max((q["t"] for q in keys.get("x_doh", [])), default=None),
        }
    parts["controls_s"] = max((c["elapsed_s"] for c in record["controls"]), default=None)
    throughput = record.get("throughput")
    if throughput and throughput["transfers"]:
        transfers = throughput["transfers"]
        parts["throughput_s"] = round(
            max(t["t0"] + (t["duration_s"] or 0) for t in transfers) - transfers[0]["t0"], 3
        )
    return parts


def _median_timeline(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the median of every phase over the runs (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = _median_timeline([r[key] for r in runs])
        elif value is not None:
            out[key] = round(statistics.median(r[key] for r in runs), 3)
    return out


def _case(
    label: str, runs: list[dict[str, Any]], baseline_s: float | None = None
) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    row = {
        "wall_median_s": round(statistics.median(walls), 3),
        "wall_s": walls,
        "cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "received_mib_median": statistics.median(r["received_mib"] for r in runs),
        "loadavg": [r["loadavg"] for r in runs],
        "verdicts": runs[-1]["verdicts"],
    }
    if baseline_s:
        row["ratio"] = round(row["wall_median_s"] / baseline_s, 2)
    print(label, json.dumps(row), flush=True)
    if DUMP:
        row["last_records"] = runs[-1]["records"][:3]
    return row


def _compile(package: Path) -> None:
    """Write the package's bytecode, as pip does at install (PYTHONDONTWRITEBYTECODE may be
    set: every run would then compile probe's modules again, ≈ 0.1 s)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def _as(baseline: str | None) -> Any:
    """Return a context manager in which the CLI runs from `baseline` (a checkout's directory)
    instead of this one; None: this one."""
    import contextlib

    @contextlib.contextmanager
    def using() -> Any:
        saved, cwd = os.environ.get("PYTHONPATH"), os.getcwd()
        if baseline:
            os.environ["PYTHONPATH"] = baseline
        os.chdir("/")  # `python -m probe` looks in the working directory first
        try:
            yield
        finally:
            os.chdir(cwd)
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved

    return using()


def _one(lab: Lab, repeats: int, baseline: str | None, results: dict[str, Any]) -> float:
    """Measure one accessible target (and its timeline), alternating with `baseline` if any;
    return the median wall time of this checkout's runs."""
    variants = {"": None, **({"_baseline": baseline} if baseline else {})}
    walls: dict[str, list[dict[str, Any]]] = {suffix: [] for suffix in variants}
    timelines: dict[str, list[dict[str, Any]]] = {suffix: [] for suffix in variants}
    for _ in range(repeats):
        for suffix, path in variants.items():
            with _as(path):
                walls[suffix].append(_check(lab, [ONE]))
                timelines[suffix].append(_timeline(lab))
    for suffix in variants:
        case = results["cases"]["one_accessible" + suffix] = _case(
            "one_accessible" + suffix, walls[suffix]
        )
        case["breakdown"] = _breakdown(walls[suffix][-1]["records"][0])
        results["timeline" + suffix] = _median_timeline(timelines[suffix])
        print("timeline" + suffix, json.dumps(results["timeline" + suffix]), flush=True)
    return float(results["cases"]["one_accessible"]["wall_median_s"])


def _platform(
    lab: Lab, repeats: int, baseline: str | None, results: dict[str, Any], one_s: float
) -> None:
    """Measure 200 URLs of one platform in one invocation, alternating with `baseline` if any
    (each variant's ratio is to its own one accessible target)."""
    urls = [f"https://twitter.com/bench/{i}" for i in range(PLATFORM_URLS)]
    variants = {"": None, **({"_baseline": baseline} if baseline else {})}
    runs: dict[str, list[dict[str, Any]]] = {suffix: [] for suffix in variants}
    for _ in range(repeats):
        for suffix, path in variants.items():
            with _as(path):
                runs[suffix].append(_check(lab, urls))
    for suffix in variants:
        one = results["cases"]["one_accessible" + suffix]["wall_median_s"] if suffix else one_s
        label = "platform_urls" + suffix
        results["cases"][label] = _case(label, runs[suffix], one)


def run(repeats: int, only: set[str], baseline: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"connect_timeout_s": CONNECT_TIMEOUT_S, "cases": {}}
    cases = results["cases"]
    _compile(REPO / "probe")
    if baseline:
        _compile(Path(baseline) / "probe")
        results["baseline"] = baseline
    lab = Lab()
    try:
        lab.up()
        lab.reset()
        lab.probe("--version")  # warm the page cache
        results["import_s"] = statistics.median(_import_cost(lab) for _ in range(repeats))
        one_s = _one(lab, repeats, baseline, results)
        if "platform" in only:
            _platform(lab, repeats, baseline, results, one_s)
        if "blackhole" in only:
            lab.reset()
            lab.apply(SCENARIOS["ip_blackhole"].censor)
            for label, extra in (("blackhole_packets", []), ("blackhole", ["--no-packets"])):
                runs = [_check(lab, [BLACKHOLED], extra) for _ in range(repeats)]
                cases[label] = _case(label, runs, CONNECT_TIMEOUT_S)
                cases[label]["packets_elapsed_s"] = [
                    (r["records"][0].get("packets") or {}).get("elapsed_s") for r in runs
                ]
        if "outage" in only:
            lab.reset()
            lab.apply(SCENARIOS["full_outage"].censor)
            runs = [_check(lab, list(OUTAGE_TARGETS)) for _ in range(repeats)]
            cases["full_outage"] = _case("full_outage", runs, CONNECT_TIMEOUT_S)
    finally:
        lab.down()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only",
        default="platform,blackhole,outage",
        help="comma-separated cases beyond one accessible target (one: none of them)",
    )
    parser.add_argument("--dump", action="store_true", help="keep the last records")
    parser.add_argument(
        "--baseline",
        help="a checkout's directory: one accessible target is also run from it, alternately",
    )
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "defaults.json"))
    args = parser.parse_args()
    reason = prerequisites()
    if reason is not None:
        print(f"defaults bench skipped: {reason}", file=sys.stderr)
        return 1
    results = run(max(args.repeats, 1), set(args.only.split(",")), args.baseline)
    results["git"] = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
