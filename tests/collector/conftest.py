"""Identities, records and collectors for the collector's tests.

Records are built once per module (`records`, 40 of them); each test gets a fresh collector in
a tmp dir unless it says otherwise, so "nothing was stored" means the counts stay at their start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.config import CollectorSettings
from probe.models.stored import StoredResult
from probe.ship.identity import Identity, create_identity

from .harness import RunningCollector, make_records

TOKEN = "s3cret-registration-token"
MAX_PAYLOAD_BYTES = 256 << 10  # small, so over-cap bodies are cheap to send


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return create_identity(tmp_path_factory.mktemp("probe"))[0]


@pytest.fixture(scope="module")
def other_identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return create_identity(tmp_path_factory.mktemp("other-probe"))[0]


@pytest.fixture(scope="module")
def records() -> list[StoredResult]:
    return make_records(40)


def collector_settings(data_dir: Path, **changes: object) -> CollectorSettings:
    """Settings for a test collector: small payload cap, other limits at their defaults."""
    fields: dict[str, object] = {"data_dir": data_dir, "max_payload_bytes": MAX_PAYLOAD_BYTES}
    fields.update(changes)
    return CollectorSettings.model_validate(fields)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """An open collector (no token: probes register on their first upload)."""
    running = RunningCollector(collector_settings(tmp_path / "data"))
    yield running
    running.close()


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[RunningCollector]:
    """A collector whose registration needs TOKEN."""
    running = RunningCollector(collector_settings(tmp_path / "data", register_token=TOKEN))
    yield running
    running.close()
