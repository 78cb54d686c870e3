"""The lab fixture: one set of namespaces and servers for the whole session, reset per scenario."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .netns import Lab, prerequisites


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    reason = prerequisites()
    if reason is not None:
        pytest.skip(f"censorship lab skipped: {reason}")
    running = Lab()
    try:
        running.up()
        yield running
    finally:
        running.down()
