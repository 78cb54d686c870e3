"""How a run ended: a plain enum, so the daemon's supervisor can use it without pydantic."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """How one run of a job ended."""

    RUNNING = "running"  # still going, or its process died during it (SIGKILL, power loss)
    OK = "ok"
    INTERRUPTED = "interrupted"  # SIGTERM: targets in flight were not measured
    FAILED = "failed"  # an error outside the measurements (input file unreadable, store error)
    SKIPPED_BUDGET = "skipped_budget"  # the daily data budget would be exceeded
    SKIPPED_DISK = "skipped_disk"  # too little free space under data_dir
