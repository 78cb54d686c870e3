"""A stop that reaches a run's worker while it is still starting (issue 21): the worker has no
SIGTERM handler yet and dies of the signal before it measured anything. The supervisor logs
`run.stopped`, not `run.crashed`.

The moment is made structural, not timed: the test freezes each new `worker run` with SIGSTOP
and reads /proc/PID/status; only a worker whose `SigCgt` lacks SIGTERM (no handler installed
yet) is used, otherwise it is let go and the next run (every second) is tried. The daemon is
stopped; once its SIGTERM is pending on the frozen worker, SIGCONT lets the signal act.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from .harness import DaemonProcess, ProbeHome

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def _workers(parent: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"probe.daemon.worker\0run" in cmdline:
            found.add(int(entry.name))
    return found


def _has_sigterm(pid: int, field: str) -> bool:
    """Whether SIGTERM is in /proc/PID/status's signal mask `field` (SigCgt, ShdPnd, SigPnd)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return bool(int(line.split()[1], 16) & SIGTERM_BIT)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _reached(worker: int) -> bool:
    """The SIGTERM is pending on the frozen worker, or has already killed it."""
    try:
        return _has_sigterm(worker, "ShdPnd") or _has_sigterm(worker, "SigPnd")
    except FileNotFoundError:
        return True


def _freeze_a_starting_worker(daemon: DaemonProcess, timeout: float = 60) -> int:
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in _workers(daemon.proc.pid) - seen:
            seen.add(pid)
            try:
                os.kill(pid, signal.SIGSTOP)
                if not _has_sigterm(pid, "SigCgt"):
                    return pid
                os.kill(pid, signal.SIGCONT)  # too late: its handler is in; try the next run
            except (ProcessLookupError, FileNotFoundError):
                continue
        time.sleep(0.001)
    raise AssertionError(f"no worker caught before its SIGTERM handler:\n{daemon.log_text()}")


def test_a_stop_while_the_worker_starts_is_not_a_crash(home: ProbeHome, ok_url: str) -> None:
    home.write_config(f'[[schedule.jobs]]\nname = "web"\ntargets = ["{ok_url}"]\nevery = "1s"\n')
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_ready()
        worker = _freeze_a_starting_worker(daemon)
        daemon.signal(signal.SIGTERM)
        daemon.wait_for(lambda: _reached(worker), what="the daemon's SIGTERM at the worker")
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGCONT)
        assert daemon.proc.wait(30) == 0  # not stop(): a second SIGTERM could outlive its handler
    finally:
        daemon.close()
    events = [line.get("event") for line in daemon.lines()]
    assert "run.stopped" in events and "run.crashed" not in events, daemon.log_text()
