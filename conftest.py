"""Suite-wide rules: with PROBE_TEST_STRICT=1 (CI), a skip for a missing prerequisite fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent


def shared_dir() -> Path:
    """Return the read-only shared data folder (OONI measurements and fingerprints)."""
    return Path(os.environ.get("PROBE_SHARED_DIR", str(REPO.parent / "shared")))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("PROBE_TEST_STRICT") == "1":
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"PROBE_TEST_STRICT=1: a prerequisite is missing, test skipped: {reason}"
