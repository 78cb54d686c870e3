"""Shared by the unit tests: the `systemd-analyze` binary (skipped, with the reason, without)."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze not installed: apt install systemd")
    return path
