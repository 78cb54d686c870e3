"""A timeline's cells: a bar per bucket, split among its verdicts, or a tick for a lone
measurement (plots.py draws the rest of the timeline).

A cell's text but for its x and width is kept across renderings by what it shows, so a live
page redrawn after a few new measurements makes only the cells they changed and places the
others (issue 23); `forget` drops what is kept. Pure otherwise: a `Lane` and a `Layout` in, SVG
text out, the same text whether kept or made.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from probe.models.results import Verdict
from probe.report import svg
from probe.report.formats import counts_text, duration_text, utc_at, when_text
from probe.report.layout import Lane, Layout
from probe.report.palette import WHITELISTING
from probe.report.svg import verdict_fill

__all__ = ["BAR_H", "SEVERITY", "cells_svg", "forget"]

BAR_H = 17.0
# Most severe first: the top of a bar, and the winner of a tie.
SEVERITY: tuple[str, ...] = (
    Verdict.BLOCKED.value,
    WHITELISTING,
    Verdict.THROTTLED.value,
    Verdict.NETWORK_OUTAGE.value,
    Verdict.SERVICE_DOWN.value,
    Verdict.INCONCLUSIVE.value,
    Verdict.ACCESSIBLE.value,
)
_RANK = {v: rank for rank, v in enumerate(SEVERITY)}


def _stack(counts: Mapping[str, int], y: float) -> tuple[tuple[str, str], ...]:
    """Return each segment's text around its x and width: ('" y=… width="', '" height=…/>'),
    most severe first, heights in proportion to the counts."""
    total, parts, top = sum(counts.values()), [], y
    for verdict in sorted(counts, key=lambda v: (_RANK.get(v, len(_RANK)), v)):
        if counts[verdict] <= 0:
            continue
        height = BAR_H * counts[verdict] / total
        parts.append((
            f'" y="{top:.1f}" width="',
            f'" height="{height:.1f}" class="seg" data-verdict="{escape(verdict)}" data-count='
            f'"{counts[verdict]}" fill="{verdict_fill(verdict)}"/>',
        ))  # fmt: skip
        top += height
    return tuple(parts)  # strings only: the garbage collector stops tracking it


# A cell's text but for its x and width, which follow the period: kept across renderings by
# what it shows (its time, width, lane position and counts), so a page redrawn after a few new
# measurements formats only the cells they changed and places the others (issue 23).
_CellKey = tuple[bool, int, int, float, tuple[tuple[str, int], ...]]
_CELLS: dict[_CellKey, tuple[str, tuple[tuple[str, str], ...]]] = {}
_MAX_CELLS = 200_000


def _cell_text(key: _CellKey, counts: Mapping[str, int]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Return a cell's text but for its x and width: the group's head with its tooltip, and
    its segments around their x and width (the key holds the counts in any order)."""
    made = _CELLS.get(key)
    if made is None:
        tick, at, column_s, y, _ = key
        when = when_text(utc_at(at))  # "YYYY-MM-DD HH:MM:SS": iso_text is the same, with T … Z
        iso = when.replace(" ", "T") + "Z"
        if tick:  # a lone measurement: a tick at its time
            tip = f"{when} UTC: {counts_text(counts)}"
            head = f'<g class="cell tick" data-at="{iso}">'
        else:
            tip = f"{when} UTC, {duration_text(column_s)}: {counts_text(counts)}"
            head = f'<g class="cell" data-start="{iso}">'
        made = (f"{head}<title>{escape(tip)}</title>", _stack(counts, y))
        if len(_CELLS) >= _MAX_CELLS:
            _CELLS.clear()
        _CELLS[key] = made
    return made


def cells_svg(lane: Lane, layout: Layout, y: float) -> list[str]:
    """Return the lane's cells that have measurements in the period, in time order: each
    cell's text as kept (_cell_text), placed at its x and width."""
    start, end, column_s, origin = layout.start, layout.end, layout.column_s, layout.origin
    scale = max(end - start, 1)
    left_edge, plot_w, tick_w, seam = svg.LEFT, svg.PLOT_W, svg.TICK_W, svg.SEAM
    cells = []
    for column, counts in sorted(lane.columns.items()):
        t = origin + column * column_s  # layout.column_start, layout.shows, layout.x, inline
        if not (t <= end and t + column_s > start) or counts.total() <= 0:
            continue
        times = lane.times.get(column)
        tick = times is not None and counts.total() == 1
        at = times[0] if tick and times is not None else t
        head, stack = _cell_text((tick, at, column_s, y, tuple(counts.items())), counts)
        if tick:
            x = left_edge + (min(max(at, start), end) - start) / scale * plot_w
            x, w = svg.clamp(x - tick_w / 2, tick_w)
        else:
            x0 = left_edge + (min(max(t, start), end) - start) / scale * plot_w
            x1 = left_edge + (min(max(t + column_s, start), end) - start) / scale * plot_w
            x, w = svg.clamp(x0, x1 - x0 + seam)
        xs, ws = f"{x:.1f}", f"{w:.1f}"
        cells.append(head + "".join([f'<rect x="{xs}{mid}{ws}{post}' for mid, post in stack]))
        cells.append("</g>")
    return cells


def forget() -> None:
    """Forget the cells kept from earlier renderings (their text is made again when drawn)."""
    _CELLS.clear()
