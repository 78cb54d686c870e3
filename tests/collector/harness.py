"""A collector to test against, and bundles, good and hostile, to send it.

`RunningCollector` is the real application on a real uvicorn (127.0.0.1, port 0) in a thread:
cheap enough for one per test. `CollectorProcess` is `probe collector` as a real process, for
what needs one: its RSS, SIGKILL, the command line. `seal()` frames and signs any payload with
any manifest, so a test can say exactly which lie it tells.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from probe.collector.app import BUNDLE_MEDIA_TYPE, create_app
from probe.config import CollectorSettings
from probe.models.results import Blocking, TargetResult, Verdict
from probe.models.stored import StoredResult
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind
from probe.ship.bundle import MAGIC, Bundle, PackedRecord, pack
from probe.ship.identity import Identity
from probe.ship.keys import registration_message

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# The token a test collector's read API takes unless the test says otherwise (issue 18: the
# read API is closed without one).
READ_TOKEN = "test-read-token"
READER = {"Authorization": f"Bearer {READ_TOKEN}"}
_PLATFORMS = ("whatsapp", "signal", None)
_OUTCOMES = (
    (Verdict.ACCESSIBLE, None),
    (Verdict.BLOCKED, Blocking.DNS_NXDOMAIN),
    (Verdict.BLOCKED, Blocking.TCP_RESET),
    (Verdict.SERVICE_DOWN, None),
)
# `probe collector` whether or not cli/app.py registers it yet: the real entry point (`main`,
# which turns a ProbeError into one line and an exit code) with the sub-app added if missing.
_CLI = (
    "from probe.cli.app import app, main\n"
    "from probe.cli.collector import collector_app\n"
    "if not any('collector' in (g.name, g.typer_instance and g.typer_instance.info.name)\n"
    "           for g in app.registered_groups):\n"
    "    app.add_typer(collector_app, name='collector')\n"
    "main()\n"
)
LISTENING = re.compile(r"collector listening on (https?)://([^\s:]+|\[[^\]]+\]):(\d+)")


def collector_argv(*args: str, prelude: str = "") -> list[str]:
    """Return the argv that runs `probe collector ARGS` (after `prelude`, Python code)."""
    return [sys.executable, "-c", prelude + _CLI, "collector", *args]


# --- records and bundles --------------------------------------------------------------------


def make_records(count: int, *, start: int = 0) -> list[StoredResult]:
    """Return `count` small valid records, varied in target, verdict and time."""
    records = []
    for number in range(start, start + count):
        host = f"site{number % 7}.example"
        url = f"https://{host}/"
        endpoint = Endpoint(kind=EndpointKind.WEB, host=host, port=443, url=url)
        target = Target(input=url, kind=TargetKind.URL, name=host, endpoints=[endpoint],
                        platform=_PLATFORMS[number % 3])  # fmt: skip
        verdict, blocking = _OUTCOMES[number % len(_OUTCOMES)]
        result = TargetResult(
            input=url, verdict=verdict, blocking=blocking, reasons=[f"case {number}"],
            target=target, measurement_start_time=BASE_TIME + timedelta(minutes=number),
            test_runtime=0.25, software_version="test", probe_asn="AS64500", probe_cc="NL",
        )  # fmt: skip
        records.append(StoredResult(**dict(result), job="hourly", measurement_id=uuid.uuid4()))
    return records


def bundle_of(records: Sequence[StoredResult], identity: Identity) -> Bundle:
    """Return the records packed and signed as the probe does."""
    packed = [
        PackedRecord(str(r.measurement_id), r.measurement_start_time, r.model_dump_json())
        for r in records
    ]
    return pack(packed, identity, software_version="test", created_at=BASE_TIME)


def lines_of(records: Sequence[StoredResult]) -> bytes:
    return b"".join(r.model_dump_json().encode() + b"\n" for r in records)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def seal(
    identity: Identity,
    lines: bytes = b"",
    *,
    payload: bytes | None = None,
    signer: Identity | None = None,
    **manifest: Any,
) -> bytes:
    """Return a framed bundle of `lines` (or of a raw `payload`), its manifest consistent
    with it unless `manifest` overrides a field, signed by `signer` (default: `identity`)."""
    body = gzip.compress(lines, mtime=0) if payload is None else payload
    fields: dict[str, Any] = {
        "format": "probe-bundle/1", "probe_id": identity.probe_id,
        "public_key": base64.b64encode(identity.public_key_raw).decode(),
        "software_name": "probe", "software_version": "test", "created_at": _iso(BASE_TIME),
        "first_measured_at": _iso(BASE_TIME - timedelta(days=1)),
        "last_measured_at": _iso(BASE_TIME + timedelta(days=30)), "count": lines.count(b"\n"),
        "compression": "gzip", "payload_sha256": hashlib.sha256(body).hexdigest(),
        "payload_bytes": len(body), "uncompressed_bytes": len(lines),
        "records": "stored-result/1",
    }  # fmt: skip
    fields.update(manifest)
    line = json.dumps(fields, separators=(",", ":")).encode()
    signature = (signer or identity).private_key.sign(line)
    return MAGIC + line + b"\n" + base64.b64encode(signature) + b"\n" + body


def gzip_bomb(size: int = 1 << 30) -> bytes:
    """Return one valid gzip stream of `size` zero bytes (1 GiB → ≈ 1 MiB), made in ≈ 0.3 s:
    after a full flush every MiB of zeros compresses to the same bytes, so one is repeated."""
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)[:-8]  # the trailer is for 2 MiB: write the real one
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(zeros, crc)
    return head + block * ((size >> 20) - 2) + tail + struct.pack("<II", crc, size & 0xFFFFFFFF)


def register(client: httpx.Client, identity: Identity, **headers: str) -> httpx.Response:
    """Register `identity` as a probe does: sign a fresh challenge of the collector with it."""
    answer = client.post("/api/v1/probes/challenge")
    assert answer.status_code == 200, answer.text
    nonce = base64.b64decode(answer.json()["nonce"])
    signature = identity.private_key.sign(registration_message(nonce, identity.public_key_raw))
    body = {
        "public_key": base64.b64encode(identity.public_key_raw).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    return client.post("/api/v1/probes", json=body, headers=headers)


# --- the collector in this process ----------------------------------------------------------


class RunningCollector:
    """The collector app served by a real uvicorn on 127.0.0.1:0, in a thread of its own."""

    def __init__(self, settings: CollectorSettings, **tls: str) -> None:
        """`tls`: uvicorn's ssl_certfile and ssl_keyfile, to serve HTTPS (as localhost).

        Settings without a read token get READ_TOKEN, and `reader` sends it (`client` not).
        """
        assert settings.data_dir is not None
        if settings.read_token is None:
            settings = settings.model_copy(update={"read_token": READ_TOKEN})
        self.data_dir = settings.data_dir
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, lifespan="on",
                                log_config=None, access_log=False, **tls)  # fmt: skip
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()
        while not self.server.started:
            assert self._thread.is_alive(), "the collector failed to start"
            time.sleep(0.005)
        self.port: int = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"https://localhost:{self.port}" if tls else f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=30, verify=not tls)
        self.reader = httpx.Client(base_url=self.url, timeout=30, verify=not tls, headers=READER)

    def upload(self, data: bytes, **headers: str) -> httpx.Response:
        return self.client.post(
            "/api/v1/bundles", content=data, headers={"Content-Type": BUNDLE_MEDIA_TYPE, **headers}
        )

    def snapshot(self) -> tuple[dict[str, object], list[str]]:
        """The counts the API reports and every file name under the data dir's parent."""
        health = self.client.get("/api/v1/health").json()
        counts = {k: health[k] for k in ("probes", "bundles", "measurements")}
        root = self.data_dir.parent
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return counts, files

    def close(self) -> None:
        self.client.close()
        self.reader.close()
        self.server.should_exit = True
        self._thread.join()


def raw_exchange(port: int, request: bytes, *, close_early: bool = False) -> bytes:
    """Send `request` bytes on a fresh connection; return everything the server answers
    (b"" with `close_early`: the connection is closed right after sending)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        if close_early:
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_response(raw: bytes) -> tuple[int, dict[str, Any]]:
    """Return (status, JSON body) of a raw HTTP/1.1 response with a Content-Length."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


# --- the collector as a process -------------------------------------------------------------


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}


def run_cli(*args: str, prelude: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `probe collector ARGS` to completion."""
    return subprocess.run(collector_argv(*args, prelude=prelude), capture_output=True, text=True,
                          check=False, timeout=timeout, env=_env())  # fmt: skip


class CollectorProcess:
    """`probe collector --listen 127.0.0.1:0 --data-dir DIR` as a real process."""

    def __init__(self, data_dir: Path, *extra: str, read_token: bool = True) -> None:
        """`extra`: more flags; with `read_token` and no --read-token-file, one holding
        READ_TOKEN is added (and `client` sends it)."""
        self.data_dir = data_dir
        if read_token and "--read-token-file" not in extra:
            token_file = data_dir.parent / f"{data_dir.name}.read-token"
            token_file.write_text(READ_TOKEN + "\n", encoding="utf-8")
            extra = (*extra, "--read-token-file", str(token_file))
        argv = collector_argv("--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *extra)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=_env())  # fmt: skip
        self.log: list[str] = []
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._follow, daemon=True)
        self._reader.start()
        if not self._listening.wait(30):
            self.kill()
            raise AssertionError("the collector did not start:\n" + "".join(self.log))
        match = LISTENING.search("".join(self.log))
        assert match is not None
        self.url = f"{match.group(1)}://{match.group(2)}:{match.group(3)}"
        self.client = httpx.Client(base_url=self.url, timeout=60, headers=READER)

    def _follow(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if LISTENING.search(line):
                self._listening.set()
        self._listening.set()  # exited: let the waiter see the log

    def upload(self, data: bytes) -> httpx.Response:
        return self.client.post(
            "/api/v1/bundles", content=data, headers={"Content-Type": BUNDLE_MEDIA_TYPE}
        )

    def peak_rss_mb(self) -> float:
        """The process's peak resident set (VmHWM), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc")

    def stop(self) -> int:
        """SIGTERM, then wait: return the exit code."""
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self._close_log()
        return code

    def kill(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
