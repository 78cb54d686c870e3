"""Upload tests: a probe store with results, and real collectors on loopback to send them to.

Fixtures:
    probe_store    a fresh store under tmp_path with an identity beside it (`ProbeSide`)
    collector      the collector app on a real uvicorn in a thread (127.0.0.1, port 0)
    tls_collector  the same over HTTPS with the test PKI's "trusted" certificate (localhost)
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector.harness import READER, RunningCollector
from servers import TestPki

from probe.config import CollectorSettings, UploadSettings
from probe.ship.identity import Identity, create_identity
from probe.ship.upload import UploadReport, upload_outbox
from probe.store import ResultStore

from .records import sample_result


@dataclass
class ProbeSide:
    store: ResultStore
    identity: Identity
    data_dir: Path

    def fill(self, count: int, start: int = 0) -> list[str]:
        return [
            str(self.store.add_result(sample_result(i), "job").measurement_id)
            for i in range(start, start + count)
        ]

    def upload(self, urls: list[str], **settings: Any) -> UploadReport:
        defaults: dict[str, Any] = {"retry_initial": 1, "retry_max": 4, "timeout": 10}
        upload = UploadSettings(collectors=urls, **{**defaults, **settings})
        return asyncio.run(upload_outbox(self.store, self.identity, upload))


@pytest.fixture
def probe_side(tmp_path: Path) -> Iterator[ProbeSide]:
    data_dir = tmp_path / "probe"
    identity = create_identity(data_dir)[0]
    with ResultStore.open(data_dir) as store:
        yield ProbeSide(store, identity, data_dir)


def collected_ids(base_url: str, **client: Any) -> list[str]:
    """Every measurement id the collector holds, as a list (a duplicate would show twice)."""
    ids: list[str] = []
    cursor: int | None = 0
    with httpx.Client(base_url=base_url, timeout=30, headers=READER, **client) as http:
        while cursor is not None:
            page = http.get("/api/v1/measurements", params={"cursor": cursor, "limit": 1000})
            assert page.status_code == 200, page.text
            body = page.json()
            ids += [m["measurement_id"] for m in body["measurements"]]
            cursor = body["next_cursor"]
    return ids


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    running = RunningCollector(CollectorSettings(data_dir=tmp_path / "collector"))
    yield running
    running.close()


class TlsCollector(RunningCollector):
    """The collector over HTTPS (the test PKI's certificate for localhost/127.0.0.1)."""

    def __init__(self, settings: CollectorSettings, pki: TestPki, directory: Path) -> None:
        leaf = pki.leaves["trusted"]
        cert, key = directory / "chain.pem", directory / "key.pem"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        super().__init__(settings, ssl_certfile=str(cert), ssl_keyfile=str(key))
        self.verify = ssl.create_default_context(cafile=str(pki.ca_pem))


@pytest.fixture
def tls_collector(tmp_path: Path, pki: TestPki) -> Iterator[TlsCollector]:
    running = TlsCollector(CollectorSettings(data_dir=tmp_path / "tls-collector"), pki, tmp_path)
    yield running
    running.close()
