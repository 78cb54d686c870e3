"""Run the real `probe` command in a subprocess, as a user would (tests import `run_probe`)."""

from __future__ import annotations

import os
import subprocess
import sys


def run_probe(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m probe ARGS`; with no `env`, this process's environment minus PROBE_*
    (so a developer's PROBE_CONFIG never leaks into a test)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}
    return subprocess.run(
        [sys.executable, "-m", "probe", *args],
        capture_output=True, text=True, check=False, timeout=timeout_s, env=env,
    )  # fmt: skip
