"""A stop during a run whose lookups are stuck in getaddrinfo (issue 21, 2): the worker still
prints its summary within the grace, so the supervisor never logs `run.crashed`.

On a network whose resolver never answers, each `getaddrinfo` blocks a thread for the
resolver's whole timeout. The worker runs under `unshare --mount` with its own /etc/resolv.conf
bind-mounted over the system's: one nameserver on a loopback address where a UDP socket reads
every query and answers none, `timeout:30 attempts:5`, so a lookup stays stuck for minutes. The
run's helper is named (`https://stuck-helper.test/`), so httpx resolves it with getaddrinfo;
the test waits until that query reached the blackhole, then sends SIGTERM with a 1 s grace.
Before the fix, `asyncio.run` joined the stuck thread and the summary came minutes late.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ProbeHome, _env

BLACKHOLE_ADDRESS = "127.53.21.1"  # glibc asks port 53 only: a loopback address of our own
# The wait for the worker, far below what one stuck lookup costs (30 s × 5 attempts).
WORKER_EXIT_WAIT_S = 60.0


@pytest.fixture
def blackhole_resolver() -> Iterator[socket.socket]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1): a mount namespace for the worker's resolv.conf")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((BLACKHOLE_ADDRESS, 53))
    except OSError as exc:
        sock.close()
        pytest.skip(f"cannot bind the blackhole resolver {BLACKHOLE_ADDRESS}:53: {exc}")
    yield sock
    sock.close()


def _wait_for_query(sock: socket.socket, proc: subprocess.Popen[str]) -> bytes:
    sock.settimeout(0.2)
    deadline = time.monotonic() + WORKER_EXIT_WAIT_S
    while time.monotonic() < deadline:
        try:
            query, _ = sock.recvfrom(4096)
            return query
        except TimeoutError:
            assert proc.poll() is None, proc.communicate()
    raise AssertionError("the worker never asked the blackhole resolver")


def test_stop_with_lookups_stuck_in_getaddrinfo_still_gives_a_summary(
    home: ProbeHome, ok_url: str, tmp_path: Path, blackhole_resolver: socket.socket
) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {BLACKHOLE_ADDRESS}\noptions timeout:30 attempts:5\n")
    base = home.base_config.replace("helper_timeout_s = 5", "helper_timeout_s = 120")
    helpers = 'helpers = ["https://stuck-helper.test:8780/"]'
    home.base_config = "\n".join(
        helpers if line.startswith("helpers = ") else line for line in base.splitlines()
    )
    job = f'[[schedule.jobs]]\nname = "web"\ntargets = {json.dumps([ok_url])}\nevery = "1h"\n'
    home.write_config(job, extra='[daemon]\nstop_grace_s = "1s"\n')
    home.init()
    worker = f"{sys.executable} -m probe.daemon.worker run --job web --config {home.config}"
    script = f"mount --bind {resolv} /etc/resolv.conf && exec {worker}"
    with home.config.open() as stdin:  # the worker reads the config's text on stdin
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )  # fmt: skip
    try:
        assert b"stuck-helper" in _wait_for_query(blackhole_resolver, proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=WORKER_EXIT_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "interrupted", summary
