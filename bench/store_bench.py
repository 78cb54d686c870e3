"""Benchmark for the local store and its SQLite plumbing (store/database.py, issue 22).

What the daemon pays per result and what `probe results`/`probe status` pay per open, on the
VM's disk: N results added one commit (one WAL fsync) each, opening an existing store, listing
every result, sealing them into bundles, then retention deleting them all. Each figure is the
median of `--repeats` fresh stores.

Usage: python bench/store_bench.py [--results 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from ship.records import sample_result  # noqa: E402

from probe.ship.identity import create_identity  # noqa: E402
from probe.ship.outbox import seal  # noqa: E402
from probe.store import ResultStore  # noqa: E402


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _wal_frames_per_result(workdir: Path) -> float:
    """WAL pages one result's commit writes (what its fsync carries): no clock in it."""
    count = 100  # ≈ 800 frames: below the 1000-frame autocheckpoint
    with ResultStore.open(workdir / "frames") as store:
        store.add_result(sample_result(0, reasons=40), "web")
        with closing(sqlite3.connect(store.path)) as own:
            own.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for index in range(1, count + 1):
                store.add_result(sample_result(index, reasons=40), "web")
            frames = own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    return int(frames) / count


def _one(results: int, workdir: Path) -> dict[str, float]:
    data = workdir / "data"
    identity, _ = create_identity(workdir / "identity")
    records = [sample_result(i, reasons=40) for i in range(results)]  # ≈ 2 KiB each
    store = ResultStore.open(data)
    figures = {"add_ms_per_result": _timed(lambda: [store.add_result(r, "web") for r in records])
               * 1000 / results}  # fmt: skip
    opens = 50
    figures["open_ms"] = (
        _timed(lambda: [ResultStore.open(data, create=False).close() for _ in range(opens)])
        * 1000
        / opens
    )
    figures["list_s"] = _timed(lambda: list(store.results()))
    figures["seal_s"] = _timed(lambda: seal(store, identity, max_records=100, max_bytes=8 << 20))
    for entry in store.outbox():
        store.acknowledge_bundle(entry.bundle_id, "bench")
    figures["retention_s"] = _timed(lambda: store.apply_retention(max_age_s=None, max_bytes=0))
    figures["file_bytes_after_retention"] = store.stats().file_bytes
    store.close()
    figures["wal_frames_per_result"] = _wal_frames_per_result(workdir)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(dir=REPO) as workdir:
            runs.append(_one(args.results, Path(workdir)))
    summary = {key: round(statistics.median(r[key] for r in runs), 4) for key in runs[0]}
    summary["results"] = args.results
    summary["repeats"] = args.repeats
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
