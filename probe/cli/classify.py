"""`probe classify`: our verdict for OONI web_connectivity measurements, beside OONI's own."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from probe.cli.common import wrote

if TYPE_CHECKING:  # imported by the functions that use them, so `probe --help` stays light
    from rich.console import Group
    from rich.table import Table

    from probe.decide import DecisionContext
    from probe.models.ooni import ClassifiedRecord
    from probe.observe.ooni_reader import OoniRecord

_ENVELOPE = ("input", "measurement_start_time", "probe_asn", "probe_cc", "probe_network_name",
             "report_id", "measurement_uid", "test_version")  # fmt: skip


def _envelope(record: OoniRecord) -> dict[str, Any]:
    """Return the OONI fields worth printing, from the measurement or, for an error, from
    whatever of them the record had with the right type."""
    raw = record.envelope or {}
    keys = raw["test_keys"] if isinstance(raw.get("test_keys"), dict) else {}
    blocking, accessible = keys.get("blocking"), keys.get("accessible")
    found: dict[str, Any] = {n: raw[n] for n in _ENVELOPE if isinstance(raw.get(n), str)}
    found["ooni_blocking"] = blocking if isinstance(blocking, str | bool) else None
    found["ooni_accessible"] = accessible if isinstance(accessible, bool) else None
    return found


def classify_record(path: Path, record: OoniRecord, context: DecisionContext) -> ClassifiedRecord:
    """Return our verdict for one record (or its error), with OONI's beside it."""
    from probe.decide import endpoint_verdict
    from probe.models.ooni import Agreement, ClassifiedRecord, agreement
    from probe.observe.ooni import OoniFormatError, convert

    envelope = _envelope(record)
    if record.measurement is not None:  # as read: a numeric probe_asn became "ASn"
        read = record.measurement.model_dump(include=set(_ENVELOPE), exclude_none=True)
        envelope.update({k: v for k, v in read.items() if v != ""})
    where = {"file": str(path), "record": record.number}
    if record.measurement is None:
        return ClassifiedRecord(**where, **envelope, agreement=Agreement.ERROR, error=record.error)
    try:
        converted = convert(record.measurement)
    except OoniFormatError as exc:
        error = f"{record.where}: {exc}"
        return ClassifiedRecord(**where, **envelope, agreement=Agreement.ERROR, error=error)
    result = endpoint_verdict(converted.endpoint, converted.keys, context)
    return ClassifiedRecord(
        **where,
        **envelope,
        verdict=result.verdict,
        blocking=result.blocking,
        reasons=result.reasons,
        findings=result.findings,
        agreement=agreement(
            envelope["ooni_blocking"], envelope["ooni_accessible"], result.verdict, result.blocking
        ),
        notes=converted.notes,
    )


# Unreadable records held back before the file's first JSON object: past this many, the file
# is not OONI JSON and gets one error, not one per line of bytes (issue 20).
HELD_ERRORS = 1000


def classify_file(path: Path, context: DecisionContext) -> Iterator[ClassifiedRecord]:
    """Return our verdict (or the error) for every record of an OONI measurements file; a file
    none of whose records is a JSON object gives one error for the whole file."""
    from probe.observe.ooni_reader import OoniRecord, read_records

    held: list[OoniRecord] = []
    seen_object = False
    for record in read_records(path):
        if not seen_object and record.measurement is None and record.envelope is None:
            held.append(record)
            if len(held) < HELD_ERRORS:
                continue
            break
        if not seen_object:
            seen_object = True
            for earlier in held:
                yield classify_record(path, earlier, context)
        yield classify_record(path, record, context)
    if held and not seen_object:
        first = held[0].error or "unreadable"
        more = "" if len(held) < HELD_ERRORS else f" (stopped after {HELD_ERRORS} records)"
        error = (
            f"{path}: not OONI measurements (JSON, a JSON array or JSON Lines): none of"
            f" its {len(held)} record(s) is a JSON object{more}; the first: {first}"
        )
        yield classify_record(path, OoniRecord(0, "file", error=error), context)


def decision_context(fingerprints: list[Path]) -> DecisionContext:
    """Return the context for OONI data: our fingerprints plus the configured and given CSVs,
    no control sites (OONI measured none) and no lab ranges (OONI measures the internet)."""
    from probe.config import load_settings
    from probe.decide import DecisionContext
    from probe.paths import default_config_path
    from probe.runner import load_fingerprints

    config = installed if (installed := default_config_path()).exists() else None
    settings = load_settings(config)
    if fingerprints:
        extra = [*settings.blockpages.fingerprints, *fingerprints]
        settings = load_settings(config, {"blockpages": {"fingerprints": extra}})
    return DecisionContext(fingerprints=load_fingerprints(settings))


def _published(value: object) -> str:
    """Return OONI's value as its JSON spells it (false, null) or the string itself."""
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def records_table(records: list[ClassifiedRecord]) -> Table:
    """Return a table of records: OONI's blocking/accessible, our verdict, the agreement."""
    from rich.table import Table
    from rich.text import Text

    from probe.cli.render import VERDICT_STYLE

    table = Table(header_style="bold")
    # The reason gets the room: names and inputs fold rather than squeeze it to nothing.
    table.add_column("record", overflow="fold", max_width=24)
    table.add_column("input", overflow="fold", max_width=30)
    table.add_column("OONI", no_wrap=True)
    table.add_column("ours", overflow="fold", max_width=16)
    table.add_column("agreement", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for record in records:
        ours = Text("–")
        if record.verdict is not None:
            ours = Text(record.verdict.value, style=VERDICT_STYLE.get(record.verdict.value, ""))
            ours.append(f" ({record.blocking.value})" if record.blocking else "")
        # Text, not markup: a hostile record's "[/]" must print as itself.
        table.add_row(
            Text(f"{Path(record.file).name}:{record.record}"),
            Text(record.input or ""),
            Text(f"{_published(record.ooni_blocking)}/{_published(record.ooni_accessible)}"),
            ours,
            Text(record.agreement.value),
            Text(record.error or (record.reasons[0] if record.reasons else "")),
        )
    return table


def records_list(records: list[ClassifiedRecord]) -> Group:
    """Return the narrow layout: per record "file:N  input", then OONI's and our verdict and
    the agreement, then the reason, indented; lines wrap between words, never inside a verdict."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    from probe.cli.render import verdict_text

    parts: list[Any] = []
    for record in records:
        head = Text(f"{Path(record.file).name}:{record.record}", style="bold")
        head.append(f"  {record.input or ''}")
        line = Text(f"OONI {_published(record.ooni_blocking)}/"
                    f"{_published(record.ooni_accessible)}  ours ")  # fmt: skip
        if record.verdict is not None:
            blocking = record.blocking.value if record.blocking else None
            line.append_text(verdict_text(record.verdict.value, blocking))
        else:
            line.append("–")
        line.append(f"  {record.agreement.value}", style="bold")
        reason = Text(record.error or (record.reasons[0] if record.reasons else ""))
        parts += [head, Padding(line, (0, 0, 0, 2)), Padding(reason, (0, 0, 0, 4))]
    return Group(*parts)


def records_view(records: list[ClassifiedRecord], width: int) -> Table | Group:
    """Return the table on a wide terminal, the list on a narrow one (issue 20: 50 records
    took 1,115 lines of 7-character slices at 80 columns)."""
    from probe.cli.render import WIDE_COLUMNS

    return records_table(records) if width >= WIDE_COLUMNS else records_list(records)


def summary(counts: Counter[str]) -> str:
    """Return the one-line summary: how many records, and how many of each agreement."""
    from probe.models.ooni import Agreement

    always = (Agreement.AGREE, Agreement.DIFFER)
    parts = [
        f"{counts[a]} {a.value}"
        for a in Agreement
        if a is not Agreement.ERROR and (counts[a] or a in always)
    ]
    parts.append(f"{counts[Agreement.ERROR]} errors")
    total = sum(counts.values())
    return f"{total} record{'' if total == 1 else 's'}: {', '.join(parts)}"


def _write_facts(records: list[ClassifiedRecord], path: Path) -> None:
    """Write the classified records as report facts (platforms named by the catalogue)."""
    from probe.errors import ReportError
    from probe.report.engines import DuckDbEngine
    from probe.report.facts import classified_fact_row
    from probe.report.sources import load_facts
    from probe.targets import load_catalogue

    if path.suffix.lower() not in (".parquet", ".csv"):
        raise ReportError(f"--save-facts {path}: use a .parquet or .csv file name")
    catalogue = load_catalogue()

    def platform_of(host: str) -> str:
        platform = catalogue.platform_for_host(host)
        return platform.name if platform is not None else host.removeprefix("www.")

    engine = DuckDbEngine()
    try:
        load_facts(engine, (classified_fact_row(r, platform_of) for r in records))
        engine.export(path)
    finally:
        engine.close()


def classify(
    files: list[Path] = typer.Argument(
        ...,
        help="OONI web_connectivity measurements: JSON, a JSON array or JSON Lines (.gz too).",
        metavar="FILE...",
        show_default=False,
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print JSON Lines: one ClassifiedRecord per measurement."
    ),
    fingerprints: list[Path] | None = typer.Option(
        None,
        "--fingerprints",
        metavar="FILE",
        help="Extra blockpage fingerprints, OONI's CSV format (repeatable).",
    ),
    save_facts: Path | None = typer.Option(
        None,
        "--save-facts",
        metavar="FILE",
        help="Also write the classified measurements as report facts (.parquet or .csv),"
        " for `probe report --facts FILE`.",
    ),
) -> None:
    """Give our verdict for OONI web_connectivity measurements, beside OONI's blocking.

    Exit status is 0 when every record was read, 1 when some could not be (each is reported
    and the rest still classified), 2 for a usage error.
    """
    from probe.cli.common import input_file

    for path in files:
        input_file(path, "FILE")
    for path in fingerprints or []:
        input_file(path, "--fingerprints")
    facts = save_facts
    from rich.console import Console

    context = decision_context(list(fingerprints or []))
    counts: Counter[str] = Counter()
    shown: list[ClassifiedRecord] = []
    collected: list[ClassifiedRecord] = []
    for path in files:
        for record in classify_file(path, context):
            counts[record.agreement.value] += 1
            if facts is not None and record.verdict is not None:
                collected.append(record)
            if json_output:
                sys.stdout.write(record.model_dump_json() + "\n")
            else:
                shown.append(record)
    if facts is not None:
        _write_facts(collected, facts)
        wrote(facts, rows=len(collected))
    if not json_output:
        console = Console()
        console.print(records_view(shown, console.width))
    Console(stderr=json_output, highlight=False).print(summary(counts))
    if counts["error"]:
        raise typer.Exit(1)
