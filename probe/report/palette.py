"""The one palette: a colour per member of the verdict, claim-finding and network-state
vocabularies, in an HTML/SVG form and a terminal (rich) form, shared by every renderer.

Pure and light (the standard library and probe.models only), so the terminal can import it on
the `probe check` path. The colours are Okabe–Ito based, colour-blind aware; blocked,
throttled, service_down and whitelisting also carry an SVG pattern, so that no verdict is told
by hue alone. The terminal forms keep each hue but are chosen to read on dark and light
terminals: the HTML's near-black outage grey would vanish on a dark one.

The terminal used `red` for throttled and the HTML a dark orange (issue 22): both now read
their colours here, and tests/report/test_palette.py checks that every vocabulary member has
both forms and that cli/render.py, report/render.py and report/plots.py take them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from probe.models.live import LiveState
from probe.models.reports import ClaimFinding
from probe.models.results import Blocking, NetworkState, Verdict

__all__ = [
    "FINDINGS",
    "LIVE_STATES",
    "NETWORK_STATES",
    "PATTERNED",
    "VERDICTS",
    "WHITELISTING",
    "Swatch",
    "badge_style",
    "finding_colour",
    "luminance",
    "swatch_class",
    "swatch_css",
    "text_tone",
    "verdict_colour",
    "verdict_style",
]

# The timeline's and the report's name for measurements blocked by whitelisting: a verdict of
# its own on the plots (TimelineCell.counts), since it is the network's cut, not the platform's.
WHITELISTING = Blocking.WHITELISTING.value


@dataclass(frozen=True)
class Swatch:
    """One vocabulary member's colours: `colour` ("#rrggbb") fills SVG and HTML; `style` is the
    rich style of its text in a terminal."""

    colour: str
    style: str


_GREEN, _VERMILION, _ORANGE = "#009E73", "#D55E00", "#E69F00"
_GREY, _PURPLE, _LIGHT, _BLUE = "#3A3A3A", "#882E72", "#D9D9D9", "#0072B2"

VERDICTS: MappingProxyType[str, Swatch] = MappingProxyType(
    {
        Verdict.ACCESSIBLE.value: Swatch(_GREEN, _GREEN),
        Verdict.BLOCKED.value: Swatch(_VERMILION, f"bold {_VERMILION}"),
        Verdict.THROTTLED.value: Swatch(_ORANGE, _ORANGE),
        Verdict.NETWORK_OUTAGE.value: Swatch(_GREY, "bold grey62"),
        Verdict.SERVICE_DOWN.value: Swatch(_PURPLE, "#CC79A7"),
        Verdict.INCONCLUSIVE.value: Swatch(_LIGHT, "dim"),
        # a network-wide cut, not one platform's block, and never the grey of an outage
        WHITELISTING: Swatch(_BLUE, "bold #3D8FD1"),
    }
)
# The verdicts drawn with a pattern over their colour (plots.py defines the patterns).
PATTERNED = (
    Verdict.BLOCKED.value,
    Verdict.THROTTLED.value,
    Verdict.SERVICE_DOWN.value,
    WHITELISTING,
)


def luminance(colour: str) -> float:
    """Return the WCAG relative luminance of "#rrggbb"."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_tone(background: str) -> str:
    """Return "light" when black text reads best on `background`, else "dark" (white text)."""
    # 0.179 is where black and white text have the same WCAG contrast.
    return "light" if luminance(background) > 0.179 else "dark"


def badge_style(background: str) -> str:
    """Return the rich style of a badge: bold black or white text on `background`."""
    text = "black" if text_tone(background) == "light" else "white"
    return f"bold {text} on {background}"


_FINDING_COLOURS = {
    ClaimFinding.CONSISTENT_WITH_OUTAGE: _GREY,
    ClaimFinding.CONTRADICTED_BY_BLOCKING: _VERMILION,
    ClaimFinding.PLATFORM_OUTAGE: _PURPLE,
    ClaimFinding.INSUFFICIENT_DATA: _LIGHT,
}
FINDINGS: MappingProxyType[str, Swatch] = MappingProxyType(
    {f.value: Swatch(c, badge_style(c)) for f, c in _FINDING_COLOURS.items()}
)
NETWORK_STATES: MappingProxyType[str, Swatch] = MappingProxyType(
    {
        NetworkState.NORMAL.value: VERDICTS[Verdict.ACCESSIBLE.value],
        NetworkState.INTERCEPTED.value: Swatch(_ORANGE, f"bold {_ORANGE}"),
        NetworkState.WHITELISTED.value: VERDICTS[WHITELISTING],
        NetworkState.OUTAGE.value: VERDICTS[Verdict.NETWORK_OUTAGE.value],
        NetworkState.UNKNOWN.value: VERDICTS[Verdict.INCONCLUSIVE.value],
    }
)
# The collector's live matrix (collector/pages.py): a cell's latest state.
LIVE_STATES: MappingProxyType[str, Swatch] = MappingProxyType(
    {
        LiveState.ACCESSIBLE.value: VERDICTS[Verdict.ACCESSIBLE.value],
        LiveState.BLOCKED.value: VERDICTS[Verdict.BLOCKED.value],
        LiveState.THROTTLED.value: VERDICTS[Verdict.THROTTLED.value],
        LiveState.WHITELISTING.value: VERDICTS[WHITELISTING],
        LiveState.NETWORK_OUTAGE.value: VERDICTS[Verdict.NETWORK_OUTAGE.value],
        LiveState.PLATFORM_DOWN.value: VERDICTS[Verdict.SERVICE_DOWN.value],
        LiveState.NO_RECENT_DATA.value: VERDICTS[Verdict.INCONCLUSIVE.value],
    }
)
_UNKNOWN = Swatch("#999999", "")


def verdict_colour(verdict: str) -> str:
    """Return the "#rrggbb" of a verdict (or of "whitelisting"); grey for an unknown one."""
    return VERDICTS.get(str(verdict), _UNKNOWN).colour


def verdict_style(verdict: str) -> str:
    """Return the rich style of a verdict (or of "whitelisting"); none for an unknown one."""
    return VERDICTS.get(str(verdict), _UNKNOWN).style


def finding_colour(finding: str) -> str:
    """Return the "#rrggbb" of a claim finding."""
    return FINDINGS[str(finding)].colour


# The heat map's two ends (report/plots.py), named in its caption.
HEAT_ENDS = ("#fff7ec", "#7f0000")


def swatch_class(colour: str) -> str:
    """Return the CSS class that fills an element with `colour` ("#rrggbb"): pages set colours
    by class, never by a `style` attribute, so that a strict Content-Security-Policy (a hash of
    the page's one stylesheet) holds."""
    return "sw-" + colour.removeprefix("#").lower()


def swatch_css() -> str:
    """Return the rules of every palette colour's class (see `swatch_class`)."""
    colours = {
        *(w.colour for table in (VERDICTS, FINDINGS, NETWORK_STATES, LIVE_STATES)
          for w in table.values()),
        *HEAT_ENDS,
        _UNKNOWN.colour,
    }  # fmt: skip
    return "".join(f".{swatch_class(c)}{{background:{c}}}" for c in sorted(colours))
