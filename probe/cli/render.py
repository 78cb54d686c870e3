"""Renderers: records in, rich renderables or text out."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported only when a table or a spinner is shown, not for --json
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    from probe.models.results import TargetResult


def __getattr__(name: str) -> dict[str, str]:
    """`VERDICT_STYLE` and `NETWORK_STYLE`: the terminal forms of the one palette
    (probe/report/palette.py), shared with the HTML report. Made when first used: the palette
    imports the report's models, which `probe check --json` never needs (issue 19)."""
    from probe.report.palette import NETWORK_STATES, VERDICTS

    palettes = {"VERDICT_STYLE": VERDICTS, "NETWORK_STYLE": NETWORK_STATES}
    if name not in palettes:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    styles = {key: swatch.style for key, swatch in palettes[name].items()}
    globals()[name] = styles  # once: the next lookups find it without this function
    return styles


def styles(name: str) -> dict[str, str]:
    """`VERDICT_STYLE` or `NETWORK_STYLE` (a module's own functions do not reach `__getattr__`)."""
    found: dict[str, str] | None = globals().get(name)
    return found if found is not None else __getattr__(name)


def print_json_line(result: TargetResult) -> None:
    """Print `result` as one line of JSON (the model's own serialisation)."""
    sys.stdout.write(result.model_dump_json() + "\n")
    sys.stdout.flush()


# What the table needs beyond the spinner's modules: imported while the run waits (issue 19).
TABLE_IMPORTS = ("probe.report.palette", "rich.table")

# Below this many columns the tables become lists: an SSH terminal is 80 wide (issue 20).
WIDE_COLUMNS = 100
# Reasons shown per target: the first is the summary, the next ones say why (the table used to
# hide "the local DNS is down" behind "all 2 endpoints failed with the network").
SHOWN_REASONS = 3


def verdict_text(verdict: str, blocking: str | None) -> Text:
    """Return the verdict (styled) and its blocking method: "blocked (tls_reset)"."""
    from rich.text import Text

    text = Text(verdict, style=styles("VERDICT_STYLE").get(verdict, ""))
    if blocking:
        text.append(f" ({blocking})")
    return text


def _reasons(reasons: list[str]) -> Text:
    from rich.text import Text

    shown = reasons[:SHOWN_REASONS]
    more = len(reasons) - len(shown)
    # Text, not markup: a target or a page title with "[/]" in it must print as itself.
    text = Text("\n".join(shown))
    if more:
        text.append(f"\n(+{more} more: `probe results show ID` or --json)", style="dim")
    return text


def results_table(results: list[TargetResult]) -> Table:
    """Return a table with each target's verdict, blocking method and first reasons."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, header_style="bold")
    table.add_column("target", overflow="fold", max_width=40)
    table.add_column("verdict", no_wrap=True)
    table.add_column("blocking", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for result in results:
        table.add_row(
            Text(result.input),
            verdict_text(result.verdict.value, None),
            result.blocking.value if result.blocking else "–",
            _reasons(result.reasons),
        )
    return table


def results_list(results: list[TargetResult]) -> Group:
    """Return the narrow layout: per target a line "target  verdict (blocking)", then its
    reasons indented; lines wrap between words, so a verdict is never cut."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    parts: list[Any] = []
    for result in results:
        line = Text(result.input, style="bold")
        line.append("  ")
        line.append_text(
            verdict_text(result.verdict.value, result.blocking.value if result.blocking else None)
        )
        parts += [line, Padding(_reasons(result.reasons), (0, 0, 0, 4))]
    return Group(*parts)


def results_view(results: list[TargetResult], width: int) -> Table | Group:
    """Return the table on a wide terminal, the list on a narrow one."""
    return results_table(results) if width >= WIDE_COLUMNS else results_list(results)


def network_line(results: list[TargetResult]) -> Text | None:
    """Return the line on the network's state shown above the table: the assessment of the
    result decided last with the most evidence (every target's record carries its own)."""
    from rich.text import Text

    assessed = [r.network for r in results if r.network is not None]
    if not assessed:
        return None
    network = max(assessed, key=lambda n: len(n.loaded_targets))
    line = Text("network: ", style="bold")
    line.append(network.state.value, style=styles("NETWORK_STYLE").get(network.state.value, ""))
    if network.reasons:
        line.append(f" — {network.reasons[0]}")
    return line


def asn_line(results: list[TargetResult]) -> Text | None:
    """Return the line naming the probe's network ("as: AS9198 Kcell (KZ)"), or saying plainly
    that it is unknown and how to learn it."""
    from rich.text import Text

    if not results:
        return None
    known = [r for r in results if r.probe_asn != "AS0"]
    line = Text("as: ", style="bold")
    if not known:
        line.append("unknown", style="yellow")
        line.append(" — results are filed under AS0/ZZ; `probe geoip update` fetches a free"
                    " ASN database")  # fmt: skip
        return line
    first = known[0]
    line.append(first.probe_asn)
    if first.probe_network_name:
        line.append(f" {first.probe_network_name}")
    if first.probe_cc != "ZZ":
        line.append(f" ({first.probe_cc})")
    return line


def print_table(results: list[TargetResult], console: Console | None = None) -> None:
    """Print the network's state and name, then the results (a table or, narrow, a list)."""
    from rich.console import Console

    console = console or Console()
    for line in (network_line(results), asn_line(results)):
        if line is not None:
            console.print(line)
    console.print(results_view(results, console.width))


class Progress:
    """The progress line: a callback per finished target, and `waiting()` for what a long wait
    waits for ("tracing the path to 203.0.113.13: hop 3")."""

    def __init__(self, total: int, status: Any) -> None:
        self._total, self._done, self._status = total, 0, status
        self._last = f"measuring {total} target(s)…"

    def __call__(self, result: TargetResult) -> None:
        self._done += 1
        self._last = (
            f"measured {self._done}/{self._total} — last: {result.input}: {result.verdict.value}"
        )
        self._status.update(self._last)

    def waiting(self, what: str) -> None:
        self._status.update(f"{self._last} — {what}")


@contextmanager
def progress(total: int) -> Iterator[Progress]:
    """Yield a callback that shows progress on stderr while targets complete."""
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"measuring {total} target(s)…") as status:
        yield Progress(total, status)
