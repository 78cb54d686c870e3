"""Uploads that hold the collector's resources: a slow drip is cut off (408) and, past
`max_uploads_in_flight`, an upload is refused at once (503 + Retry-After) instead of queued."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from probe.models.stored import StoredResult
from probe.ship.identity import Identity

from .conftest import collector_settings
from .harness import RunningCollector, bundle_of, parse_response


def _head(length: int) -> bytes:
    return (
        f"POST /api/v1/bundles HTTP/1.1\r\nHost: collector\r\nContent-Length: {length}\r\n"
        "Content-Type: application/x-probe-bundle\r\n\r\n"
    ).encode()


def _answer(sock: socket.socket) -> bytes:
    """The first response, read up to its Content-Length (the server may keep the socket)."""
    raw = b""
    while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < _length(raw):
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed mid-response: {raw!r}"
        raw += chunk
    return raw


def _length(raw: bytes) -> int:
    for line in raw.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_slow_drip_is_cut_off(tmp_path: Path) -> None:
    running = RunningCollector(collector_settings(tmp_path / "data", upload_timeout=0.5))
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(_head(10_000) + b"probe-bundle/1\n")
            status, body = parse_response(_answer(sock))
        assert (status, body["error"]) == (408, "body_timeout")
        assert running.client.get("/api/v1/health").json()["bundles"] == 0
    finally:
        running.close()


def test_past_the_in_flight_cap_an_upload_is_refused_not_queued(
    tmp_path: Path, identity: Identity, records: list[StoredResult]
) -> None:
    running = RunningCollector(collector_settings(tmp_path / "data", max_uploads_in_flight=1))
    data = bundle_of(records[:3], identity).to_bytes()
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as holder:
            holder.sendall(_head(len(data)) + data[:100])  # holds the only slot
            deadline = time.monotonic() + 10
            while (busy := running.upload(data)).status_code != 503:
                assert time.monotonic() < deadline, busy.text  # the holder is not in yet
                time.sleep(0.05)
            assert busy.json()["error"] == "busy" and busy.headers["Retry-After"]
            holder.sendall(data[100:])
            status, _ = parse_response(_answer(holder))
            assert status == 201
        assert running.upload(data).status_code == 200  # the slot is free again: duplicate
    finally:
        running.close()
