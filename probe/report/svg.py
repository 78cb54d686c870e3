"""SVG building blocks of the plots: the frame, the patterns, the time axis and the legend.

Pure, standard library and the palette only. Every SVG made here stands alone: it carries its
own patterns (`<defs>`) and draws with presentation attributes (fill, stroke, font-size,
text-anchor), never a `style` attribute or a `<style>` element. So it looks the same inline in
the static report, inline in a page served with `Content-Security-Policy: default-src 'none';
style-src 'self'; img-src 'self' data:`, or as an image file; a page's stylesheet may still
restyle it by class.

Text is sized for reading: the frame is WIDTH user units wide and text FONT_SIZE, so a plot
shown 800 px wide still has text of FONT_SIZE × 800 / WIDTH ≥ 11 px (issue 23: it was ~6 px).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape

from probe.report.formats import epoch_s, utc_at
from probe.report.palette import PATTERNED, VERDICTS, WHITELISTING, verdict_colour

LEFT, PLOT_W, RIGHT = 200.0, 740.0, 20.0
WIDTH = LEFT + PLOT_W + RIGHT
PLOT_RIGHT = LEFT + PLOT_W
FONT_SIZE = 14.0
FONT_FAMILY = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
TEXT_FILL = "#222"
MIN_W = 0.8  # the narrowest bar drawn
TICK_W = 2.0  # a lone measurement's mark
SEAM = 0.5  # adjacent bars overlap by this much: no hairline of background between them
LABEL_CHARS = 26  # a lane's label is cut beyond this (it must fit in LEFT at FONT_SIZE)

_DAY = 86_400
_TICK_STEPS_S: tuple[int, ...] = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_TICK_STEPS_S += (_DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY)
_MAX_TICKS = 6  # about 110 px a label at FONT_SIZE

_MARKS = {
    # blocked: diagonal stripes; throttled: dots; service_down: horizontal lines;
    # whitelisting: a grid (a fence: only what is on the list passes)
    "blocked": (
        'width="5" height="5" patternTransform="rotate(45)"',
        '<rect width="1.4" height="5" fill="#fff" fill-opacity=".55"/>',
    ),
    "throttled": (
        'width="5" height="5"',
        '<circle cx="2.5" cy="2.5" r="1" fill="#000" fill-opacity=".45"/>',
    ),
    "service_down": (
        'width="4" height="4"',
        '<rect width="4" height="1" fill="#fff" fill-opacity=".5"/>',
    ),
    WHITELISTING: (
        'width="6" height="6"',
        '<path d="M0 3H6M3 0V6" stroke="#fff" stroke-opacity=".55" stroke-width="1"/>',
    ),
}


def _pattern(name: str, size: str, mark: str, colour: str) -> str:
    return (
        f'<pattern id="pat-{name}" {size} patternUnits="userSpaceOnUse">'
        f'<rect width="6" height="6" fill="{colour}"/>{mark}</pattern>'
    )


PATTERNS = "".join(
    _pattern(name, size, mark, VERDICTS[name].colour) for name, (size, mark) in _MARKS.items()
) + _pattern(
    "nodata",
    'width="6" height="6" patternTransform="rotate(45)"',
    '<rect width="1" height="6" fill="#ddd"/>',
    "#fff",
)
assert set(_MARKS) == set(PATTERNED), "a patterned verdict without a pattern"
DEFS = f"<defs>{PATTERNS}</defs>"
NODATA_FILL = "url(#pat-nodata)"


def verdict_fill(verdict: str) -> str:
    """Return the SVG fill of a verdict: a pattern (defined in every SVG's DEFS) or a colour."""
    return f"url(#pat-{verdict})" if verdict in PATTERNED else verdict_colour(verdict)


def clamp(x: float, w: float) -> tuple[float, float]:
    """Return (x, width) of a bar in the plot area: at least MIN_W wide, never past its right
    edge (trimmed at it, else moved left of it)."""
    w = max(min(w, PLOT_RIGHT - x), MIN_W)
    return max(min(x, PLOT_RIGHT - w), 0.0), w


def rect(x: float, y: float, w: float, h: float, attrs: str, tip: str = "") -> str:
    """Return a `<rect>` in the plot area: at least MIN_W wide, never past its right edge."""
    x, w = clamp(x, w)
    title = f"<title>{escape(tip)}</title>" if tip else ""
    body = f'x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" {attrs}'
    return f"<rect {body}>{title}</rect>" if title else f"<rect {body}/>"


def text(x: float, y: float, content: str, cls: str, anchor: str = "end", tip: str = "") -> str:
    """Return a `<text>`: escaped, with its anchor and fill as attributes."""
    title = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" '
        f'fill="{TEXT_FILL}">{escape(content)}{title}</text>'
    )


def frame(cls: str, height: float, body: Iterable[str], label: str, data: str = "") -> str:
    """Return a standalone `<svg>`: its patterns, its font and `body`, WIDTH wide."""
    return (
        f'<svg class="{cls}" {data}xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {WIDTH:.0f} {height:.0f}" '
        f'width="{WIDTH:.0f}" height="{height:.0f}" font-family="{FONT_FAMILY}" '
        f'font-size="{FONT_SIZE:g}">{DEFS}{"".join(body)}</svg>'
    )


# ── the time axis ──────────────────────────────────────────────────────────────────────────


def _month_ticks(start: int, end: int) -> list[tuple[int, str]]:
    months = next((m for m in (1, 2, 3, 6) if (end - start) / (m * 30.44 * _DAY) <= _MAX_TICKS), 0)
    months = months or 12 * math.ceil((end - start) / (365.25 * _DAY * _MAX_TICKS))
    first = utc_at(start)
    index = first.year * 12 + first.month - 1 + 1  # the first month boundary after `start`
    index += -index % months
    ticks = []
    while (t := epoch_s(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))) <= end:
        ticks.append((t, utc_at(t).strftime("%b %Y")))
        index += months
    return ticks


def ticks(start: int, end: int) -> list[tuple[int, str]]:
    """Return (time, label) ticks: at most about _MAX_TICKS, on round UTC times."""
    step = next((s for s in _TICK_STEPS_S if (end - start) / s <= _MAX_TICKS), 0)
    if not step:
        return _month_ticks(start, end)
    offset = 4 * _DAY if step >= 7 * _DAY else 0  # weeks begin on Monday (1970-01-05)
    found, previous = [], None
    for t in range(start + (-(start - offset) % step), end + 1, step):
        moment = utc_at(t)
        if step < _DAY:
            new_day = previous is None or previous.date() != moment.date()
            label = moment.strftime("%d %b %H:%M" if new_day else "%H:%M")
        else:
            new_year = previous is None or previous.year != moment.year
            label = moment.strftime("%d %b %Y" if new_year else "%d %b")
        found.append((t, label))
        previous = moment
    return found


def _anchor(x: float, label: str) -> str:
    """Return where a tick's label hangs: centred, unless it would cross "UTC" or the edge."""
    half = len(label) * FONT_SIZE * 0.3
    if x - half < LEFT:
        return "start"
    return "end" if x + half > WIDTH else "middle"


def axis(start: int, end: int, top: float, bottom: float) -> str:
    """Return the time axis of [start, end] (epoch seconds) under a plot from `top` to `bottom`:
    the line, a grid line and a label per tick, and "UTC"."""
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{PLOT_RIGHT}" y2="{bottom}" '
        'stroke="#444"/>'
    ]
    for t, label in ticks(start, end):
        x = LEFT + (t - start) / max(end - start, 1) * PLOT_W
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
            'stroke="#000" stroke-opacity=".12"/>'
        )
        parts.append(text(x, bottom + FONT_SIZE + 4, label, "tick", _anchor(x, label)))
    parts.append(text(LEFT - 8, bottom + FONT_SIZE + 4, "UTC", "utc"))
    return "".join(parts)


# ── the legend ─────────────────────────────────────────────────────────────────────────────

COLOUR_RULE = (
    "Each bar is one time bucket of one network: its height is split among the verdicts in"
    " proportion to their measurements, the most severe at the top; a bucket's tooltip gives"
    " the counts. A lone measurement is a tick at its time. The plot spans the first to the"
    " last measurement, never past the time the page was made."
)
LEGEND_NAMES = {WHITELISTING: "blocked by whitelisting"}


def legend_svg(names: Iterable[str] = VERDICTS) -> str:
    """Return the legend: a swatch (colour and pattern) per verdict with its name, in rows at
    most WIDTH wide; the colour rule is its `<desc>`."""
    parts, x, y = [f"<desc>{escape(COLOUR_RULE)}</desc>"], 4.0, 4.0
    for name in names:
        label = LEGEND_NAMES.get(name, name.replace("_", " "))
        width = 34 + len(label) * FONT_SIZE * 0.6 + 18
        if x > 4 and x + width > WIDTH:
            x, y = 4.0, y + 24
        parts.append(
            f'<g class="swatch" data-verdict="{escape(name)}">'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="28" height="16" fill="{verdict_fill(name)}" '
            f'stroke="#777"/>{text(x + 34, y + 13, label, "label", "start")}</g>'
        )
        x += width
    return (
        f'<svg class="legend" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="legend"'
        f' viewBox="0 0 {WIDTH:.0f} {y + 24:.0f}" width="{WIDTH:.0f}" height="{y + 24:.0f}"'
        f' font-family="{FONT_FAMILY}" font-size="{FONT_SIZE:g}">{DEFS}{"".join(parts)}</svg>'
    )
