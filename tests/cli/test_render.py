"""The results table prints what it is given, markup-looking text included."""

from __future__ import annotations

from rich.console import Console

from probe.cli.render import results_table
from probe.models.results import TargetResult, Verdict
from probe.models.targets import Target, TargetKind


def test_markup_in_a_target_or_a_reason_prints_as_itself() -> None:
    hostile = "http://example.com/[/]x[bold]"
    result = TargetResult(
        input=hostile, verdict=Verdict.INCONCLUSIVE, reasons=["title was [red]gone[/red] [/]"],
        target=Target(input=hostile, kind=TargetKind.URL, name="example.com", endpoints=[]),
        measurement_start_time="2026-11-29T00:00:00Z", test_runtime=0.1, software_version="t",
    )  # fmt: skip
    console = Console(record=True, width=200)
    console.print(results_table([result]))
    text = console.export_text()
    assert hostile in text and "title was [red]gone[/red] [/]" in text
