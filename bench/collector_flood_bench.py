"""Benchmark for the collector under a hostile flood (issue 18): memory and refusal latency.

Starts a real `probe collector` (default limits) on loopback and sends it, from C concurrent
clients spread over several loopback addresses (127.0.0.0/8: each a client of its own for the
per-client limits), N copies of the issue's record: one valid, signed record whose `reasons`
is one 60 MiB string (≈ 64 KB on the wire), from a registered probe. Meanwhile one honest
client uploads small bundles from an address of its own. Then a registration flood: R fresh
keys, each with its proof, from one address. Reports the refusals by code, their p50/p99
latency, the honest uploads' latency under the flood, and the collector's peak RSS (VmHWM).

Usage: python bench/collector_flood_bench.py [--uploads 400] [--concurrency 16] [--quick]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import httpx  # noqa: E402
from collector.harness import CollectorProcess, bundle_of, make_records, register  # noqa: E402

from probe.collector.app import BUNDLE_MEDIA_TYPE  # noqa: E402
from probe.ship.identity import create_identity  # noqa: E402

FIELD_BYTES = 60 << 20
ADDRESSES = 8
HEADERS = {"Content-Type": BUNDLE_MEDIA_TYPE}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 4)


def _flood(url: str, data: bytes, uploads: int, concurrency: int) -> dict[str, Any]:
    codes: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def send(number: int) -> None:
        transport = httpx.HTTPTransport(local_address=f"127.0.1.{number % ADDRESSES + 1}")
        with httpx.Client(base_url=url, transport=transport, timeout=120) as client:
            started = time.perf_counter()
            answer = client.post("/api/v1/bundles", content=data, headers=HEADERS)
            elapsed = time.perf_counter() - started
        with lock:
            codes[f"{answer.status_code} {answer.json().get('error')}"] += 1
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(uploads)))
    wall = time.perf_counter() - started
    return {
        "uploads": uploads,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "refusals_per_s": round(uploads / wall, 1),
        "answers": dict(codes),
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p99_s": _percentile(latencies, 0.99),
    }


def _honest(url: str, root: Path, stop: threading.Event) -> list[float]:
    identity = create_identity(root / "honest")[0]
    transport = httpx.HTTPTransport(local_address="127.0.2.1")
    latencies: list[float] = []
    with httpx.Client(base_url=url, transport=transport, timeout=120) as client:
        number = 0
        while not stop.is_set():
            data = bundle_of(make_records(5, start=number * 5), identity).to_bytes()
            started = time.perf_counter()
            answer = client.post("/api/v1/bundles", content=data, headers=HEADERS)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 201, answer.text
            number += 1
    return latencies


def _registrations(url: str, root: Path, count: int) -> dict[str, Any]:
    codes: collections.Counter[str] = collections.Counter()
    latencies = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for number in range(count):
            identity = create_identity(root / f"reg{number}")[0]
            started = time.perf_counter()
            answer = register(client, identity)
            latencies.append(time.perf_counter() - started)
            body = answer.json()
            codes[f"{answer.status_code} {body.get('error', body.get('status'))}"] += 1
    return {"attempts": count, "answers": dict(codes),
            "latency_p50_s": _percentile(latencies, 0.5)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="80 uploads, 40 registrations")
    options = parser.parse_args()
    uploads = 80 if options.quick else options.uploads
    registrations = 40 if options.quick else options.registrations
    with tempfile.TemporaryDirectory(prefix="collector-flood-") as tmp:
        root = Path(tmp)
        attacker = create_identity(root / "attacker")[0]
        record = make_records(1)[0].model_copy(update={"reasons": ["x" * FIELD_BYTES]})
        data = bundle_of([record], attacker).to_bytes()
        collector = CollectorProcess(root / "data")
        try:
            # Registered first, from an address of its own: each flood upload then costs the
            # record cap's work, not only the (cheaper) registration refusal.
            transport = httpx.HTTPTransport(local_address="127.0.3.1")
            with httpx.Client(base_url=collector.url, transport=transport) as client:
                assert register(client, attacker).status_code == 201
            stop = threading.Event()
            honest: list[list[float]] = []
            thread = threading.Thread(target=lambda: honest.append(_honest(collector.url, root,
                                                                           stop)))  # fmt: skip
            thread.start()
            flood = _flood(collector.url, data, uploads, options.concurrency)
            stop.set()
            thread.join()
            report: dict[str, Any] = {
                "record_wire_bytes": len(data),
                "record_field_bytes": FIELD_BYTES,
                "flood": flood,
                "honest_uploads": len(honest[0]),
                "honest_latency_p50_s": _percentile(honest[0], 0.5),
                "honest_latency_p99_s": _percentile(honest[0], 0.99),
                "registrations": _registrations(collector.url, root, registrations),
                "collector_peak_rss_mb": round(collector.peak_rss_mb(), 1),
                "stored": collector.client.get("/api/v1/health").json(),
            }
        finally:
            collector.stop()
    print(json.dumps(report, indent=2))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "collector_flood.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
