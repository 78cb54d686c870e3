"""How long `probe report` takes for 1 M and 10 M measurements, and how much memory it needs.

A generator writes N synthetic measurement facts to a Parquet file (what `probe report
--save-facts` writes and `--facts` reads): 100 probes on 20 networks measure 10 platforms every
15 minutes; some platforms are blocked on some networks for hours at a time, some networks go
dark, some platforms go down for everyone, and 1 % of measurements are inconclusive. Each size
is then reported on in a fresh process (so peak RSS is that report's alone): load the facts,
build the report with 3 claims, render JSON, CSV and HTML.

A second part measures the step before: reading real stored records (full JSON, as `probe run`
stores them) out of a SQLite store into facts.

Usage: python bench/report_bench.py [--sizes 1000000,10000000] [--engine duckdb|clickhouse]
           [--records 20000] [--memory-limit 1GB]
Writes bench/results/report.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

PROBES, NETWORKS, PLATFORMS, ROUND_S = 100, 20, 10, 900
T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
METHODS = ["tls_reset", "dns_hijack", "tcp_timeout", "tls_timeout", "http_blockpage"]


def generate_sql(n: int) -> str:
    """The SELECT of N synthetic facts, in DuckDB SQL (deterministic: hash of the row)."""
    per_round = PROBES * PLATFORMS
    methods = "[" + ", ".join(f"'{m}'" for m in METHODS) + "]"
    # day = 96 rounds; events are decided per (network[, platform], day) by a hash.
    return f"""
SELECT 'm' || i AS measurement_id, 'probe' || p AS probe_id,
       ({T0} + r * {ROUND_S} + p) * 1000 AS t_ms,
       'AS' || (9000 + p % {NETWORKS}) AS network, 'operator ' || (p % {NETWORKS}) AS network_name,
       'KZ' AS cc, 'platform' || k AS platform, 'platform' || k || '.example' AS input,
       verdict,
       CASE WHEN verdict = 'blocked' THEN method ELSE '' END AS blocking,
       CASE WHEN verdict = 'blocked' THEN method ELSE '' END AS methods,
       CASE WHEN verdict = 'blocked' THEN 'https://platform' || k || '.example/' ELSE '' END
           AS endpoints,
       2 AS controls_total,
       CASE WHEN verdict = 'network_outage' THEN 0 ELSE 2 END AS controls_ok,
       CASE WHEN verdict = 'network_outage' THEN ''
            ELSE 'https://www.wikipedia.org/|https://example.com/' END AS control_sites_ok,
       CASE WHEN verdict = 'network_outage' THEN 'outage' ELSE 'normal' END AS network_state
FROM (
    SELECT i, r, p, k,
        CASE
            WHEN hash(p % {NETWORKS}, r // 96) % 40 = 0 AND r % 96 BETWEEN 10 AND 13
                THEN 'network_outage'
            WHEN hash(p % {NETWORKS}, k, r // 96) % 8 = 0 AND r % 96 BETWEEN 20 AND 44
                THEN 'blocked'
            WHEN hash(k, r // 96) % 30 = 0 AND r % 96 BETWEEN 60 AND 63 THEN 'service_down'
            WHEN hash(i) % 100 = 0 THEN 'inconclusive'
            ELSE 'accessible'
        END AS verdict,
        {methods}[CAST(1 + hash(p % {NETWORKS}, k) % {len(METHODS)} AS BIGINT)] AS method
    FROM (
        SELECT i, i // {per_round} AS r, (i // {PLATFORMS}) % {PROBES} AS p,
               i % {PLATFORMS} AS k
        FROM range({n}) AS g(i)
    )
)"""


def generate(n: int, path: Path) -> float:
    """Write N synthetic facts to `path` (Parquet); return the seconds it took."""
    from probe.report.engines import DuckDbEngine

    started = time.perf_counter()
    engine = DuckDbEngine()
    try:
        engine.insert_sql(generate_sql(n))
        engine.export(path)
    finally:
        engine.close()
    return time.perf_counter() - started


def claims_toml(n: int) -> str:
    rounds = n // (PROBES * PLATFORMS)
    end = datetime.fromtimestamp(T0 + rounds * ROUND_S, UTC)
    windows = [
        (end - timedelta(days=3), end - timedelta(days=2), "AS9001"),
        (end - timedelta(days=10), end - timedelta(days=9), None),
        (end - timedelta(hours=6), end, "operator 7"),
    ]
    text = ""
    for start, stop, network in windows:
        text += f'[[claim]]\nstart = "{start.isoformat()}"\nend = "{stop.isoformat()}"\n'
        text += f'network = "{network}"\n' if network else ""
        text += 'statement = "technical problems"\n'
    return text


def report_once(facts: Path, engine_name: str, n: int, memory: str) -> dict[str, object]:
    """Child process: build and render one report; print timings and peak RSS as JSON."""
    from probe.report.build import build_report
    from probe.report.claims import parse_claims
    from probe.report.engines import make_engine
    from probe.report.render import csv_report, html_report

    timings: dict[str, object] = {}
    started = time.perf_counter()
    engine = make_engine(engine_name, memory_limit=memory or None)
    engine.load(facts)
    timings["load_s"] = round(time.perf_counter() - started, 2)
    mark = time.perf_counter()
    report = build_report(
        engine,
        source=str(facts),
        software_version="bench",
        generated_at=datetime.now(UTC),
        claims=parse_claims(claims_toml(n)),
    )
    engine.close()
    timings["build_s"] = round(time.perf_counter() - mark, 2)
    mark = time.perf_counter()
    sizes = {
        "json_bytes": len(report.model_dump_json()),
        "csv_bytes": len(csv_report(report)),
        "html_bytes": len(html_report(report)),
    }
    timings["render_s"] = round(time.perf_counter() - mark, 2)
    timings["total_s"] = round(time.perf_counter() - started, 2)
    timings["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    timings |= sizes
    timings |= {
        "measurements": report.scope.measurements,
        "incidents": len(report.incidents),
        "outages": len(report.outages),
        "platform_down": len(report.platform_down),
        "timeline_cells": len(report.timeline),
        "claims": [c.finding.value for c in report.claims],
    }
    return timings


def store_extraction(records: int, workdir: Path) -> dict[str, object]:
    """Time real stored records → facts → DuckDB → report (the local-store path)."""
    from report.records import Day, day

    from probe.report.build import build_report
    from probe.report.engines import DuckDbEngine
    from probe.report.facts import Skipped
    from probe.report.sources import load_facts, store_facts
    from probe.store import ResultStore

    rounds = max(1, records // 5)
    with ResultStore.open(workdir / "store") as store:
        for result in day(Day(rounds=rounds)):
            store.add_result(result, "bench")
        size = sum(p.stat().st_size for p in (workdir / "store").glob("results.sqlite3*"))
        started = time.perf_counter()
        engine = DuckDbEngine()
        skipped = Skipped()
        count = load_facts(engine, store_facts(store, "local", skipped))
        loaded = time.perf_counter() - started
        build_report(engine, source="store", software_version="bench",
                     generated_at=datetime.now(UTC))  # fmt: skip
        engine.close()
        total = time.perf_counter() - started
    return {
        "records": count,
        "store_mb": round(size / 2**20, 1),
        "extract_and_load_s": round(loaded, 2),
        "records_per_s": round(count / loaded),
        "with_report_s": round(total, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--memory-limit", default="", help="DuckDB's memory_limit, e.g. 1GB")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        facts, engine_name, n, memory = args.child
        print(json.dumps(report_once(Path(facts), engine_name, int(n), memory)))
        return
    results: dict[str, object] = {"engine": args.engine, "memory_limit": args.memory_limit,
                                  "cores": 2, "sizes": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="probe-report-bench-") as scratch:
        workdir = Path(scratch)
        for n in (int(s) for s in args.sizes.split(",")):
            facts = workdir / f"facts-{n}.parquet"
            generated = generate(n, facts)
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(facts), args.engine, str(n),
                 args.memory_limit],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            measured = json.loads(child.stdout) | {
                "generate_s": round(generated, 2),
                "parquet_mb": round(facts.stat().st_size / 2**20, 1),
            }
            results["sizes"][str(n)] = measured  # type: ignore[index]
            print(f"{n:>10,} measurements: {json.dumps(measured)}", flush=True)
            facts.unlink()
        if args.records:
            extraction = store_extraction(args.records, workdir)
            results["store_extraction"] = extraction
            print(f"store → facts: {json.dumps(extraction)}", flush=True)
    out = REPO / "bench" / "results" / "report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
