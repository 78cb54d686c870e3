"""Issue 18: sixteen slow uploads took every collector slot for up to 300 s, and a
registration body had no deadline at all.

Now a body holds no slot while it arrives, one address holds at most
`max_requests_per_client` bodies in flight (the rest 429 at once), and every body has a
deadline (`upload_timeout`, `request_timeout`: 408). The drips here are bounded by the
deadlines the test sets, not by sleeps.
"""

from __future__ import annotations

import socket
from pathlib import Path

from collector.harness import bundle_of, make_records, parse_response

from .conftest import Snapshot, StartCollector, from_address, new_identity

SLOW_CLIENTS = 16  # the count
BUNDLE_HEADERS = {"Content-Type": "application/x-probe-bundle"}


def _drip(port: int, path: str, length: int, first: bytes, content_type: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST {path} HTTP/1.1\r\nHost: collector\r\nContent-Length: {length}\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()  # fmt: skip
    sock.sendall(head + first)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:")]  # fmt: skip
        if length and len(body) >= length[0]:
            break
    return parse_response(raw)


def test_sixteen_slow_uploads_do_not_stop_another_client(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    collector = hostile_collector(upload_timeout="2s")
    port = int(collector.url.rsplit(":", 1)[1])
    data = bundle_of(make_records(3), new_identity(tmp_path, "honest")).to_bytes()
    before = Snapshot.of(collector)
    drips = [_drip(port, "/api/v1/bundles", len(data), data[:64], "application/x-probe-bundle")
             for _ in range(SLOW_CLIENTS)]  # fmt: skip
    try:
        # Another client (another address) is served while the sixteen are still dripping.
        with from_address(collector.url, "127.0.0.3") as honest:
            answer = honest.post("/api/v1/bundles", content=data, headers=BUNDLE_HEADERS)
        assert answer.status_code == 201, answer.text
        answers = sorted((status, str(body["error"])) for status, body in map(_answer, drips))
    finally:
        for sock in drips:
            sock.close()
    held = [a for a in answers if a == (408, "body_timeout")]
    refused = [a for a in answers if a == (429, "too_many_requests")]
    assert len(held) + len(refused) == SLOW_CLIENTS, answers
    assert len(held) == 8, answers  # the default per-client cap; the rest refused at once
    after = Snapshot.of(collector)
    assert after.counts == {**before.counts, "probes": 1, "bundles": 1, "measurements": 3}


def test_a_registration_body_has_a_deadline(hostile_collector: StartCollector) -> None:
    collector = hostile_collector(request_timeout="1s")
    port = int(collector.url.rsplit(":", 1)[1])
    before = Snapshot.of(collector)
    sock = _drip(port, "/api/v1/probes", 200, b'{"public_key": ', "application/json")
    with sock:
        status, body = _answer(sock)
    assert (status, body["error"]) == (408, "body_timeout")
    assert Snapshot.of(collector) == before
