"""A collector filled by real uploads of the scenario's records, for the live pages' tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probe.config import CollectorSettings
from probe.ship.identity import Identity, create_identity

from ..harness import RunningCollector, bundle_of
from .scenario import chunks, week

CLAIMS_TOKEN = "claims-token-for-tests"


@dataclass
class Filled:
    """A running collector, the moment its scenario ends, and the probes that uploaded."""

    collector: RunningCollector
    now: datetime
    probes: tuple[Identity, Identity]


def fill(tmp: Path, **settings: object) -> Filled:
    now = datetime.now(UTC).replace(microsecond=0)
    first_id = create_identity(tmp / "first")[0]
    second_id = create_identity(tmp / "second")[0]
    fields: dict[str, object] = {"data_dir": tmp / "data", "claims_token": CLAIMS_TOKEN}
    fields.update(settings)
    collector = RunningCollector(CollectorSettings.model_validate(fields))
    first, second = week(now)
    for identity, records in ((first_id, first), (second_id, second)):
        for chunk in chunks(records, 25):
            answer = collector.upload(bundle_of(chunk, identity).to_bytes())
            assert answer.status_code == 201, answer.text
    return Filled(collector, now, (first_id, second_id))


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    running = fill(tmp_path_factory.mktemp("live"))
    yield running
    running.collector.close()
