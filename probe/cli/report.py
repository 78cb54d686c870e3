"""`probe report`: incidents, outages, platform-down windows and claims, from stored results."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from probe.cli.common import TIME_HELP, wrote
from probe.cli.daemon import CONFIG_OPTION

if TYPE_CHECKING:
    from probe.models.reports import Claim, Report
    from probe.report.engines import Engine
    from probe.report.facts import FactRow, Skipped


def _window(
    since: datetime | None, until: datetime | None, claims: list[Claim]
) -> tuple[datetime | None, datetime | None]:
    """Return the period to read: the report's, widened to every claim's window."""
    if not claims:
        return since, until
    first = min(c.start for c in claims)
    last = max(c.end for c in claims)
    return (
        None if since is None else min(since, first),
        None if until is None else max(until, last),
    )


def _local_facts(
    config: Path | None,
    skipped: Skipped,
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, Iterator[FactRow]]:
    from probe.cli.daemon import config_path
    from probe.config import load_settings, resolve_data_dir
    from probe.errors import ProbeError
    from probe.report.sources import LOCAL_PROBE, store_facts
    from probe.ship.identity import load_identity
    from probe.store import ResultStore

    data_dir = resolve_data_dir(load_settings(config_path(config)))
    try:
        probe_id = load_identity(data_dir).probe_id
    except ProbeError:
        probe_id = LOCAL_PROBE  # results measured before `probe init` made a key
    store = ResultStore.open(data_dir, create=False)

    def rows() -> Iterator[FactRow]:
        with store:
            yield from store_facts(store, probe_id, skipped, since=since, until=until)

    return f"local store {store.path}", rows()


def _collector_facts(
    data_dir: Path, skipped: Skipped, since: datetime | None, until: datetime | None
) -> tuple[str, Iterator[FactRow]]:
    from probe.collector.storage import CollectorStore
    from probe.errors import ReportError
    from probe.report.facts import MAX_RECORD_BYTES, facts_from_json

    if not data_dir.is_dir():
        raise ReportError(f"--collector-dir {data_dir}: no such directory")
    store = CollectorStore.open(data_dir, create=False)

    def rows() -> Iterator[FactRow]:
        with store:
            texts = (
                (f"{data_dir} measurement {measurement_id} (probe {probe_id[:12]})", probe_id,
                 record)
                for probe_id, measurement_id, record in store.iter_record_texts(
                    since=since, until=until, max_bytes=MAX_RECORD_BYTES
                )
            )  # fmt: skip
            yield from facts_from_json(texts, skipped)

    return f"collector {data_dir}", rows()


def _write(path: Path, text: str) -> None:
    """Write `text` to `path` atomically ("-" = standard output)."""
    import os
    import sys

    from probe.errors import ReportError

    if str(path) == "-":
        sys.stdout.write(text)
        return
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def _load_sources(
    engine: Engine,
    *,
    config: Path | None,
    collector_dir: Path | None,
    bundles: list[Path],
    facts: list[Path],
    skipped: Skipped,
    since: datetime | None,
    until: datetime | None,
) -> list[str]:
    """Load every requested source into the engine; return their descriptions."""
    from probe.report.sources import bundle_facts, load_facts

    loaded: list[str] = []
    for path in facts:
        engine.load(path)
        loaded.append(f"facts {path}")
    if bundles:
        load_facts(engine, bundle_facts(bundles, skipped, since=since, until=until))
        loaded.append("bundles " + ", ".join(map(str, bundles)))
    if collector_dir is not None:
        name, rows = _collector_facts(collector_dir, skipped, since, until)
        load_facts(engine, rows)
        loaded.append(name)
    if not loaded:
        name, rows = _local_facts(config, skipped, since, until)
        load_facts(engine, rows)
        loaded.append(name)
    _deduplicate(engine, skipped)
    return loaded


def _deduplicate(engine: Engine, skipped: Skipped) -> None:
    """Keep one row per (probe, measurement), whatever the number of sources (a bundle also
    uploaded, a facts file saved from the same store, one file given twice…), and count every
    row dropped in the report's skipped records (issue 20: rows were lost without a word)."""

    def count() -> int:
        return int(str(engine.query("SELECT count(*) FROM facts")[0][0]))

    before = count()
    engine.deduplicate()
    dropped = before - count()
    if dropped:
        skipped.count += dropped
        skipped.reasons.append(
            f"{dropped} duplicate row(s) dropped: the same measurement of the same probe came"
            " from more than one source"
        )


def report(
    config: Path | None = CONFIG_OPTION,
    since: str | None = typer.Option(
        None, "--since", metavar="TIME", help=f"Start of the period: {TIME_HELP}."
    ),
    until: str | None = typer.Option(
        None, "--until", metavar="TIME", help=f"End of the period (exclusive): {TIME_HELP}."
    ),
    collector_dir: Path | None = typer.Option(
        None,
        "--collector-dir",
        metavar="DIR",
        help="Report on a collector's data (its --data-dir).",
    ),
    bundles: list[Path] = typer.Option(
        [], "--bundles", metavar="FILE", help="Report on hand-carried bundle files (repeatable)."
    ),
    facts: list[Path] = typer.Option(
        [],
        "--facts",
        metavar="FILE",
        help="Read facts saved earlier (.parquet or .csv: --save-facts here, or `probe classify"
        " --save-facts`) instead of the store (repeatable).",
    ),
    claims_file: Path | None = typer.Option(
        None,
        "--claims",
        metavar="FILE",
        help="A TOML file of [[claim]] statements to hold against the evidence.",
    ),
    html: Path | None = typer.Option(
        None, "--html", metavar="FILE", help="Write a self-contained HTML report."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write the report as JSON to FILE."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print the report as JSON on stdout (instead of the summary)."
    ),
    csv_out: Path | None = typer.Option(
        None, "--csv", metavar="FILE", help="Write the windows and claims as CSV."
    ),
    save_facts: Path | None = typer.Option(
        None,
        "--save-facts",
        metavar="FILE",
        help="Also save the facts read (.parquet or .csv) for later reports.",
    ),
    engine_name: str = typer.Option(
        "duckdb", "--engine", metavar="NAME", help="duckdb (default) or clickhouse (needs chdb)."
    ),
    memory_limit: str | None = typer.Option(
        None,
        "--memory-limit",
        metavar="SIZE",
        help="DuckDB's memory cap (e.g. 1GB); past it, it spills to disk.",
    ),
) -> None:
    """Report what happened between two dates: incidents of blocking, outages, platforms down,
    and what the evidence says about operators' claims."""
    from datetime import UTC

    from rich.console import Console

    from probe import __version__
    from probe.cli.common import input_file, parse_period
    from probe.report.build import build_report
    from probe.report.claims import load_claims
    from probe.report.engines import make_engine
    from probe.report.facts import Skipped
    from probe.report.render import csv_report, html_report, print_report

    period = parse_period(since, until)
    for path in (*facts, *bundles, *([claims_file] if claims_file else [])):
        input_file(path, "--facts" if path in facts else "--bundles" if path in bundles
                   else "--claims")  # fmt: skip
    claims = load_claims(claims_file) if claims_file is not None else []
    read_since, read_until = _window(*period, claims)
    skipped = Skipped()
    engine = make_engine(engine_name, memory_limit=memory_limit)
    try:
        sources = _load_sources(
            engine, config=config, collector_dir=collector_dir, bundles=bundles, facts=facts,
            skipped=skipped, since=read_since, until=read_until,
        )  # fmt: skip
        if save_facts is not None:
            _save_facts(engine, save_facts)
        result: Report = build_report(
            engine, source="; ".join(sources), software_version=__version__,
            generated_at=datetime.now(UTC), since=period[0], until=period[1], claims=claims,
            skipped=skipped,
        )  # fmt: skip
    finally:
        engine.close()
    outputs: list[tuple[Path | None, str, bool]] = [
        (html, "html", False), (csv_out, "csv", True), (output, "json", False),
    ]  # fmt: skip
    for written, kind, counted in outputs:
        if written is None:
            continue
        content = (
            {"html": html_report, "csv": csv_report}[kind](result)
            if kind != "json"
            else (result.model_dump_json(indent=2) + "\n")
        )
        _write(written, content)
        if str(written) != "-":
            wrote(written, rows=max(content.count("\n") - 1, 0) if counted else None)
    if json_output:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        print_report(result, Console())
        if "AS0" in result.scope.networks:  # issue 20: said plainly, not a network named AS0
            Console(stderr=True, highlight=False).print(
                "network unknown for some results (AS0: the probe had no ASN database; `probe"
                " geoip update` fetches one): their windows are low confidence"
            )


def _save_facts(engine: Engine, path: Path) -> None:
    from probe.errors import ReportError
    from probe.report.engines import DuckDbEngine

    if not isinstance(engine, DuckDbEngine):
        raise ReportError("--save-facts needs the duckdb engine")
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise ReportError(f"--save-facts {path}: use a .parquet or .csv file name")
    engine.export(path)
    rows = int(str(engine.query("SELECT count(*) FROM facts")[0][0]))
    wrote(path, rows=rows)
