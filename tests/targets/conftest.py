"""Shared fixtures: the packaged catalogue, loaded once per session (it is immutable)."""

from __future__ import annotations

import pytest

from probe.targets import Catalogue, load_catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()
