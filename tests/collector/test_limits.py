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


def test_a_slow_body_holds_no_upload_slot(
    tmp_path: Path, identity: Identity, records: list[StoredResult]
) -> None:
    """Issue 18: sixteen slow uploads took every slot for up to 300 s. A body now takes its
    slot only once it is whole: with one slot, a drip in progress does not stop an upload."""
    running = RunningCollector(collector_settings(tmp_path / "data", max_uploads_in_flight=1))
    data = bundle_of(records[:3], identity).to_bytes()
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as holder:
            holder.sendall(_head(len(data)) + data[:100])  # a drip that has begun
            assert running.upload(data).status_code == 201
            holder.sendall(data[100:])
            status, _ = parse_response(_answer(holder))
            assert status == 200  # the drip's bundle, complete at last: a duplicate
    finally:
        running.close()


def test_past_the_body_budget_an_upload_is_refused_not_queued(
    tmp_path: Path, identity: Identity, records: list[StoredResult]
) -> None:
    """Bodies held at once share `max_buffered_bytes`: a body that would pass it is refused
    with 503 + Retry-After at once, and the budget is whole again when the holder is done."""
    settings = collector_settings(tmp_path / "data", max_buffered_bytes=64 << 10)
    running = RunningCollector(settings)
    data = bundle_of(records[:3], identity).to_bytes()
    filler = b"probe-bundle/1\n" + b"x" * (63 << 10)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as holder:
            holder.sendall(_head(len(filler) + 1) + filler)  # holds 63 KiB of the 64
            deadline = time.monotonic() + 10
            while (busy := running.upload(data)).status_code != 503:
                assert time.monotonic() < deadline, busy.text  # the holder is not in yet
                time.sleep(0.05)
            assert busy.json()["error"] == "busy" and busy.headers["Retry-After"]
            holder.sendall(b"\n")
            status, body = parse_response(_answer(holder))
            assert (status, body["error"]) == (400, "manifest_too_large")
        assert running.upload(data).status_code == 201  # the budget is free again
        assert running.snapshot()[0]["bundles"] == 1
    finally:
        running.close()


def test_one_client_holds_few_requests_at_once(
    tmp_path: Path, identity: Identity, records: list[StoredResult]
) -> None:
    """Past `max_requests_per_client` bodies in flight from one address: 429 at once."""
    running = RunningCollector(collector_settings(tmp_path / "data", max_requests_per_client=2))
    data = bundle_of(records[:3], identity).to_bytes()
    holders = [socket.create_connection(("127.0.0.1", running.port), timeout=10)
               for _ in range(2)]  # fmt: skip
    try:
        for holder in holders:
            holder.sendall(_head(len(data)) + data[:100])
        deadline = time.monotonic() + 10
        while (refused := running.upload(data)).status_code != 429:
            assert time.monotonic() < deadline, refused.text  # the holders are not in yet
            time.sleep(0.05)
        assert refused.json()["error"] == "too_many_requests" and refused.headers["Retry-After"]
        assert running.snapshot()[0]["bundles"] == 0
        for holder in holders:
            holder.sendall(data[100:])
            assert parse_response(_answer(holder))[0] in (200, 201)
        assert running.upload(data).status_code == 200  # places free again: a duplicate
    finally:
        for holder in holders:
            holder.close()
        running.close()
