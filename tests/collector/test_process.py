"""`probe collector` as real processes: serve, SIGKILL, a gzip bomb, ingest and export."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from servers import TestPki

from probe.collector.storage import CollectorStore
from probe.models.bundles import CollectedMeasurement
from probe.models.stored import StoredResult
from probe.ship.identity import Identity

from .harness import (
    CollectorProcess,
    bundle_of,
    collector_argv,
    gzip_bomb,
    register,
    run_cli,
    seal,
)

BOMB_RSS_LIMIT_MB = 300


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """1 GiB of zeros, gzip'd to ≈ 1 MiB, made once."""
    return gzip_bomb()


def test_serve_logs_its_port_takes_uploads_and_stops_on_sigterm(
    tmp_path: Path, identity: Identity, records: list[StoredResult]
) -> None:
    collector = CollectorProcess(tmp_path / "data")
    try:
        assert collector.client.get("/api/v1/health").json()["status"] == "ok"
        answer = collector.upload(bundle_of(records[:4], identity).to_bytes())
        assert answer.status_code == 201, answer.text
        # A second process writes the same store while the server runs.
        export = tmp_path / "carried.bundles"
        export.write_bytes(bundle_of(records[4:8], identity).to_bytes())
        ingest = run_cli("ingest", str(export), "--data-dir", str(tmp_path / "data"))
        assert ingest.returncode == 0, ingest.stderr
        page = collector.client.get("/api/v1/measurements").json()
        assert [m["measurement_id"] for m in page["measurements"]] == [
            str(r.measurement_id) for r in records[:8]
        ]
    finally:
        code = collector.stop()
    log = "".join(collector.log)
    assert code in (0, -signal.SIGTERM), log  # uvicorn re-raises the SIGTERM it handled
    assert "Traceback" not in log, log
    assert "POST /api/v1/bundles" not in log, "no access log: it would hold client addresses"
    assert "bundle accepted" in log


def test_serve_over_tls_with_a_config_file_and_a_token_file(
    tmp_path: Path, pki: TestPki, identity: Identity, records: list[StoredResult]
) -> None:
    leaf = pki.leaves["trusted"]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    config = tmp_path / "collector.toml"
    config.write_text(f'[collector]\ntls_cert = "{cert}"\ntls_key = "{key}"\n', encoding="utf-8")
    token = tmp_path / "token"
    token.write_text("from-a-file\n", encoding="utf-8")
    collector = CollectorProcess(
        tmp_path / "data", "--config", str(config), "--token-file", str(token)
    )
    try:
        assert collector.url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=collector.url, verify=ssl.create_default_context(
            cafile=str(pki.ca_pem))) as client:  # fmt: skip
            registration = register(client, identity, Authorization="Bearer from-a-file")
            assert registration.status_code == 201, registration.text
            answer = client.post("/api/v1/bundles",
                                 content=bundle_of(records[:2], identity).to_bytes())  # fmt: skip
            assert answer.status_code == 201, answer.text
    finally:
        collector.stop()


def test_an_acknowledged_bundle_survives_sigkill(
    tmp_path: Path, identity: Identity, records: list[StoredResult]
) -> None:
    collector = CollectorProcess(tmp_path / "data")
    bundle = bundle_of(records[:20], identity)
    try:
        answer = collector.upload(bundle.to_bytes())
        assert answer.status_code == 201, answer.text
        os.kill(collector.proc.pid, signal.SIGKILL)  # right after the 201: no clean shutdown
    finally:
        collector.kill()
    assert collector.proc.returncode == -signal.SIGKILL
    with CollectorStore.open(tmp_path / "data", create=False) as store:
        assert store.integrity_check() == "ok"
        row = store.bundle(bundle.bundle_id)
        assert row is not None and (row.count, row.stored) == (20, 20)
        assert store.bundle_file(bundle.bundle_id).read_bytes() == bundle.to_bytes()
        assert store.counts().measurements == 20


def test_a_gzip_bomb_is_refused_in_bounded_memory(
    tmp_path: Path, identity: Identity, bomb: bytes
) -> None:
    collector = CollectorProcess(tmp_path / "data")
    try:
        data = seal(identity, payload=bomb, count=1, uncompressed_bytes=1 << 30)
        answer = collector.upload(data)
        assert (answer.status_code, answer.json()["error"]) == (413, "uncompressed_too_large")
        peak = collector.peak_rss_mb()
        assert peak < BOMB_RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB while refusing a 1 GiB bomb"
        health = collector.client.get("/api/v1/health").json()
        assert (health["bundles"], health["measurements"]) == (0, 0)
    finally:
        collector.stop()
    assert not list((tmp_path / "data" / "bundles").rglob("*.bundle"))


def test_ingest_stores_the_good_bundles_and_reports_the_rest(
    tmp_path: Path, identity: Identity, other_identity: Identity, records: list[StoredResult]
) -> None:
    goods = [bundle_of(records[:5], identity), bundle_of(records[5:9], other_identity)]
    tampered = bytearray(bundle_of(records[9:12], identity).to_bytes())
    tampered[-5] ^= 0xFF
    export = tmp_path / "export.bundles"
    export.write_bytes(goods[0].to_bytes() + bytes(tampered) + goods[1].to_bytes()
                       + b"\x00garbage that is not a bundle" * 10)  # fmt: skip
    data_dir = tmp_path / "data"

    proc = run_cli("ingest", str(export), "--data-dir", str(data_dir))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4, proc.stdout
    assert f"bundle 1 {goods[0].bundle_id}: accepted" in lines[0]
    assert "bundle 2" in lines[1] and "rejected (payload_hash_mismatch)" in lines[1]
    assert f"bundle 3 {goods[1].bundle_id}: accepted" in lines[2]
    assert lines[3].startswith("bundle 4: rejected (not_a_bundle)")
    assert "Traceback" not in proc.stderr

    again = run_cli("ingest", str(export), "--data-dir", str(data_dir))
    assert [line.split(": ")[1].split()[0] for line in again.stdout.splitlines()] == [
        "duplicate", "rejected", "duplicate", "rejected",
    ]  # fmt: skip

    exported = run_cli("export", "--data-dir", str(data_dir))
    assert exported.returncode == 0, exported.stderr
    measurements = [
        CollectedMeasurement.model_validate_json(x) for x in exported.stdout.splitlines()
    ]
    assert [m.measurement_id for m in measurements] == [r.measurement_id for r in records[:9]]
    assert [m.probe_id for m in measurements] == [identity.probe_id] * 5 + [
        other_identity.probe_id
    ] * 4
    assert {m.bundle_id for m in measurements[5:]} == {goods[1].bundle_id}
    for measurement, record in zip(measurements, records, strict=False):
        expected = json.loads(record.model_dump_json())
        assert json.loads(measurement.model_dump_json(include=set(expected))) == expected

    only = run_cli("export", "--data-dir", str(data_dir), "--probe-id", other_identity.probe_id,
                   "--since", records[7].measurement_start_time.isoformat())  # fmt: skip
    assert [json.loads(x)["measurement_id"] for x in only.stdout.splitlines()] == [
        str(r.measurement_id) for r in records[7:9]
    ]


def test_ingest_of_an_unreadable_or_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bundles"
    empty.write_bytes(b"")
    proc = run_cli("ingest", str(empty), "--data-dir", str(tmp_path / "data"))
    assert (proc.returncode, proc.stdout) == (0, "")
    missing = run_cli("ingest", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "data"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_export_of_an_empty_collector_prints_nothing(tmp_path: Path) -> None:
    CollectorStore.open(tmp_path / "data").close()
    proc = run_cli("export", "--data-dir", str(tmp_path / "data"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_export_without_a_store_says_so_in_one_line(tmp_path: Path) -> None:
    proc = run_cli("export", "--data-dir", str(tmp_path / "nothing-here"))
    assert proc.returncode == 2  # a usage error, as every missing file (issue 20)
    assert proc.stderr.count("\n") == 1 and "no collector store" in proc.stderr


def test_serving_without_fastapi_says_how_to_install_it(tmp_path: Path) -> None:
    block = "import sys\nsys.modules['fastapi'] = None  # as if the extra were not installed\n"
    proc = run_cli("--data-dir", str(tmp_path), prelude=block)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "probe: error: probe collector needs FastAPI: pip install 'probe[collector]'"
    ]


def test_serving_needs_a_data_dir() -> None:
    proc = run_cli("--listen", "127.0.0.1:0")
    assert proc.returncode == 2 and "--data-dir" in proc.stderr


@pytest.mark.parametrize(
    "argv", [["--help"], ["export", "--help"], ["ingest", "--help"]], ids=" ".join
)
def test_help_imports_neither_fastapi_nor_uvicorn(argv: list[str]) -> None:
    show = "import atexit, sys\natexit.register(lambda: print(sorted(m for m in sys.modules" \
        " if m.split('.')[0] in ('fastapi', 'uvicorn'))))\n"  # fmt: skip
    proc = subprocess.run(collector_argv(*argv, prelude=show), capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
