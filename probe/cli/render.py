"""Renderers: records in, rich renderables or text out."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported only when a table or a spinner is shown, not for --json
    from rich.table import Table
    from rich.text import Text

    from probe.models.results import TargetResult

VERDICT_STYLE = {
    "accessible": "green",
    "blocked": "bold red",
    "throttled": "red",
    "network_outage": "yellow",
    "service_down": "magenta",
    "inconclusive": "dim",
}


def print_json_line(result: TargetResult) -> None:
    """Print `result` as one line of JSON (the model's own serialisation)."""
    sys.stdout.write(result.model_dump_json() + "\n")
    sys.stdout.flush()


def results_table(results: list[TargetResult]) -> Table:
    """Return a table with each target's verdict, blocking method and first reason."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, header_style="bold")
    table.add_column("target", overflow="fold")
    table.add_column("verdict")
    table.add_column("blocking")
    table.add_column("reason", overflow="fold", ratio=1)
    for result in results:
        style = VERDICT_STYLE.get(result.verdict.value, "")
        # Text, not markup: a target or a page title with "[/]" in it must print as itself.
        table.add_row(
            Text(result.input),
            Text(result.verdict.value, style=style),
            result.blocking.value if result.blocking else "–",
            Text(result.reasons[0] if result.reasons else ""),
        )
    return table


NETWORK_STYLE = {
    "normal": "green",
    "intercepted": "bold yellow",
    "whitelisted": "bold red",
    "outage": "yellow",
    "unknown": "dim",
}


def network_line(results: list[TargetResult]) -> Text | None:
    """Return the line on the network's state shown above the table: the assessment of the
    result decided last with the most evidence (every target's record carries its own)."""
    from rich.text import Text

    assessed = [r.network for r in results if r.network is not None]
    if not assessed:
        return None
    network = max(assessed, key=lambda n: len(n.loaded_targets))
    line = Text("network: ", style="bold")
    line.append(network.state.value, style=NETWORK_STYLE.get(network.state.value, ""))
    if network.reasons:
        line.append(f" — {network.reasons[0]}")
    return line


def print_table(results: list[TargetResult]) -> None:
    """Print the network's state, then the results table, to stdout."""
    from rich.console import Console

    console = Console()
    line = network_line(results)
    if line is not None:
        console.print(line)
    console.print(results_table(results))


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
