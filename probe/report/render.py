"""Render a finished `Report`: a CSV and a terminal summary; the HTML page is html.py's.

Pure: a `Report` in, text out (or, for the terminal, printed to the console it is given).
Claims and inputs come from users, so every string is escaped for the medium it lands in
(CSV formulas, rich markup). rich is imported only when a summary is printed.

`html_report` is re-exported here, so that callers import the three renderers from one place.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from probe.models.reports import (
    AssessedClaim,
    FailureWindow,
    Incident,
    Report,
    WindowKind,
)
from probe.models.results import Blocking, Verdict
from probe.report.formats import iso_text, methods_text, minute_text
from probe.report.html import html_report
from probe.report.palette import FINDINGS, VERDICTS

if TYPE_CHECKING:  # rich is imported inside print_report only
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

__all__ = ["CSV_COLUMNS", "csv_report", "html_report", "print_report"]

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "record", "network", "network_name", "platform", "start", "end", "onset_after",
    "ended_before", "verdict", "blocking", "methods", "endpoints", "measurements", "probes",
    "confidence", "finding", "statement", "source", "summary",
)  # fmt: skip


# ── CSV ────────────────────────────────────────────────────────────────────────────────────


def _csv_cell(value: object) -> str:
    # A spreadsheet runs a cell that begins with = + - @ as a formula: claims come from users.
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _incident_record(incident: Incident) -> dict[str, object]:
    return {
        "record": "incident",
        "network": incident.network,
        "network_name": incident.network_name,
        "platform": incident.platform,
        "start": iso_text(incident.start),
        "end": iso_text(incident.end),
        "onset_after": iso_text(incident.onset_after),
        "ended_before": iso_text(incident.ended_before),
        "verdict": incident.verdict.value,
        "blocking": incident.blocking.value if incident.blocking else "",
        "methods": methods_text(incident.methods),
        "endpoints": ";".join(incident.endpoints),
        "measurements": incident.measurements,
        "probes": incident.probes,
        "confidence": incident.confidence.value,
        "summary": "; ".join(incident.confidence_reasons),
    }


_WINDOW_VERDICTS = {
    WindowKind.NETWORK_OUTAGE: Verdict.NETWORK_OUTAGE,
    WindowKind.PLATFORM_DOWN: Verdict.SERVICE_DOWN,
    WindowKind.WHITELISTING: Verdict.BLOCKED,
}


def _window_record(window: FailureWindow) -> dict[str, object]:
    reasons = list(window.confidence_reasons)
    if window.sites_loaded:
        reasons.insert(0, "control sites that loaded: " + ", ".join(window.sites_loaded))
    return {
        "record": window.kind.value,
        "network": ";".join(window.networks) or window.network,
        "platform": ";".join(window.platforms) or window.platform,
        "start": iso_text(window.start),
        "end": iso_text(window.end),
        "onset_after": iso_text(window.onset_after),
        "ended_before": iso_text(window.ended_before),
        "verdict": _WINDOW_VERDICTS[window.kind].value,
        "blocking": Blocking.WHITELISTING.value if window.kind is WindowKind.WHITELISTING else "",
        "measurements": window.measurements,
        "probes": window.probes,
        "confidence": window.confidence.value,
        "summary": "; ".join(reasons),
    }


def _claim_record(assessed: AssessedClaim) -> dict[str, object]:
    claim, evidence = assessed.claim, assessed.evidence
    methods: Counter[str] = Counter()
    for blocked in evidence.blocked:
        methods.update(blocked.methods)
    return {
        "record": "claim",
        "network": claim.network or "",
        "platform": ";".join(claim.platforms),
        "start": iso_text(claim.start),
        "end": iso_text(claim.end),
        "methods": methods_text(methods),
        "measurements": evidence.measurements,
        "probes": evidence.probes,
        "finding": assessed.finding.value,
        "statement": claim.statement,
        "source": claim.source or "",
        "summary": assessed.summary,
    }


def csv_report(report: Report) -> str:
    """Return incidents, outage, whitelisting and platform-down windows and claims as one CSV
    with a header (a whitelisting row: verdict blocked, blocking whitelisting, and the control
    sites that loaded first in its summary).

    Times are ISO 8601 UTC ("…Z"); lists are ";"-joined; an empty network or platform on a
    claim row means all of them. A cell that would start a spreadsheet formula gets a "'".
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    records = [_incident_record(i) for i in report.incidents]
    windows = [*report.outages, *report.whitelisting, *report.platform_down]
    records += [_window_record(w) for w in windows]
    records += [_claim_record(c) for c in report.claims]
    for record in records:
        writer.writerow({key: _csv_cell(value) for key, value in record.items()})
    return out.getvalue()


# ── terminal ───────────────────────────────────────────────────────────────────────────────

# The terminal forms of the one palette (palette.py), the HTML report's colours.
_VERDICT_STYLE: dict[str, str] = {name: swatch.style for name, swatch in VERDICTS.items()}
_FINDING_STYLE: dict[str, str] = {name: swatch.style for name, swatch in FINDINGS.items()}


def _scope_line(report: Report) -> Text:
    from rich.text import Text

    scope = report.scope
    line = Text.assemble(
        ("Report ", "bold"),
        f"{minute_text(scope.since or scope.first_measurement)} – "
        f"{minute_text(scope.until or scope.last_measurement)} UTC · ",
        scope.source,
        f" · {scope.measurements} measurements, {scope.probes} probe(s), "
        f"{len(scope.networks)} network(s), {len(scope.platforms)} platform(s)",
    )
    if scope.skipped_records:
        line.append(f" · {scope.skipped_records} record(s) skipped", "yellow")
    return line


def _span_text(start: datetime, end: datetime) -> str:
    return f"{minute_text(start)}\n→ {minute_text(end)}"


def _windows_table(title: str, windows: Sequence[FailureWindow], style: str = "") -> Table:
    from rich.table import Table
    from rich.text import Text

    sites = any(w.sites_loaded for w in windows)
    table = Table(title=title, title_justify="left", title_style=style, header_style="bold")
    table.add_column("Networks", overflow="fold", max_width=30)
    table.add_column("Platforms", overflow="fold", max_width=24)
    if sites:
        table.add_column("Loaded meanwhile", overflow="fold", max_width=30)
    table.add_column("Start → end (UTC)", no_wrap=True)
    table.add_column("Meas.", justify="right")
    table.add_column("Probes", justify="right")
    table.add_column("Conf.")
    for w in sorted(windows, key=lambda w: w.start, reverse=True):
        loaded = [Text(", ".join(w.sites_loaded) or "–")] if sites else []
        table.add_row(
            Text(", ".join(w.networks) or w.network),
            Text(", ".join(w.platforms) or w.platform),
            *loaded,
            _span_text(w.start, w.end),
            str(w.measurements),
            str(w.probes),
            w.confidence.value,
        )
    return table


def _incidents_table(incidents: Sequence[Incident]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Incidents (most recent first)", title_justify="left", header_style="bold")
    table.add_column("Platform", overflow="fold", max_width=20)
    table.add_column("Network", overflow="fold", max_width=22)
    table.add_column("Start → end (UTC)", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Method", overflow="fold")
    table.add_column("Meas.", justify="right")
    table.add_column("Conf.")
    for i in sorted(incidents, key=lambda i: (i.start, i.end), reverse=True):
        table.add_row(
            Text(i.platform),
            Text(f"{i.network} {i.network_name}".strip()),
            _span_text(i.start, i.end),
            Text(i.verdict.value, _VERDICT_STYLE.get(i.verdict.value, "")),
            i.blocking.value if i.blocking else "–",
            str(i.measurements),
            i.confidence.value,
        )
    return table


def _claims_table(claims: Sequence[AssessedClaim]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Claims", title_justify="left", header_style="bold")
    table.add_column("#", no_wrap=True)
    table.add_column("Period (UTC)", no_wrap=True)
    table.add_column("Network", overflow="fold", max_width=14)
    table.add_column("Statement", overflow="fold", ratio=1)
    table.add_column("Said by", overflow="fold", max_width=14)
    table.add_column("Finding", no_wrap=True)
    for number, c in enumerate(claims, 1):
        table.add_row(
            f"C{number}",
            _span_text(c.claim.start, c.claim.end),
            Text(c.claim.network or "all"),
            Text(c.claim.statement),
            Text(c.claim.said_by or "–"),
            Text(c.finding.value, _FINDING_STYLE[c.finding]),
        )
    return table


# Below this width the tables would cut words (80 columns is an SSH terminal's default): each
# item becomes a short block of lines that wrap between words (issue 20).
NARROW_COLUMNS = 100


def _item(head: Text, *lines: str | Text) -> Text:
    from rich.text import Text

    block = Text("• ").append_text(head)
    for line in lines:
        block.append("\n  ").append_text(line if isinstance(line, Text) else Text(line))
    return block


def _span_line(start: datetime, end: datetime, count: str) -> str:
    return f"{minute_text(start)} → {minute_text(end)} UTC · {count}"


def _incident_items(incidents: Sequence[Incident]) -> list[Text]:
    from rich.text import Text

    items = []
    for i in sorted(incidents, key=lambda i: (i.start, i.end), reverse=True):
        head = Text.assemble(
            (i.platform, "bold"), f" on {i.network} {i.network_name}".rstrip(), " — ",
            (i.verdict.value, _VERDICT_STYLE.get(i.verdict.value, "")),
            f" ({i.blocking.value})" if i.blocking else "", f", {i.confidence.value} confidence",
        )  # fmt: skip
        items.append(_item(head, _span_line(i.start, i.end, f"{i.measurements} measurements")))
    return items


def _window_items(windows: Sequence[FailureWindow]) -> list[Text]:
    from rich.text import Text

    items = []
    for w in sorted(windows, key=lambda w: w.start, reverse=True):
        platforms = ", ".join(w.platforms) or w.platform
        head = Text.assemble(
            (", ".join(w.networks) or w.network, "bold"),
            f" ({'all platforms' if platforms == '*' else platforms})",
            f" — {w.confidence.value} confidence",
        )
        lines = [_span_line(w.start, w.end, f"{w.measurements} measurements, {w.probes} probe(s)")]
        if w.sites_loaded:
            lines.append(f"loaded meanwhile: {', '.join(w.sites_loaded)}")
        items.append(_item(head, *lines))
    return items


def _claim_items(claims: Sequence[AssessedClaim]) -> list[Text]:
    from rich.text import Text

    items = []
    for number, c in enumerate(claims, 1):
        who = f" · {c.claim.said_by}" if c.claim.said_by else ""
        head = Text.assemble(
            (f"C{number} ", "bold"), c.claim.network or "all networks", " · ",
            f"{minute_text(c.claim.start)} → {minute_text(c.claim.end)} UTC", who,
        )  # fmt: skip
        said = Text(f"“{c.claim.statement}”")
        finding = Text.assemble((c.finding.value, _FINDING_STYLE[c.finding]), ": ", c.summary)
        items.append(_item(head, said, finding))
    return items


def _print_narrow(report: Report, console: Console) -> None:
    """Print the report's tables as wrapped items: nothing is cut at 80 columns."""
    sections: list[tuple[str, list[Text], str]] = [
        ("Incidents (most recent first)", _incident_items(report.incidents), "bold"),
        (
            "Whitelisting: only allow-listed destinations loaded (not an outage)",
            _window_items(report.whitelisting),
            _VERDICT_STYLE["whitelisting"],
        ),
        ("Network outages", _window_items(report.outages), "bold"),
        ("Platforms down", _window_items(report.platform_down), "bold"),
        ("Claims", _claim_items(report.claims), "bold"),
    ]
    for title, items, style in sections:
        if items:
            console.print(title, style=style or "bold")
            for item in items:
                console.print(item)


def print_report(report: Report, console: Console) -> None:
    """Print a summary of `report`: scope, incidents, whitelisting, outage and platform-down
    windows, and claims with their findings (as wrapped items below NARROW_COLUMNS)."""
    from rich.text import Text

    console.print(_scope_line(report))
    if console.width < NARROW_COLUMNS:
        if report.scope.measurements == 0 and not report.timeline:
            console.print("No measurements in this period.", style="bold yellow")
        elif report.whitelisting and not report.incidents:
            console.print("No platform was found blocked or throttled by a method of its own.")
        elif not report.incidents:
            console.print("No platform was found blocked or throttled.", style="green")
        _print_narrow(report, console)
        return
    if report.scope.measurements == 0 and not report.timeline:
        console.print("No measurements in this period.", style="bold yellow")
    elif report.incidents:
        console.print(_incidents_table(report.incidents))
    elif report.whitelisting:
        console.print("No platform was found blocked or throttled by a method of its own.")
    else:
        console.print("No platform was found blocked or throttled.", style="green")
    if report.whitelisting:
        title = "Whitelisting: only allow-listed destinations loaded (not an outage)"
        console.print(_windows_table(title, report.whitelisting, _VERDICT_STYLE["whitelisting"]))
    if report.outages:
        console.print(_windows_table("Network outages", report.outages))
    if report.platform_down:
        console.print(_windows_table("Platforms down", report.platform_down))
    if not report.claims:
        return
    console.print(_claims_table(report.claims))
    for number, c in enumerate(report.claims, 1):
        finding = (c.finding.value, _FINDING_STYLE[c.finding])
        console.print(Text.assemble((f"C{number} ", "bold"), finding, ": ", c.summary))
