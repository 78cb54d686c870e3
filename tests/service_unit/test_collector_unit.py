"""systemd/probe-collector.service: systemd accepts it, and its sandbox stays tight (it needs no
privilege at all, so it must score at least as well as the probe's own unit)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_unit import MAX_EXPOSURE, MIN_SYSTEMD_FOR_OFFLINE, REPO, _run, installed_copy

UNIT = REPO / "systemd" / "probe-collector.service"


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    return installed_copy(UNIT, tmp_path)


def test_verify_passes_without_warnings(systemd_analyze: str, unit_copy: Path) -> None:
    proc = _run([systemd_analyze, "verify", str(unit_copy)])
    ours = [line for line in proc.stderr.splitlines() if unit_copy.name in line]
    assert proc.returncode == 0 and ours == [], proc.stderr


def test_security_exposure_within_threshold(systemd_analyze: str, unit_copy: Path) -> None:
    first = _run([systemd_analyze, "--version"]).stdout.splitlines()[0]
    match = re.match(r"systemd (\d+)", first)
    assert match, first
    if int(match.group(1)) < MIN_SYSTEMD_FOR_OFFLINE:
        pytest.skip(f"systemd-analyze security --offline needs systemd ≥ 252, found {first}")
    proc = _run([systemd_analyze, "security", "--offline=yes", "--no-pager", str(unit_copy)])
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, proc.stdout


def test_the_unit_serves_what_the_docs_say() -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert "collector --listen 127.0.0.1:8790 --data-dir /var/lib/probe-collector" in text
    assert "probe-collector.service" in (REPO / "docs" / "collector.md").read_text()
