"""One palette for every renderer (issue 22: `throttled` was red in the terminal and dark
orange in the HTML report): every member of the vocabularies has an HTML and a terminal form,
and the terminal, the HTML page and the SVG plots all take theirs from probe/report/palette.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.color import Color
from rich.style import Style

from probe.cli import render as cli_render
from probe.models.live import LiveState
from probe.models.reports import ClaimFinding
from probe.models.results import NetworkState, Verdict
from probe.report import palette, plots, svg
from probe.report import render as report_render
from probe.report.html import html_report
from probe.report.palette import FINDINGS, LIVE_STATES, NETWORK_STATES, VERDICTS, WHITELISTING

PROBE = Path(palette.__file__).resolve().parent.parent
HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
VOCABULARIES = {
    "verdict": ([*Verdict, WHITELISTING], VERDICTS),
    "claim finding": (list(ClaimFinding), FINDINGS),
    "network state": (list(NetworkState), NETWORK_STATES),
    "live state": (list(LiveState), LIVE_STATES),
}


@pytest.mark.parametrize("name", sorted(VOCABULARIES))
def test_every_member_has_an_html_and_a_terminal_form(name: str) -> None:
    members, swatches = VOCABULARIES[name]
    assert set(swatches) == {str(m) for m in members}, name
    for member in members:
        swatch = swatches[str(member)]
        assert HEX.match(swatch.colour), (name, member, swatch.colour)
        assert swatch.style and Style.parse(swatch.style) is not None, (name, member)


def test_the_terminal_uses_the_palette() -> None:
    assert cli_render.VERDICT_STYLE == {v: s.style for v, s in VERDICTS.items()}
    assert cli_render.NETWORK_STYLE == {v: s.style for v, s in NETWORK_STATES.items()}
    assert report_render._VERDICT_STYLE == cli_render.VERDICT_STYLE
    assert report_render._FINDING_STYLE == {f: s.style for f, s in FINDINGS.items()}


def test_the_html_and_the_svg_use_the_palette() -> None:
    assert plots.VERDICT_COLOURS == {v: s.colour for v, s in VERDICTS.items()}
    assert plots.FINDING_COLOURS == {f: s.colour for f, s in FINDINGS.items()}
    for verdict in palette.PATTERNED:  # a pattern's ground is the verdict's colour
        tile = re.search(rf'<pattern id="pat-{verdict}"[^>]*><rect [^>]*fill="([^"]+)"', svg.DEFS)
        assert tile and tile.group(1) == VERDICTS[verdict].colour, verdict
    for verdict in set(VERDICTS) - set(palette.PATTERNED):
        assert svg.verdict_fill(verdict) == VERDICTS[verdict].colour
    from .test_render import make_report

    page = html_report(make_report())
    for finding in ClaimFinding:
        assert f"background:{FINDINGS[finding].colour}" in page


def test_no_other_module_defines_a_verdict_colour() -> None:
    """The palette's colours are written once: a second copy is how issue 22's drift began."""
    colours = {s.colour.upper() for s in [*VERDICTS.values(), *FINDINGS.values()]}
    # a map from a verdict's name to a literal: a colour table of its own
    table = re.compile(r'"(?:{})":\s*"'.format("|".join([*VERDICTS, *FINDINGS])))
    for path in sorted(PROBE.rglob("*.py")):
        if path.name == "palette.py":
            continue
        source = path.read_text(encoding="utf-8")
        found = colours & {c.upper() for c in re.findall(r"#[0-9A-Fa-f]{6}\b", source)}
        assert not found, f"{path.relative_to(PROBE)} repeats {sorted(found)}"
        assert not table.search(source), f"{path.relative_to(PROBE)}: a colour table"


def test_throttled_is_one_hue_on_both_surfaces() -> None:
    """Issue 22: red in the terminal, dark orange in the HTML."""
    colour = Style.parse(VERDICTS[Verdict.THROTTLED].style).color
    assert colour is not None
    assert colour.get_truecolor() == Color.parse(VERDICTS[Verdict.THROTTLED].colour).triplet
    assert cli_render.VERDICT_STYLE["throttled"] == report_render._VERDICT_STYLE["throttled"]


def test_the_live_pages_use_the_palette() -> None:
    from probe.collector import pages

    assert pages.STATE_COLOURS == {s: w.colour for s, w in LIVE_STATES.items()}
    assert pages.STATE_COLOURS[LiveState.BLOCKED] == VERDICTS["blocked"].colour
