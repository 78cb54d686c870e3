"""The plots' layout: the period, the columns and the lanes of a report's timeline.

Pure, probe.models only. The period runs from the first to the last measurement, inside the
report's [since, until] and never past its `generated_at` ("now"): issue 23 saw it follow
`--since`, so 50 measurements of the last hour sat in a sliver at the edge of a week, and a
day-wide bucket reach hours past now. At most MAX_LANES network × platform lanes are kept
(the most affected) and at most MAX_COLUMNS columns (adjacent buckets merged beyond that).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from probe.models.reports import FailureWindow, Incident, Report, TimelineCell
from probe.models.results import Verdict
from probe.report.formats import epoch_s
from probe.report.palette import WHITELISTING
from probe.report.svg import LEFT, PLOT_W

__all__ = ["AFFECTED", "MAX_COLUMNS", "MAX_LANES", "Columns", "Lane", "Layout", "plot_layout"]

MAX_LANES = 60
MAX_COLUMNS = 400
_MIN_SPAN_S = 3600  # a lone measurement is shown in an hour around it
# The verdicts the heat map counts and lanes are ranked by.
AFFECTED = (Verdict.BLOCKED.value, WHITELISTING, Verdict.THROTTLED.value)

Columns = dict[int, Counter[str]]  # plot column → measurements per verdict


def _affected(columns: Columns) -> int:
    return sum(c[v] for c in columns.values() for v in AFFECTED)


@dataclass
class Lane:
    """One network × platform row of a timeline: its columns, their first and last
    measurement times (when known), and its incidents."""

    network: str
    platform: str
    columns: Columns = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)
    times: dict[int, tuple[int, int]] = field(default_factory=dict)

    def rank(self) -> tuple[int, int, int]:
        total = sum(c.total() for c in self.columns.values())
        return (len(self.incidents), _affected(self.columns), total)

    def add(self, column: int, cell: TimelineCell) -> None:
        counts = self.columns.get(column)
        if counts is None:  # a Counter of the cell's counts, without Counter.update's checks
            counts = self.columns[column] = dict.__new__(Counter)
            dict.update(counts, cell.counts)
        else:
            counts.update(cell.counts)
        if cell.first_at is None or cell.last_at is None:
            return
        _merge_times(self.times, column, (epoch_s(cell.first_at), epoch_s(cell.last_at)))


@dataclass
class Layout:
    """Where everything goes: the period in epoch seconds, the columns, the lanes kept."""

    start: int
    end: int
    origin: int  # where column 0 begins
    column_s: int
    merged: int  # buckets per column
    lanes: list[Lane]  # the lanes drawn, at most MAX_LANES
    left_out: list[Lane]
    names: dict[str, str]
    every_lane: list[Lane] = field(default_factory=list)  # in the order first seen

    # The heat map's rows, made when asked for (the live pages draw no heat map).
    @functools.cached_property
    def _heat(self) -> tuple[dict[str, Columns], int, dict[str, dict[int, tuple[int, int]]]]:
        return _heat_rows(self.every_lane)

    @property
    def rows(self) -> dict[str, Columns]:
        """Heat-map rows, at most MAX_LANES platforms."""
        return self._heat[0]

    @property
    def rows_total(self) -> int:
        return self._heat[1]

    @property
    def row_times(self) -> dict[str, dict[int, tuple[int, int]]]:
        """Heat-map row → column → its first and last measurement's time, when known."""
        return self._heat[2]

    def x(self, moment: datetime | int) -> float:
        t = moment if isinstance(moment, int) else epoch_s(moment)
        t = min(max(t, self.start), self.end)
        return LEFT + (t - self.start) / max(self.end - self.start, 1) * PLOT_W

    def column_start(self, column: int) -> int:
        return self.origin + column * self.column_s

    def shows(self, column: int) -> bool:
        """Return whether a column overlaps the period (a cell past now is not drawn)."""
        start = self.column_start(column)
        return start <= self.end and start + self.column_s > self.start


def _data_bounds(report: Report, bucket_s: int, starts: list[int]) -> tuple[list[int], list[int]]:
    """Return the candidates for the first and the last measurement's time (`starts`: each
    timeline cell's start)."""
    scope = report.scope
    if scope.first_measurement and scope.last_measurement:
        return [epoch_s(scope.first_measurement)], [epoch_s(scope.last_measurement)]
    cells = list(zip(report.timeline, starts, strict=True))
    firsts = [epoch_s(c.first_at) if c.first_at else start for c, start in cells]
    lasts = [epoch_s(c.last_at) if c.last_at else start + bucket_s for c, start in cells]
    windows: list[Incident | FailureWindow] = [*report.incidents, *report.outages]
    for window in [*windows, *report.platform_down, *report.whitelisting]:
        firsts.append(epoch_s(window.start))
        lasts.append(epoch_s(window.end))
    return firsts, lasts


def _span(report: Report, bucket_s: int, starts: list[int]) -> tuple[int, int]:
    """Return the plotted period: the data's, inside [since, until], never past now."""
    scope, now = report.scope, epoch_s(report.generated_at)
    firsts, lasts = _data_bounds(report, bucket_s, starts)
    start, end = min(firsts, default=now), max(lasts, default=now)
    if scope.since is not None:
        start = max(start, epoch_s(scope.since))
    if scope.until is not None:
        end = min(end, epoch_s(scope.until))
    end = min(end, now)
    start = min(start, end)
    if end - start < _MIN_SPAN_S:  # too short to read: centre it in an hour, up to now
        end = min(now, end + (_MIN_SPAN_S - (end - start)) // 2)
        start = min(start, end - _MIN_SPAN_S)
    return start, end


def _network_key(network: str) -> tuple[int, str]:
    digits = network.removeprefix("AS")
    return (int(digits), "") if digits.isdigit() else (-1, network)


def _merge_times(into: dict[int, tuple[int, int]], column: int, times: tuple[int, int]) -> None:
    low, high = into.get(column, times)
    into[column] = (min(low, times[0]), max(high, times[1]))


def _heat_rows(
    lanes: Iterable[Lane],
) -> tuple[dict[str, Columns], int, dict[str, dict[int, tuple[int, int]]]]:
    rows: dict[str, Columns] = {}
    times: dict[str, dict[int, tuple[int, int]]] = {}
    for lane in lanes:
        row = rows.setdefault(lane.platform, {})
        for column, counts in lane.columns.items():
            row.setdefault(column, Counter()).update(counts)
        for column, span in lane.times.items():
            _merge_times(times.setdefault(lane.platform, {}), column, span)
    ranked = sorted(rows, key=lambda p: _affected(rows[p]), reverse=True)[:MAX_LANES]
    kept = {p: rows[p] for p in sorted(ranked)}
    return kept, len(rows), {p: times.get(p, {}) for p in kept}


def plot_layout(report: Report) -> Layout:
    """Return the layout both plots of `report` are drawn on."""
    bucket_s = max(report.bucket_seconds, 1)
    starts = [epoch_s(c.start) for c in report.timeline]
    start, end = _span(report, bucket_s, starts)
    merged = max(1, math.ceil((end - start) / bucket_s / MAX_COLUMNS))
    origin = min(starts, default=start)
    lanes: dict[tuple[str, str], Lane] = {}
    for cell, cell_start in zip(report.timeline, starts, strict=True):
        lane = lanes.get((cell.platform, cell.network))
        if lane is None:
            lane = lanes[cell.platform, cell.network] = Lane(cell.network, cell.platform)
        lane.add((cell_start - origin) // (bucket_s * merged), cell)
    names = dict(report.scope.network_names)
    for incident in report.incidents:
        key = (incident.platform, incident.network)
        lanes.setdefault(key, Lane(incident.network, incident.platform)).incidents.append(incident)
        if incident.network_name:
            names[incident.network] = incident.network_name
    ranked = sorted(lanes.values(), key=Lane.rank, reverse=True)
    kept = sorted(ranked[:MAX_LANES], key=lambda lane: (lane.platform, _network_key(lane.network)))
    column_s = bucket_s * merged
    return Layout(
        start, end, origin, column_s, merged, kept, ranked[MAX_LANES:], names, list(lanes.values())
    )
