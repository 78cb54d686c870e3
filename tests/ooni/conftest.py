from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    """An empty probe.toml, so no operator config leaks into a test."""
    path = tmp_path / "probe.toml"
    path.write_text("", encoding="utf-8")
    return path
