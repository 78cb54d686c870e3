"""`probe helper` as a real process: it serves the protocol and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from servers import closed_port


def test_probe_helper_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = closed_port()
    config = tmp_path / "helper.toml"
    config.write_text("[timeouts]\nconnect = 1\ntls = 1\nhttp = 2\n", encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "probe",
            "helper",
            "--listen",
            f"127.0.0.1:{port}",
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        hello = None
        deadline = time.monotonic() + 20
        while hello is None and time.monotonic() < deadline:
            try:
                hello = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).json()
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.1)
        assert hello is not None and "message" in hello
        # A loopback destination is refused even though the helper itself runs on loopback.
        answer = httpx.post(
            f"http://127.0.0.1:{port}/",
            content=json.dumps({"http_request": f"http://127.0.0.1:{port}/", "tcp_connect": []}),
            headers={"User-Agent": "probe/test"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["tcp_connect"] == {}, "loopback endpoints are never measured"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert "Traceback" not in stderr, stderr


def test_probe_helper_refuses_a_bad_listen_address() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "probe", "helper", "--listen", "not-an-address"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0
    assert "listen" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr
