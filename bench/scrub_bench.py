"""How long scrubbing the probe's addresses takes (issue 18), per body and per record.

Scrubbing runs once per target on the event loop, over every value of the record, base64
bodies decoded: it must stay well under a target's own measurement time. Bodies are at the
recording cap (512 KiB): a prose page, a page dense with numbers (the worst case: every number
is a candidate), random binary (stored as base64), a Latin-1 page that echoes the address in
every paragraph, and a record holding three pages and a binary body.

Usage: python bench/scrub_bench.py [--repeats 5]. Writes bench/results/scrub.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from probe.observe.privacy import scrub_bytes, scrub_json, scrub_text

CAP = 512 * 1024
ADDRESSES = ["203.0.113.77", "2001:db8::77", "192.168.1.5", "fe80::1"]
PROSE = "<p>Measurement matters: this paragraph stands for the prose of a news site.</p>\n"
NUMBERS = "<td>12.34.56.78</td><td>2026-01-01T10:00:00</td><td>203.0.11.77</td><td>0x1f</td>\n"
ECHO = "<p>Votre adresse : 203.0.113.77 (host-203-0-113-77), café.</p>\n"


def page(line: str) -> str:
    return (line * (CAP // len(line) + 1))[:CAP]


def best_of(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    binary = os.urandom(CAP)
    echo = page(ECHO).encode("latin-1")
    response = {"code": 200, "x_body_sha256": "", "headers": {}}
    record = json.dumps({"requests": [
        *({**response, "body": page(line)} for line in (PROSE, NUMBERS, PROSE)),
        {**response, "body": {"format": "base64", "data": base64.b64encode(binary).decode()}},
    ]})  # fmt: skip
    cases: dict[str, Callable[[], object]] = {
        "prose page, 512 KiB (text)": lambda: scrub_text(page(PROSE), ADDRESSES),
        "page dense with numbers, 512 KiB (text)": lambda: scrub_text(page(NUMBERS), ADDRESSES),
        "random binary, 512 KiB (bytes)": lambda: scrub_bytes(binary, ADDRESSES),
        "Latin-1 page echoing the address ~8,000 times (bytes)": lambda: scrub_bytes(
            echo, ADDRESSES
        ),
        "record: 3 pages + 1 binary body, 2.7 MB of JSON": lambda: scrub_json(record, ADDRESSES),
    }
    results = {name: best_of(repeats, run) for name, run in cases.items()}
    for name, seconds in results.items():
        print(f"{name:58s} {seconds * 1000:8.1f} ms")
    out = Path(__file__).parent / "results" / "scrub.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({k: round(v, 4) for k, v in results.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
