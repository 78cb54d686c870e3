"""docs/ooni-agreement.md: its tables are what the code gives today, and every case where our
verdict is not OONI's says why."""

from __future__ import annotations

import pytest
from decide.test_real_data import FINGERPRINTS, QA

from probe.models.ooni import ClassifiedRecord

from .agreement import PAGE, WHY, classified, needs_why, render
from .measurements import require


@pytest.fixture(scope="module")
def records() -> dict[str, ClassifiedRecord]:
    require(QA)
    require(FINGERPRINTS)
    return classified()


def test_committed_page_is_current(records: dict[str, ClassifiedRecord]) -> None:
    committed = PAGE.read_text(encoding="utf-8")
    assert render(committed, records) == committed, (
        f"{PAGE} is stale: run `PYTHONPATH=tests .venv/bin/python -m ooni.agreement`"
    )


def test_every_difference_is_justified(records: dict[str, ClassifiedRecord]) -> None:
    wanted = needs_why(records)
    assert not wanted - set(WHY), f"cases without a justification: {sorted(wanted - set(WHY))}"
    assert not set(WHY) - wanted, (
        f"justifications for cases that agree: {sorted(set(WHY) - wanted)}"
    )


def test_no_qa_case_is_an_error(records: dict[str, ClassifiedRecord]) -> None:
    errors = {case: r.error for case, r in records.items() if r.error is not None}
    assert not errors, errors
