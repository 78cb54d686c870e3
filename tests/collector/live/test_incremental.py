"""A page made with what was kept from earlier renderings is the page made from scratch: after
any arrivals, at any later moment, byte for byte (issue 23: a page never recomputes history,
so what it keeps must never show what it replaced)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from probe.collector import pages, views
from probe.collector.live import LiveIndex, add_fact, migrate
from probe.report.facts import FACT_COLUMNS

AT = datetime(2026, 3, 9, 12, 0, 30, tzinfo=UTC)
_START_MS = int((AT - timedelta(days=8)).timestamp() * 1000)
_OUTCOMES = [
    ("accessible", ""), ("accessible", ""), ("blocked", "tls_reset"), ("blocked", "whitelisting"),
    ("throttled", "throttling"), ("network_outage", ""), ("service_down", ""),
    ("inconclusive", ""),
]  # fmt: skip


@st.composite
def _arrivals(draw: st.DrawFn) -> list[tuple[str | int, ...]]:
    """Measurements over the 8 days before AT, lone ones and crowded hours alike."""
    rows = []
    for number in range(draw(st.integers(1, 60))):
        verdict, blocking = draw(st.sampled_from(_OUTCOMES))
        platform = draw(st.sampled_from(["twitter", "signal"]))
        hour = draw(st.sampled_from([0, 1, 2, 100, 190, 191, 192]))  # before, in and at the end
        fact = {
            "measurement_id": f"m{number:03d}",
            "probe_id": draw(st.sampled_from(["p1", "p2"])),
            "t_ms": _START_MS + hour * 3_600_000 + draw(st.integers(0, 59)) * 60_000,
            "network": draw(st.sampled_from(["AS1", "AS2"])),
            "network_name": draw(st.sampled_from(["", "Operator"])),
            "cc": "KZ",
            "platform": platform,
            "input": f"https://{platform}.example/",
            "verdict": verdict,
            "blocking": blocking,
            "methods": blocking if verdict in ("blocked", "throttled") else "",
            "endpoints": f"{platform}.example:443" if verdict in ("blocked", "throttled") else "",
            "controls_total": 1,
            "controls_ok": 0 if verdict == "network_outage" else 1,
            "control_sites_ok": "" if verdict == "network_outage" else "https://control.example/",
            "network_state": "outage" if verdict == "network_outage" else "normal",
        }
        rows.append(tuple(fact[c] for c in FACT_COLUMNS))
    return rows


def _pages(index: LiveIndex, at: datetime) -> list[str]:
    since = at - timedelta(days=7)
    return [
        pages.timeline_page(views.report(index, since, at, **which), "t", 7)
        for which in ({"network": "AS1"}, {"network": "AS2"}, {"platform": "twitter"})
    ]


@settings(max_examples=60, deadline=None)
@given(
    first=_arrivals(), then=_arrivals(), split=st.integers(0, 60),
    later_s=st.sampled_from([0, 1, 59, 3600, 86_400]),
)  # fmt: skip
def test_a_page_made_from_what_was_kept_is_the_page_made_anew(
    first: list[tuple[str | int, ...]], then: list[tuple[str | int, ...]], split: int,
    later_s: int,
) -> None:  # fmt: skip
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)
    index = LiveIndex(Path("."), db)
    arrivals = first + [(f"n{row[0]}", *row[1:]) for row in then]
    for seq, row in enumerate(arrivals[:split], 1):
        add_fact(db, seq, row)
    _pages(index, AT)  # what is kept from it
    for seq, row in enumerate(arrivals[split:], split + 1):
        add_fact(db, seq, row)
    at = AT + timedelta(seconds=later_s)
    kept = _pages(index, at)
    views.forget()
    assert kept == _pages(index, at)
    db.close()
