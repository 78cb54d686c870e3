"""The scenario index in docs/lab.md is generated from the table; it must not go stale."""

from __future__ import annotations

from pathlib import Path

from .docs import render
from .scenarios import SCENARIOS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lab.md"


def test_lab_docs_are_current() -> None:
    assert DOCS.read_text() == render(), (
        "docs/lab.md is stale: run `scripts/lab.sh docs > docs/lab.md`"
    )


def test_the_issue_minimum_of_scenarios() -> None:
    # Issue 3 asks for at least 24 scenarios, each with expectations for its targets.
    assert len(SCENARIOS) >= 24, f"scenarios: expected >= 24, got {len(SCENARIOS)}"
    blocked = [
        s.name for s in SCENARIOS.values() if any(v == "blocked" for v, _ in s.expect.values())
    ]
    assert len(blocked) >= 15, f"scenarios with a blocked target: expected >= 15, got {blocked}"
    for scenario in SCENARIOS.values():
        for target, (verdict, blocking) in scenario.expect.items():
            assert target in scenario.targets, f"{scenario.name}: {target} expected but not checked"
            assert (verdict in ("blocked", "throttled")) == (blocking is not None), (
                f"{scenario.name}: {target} has verdict {verdict} with blocking {blocking}"
            )
