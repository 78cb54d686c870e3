"""The command line end to end: `probe upload`, `probe status`, and the hand-carry path
(`probe bundle export` → `probe bundle inspect` → `probe collector ingest`) followed by an
upload of the same bundles: each measurement still arrives exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from collector.harness import CollectorProcess, RunningCollector
from probe_cli import run_probe
from servers import ServerLoop

from probe.config import CollectorSettings
from probe.store import ResultStore

from .conftest import collected_ids
from .records import sample_result


class Home:
    def __init__(self, root: Path, collectors: list[str]) -> None:
        self.data_dir = root / "probe"
        self.config = root / "probe.toml"
        init = run_probe("init", "--yes", "--config", str(root / "init.toml"),
                      "--data-dir", str(self.data_dir))  # fmt: skip
        assert init.returncode == 0, init.stderr
        self.write(collectors)

    def write(self, collectors: list[str]) -> None:
        self.config.write_text(
            f'[storage]\ndata_dir = "{self.data_dir}"\n[upload]\n'
            f"collectors = {json.dumps(collectors)}\n"
            'retry_initial = "1s"\nretry_max = "2s"\ntimeout = "10s"\nmax_bundle_records = 4\n',
            encoding="utf-8",
        )

    def fill(self, count: int, start: int = 0) -> list[str]:
        with ResultStore.open(self.data_dir) as store:
            return [str(store.add_result(sample_result(i), "job").measurement_id)
                    for i in range(start, start + count)]  # fmt: skip

    def probe(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_probe(*args, "--config", str(self.config))

    def status(self) -> dict[str, object]:
        proc = self.probe("status", "--json")
        assert proc.returncode == 0, proc.stderr
        loaded: dict[str, object] = json.loads(proc.stdout)
        return loaded


def test_export_ingest_then_upload_the_same(tmp_path: Path) -> None:
    home = Home(tmp_path, [])
    ids = home.fill(10)
    carried = tmp_path / "usb" / "carry.bundles"
    carried.parent.mkdir()
    export = home.probe("bundle", "export", "--output", str(carried))
    assert export.returncode == 0 and "(3 bundle(s), 10 measurement(s)," in export.stderr
    assert f"wrote {carried} " in export.stderr
    inspect = run_probe("bundle", "inspect", str(carried))
    assert inspect.returncode == 0 and inspect.stdout.count(" ok") == 3, inspect.stdout
    collector_dir = tmp_path / "collector"
    ingest = run_probe("collector", "ingest", str(carried), "--data-dir", str(collector_dir))
    assert ingest.returncode == 0, ingest.stderr + ingest.stdout
    assert home.status()["outbox"]["backlog"] == 0  # type: ignore[index]

    # Later the network opens: the same bundles are uploaded; nothing is stored twice.
    running = RunningCollector(CollectorSettings(data_dir=collector_dir))
    try:
        home.write([running.url])
        upload = home.probe("upload", "--json")
        assert upload.returncode == 0, upload.stderr
        outcome = json.loads(upload.stdout)
        assert outcome["uploaded"] == 3 and outcome["duplicates"] == 3
        assert sorted(collected_ids(running.url)) == sorted(ids)
    finally:
        running.close()
    exported = run_probe("collector", "export", "--data-dir", str(collector_dir))
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(line["measurement_id"] for line in lines) == sorted(ids)
    assert {line["probe_id"] for line in lines} == {_probe_id(home)}


def _probe_id(home: Home) -> str:
    import hashlib

    from probe.ship.identity import load_identity

    return hashlib.sha256(load_identity(home.data_dir).public_key_raw).hexdigest()


def test_tampered_carried_file_is_reported(tmp_path: Path) -> None:
    home = Home(tmp_path, [])
    home.fill(3)
    carried = tmp_path / "carry.bundles"
    assert home.probe("bundle", "export", "--output", str(carried)).returncode == 0
    data = bytearray(carried.read_bytes())
    data[-10] ^= 0xFF
    carried.write_bytes(bytes(data))
    inspect = run_probe("bundle", "inspect", str(carried))
    assert inspect.returncode == 1 and "payload_hash_mismatch" in inspect.stderr
    missing = run_probe("bundle", "inspect", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such file" in missing.stderr, missing.stderr
    assert "Traceback" not in inspect.stderr + missing.stderr


def test_nothing_to_export_says_so_and_writes_nothing(tmp_path: Path) -> None:
    """Issue 20: a second export wrote a 0-byte file, exited 0 and never mentioned --all."""
    home = Home(tmp_path, [])
    home.fill(2)
    first, second = tmp_path / "first.bundles", tmp_path / "second.bundles"
    assert home.probe("bundle", "export", "-o", str(first)).returncode == 0
    again = home.probe("bundle", "export", "-o", str(second))
    assert again.returncode == 1, again.stdout + again.stderr
    assert "--all" in again.stderr and "exported before" in again.stderr
    assert not second.exists()
    assert home.probe("bundle", "export", "-o", str(second), "--all").returncode == 0
    assert second.read_bytes() == first.read_bytes()
    empty = tmp_path / "empty.bundles"
    empty.write_bytes(b"")
    inspect = run_probe("bundle", "inspect", str(empty))
    assert inspect.returncode == 1 and "holds no bundles" in inspect.stderr, inspect.stderr


def test_upload_failure_shows_in_status(tmp_path: Path) -> None:
    from servers import closed_port

    home = Home(tmp_path, [f"http://127.0.0.1:{closed_port()}"])
    home.fill(2)
    upload = home.probe("upload")
    assert upload.returncode == 1 and "connection_refused" in upload.stderr, upload.stderr
    outbox = home.status()["outbox"]
    assert isinstance(outbox, dict)
    assert outbox["pending_bundles"] == 1 and outbox["failures"] == 1
    assert "connection_refused" in outbox["last_upload_error"]
    text = home.probe("status")
    assert "upload error (1 failed in a row)" in text.stdout, text.stdout
    no_collector = Home(tmp_path / "other", [])
    refused = no_collector.probe("upload")
    assert refused.returncode == 2 and "no collector configured" in refused.stderr


@pytest.mark.timeout(120)
def test_collector_killed_in_the_middle_of_an_upload(tmp_path: Path) -> None:
    """The collector freezes while the body is in flight, then is SIGKILLed; it restarts on
    the same port and the next pass lands everything, once."""
    import signal
    import threading

    from servers import closed_port

    port = closed_port()
    collector_dir = tmp_path / "collector"
    home = Home(tmp_path, [f"http://127.0.0.1:{port}"])
    ids = home.fill(400)
    home.config.write_text(home.config.read_text().replace("max_bundle_records = 4",
                                                           "max_bundle_records = 400"))  # fmt: skip
    first = CollectorProcess(collector_dir, "--listen", f"127.0.0.1:{port}")
    first.proc.send_signal(signal.SIGSTOP)
    result: list[subprocess.CompletedProcess[str]] = []
    uploader = threading.Thread(target=lambda: result.append(home.probe("upload")))
    uploader.start()
    uploader.join(3)  # the body is sent into a frozen collector's socket
    assert uploader.is_alive(), "the upload should be waiting on the frozen collector"
    first.kill()
    uploader.join(60)
    assert result and result[0].returncode == 1, result
    second = CollectorProcess(collector_dir, "--listen", f"127.0.0.1:{port}")
    try:
        again = home.probe("upload")
        assert again.returncode == 0, again.stderr
        assert sorted(collected_ids(second.url)) == sorted(ids)
    finally:
        second.stop()


def test_an_interrupted_upload_is_neither_success_nor_failure(
    tmp_path: Path, server_loop: ServerLoop
) -> None:
    """SIGTERM during a pass (the daemon stopping): the bundle stays, the state is untouched."""
    import signal
    import time

    from servers import FaultRelay, closed_port

    relay = FaultRelay(server_loop, ("127.0.0.1", closed_port()), mode="hang")
    relay.start()
    try:
        home = Home(tmp_path, [f"http://127.0.0.1:{relay.port}"])
        home.fill(2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}
        worker = subprocess.Popen(
            [sys.executable, "-m", "probe.daemon.worker", "upload", "--config", str(home.config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env,
        )  # fmt: skip
        assert worker.stdin is not None
        worker.stdin.write(home.config.read_text())
        worker.stdin.close()
        deadline = time.monotonic() + 30
        while relay.connections == 0:
            assert time.monotonic() < deadline and worker.poll() is None, "no upload started"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.stdout is not None and worker.stderr is not None
        with worker.stdout, worker.stderr:
            out, err = worker.stdout.read(), worker.stderr.read()
        worker.wait(30)
    finally:
        relay.close()
    assert json.loads(out.splitlines()[-1])["status"] == "interrupted", out + err
    outbox = home.status()["outbox"]
    assert isinstance(outbox, dict)
    assert outbox["pending_bundles"] == 1 and outbox["backlog"] == 2
    assert (outbox["last_upload_at"], outbox["last_success_at"], outbox["failures"]) == (
        None, None, 0,
    )  # fmt: skip
