"""`probe report`: incidents, outages, platform-down windows and claims, from stored results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

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
    if len(loaded) > 1 or len(bundles) > 1:
        engine.deduplicate()  # a bundle also uploaded, a facts file saved from the same store…
    return loaded


def report(
    config: Path | None = CONFIG_OPTION,
    since: str | None = typer.Option(
        None, "--since", help="Start of the period: a duration back from now (7d) or ISO time."
    ),
    until: str | None = typer.Option(
        None, "--until", help="End of the period (exclusive): a duration back or ISO time."
    ),
    collector_dir: Path | None = typer.Option(
        None, "--collector-dir", help="Report on a collector's data (its --data-dir)."
    ),
    bundles: list[Path] = typer.Option(
        [], "--bundles", help="Report on hand-carried bundle files (repeatable)."
    ),
    facts: list[Path] = typer.Option(
        [], "--facts", help="Report on a facts file (.parquet or .csv) saved earlier (repeatable)."
    ),
    claims_file: Path | None = typer.Option(
        None, "--claims", help="A TOML file of [[claim]] statements to hold against the evidence."
    ),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write the report as JSON ('-' for standard output)."
    ),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the windows and claims as CSV."),
    save_facts: Path | None = typer.Option(
        None, "--save-facts", help="Also save the facts read (.parquet or .csv) for later reports."
    ),
    engine_name: str = typer.Option(
        "duckdb", "--engine", help="duckdb (default) or clickhouse (needs chdb)."
    ),
    memory_limit: str | None = typer.Option(
        None, "--memory-limit", help="DuckDB's memory cap (e.g. 1GB); past it, it spills to disk."
    ),
) -> None:
    """Report what happened between two dates: incidents of blocking, outages, platforms down,
    and what the evidence says about operators' claims."""
    from datetime import UTC

    from rich.console import Console

    from probe import __version__
    from probe.cli.store import _since
    from probe.report.build import build_report
    from probe.report.claims import load_claims
    from probe.report.engines import make_engine
    from probe.report.facts import Skipped
    from probe.report.render import csv_report, html_report, print_report

    period = (_since(since), _since(until))
    claims = load_claims(claims_file) if claims_file is not None else []
    read_since, read_until = _window(*period, claims)
    skipped = Skipped()
    engine = make_engine(engine_name, memory_limit=memory_limit)
    try:
        sources = _load_sources(
            engine,
            config=config,
            collector_dir=collector_dir,
            bundles=bundles,
            facts=facts,
            skipped=skipped,
            since=read_since,
            until=read_until,
        )
        if save_facts is not None:
            _save_facts(engine, save_facts)
        result: Report = build_report(
            engine,
            source="; ".join(sources),
            software_version=__version__,
            generated_at=datetime.now(UTC),
            since=period[0],
            until=period[1],
            claims=claims,
            skipped=skipped,
        )
    finally:
        engine.close()
    if html is not None:
        _write(html, html_report(result))
    if csv_out is not None:
        _write(csv_out, csv_report(result))
    if json_out is not None:
        _write(json_out, result.model_dump_json(indent=2) + "\n")
    if json_out is None or str(json_out) != "-":
        print_report(result, Console())


def _save_facts(engine: Engine, path: Path) -> None:
    from probe.errors import ReportError
    from probe.report.engines import DuckDbEngine

    if not isinstance(engine, DuckDbEngine):
        raise ReportError("--save-facts needs the duckdb engine")
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise ReportError(f"--save-facts {path}: use a .parquet or .csv file name")
    engine.export(path)
