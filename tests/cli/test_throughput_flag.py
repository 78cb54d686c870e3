"""`probe check --throughput` asks for the throughput test of every target (issue 19)."""

from __future__ import annotations

from probe.cli.check import _overrides
from probe.config import load_settings


def test_the_flag_asks_for_pages_too_and_its_negation_turns_the_test_off() -> None:
    default = load_settings(None, _overrides(None, None, None))
    assert default.throughput.enabled and not default.throughput.pages
    asked = load_settings(None, _overrides(None, None, None, throughput=True))
    assert (asked.throughput.enabled, asked.throughput.pages) == (True, True)
    off = load_settings(None, _overrides(None, None, None, throughput=False))
    assert (off.throughput.enabled, off.throughput.pages) == (False, False)
