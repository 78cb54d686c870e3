"""Benchmarks for `probe check` (issue 2), against loopback servers only.

On loopback the network's round trips cost microseconds, so the wall time of an accessible
target is our own overhead (plus the deliberate UDP late-reply window, reported separately).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helper.loopback import RunningHelper  # noqa: E402
from servers import Blackhole, DnsEntry, DnsServer, HttpServer, ServerLoop, TestPki  # noqa: E402

from probe.config import load_settings  # noqa: E402
from probe.runner import check_targets  # noqa: E402
from probe.targets import load_catalogue, parse_target  # noqa: E402


def _startup(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(REPO / ".venv/bin/probe"), *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class Rig:
    """Loopback DNS, HTTPS and a helper; settings pointing the probe at them."""

    def __init__(self, workdir: Path) -> None:
        self.loop = ServerLoop().__enter__()
        self.pki = TestPki(workdir)
        self.dns = DnsServer(self.loop)
        self.dns.start()
        self.https = HttpServer(self.loop, ssl_context=self.pki.server_context()).__enter__()
        self.blackhole = Blackhole(self.loop).__enter__()
        for i in range(200):
            self.dns.zone.set(f"t{i}.site.test", DnsEntry(a=("127.0.0.1",)))
        self.dns.zone.set("ctl.site.test", DnsEntry(a=("127.0.0.1",)))
        helper_settings = self.settings()
        self.helper = RunningHelper(helper_settings)

    def settings(self, **overrides: object):  # type: ignore[no-untyped-def]
        base = {
            "resolver": {"servers": [f"udp://{self.dns.address}"]},
            "control": {
                "helpers": [getattr(self, "helper", None) and self.helper.url or "http://127.0.0.1:9/"],
                "doh": [],
                "sites": [self.https.url("/page", host="ctl.site.test")],
            },
            "tls": {"ca_bundle": str(self.pki.ca_pem)},
            "network": {"routable": ["127.0.0.0/8"]},
        }
        for key, value in overrides.items():
            base[key] = {**base.get(key, {}), **value}  # type: ignore[dict-item]
        return load_settings(None, base)

    def close(self) -> None:
        self.helper.close()
        self.blackhole.__exit__(None, None, None)
        self.https.__exit__(None, None, None)
        self.dns.close()
        self.loop.__exit__(None, None, None)


def _run(targets: list[str], settings) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    catalogue = load_catalogue()
    parsed = [parse_target(t, catalogue) for t in targets]
    started = time.perf_counter()
    results = asyncio.run(check_targets(parsed, settings))
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    report: dict[str, float] = {}
    report["startup_version_s"] = _startup(["--version"], repeats)
    report["startup_check_help_s"] = _startup(["check", "--help"], repeats)
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp))
        try:
            one = rig.https.url("/page", host="t0.site.test")
            for window in (0.0, 0.5):
                settings = rig.settings(resolver={"late_reply_window_s": window})
                walls = [_run([one], settings)[0] for _ in range(repeats)]
                report[f"accessible_wall_s_late_window_{window}"] = statistics.median(walls)
            settings = rig.settings(resolver={"late_reply_window_s": 0.0})
            wall, results = _run([rig.https.url("/page", host=f"t{i}.site.test") for i in range(200)], settings)
            report["targets_200_wall_s"] = wall
            report["targets_200_over_1"] = wall / report["accessible_wall_s_late_window_0.0"]
            report["targets_200_accessible"] = sum(r.verdict == "accessible" for r in results)
            connect = 2.0
            settings = rig.settings(timeouts={"connect": connect}, resolver={"late_reply_window_s": 0.0})
            blackholed = f"https://t1.site.test:{rig.blackhole.port}/"
            wall, results = _run([blackholed], settings)
            report["blackhole_wall_s"] = wall
            report["blackhole_over_connect_timeout"] = wall / connect
            report["blackhole_verdict"] = results[0].verdict.value  # type: ignore[assignment]
        finally:
            rig.close()
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "check.json").write_text(json.dumps(report, indent=2) + "\n")
    for key, value in report.items():
        print(f"{key:45} {value:.3f}" if isinstance(value, float) else f"{key:45} {value}")


if __name__ == "__main__":
    main()
