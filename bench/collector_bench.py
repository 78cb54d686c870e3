"""Benchmark for `probe collector` (issue 5): how many ≈ 1 MiB bundles a second it takes.

Builds N bundles of realistic records (an https target measured end to end: DNS, TCP, TLS with
a certificate, an HTML page, the helper's control, two control sites), each packed and signed
by `probe.ship.bundle.pack` to ≈ 1 MiB compressed, then starts a real `probe collector` on
loopback (a fresh data dir per run) and uploads them with C concurrent httpx clients. Reports
bundles/s, measurements/s, p50/p99 latency and the collector's peak RSS and CPU.

Usage: python bench/collector_bench.py [--bundles 200] [--concurrency 8 1] [--quick]
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
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import httpx  # noqa: E402
from collector.harness import CollectorProcess  # noqa: E402
from decide.builders import control, https, https_chain, judge, keys, site  # noqa: E402

from probe.collector.app import BUNDLE_MEDIA_TYPE  # noqa: E402
from probe.models.results import TargetResult  # noqa: E402
from probe.models.stored import StoredResult  # noqa: E402
from probe.models.targets import Target, TargetKind  # noqa: E402
from probe.ship.bundle import PackedRecord, pack  # noqa: E402
from probe.ship.identity import Identity, create_identity  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_PAYLOAD_BYTES = 1 << 20
POOL = 1500
WORDS = (
    "the of and to in is you that it was for on are as with they at be this have from or one"
    " had by word but not what all were we when your can said there use each which she do how"
    " their if will up other about out many then them these so some her would make like into"
    " time has look two more write go see number no way could people than first water been"
    " call who its now find long down day did get come made may part news login account"
).split()
START = datetime(2026, 11, 1, tzinfo=UTC)


def _record(rng: random.Random, number: int) -> str:
    """One stored result as JSON text: varied host, address, page and time."""
    host = f"site{number}.example"
    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    title = " ".join(rng.choices(WORDS, k=6))
    words = " ".join(rng.choices(WORDS, k=rng.randrange(200, 900)))
    body = f"<html><head><title>{title}</title></head><body><p>{words}</p></body></html>"
    endpoint = judge(https(host), keys(https_chain(ip, body=body), control=control([ip])))
    target = Target(input=f"https://{host}/", kind=TargetKind.URL, name=host,
                    endpoints=[endpoint.endpoint])  # fmt: skip
    result = TargetResult(
        input=target.input, verdict=endpoint.verdict, blocking=endpoint.blocking,
        reasons=endpoint.reasons, target=target, endpoints=[endpoint], controls=[site(), site()],
        measurement_start_time=START + timedelta(seconds=number * 37),
        test_runtime=rng.random() * 3, software_version="0.1.0", probe_asn="AS64500",
        probe_cc="NL",
    )  # fmt: skip
    stored = StoredResult(**dict(result), job="hourly", measurement_id=uuid.uuid4())
    return stored.model_dump_json()


def _pool() -> list[tuple[str, datetime, str]]:
    """(measurement_id, measured_at, JSON text) of POOL distinct records."""
    rng = random.Random(20261129)
    pool = []
    for number in range(POOL):
        text = _record(rng, number)
        loaded = json.loads(text)
        moment = datetime.fromisoformat(loaded["measurement_start_time"])
        pool.append((loaded["measurement_id"], moment, text))
    return pool


def _pack(args: tuple[list[tuple[str, datetime, str]], int, int, Path]) -> bytes:
    """One bundle: `count` records of the pool, each under a fresh measurement id."""
    pool, count, seed, key_dir = args
    identity = create_identity(key_dir)[0]
    picked = random.Random(seed).sample(pool, count)
    records = []
    for old_id, moment, text in picked:
        new_id = str(uuid.uuid4())
        records.append(PackedRecord(new_id, moment, text.replace(old_id, new_id, 1)))
    return pack(records, identity, software_version="0.1.0").to_bytes()


def _records_per_bundle(pool: list[tuple[str, datetime, str]], key_dir: Path) -> int:
    """How many pool records make a ≈ 1 MiB payload."""
    trial = min(1000, len(pool))
    size = len(_pack((pool, trial, 0, key_dir)))
    return min(len(pool), round(trial * TARGET_PAYLOAD_BYTES / size))


def _cpu_s(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK_TCK


def _upload_all(url: str, bundles: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Upload every bundle with `concurrency` clients; return (wall s, latencies s)."""
    latencies: list[float] = []
    queue = list(reversed(bundles))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    data = queue.pop()
                started = time.perf_counter()
                answer = client.post("/api/v1/bundles", content=data,
                                     headers={"Content-Type": BUNDLE_MEDIA_TYPE})  # fmt: skip
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if answer.status_code != 201:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} uploads failed, first: {failures[0]}")
    return wall, latencies


def _run(workdir: Path, bundles: list[bytes], count: int, concurrency: int) -> dict[str, Any]:
    data_dir = workdir / f"collector-c{concurrency}"
    collector = CollectorProcess(data_dir)
    try:
        pid = collector.proc.pid
        cpu_before = _cpu_s(pid)
        wall, latencies = _upload_all(collector.url, bundles, concurrency)
        cpu = _cpu_s(pid) - cpu_before
        peak = collector.peak_rss_mb()
        health = collector.client.get("/api/v1/health").json()
    finally:
        collector.stop()
    assert health["measurements"] == count * len(bundles), health
    ordered = sorted(latencies)
    return {
        "concurrency": concurrency,
        "bundles": len(bundles),
        "wall_s": round(wall, 2),
        "bundles_per_s": round(len(bundles) / wall, 2),
        "measurements_per_s": round(count * len(bundles) / wall),
        "compressed_mb_per_s": round(sum(map(len, bundles)) / wall / 2**20, 2),
        "latency_p50_s": round(statistics.median(ordered), 3),
        "latency_p99_s": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "collector_cpu_s_per_bundle": round(cpu / len(bundles), 3),
        "collector_peak_rss_mb": round(peak, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--quick", action="store_true", help="40 bundles")
    options = parser.parse_args()
    total = 40 if options.quick else options.bundles
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="collector-bench-") as tmp:
        workdir = Path(tmp)
        key_dir = workdir / "probe"
        identity: Identity = create_identity(key_dir)[0]
        started = time.perf_counter()
        pool = _pool()
        count = _records_per_bundle(pool, key_dir)
        jobs = [(pool, count, seed, key_dir) for seed in range(1, total + 1)]
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as executor:
            bundles = list(executor.map(_pack, jobs, chunksize=4))
        sizes = sorted(map(len, bundles))
        uncompressed = len(pool[0][2])  # for the record size line only
        report["setup"] = {
            "probe_id": identity.probe_id,
            "records_per_bundle": count,
            "bundle_bytes_median": sizes[len(sizes) // 2],
            "bundle_bytes_min_max": [sizes[0], sizes[-1]],
            "record_json_bytes_example": uncompressed,
            "build_s": round(time.perf_counter() - started, 1),
        }
        print(json.dumps(report["setup"]), flush=True)
        for concurrency in options.concurrency:
            result = _run(workdir, bundles, count, concurrency)
            report[f"concurrency_{concurrency}"] = result
            print(json.dumps(result), flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "collector.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
