"""Renderers of what the store holds: the results list, one result whole, the jobs table.

Pure: records in, rich renderables out. Below `WIDE_COLUMNS` the layouts drop borders and
shorten times (never cut them): an SSH terminal is 80 columns (issue 20).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from probe.cli.explain import NOT_RECORDED
from probe.cli.render import WIDE_COLUMNS, network_line, verdict_text

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from probe.models.stored import StoredResult

ID_SHOWN = 8  # characters of a measurement_id the list shows; `results show` takes them


def _table(width: int, *columns: str) -> Table:
    from rich import box
    from rich.table import Table

    narrow = width < WIDE_COLUMNS
    return Table(
        *columns,
        header_style="bold",
        box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
        pad_edge=not narrow,
        padding=(0, 1),
    )


def stored_view(items: list[StoredResult], width: int) -> Table:
    """Return the stored results table; narrow, the job column goes and times lose the year."""
    from rich.text import Text

    narrow = width < WIDE_COLUMNS
    table = _table(width)
    table.add_column("measured (UTC)", no_wrap=True)
    if not narrow:
        table.add_column("job", overflow="fold")
    table.add_column("target", overflow="fold", ratio=1)
    table.add_column("verdict", no_wrap=True)
    table.add_column("id", no_wrap=True)
    when = "%m-%d %H:%M" if narrow else "%Y-%m-%d %H:%M:%S"
    for item in items:
        cells: list[Any] = [item.measurement_start_time.strftime(when)]
        if not narrow:
            cells.append(Text(item.job))
        blocking = item.blocking.value if item.blocking else None
        cells += [Text(item.input), verdict_text(item.verdict.value, blocking)]
        cells.append(str(item.measurement_id)[:ID_SHOWN])
        table.add_row(*cells)
    return table


def stored_detail(item: StoredResult) -> Group:
    """Return one stored result whole: where and when, the verdict, every reason, the
    network, and each endpoint with its own verdict and reasons."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    blocking = item.blocking.value if item.blocking else None
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    network = (
        f"{item.probe_asn} {item.probe_network_name or ''} ({item.probe_cc})"
        if item.probe_asn != "AS0"
        else "unknown (AS0): `probe geoip update` fetches a free ASN database"
    )
    for key, value in (
        ("id", Text(str(item.measurement_id))),
        ("job", Text(item.job)),
        ("measured", Text(f"{item.measurement_start_time:%Y-%m-%d %H:%M:%S} UTC")),
        ("target", Text(item.input)),
        ("verdict", verdict_text(item.verdict.value, blocking)),
        ("decided by", Text(" → ".join(item.rules) or NOT_RECORDED)),
        ("network", Text(network)),
    ):
        facts.add_row(key, value)
    parts: list[Any] = [facts]
    state = network_line([item])
    if state is not None:
        parts.append(state)
    parts.append(Text("reasons:", style="bold"))
    parts += [Padding(Text(f"- {reason}"), (0, 0, 0, 2)) for reason in item.reasons]
    for endpoint in item.endpoints:
        line = Text(f"endpoint {endpoint.endpoint.label}: ", style="bold")
        e_blocking = endpoint.blocking.value if endpoint.blocking else None
        line.append_text(verdict_text(endpoint.verdict.value, e_blocking))
        parts.append(line)
        parts += [Padding(Text(f"- {reason}"), (0, 0, 0, 2)) for reason in endpoint.reasons]
    return Group(*parts)


def _time(value: object, narrow: bool) -> str:
    """Return an ISO time as the table shows it: whole, or without the year when narrow."""
    if not value:
        return "-"
    text = str(value).replace("T", " ")
    return text[5:16] if narrow else text[:19]


def status_table(jobs: list[dict[str, Any]], width: int) -> Table:
    """Return the jobs table of `probe status`: last run, its outcome and the next run."""
    from probe.config import format_duration

    narrow = width < WIDE_COLUMNS
    table = _table(width)
    table.add_column("job", overflow="fold", ratio=1)
    for name in ("targets", "every", "last run (UTC)", "status", "stored", "next run"):
        table.add_column(name, no_wrap=True)
    for job in jobs:
        run: dict[str, Any] = job["last_run"] or {}
        table.add_row(
            job["name"], str(job["targets"]), format_duration(job["every_s"]),
            _time(run.get("started_at"), narrow), str(run.get("status", "-")),
            str(run.get("stored", "-")), _time(job["next_run"], narrow),
        )  # fmt: skip
    return table


__all__ = ["ID_SHOWN", "status_table", "stored_detail", "stored_view"]
