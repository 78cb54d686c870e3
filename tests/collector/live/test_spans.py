"""The live index's incremental windows equal the report's batch windows (sql.windows_query
over the same facts), whatever order the measurements arrive in."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from probe.collector.live import LiveIndex, add_fact, migrate
from probe.collector.spans import SQLITE
from probe.collector.views import names, windows
from probe.models.reports import WindowKind
from probe.report import sql
from probe.report.facts import FACT_COLUMNS
from probe.report.windows import failure_windows, incidents, moment, span_of

_OUTCOMES = [
    ("accessible", ""), ("blocked", "tls_reset"), ("blocked", "dns_nxdomain"),
    ("blocked", "whitelisting"), ("throttled", "throttling"), ("network_outage", ""),
    ("service_down", ""), ("inconclusive", ""),
]  # fmt: skip
_STATES = ["", "normal", "outage", "whitelisted"]


@st.composite
def _facts(draw: st.DrawFn) -> list[tuple[str | int, ...]]:
    count = draw(st.integers(1, 40))
    rows = []
    for number in range(count):
        verdict, blocking = draw(st.sampled_from(_OUTCOMES))
        platform = draw(st.sampled_from(["twitter", "signal"]))
        affected = verdict in ("blocked", "throttled")
        fact = {
            "measurement_id": f"m{draw(st.integers(0, 999)):03d}-{number:03d}",
            "probe_id": draw(st.sampled_from(["p1", "p2", "p3"])),
            "t_ms": draw(st.integers(0, 15)) * 60_000,  # ties on purpose
            "network": draw(st.sampled_from(["AS1", "AS2"])),
            "network_name": "",
            "cc": "KZ",
            "platform": platform,
            "input": f"https://{platform}.example/",
            "verdict": verdict,
            "blocking": blocking,
            "methods": blocking if affected else "",
            "endpoints": f"{platform}.example:443" if affected else "",
            "controls_total": 1,
            "controls_ok": 1,
            "control_sites_ok": draw(st.sampled_from(["", "https://control.example/"])),
            "network_state": draw(st.sampled_from(_STATES)),
        }
        rows.append(tuple(fact[c] for c in FACT_COLUMNS))
    return rows


def _batch(db: sqlite3.Connection, index: LiveIndex) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for name, spec, kind in (("outages", sql.OUTAGES, WindowKind.NETWORK_OUTAGE),
                             ("platform_down", sql.PLATFORM_DOWN, WindowKind.PLATFORM_DOWN),
                             ("whitelisting", sql.WHITELISTING, WindowKind.WHITELISTING),
                             ("incidents", sql.INCIDENTS, None)):  # fmt: skip
        rows = db.execute(sql.windows_query(SQLITE, spec, -(2**62), 2**62)).fetchall()
        # The query orders by partition, start and probe; one probe's spans that start in the
        # same millisecond come in island order (which the SQL leaves to the engine).
        width = len(spec.partition)
        rows.sort(key=lambda r: (r[:width], r[width + 2], r[width], r[width + 1]))
        spans = [span_of(row, len(spec.partition)) for row in rows]
        found[name] = (
            incidents(spans, names(index)) if kind is None else failure_windows(spans, kind)
        )
    return found


@settings(max_examples=150, deadline=None)
@given(facts=_facts(), seed=st.integers(0, 2**32), since=st.integers(0, 16))
def test_incremental_windows_equal_the_reports(
    facts: list[tuple[str | int, ...]], seed: int, since: int
) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)
    index = LiveIndex(Path("."), db)
    arrival = list(enumerate(facts, 1))
    random.Random(seed).shuffle(arrival)
    for seq, row in arrival:
        add_fact(db, seq, row)
    live = windows(index, -(2**62))
    batch = _batch(db, index)
    assert live.incidents == batch["incidents"]
    assert live.outages == batch["outages"]
    assert live.platform_down == batch["platform_down"]
    assert live.whitelisting == batch["whitelisting"]
    # The windows that end at or after a moment are the same windows, whole (not cut there).
    later = windows(index, since * 60_000)
    cut = moment(since * 60_000)
    assert later.incidents == [w for w in batch["incidents"] if w.end >= cut]  # type: ignore[attr-defined]
    assert later.outages == [w for w in batch["outages"] if w.end >= cut]  # type: ignore[attr-defined]
    db.close()
