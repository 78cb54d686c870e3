"""The hostile-client suite (issue 18): each attack replayed against the real servers.

Collector cases (`test_collector_*.py`) run `probe collector` as a real process on loopback
(`collector.harness.CollectorProcess`), with a config file of their own, and assert three
things: the refusal (status and code), that nothing refused was stored (the health counts and
every file under the data dir, before and after), and, under floods, the collector's peak RSS
read from /proc. Floods are bounded in count, never in wall-clock time.

Fixtures and helpers:
    hostile_collector(tmp_path, **settings)  start a collector with [collector] settings
    Snapshot                                 what a collector holds, compared before and after
    big_field_bundle(identity, size)         one valid record whose `reasons` holds `size` bytes
    from_address(url, address)               an httpx client whose connections come from
                                             another loopback address (another client)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from collector.harness import READER, CollectorProcess, bundle_of, make_records

from probe.ship.identity import Identity, create_identity

RSS_LIMIT_MB = 300  # issue 18: the collector under a flood stays below this


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, **settings: object) -> Path:
    """Write a TOML file with these [collector] settings; return its path."""
    lines = ["[collector]", *(f"{key} = {_toml(value)}" for key, value in settings.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


StartCollector = Callable[..., CollectorProcess]


@pytest.fixture
def hostile_collector(tmp_path: Path) -> Iterator[StartCollector]:
    """Start `probe collector` processes with [collector] settings; all stopped at the end."""
    started: list[CollectorProcess] = []

    def start(
        name: str = "collector", *, read_token: bool = True, **settings: object
    ) -> CollectorProcess:
        config = write_config(tmp_path / f"{name}.toml", **settings)
        process = CollectorProcess(tmp_path / name, "--config", str(config),
                                   read_token=read_token)  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@dataclass(frozen=True)
class Snapshot:
    """What a collector holds: its counts and every file under its data dir (names, sizes)."""

    counts: dict[str, int]
    files: dict[str, int]

    @classmethod
    def of(cls, collector: CollectorProcess) -> Snapshot:
        health = collector.client.get("/api/v1/health").json()
        counts = {key: int(health[key]) for key in ("probes", "bundles", "measurements")}
        root = collector.data_dir
        files = {
            str(p.relative_to(root)): p.stat().st_size
            for p in root.rglob("*")
            if p.is_file() and not p.name.startswith("collector.sqlite3")
        }
        return cls(counts, files)


def new_identity(root: Path, name: str) -> Identity:
    return create_identity(root / name)[0]


def big_field_bundle(identity: Identity, size: int, *, start: int = 0) -> bytes:
    """One valid, signed bundle of one record whose `reasons` is one string of `size` bytes
    (issue 18: 60 MiB of it was 63,690 bytes on the wire and 283 MB on disk)."""
    record = make_records(1, start=start)[0]
    record = record.model_copy(update={"reasons": ["x" * size]})
    return bundle_of([record], identity).to_bytes()


def from_address(url: str, address: str, **headers: str) -> httpx.Client:
    """A client whose connections leave from `address` (127.0.0.0/8 is all loopback), so
    the collector counts it as another client."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, transport=transport, timeout=60, headers=headers)


__all__ = [
    "READER",
    "RSS_LIMIT_MB",
    "Snapshot",
    "StartCollector",
    "big_field_bundle",
    "from_address",
    "new_identity",
    "write_config",
]
