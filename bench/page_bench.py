"""What page identity (issue 17) costs: the summary the helper computes for every fetch and the
probe for every cleartext page, and the page verdict, by page size; the summary's wire size.

Usage: python bench/page_bench.py [--repeats 5]
Writes bench/results/page.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from probe.decide.http import page_finding
from probe.models.control import ControlHttpRequest, ControlResponse
from probe.models.observations import HttpRequestRecord, HttpResponseRecord, HttpTransaction
from probe.models.page import summarize

REPO = Path(__file__).resolve().parent.parent
URL = "http://example.com/"
SIZES_KIB = (16, 120, 512)


def page(size_kib: int) -> str:
    """Return an ordinary page of about `size_kib` KiB: markup, scripts and words."""
    parts = ["<html><head><title>Daily News</title><script src='/app.js'></script></head><body>"]
    block = 0
    while sum(len(p) for p in parts) < size_kib * 1024:
        words = hashlib.sha256(str(block).encode()).hexdigest()
        parts.append(f"<p>news {words[:8]} report {words[8:16]} city {words[16:24]}</p>\n")
        block += 1
    return "".join(parts) + "</body></html>"


def best(repeats: int, action: Callable[[], object]) -> float:
    """Return the fastest of `repeats` runs of `action()`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    rows = []
    for size in SIZES_KIB:
        body = page(size)
        summary = summarize(body, URL)
        control = ControlResponse(
            http_request=ControlHttpRequest(
                status_code=200, title="Daily News", x_page=summary, x_chain=[URL]
            )
        )
        final = HttpTransaction(
            address="192.0.2.1:80",
            request=HttpRequestRecord(url=URL),
            response=HttpResponseRecord(code=200, body=body, x_body_length=len(body)),
            t0=0.0,
            t=0.1,
            tags=["attempt=1", "depth=0"],
        )
        rows.append(
            {
                "page_kib": size,
                "summary_ms": 1000 * best(repeats, partial(summarize, body, URL)),
                "page_verdict_ms": 1000
                * best(repeats, partial(page_finding, final, [final], control, ())),
                "x_page_bytes": len(summary.model_dump_json()),
            }
        )
    print("| page | summary (helper, probe) | page verdict | x_page on the wire |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['page_kib']} KiB | {row['summary_ms']:.1f} ms | {row['page_verdict_ms']:.1f}"
            f" ms | {row['x_page_bytes']} B |"
        )
    out = REPO / "bench" / "results" / "page.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
