"""Benchmark for the collector's live pages (issue 23): p50/p95 render time per page with N
measurements in the index.

Fills a data dir directly (uploading 10 M measurements through the API would take hours on two
cores): the facts go into the live index in bulk, its indexes are built afterwards, and the
kept tables (latest states, hourly buckets, window spans) are computed in one streaming pass
in time order, which is exactly what the incremental path keeps (tests/collector/live/
test_spans.py holds the incremental path to the report's batch windows). Blocked measurements
also get a small record in the store, for the incident page's evidence. Then a real collector
(uvicorn on loopback, in a thread) serves the pages and each is fetched R times.

The world: 20 networks × 30 platforms, 10 probes per network measuring every platform each
round over 30 days; about a fifth of the cells have a block of 2–48 h (some still going on),
each network a 1–3 h outage, two platforms an hour down, one network 6 h of whitelisting.

Usage: python bench/live_bench.py [--measurements 1000000] [--requests 40] [--keep DIR]
                                 [--reuse DIR] [--ingest 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from probe.collector.app import create_app
from probe.collector.live import BUCKET_MS, LIVE_SCHEMA, LiveIndex, state_of
from probe.collector.spans import SPECS, Fact, _aggregates, _Building
from probe.collector.storage import CollectorStore
from probe.config import CollectorSettings
from probe.report.facts import FACT_COLUMNS

NETWORKS = 20
PLATFORMS = 30
PROBES_PER_NETWORK = 10
DAYS = 30
TECHNIQUES = ("tls_reset", "dns_nxdomain", "tcp_reset")
HOUR_MS = 3_600_000


@dataclass
class World:
    """Where the blocks, outages, platforms down and whitelisting are (times in ms)."""

    start: int
    end: int
    blocks: dict[tuple[int, int], tuple[int, int, str]]
    outages: dict[int, tuple[int, int]]
    down: dict[int, tuple[int, int]]
    whitelisting: tuple[int, int, int]


def _world(rng: random.Random, start: int, end: int) -> World:
    blocks = {}
    for network in range(NETWORKS):
        for platform in range(PLATFORMS):
            if rng.random() < 0.2:
                length = rng.randint(2, 48) * HOUR_MS
                begin = rng.randint(start, end - length // 2)
                blocks[network, platform] = (begin, begin + length, rng.choice(TECHNIQUES))
    outages = {}
    for network in range(NETWORKS):
        begin = rng.randint(start, end - 3 * HOUR_MS)
        outages[network] = (begin, begin + rng.randint(1, 3) * HOUR_MS)
    down = {p: ((b := rng.randint(start, end - HOUR_MS)), b + HOUR_MS) for p in (3, 7)}
    begin = rng.randint(start, end - 6 * HOUR_MS)
    return World(start, end, blocks, outages, down, (5, begin, begin + 6 * HOUR_MS))


def _outcome(world: World, network: int, platform: int, t: int, probe: int) -> tuple[str, ...]:
    """(verdict, blocking, methods, endpoints, network_state) of one measurement."""
    host = f"p{platform:02d}.example:443"
    begin, stop = world.outages[network]
    if begin <= t < stop:
        return ("network_outage", "", "", "", "outage")
    w_network, w_begin, w_stop = world.whitelisting
    if network == w_network and w_begin <= t < w_stop:
        return ("blocked", "whitelisting", "whitelisting", host, "whitelisted")
    if platform in world.down and world.down[platform][0] <= t < world.down[platform][1]:
        return ("service_down", "", "", "", "normal")
    block = world.blocks.get((network, platform))
    if block and block[0] <= t < block[1] and probe % 10 != 9:  # one probe in ten is spared
        return ("blocked", block[2], block[2], host, "normal")
    return ("accessible", "", "", "", "normal")


def facts(world: World, total: int) -> Iterator[tuple[str | int, ...]]:
    """Yield `total` fact rows (FACT_COLUMNS order) in time order."""
    per_round = NETWORKS * PROBES_PER_NETWORK * PLATFORMS
    rounds = max(1, total // per_round)
    step = (world.end - world.start) // rounds
    made = 0
    for number in range(rounds + 1):
        base = world.start + number * step
        for network in range(NETWORKS):
            for probe in range(PROBES_PER_NETWORK):
                for platform in range(PLATFORMS):
                    if made == total:
                        return
                    t = base + (network * PROBES_PER_NETWORK + probe) * 1000 + platform * 10
                    verdict, blocking, methods, endpoints, state = _outcome(
                        world, network, platform, t, probe
                    )
                    made += 1
                    yield (
                        f"{made:010d}", f"probe{network:02d}{probe:02d}", t, f"AS{1000 + network}",
                        f"Operator {network}", "KZ", f"p{platform:02d}",
                        f"https://p{platform:02d}.example/", verdict, blocking, methods,
                        endpoints, 1, 0 if state == "outage" else 1,
                        "" if state == "outage" else "https://control.example/", state,
                    )  # fmt: skip


class Streamer:
    """The kept tables of facts that arrive in time order: what the incremental path keeps."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, tuple[str, str], str], _Building] = {}
        self.good_before: dict[tuple[str, tuple[str, str], str], int] = {}
        self.spans: list[tuple[object, ...]] = []
        self.states: dict[tuple[str, str], list[object]] = {}
        self.probe_states: dict[tuple[str, str, str], tuple[str, int]] = {}
        self.buckets: dict[tuple[str, str, int, str], int] = {}

    def take(self, row: tuple[str | int, ...]) -> None:
        fact = Fact(*(row[FACT_COLUMNS.index(f)] for f in Fact.__dataclass_fields__))  # type: ignore[arg-type]
        shown = "whitelisting" if fact.blocking == "whitelisting" else fact.verdict
        key = (fact.network, fact.platform, fact.t_ms - fact.t_ms % BUCKET_MS, shown)
        self.buckets[key] = self.buckets.get(key, 0) + 1
        state = state_of(fact.verdict, fact.blocking)
        if state is not None:
            self._state(fact, state)
        for kind, spec in SPECS.items():
            args = (fact.verdict, fact.blocking, fact.network_state)
            values = [fact.column(c) for c in spec.partition]
            part = (values[0], values[1] if len(values) > 1 else "")
            where = (kind, part, fact.probe_id)
            if spec.good.matches(*args):
                self._close(where, fact.t_ms)
                self.good_before[where] = fact.t_ms
            elif spec.bad.matches(*args):
                span = self.open.setdefault(where, _Building(fact, fact))
                span.add(fact, spec)

    def _state(self, fact: Fact, state: str) -> None:
        cell = (fact.network, fact.platform)
        blocking = fact.blocking if state in ("blocked", "throttled") else ""
        self.probe_states[(*cell, fact.probe_id)] = (state, fact.t_ms)
        held = self.states.get(cell)
        if held is None or held[0] != state or held[1] != blocking:
            self.states[cell] = [state, blocking, fact.t_ms, fact.t_ms]
        else:
            held[3] = fact.t_ms

    def _close(self, where: tuple[str, tuple[str, str], str], after: int | None) -> None:
        span = self.open.pop(where, None)
        if span is None:
            return
        kind, part, probe_id = where
        self.spans.append((
            kind, *part, probe_id, span.first.t_ms, span.first.measurement_id, span.last.t_ms,
            span.last.measurement_id, span.n, span.throttled, *_aggregates(span),
            self.good_before.get(where), after,
        ))  # fmt: skip

    def finish(self) -> None:
        for where in list(self.open):
            self._close(where, None)


def fill(data_dir: Path, total: int, seed: int) -> dict[str, float]:
    """Fill `data_dir` with `total` measurements; return how long each step took (s)."""
    end = int(time.time() * 1000)
    world = _world(random.Random(seed), end - DAYS * 86_400_000, end)
    CollectorStore.open(data_dir).close()
    index = LiveIndex.open(data_dir)
    db = index.db
    indexes = [s.strip() for s in LIVE_SCHEMA.split(";") if s.strip().startswith("CREATE INDEX")]
    for statement in indexes:
        db.execute("DROP INDEX IF EXISTS " + statement.split()[5])
    took: dict[str, float] = {}
    clock = time.perf_counter()
    streamer = Streamer()
    insert = f"INSERT INTO facts VALUES (?, {', '.join('?' * len(FACT_COLUMNS))})"
    records: list[tuple[object, ...]] = []
    batch: list[tuple[object, ...]] = []
    db.execute("BEGIN")
    for seq, row in enumerate(facts(world, total), 1):
        streamer.take(row)
        batch.append((seq, *row))
        if row[8] == "blocked":
            records.append(_record_row(seq, row))
        if len(batch) == 100_000:
            db.executemany(insert, batch)
            batch.clear()
    db.executemany(insert, batch)
    streamer.finish()
    db.execute("COMMIT")
    took["facts"] = time.perf_counter() - clock
    clock = time.perf_counter()
    for statement in indexes:
        db.execute(statement)
    took["indexes"] = time.perf_counter() - clock
    clock = time.perf_counter()
    _kept(db, streamer, total)
    _store_records(data_dir, records)
    took["kept tables and records"] = time.perf_counter() - clock
    index.close()
    return took


def _record_row(seq: int, row: tuple[str | int, ...]) -> tuple[object, ...]:
    fact = dict(zip(FACT_COLUMNS, row, strict=True))
    record = {"input": fact["input"], "verdict": "blocked", "blocking": fact["blocking"],
              "reasons": [f"blocked by {fact['blocking']}"], "probe_asn": fact["network"],
              "endpoints": [{"findings": [{"verdict": "blocked",
                                           "rule_id": f"bench.{fact['blocking']}"}]}]}  # fmt: skip
    return (seq, fact["probe_id"], fact["measurement_id"], "bench", "", "", fact["input"],
            "blocked", fact["blocking"], fact["network"], "KZ", fact["platform"],
            json.dumps(record))  # fmt: skip


def _kept(db: object, streamer: Streamer, total: int) -> None:
    import sqlite3

    assert isinstance(db, sqlite3.Connection)
    db.execute("BEGIN")
    db.executemany("INSERT INTO live_spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   streamer.spans)  # fmt: skip
    db.executemany("INSERT INTO live_state VALUES (?, ?, ?, ?, ?, ?)",
                   [(*cell, *held) for cell, held in streamer.states.items()])  # fmt: skip
    db.executemany("INSERT INTO live_probe_state VALUES (?, ?, ?, ?, ?)",
                   [(*k, *v) for k, v in streamer.probe_states.items()])  # fmt: skip
    db.executemany("INSERT INTO live_buckets VALUES (?, ?, ?, ?, ?)",
                   [(*k, n) for k, n in streamer.buckets.items()])  # fmt: skip
    db.executemany("INSERT OR REPLACE INTO live_networks VALUES (?, ?)",
                   [(f"AS{1000 + n}", f"Operator {n}") for n in range(NETWORKS)])  # fmt: skip
    db.execute("INSERT OR REPLACE INTO live_meta VALUES ('seq', ?)", (total,))
    db.execute("COMMIT")


def _store_records(data_dir: Path, records: list[tuple[object, ...]]) -> None:
    import sqlite3

    store = sqlite3.connect(data_dir / "collector.sqlite3", isolation_level=None)
    store.execute("BEGIN")
    store.executemany(
        "INSERT INTO measurements (seq, probe_id, measurement_id, bundle_id, measured_at,"
        " received_at, input, verdict, blocking, probe_asn, probe_cc, platform, record)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        records,
    )
    store.execute("COMMIT")
    store.close()


def ingest_rate(data_dir: Path, count: int, seed: int) -> float:
    """Return measurements/s taken into the filled index one at a time (`add_fact`, as
    `catch_up` does), in transactions of 500 (a bundle's worth), continuing the world."""
    from probe.collector.live import add_fact

    index = LiveIndex.open(data_dir)
    ((last_t, last_seq),) = index.db.execute("SELECT MAX(t_ms), MAX(seq) FROM facts").fetchall()
    start = int(last_t) + 60_000
    world = _world(random.Random(seed + 1), start, start + 86_400_000)
    rows = list(facts(world, count))
    clock = time.perf_counter()
    for begin in range(0, count, 500):
        with index.transaction() as db:
            for offset, row in enumerate(rows[begin : begin + 500]):
                add_fact(db, int(last_seq) + begin + offset + 1, (f"n{row[0]}", *row[1:]))
    rate = count / (time.perf_counter() - clock)
    index.close()
    return rate


def serve(data_dir: Path) -> tuple[uvicorn.Server, str, Any]:
    settings = CollectorSettings(data_dir=data_dir)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None,
                            access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", app


def _percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def _one_more(app: Any, page: str, clock: list[int]) -> None:
    """Take in one new measurement that concerns `page` (its network or platform), as after an
    upload: the realistic case between two renderings of a page."""
    from probe.collector.live import add_fact

    index = app.state.live.index
    network = page.removeprefix("/network/") if page.startswith("/network/") else "AS1000"
    platform = page.removeprefix("/platform/") if page.startswith("/platform/") else "p00"
    with index.transaction() as db:
        ((seq,),) = db.execute("SELECT MAX(seq) FROM facts").fetchall()
        clock[0] = max(clock[0] + 1000, int(time.time() * 1000) - 60_000)
        row = (f"one{seq + 1}", "probe0000", clock[0], network, "Operator", "KZ", platform,
               f"https://{platform}.example/", "accessible", "", "", "", 1, 1,
               "https://control.example/", "normal")  # fmt: skip
        add_fact(db, int(seq) + 1, row)
    app.state.live.changed()


def _cold(app: Any) -> None:
    """Forget every kept rendering: as if every lane had changed (the worst case)."""
    from probe.collector import views

    views.forget()
    app.state.live.changed()


MODES = ("cold", "one", "served")


def measure(url: str, requests: int, app: Any) -> dict[str, tuple[float, ...]]:
    """Return {page: (p50, p95 in ms for each of MODES, bytes)}: *cold* made anew with nothing
    kept from earlier renderings (every lane changed), *one* made anew after one new
    measurement of that page arrived, *served* as readers get it (made once per change)."""
    client = httpx.Client(base_url=url, timeout=120)
    incidents = client.get("/api/v1/incidents").json()["incidents"]
    going_on = [i for i in incidents if i["incident"]["ended_before"] is None] or incidents
    pages = ["/", "/api/v1/now", "/api/v1/incidents", "/network/AS1000", "/platform/p00",
             going_on[0]["path"] if going_on else "/", "/claims"]  # fmt: skip
    found, clock = {}, [0]
    for page in pages:
        client.get(page)  # warm
        series: dict[str, list[float]] = {mode: [] for mode in MODES}
        size = 0
        for mode in MODES:
            for _ in range(requests):
                if mode == "cold":
                    _cold(app)
                elif mode == "one":
                    _one_more(app, page, clock)
                start = time.perf_counter()
                answer = client.get(page)
                series[mode].append((time.perf_counter() - start) * 1000)
                assert answer.status_code == 200, (page, answer.text[:300])
                size = len(answer.content)
        found[page] = (*(p for m in MODES for p in _percentiles(series[m])), size)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--measurements", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--ingest", type=int, default=0,
                        help="Also time taking in this many more, one by one.")  # fmt: skip
    parser.add_argument("--keep", type=Path, help="Fill (or reuse) this data dir.")
    parser.add_argument("--reuse", type=Path, help="Measure this filled data dir (never fill).")
    args = parser.parse_args()
    if args.reuse and not (args.reuse / "live.sqlite3").exists():
        parser.error(f"--reuse {args.reuse}: no live index there (fill it with --keep)")
    with tempfile.TemporaryDirectory(prefix="live-bench-") as scratch:
        data_dir = args.reuse or args.keep or Path(scratch) / "data"
        if not (data_dir / "live.sqlite3").exists():
            took = fill(data_dir, args.measurements, args.seed)
            print(f"filled {args.measurements} measurements: "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()), flush=True)  # fmt: skip
        if args.ingest:
            rate = ingest_rate(data_dir, args.ingest, args.seed)
            print(f"incremental: {rate:.0f} measurements/s taken in ({args.ingest}, one by one)")
        size_mb = sum(p.stat().st_size for p in data_dir.glob("*.sqlite3*")) / 1e6
        server, url, app = serve(data_dir)
        try:
            found = measure(url, args.requests, app)
        finally:
            server.should_exit = True
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"index {size_mb:.0f} MB, {args.requests} requests per page"
          f" ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load})")  # fmt: skip
    head = "".join(f"{m + ': p50':>13} {'p95':>7}" for m in MODES)
    print(f"{'page':<38}{head} {'bytes':>8}")
    for page, (*times, size) in found.items():
        cols = "".join(f"{times[2 * i]:13.1f} {times[2 * i + 1]:7.1f}" for i in range(len(MODES)))
        print(f"{page:<38}{cols} {int(size):8d}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
