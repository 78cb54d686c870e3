"""Uploading from the censored network: the ISP blocks the collector, the probe keeps its
bundles and says why; once the block lifts everything arrives, once. The collector sees the
upload come from the ISP's public (NAT) address and keeps it nowhere: not in its index, not
in the bundles it stores, not in its log."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from . import world
from .netns import Lab, _toml

COLLECTOR_PORT = 8790


def _start_collector(lab: Lab) -> tuple[subprocess.Popen[bytes], str]:
    data_dir = lab.run_dir / "collector-data"
    listen = f"{world.HELPER_ADDRESS}:{COLLECTOR_PORT}"
    process = lab._spawn(
        "internet",
        [sys.executable, "-m", "probe", "collector", "--listen", listen, "--data-dir",
         str(data_dir)],
        "collector.log",
    )  # fmt: skip
    log = lab.run_dir / "collector.log"
    deadline = time.monotonic() + 30
    while "collector listening" not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the collector did not start: " + log.read_text()
        time.sleep(0.05)
    return process, f"http://{listen}"


def test_a_blocked_collector_then_an_open_one(lab: Lab) -> None:
    lab.reset()
    collector, url = _start_collector(lab)
    data_dir = lab.run_dir / "upload-probe"
    config = lab.run_dir / "upload.toml"
    sections = {name: dict(values) for name, values in lab.config.items()}
    sections["storage"] = {"data_dir": str(data_dir)}
    sections["upload"] = {"collectors": [url], "retry_initial": "1s", "timeout": "10s"}
    jobs = '[[schedule.jobs]]\nname = "sites"\ntargets = ["bbc.com"]\nevery = "15m"\n'
    config.write_text(_toml(sections) + jobs)
    try:
        for command in (["init", "--yes"], ["run"]):
            done = lab.probe(*command, "--config", str(config))
            assert done.returncode == 0, f"probe {command[0]}: {done.stderr[-3000:]}"
        # The ISP resets every connection to the collector.
        lab._iptables("isp", f"LAB-FWD -p tcp -d {{helper}} --dport {COLLECTOR_PORT}"
                      " -j REJECT --reject-with tcp-reset")  # fmt: skip
        blocked = lab.probe("upload", "--config", str(config))
        assert blocked.returncode == 1, blocked.stdout + blocked.stderr
        assert "connection_refused" in blocked.stderr or "connection_reset" in blocked.stderr
        status = json.loads(lab.probe("status", "--json", "--config", str(config)).stdout)
        assert status["outbox"]["pending_bundles"] == 1 and status["outbox"]["last_upload_error"]
        lab.reset()
        opened = lab.probe("upload", "--config", str(config))
        assert opened.returncode == 0, opened.stderr
        listed = lab.probe("results", "--json", "--config", str(config))
        stored = sorted(json.loads(line)["measurement_id"] for line in listed.stdout.splitlines())
        exported = lab.exec(
            "internet", sys.executable, "-m", "probe", "collector", "export", "--data-dir",
            str(lab.run_dir / "collector-data"),
        )  # fmt: skip
        collected = sorted(json.loads(line)["measurement_id"]
                           for line in exported.stdout.splitlines())  # fmt: skip
        assert stored and collected == stored
    finally:
        collector.terminate()
        collector.wait(30)
        lab.processes.remove(collector)
        lab.reset()
    public = world.PUBLIC_ADDRESS.encode()
    for path in [lab.run_dir / "collector.log", *(lab.run_dir / "collector-data").rglob("*")]:
        if path.is_file():
            assert public not in path.read_bytes(), f"{path} holds the uploader's address"
