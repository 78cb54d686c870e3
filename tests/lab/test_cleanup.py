"""Leftovers of a killed lab run (namespaces, their processes and iptables rules, run
directories) are removed by the next run; a live run's namespaces are left alone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from . import world
from .netns import RUN_ROOT, clean_leftovers, prerequisites, run


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def _namespaces() -> set[str]:
    return {line.split()[0] for line in run(["ip", "netns", "list"]).stdout.splitlines() if line}


def test_leftovers_of_a_killed_run_are_removed() -> None:
    reason = prerequisites()
    if reason is not None:
        pytest.skip(f"censorship lab skipped: {reason}")
    dead = _dead_pid()
    stale = f"{world.PREFIX}{dead}-isp"
    alive = f"{world.PREFIX}{os.getpid()}-keep"
    run(["ip", "netns", "add", stale])
    run(["ip", "netns", "add", alive])
    sleeper = None
    try:
        run(["ip", "netns", "exec", stale, "iptables", "-A", "FORWARD", "-j", "DROP"])
        sleeper = subprocess.Popen(
            ["ip", "netns", "exec", stale, "sleep", "300"], start_new_session=True
        )
        (RUN_ROOT / str(dead)).mkdir(parents=True, exist_ok=True)
        resolv = Path("/etc/netns") / stale
        resolv.mkdir(parents=True, exist_ok=True)
        (resolv / "resolv.conf").write_text("nameserver 10.77.0.53\n")

        removed = clean_leftovers()

        assert stale in removed, f"cleanup: expected {stale} removed, got {removed}"
        assert stale not in _namespaces(), f"cleanup: namespace {stale} still exists"
        assert alive in _namespaces(), f"cleanup: a live run's namespace {alive} was removed"
        assert sleeper.wait(timeout=10) != 0, "cleanup: the leftover's process kept running"
        assert not (RUN_ROOT / str(dead)).exists(), "cleanup: the run directory is still there"
        assert not resolv.exists(), "cleanup: /etc/netns entry still there"
    finally:
        if sleeper is not None and sleeper.poll() is None:
            sleeper.kill()
        for name in (stale, alive):
            run(["ip", "netns", "del", name], check=False)
