"""Hostile uploads: each is refused with its status and code, and nothing is stored.

One collector serves the whole module; a probe (the victim) is registered by a good upload
first. Each case compares the collector's counts and every file name under its tmp dir before
and after, so a case that stored anything, or wrote a file anywhere, fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probe.collector.app import FRAMING_BYTES
from probe.config import DEFAULT_COLLECTOR_MAX_RECORDS
from probe.models.stored import StoredResult
from probe.ship.bundle import MAGIC
from probe.ship.identity import Identity

from .conftest import MAX_PAYLOAD_BYTES, collector_settings
from .harness import (
    BASE_TIME,
    RunningCollector,
    bundle_of,
    lines_of,
    parse_response,
    register,
    seal,
)
from .harness import raw_exchange as exchange

ZSTD = bytes.fromhex("28b52ffd") + b"\x00" * 32  # a zstd frame's magic, then anything


@dataclass(frozen=True)
class Probes:
    victim: Identity
    attacker: Identity
    records: list[StoredResult]

    def good(self) -> bytes:
        return bundle_of(self.records[30:32], self.victim).to_bytes()

    def lines(self, start: int = 32, count: int = 2) -> bytes:
        return lines_of(self.records[start : start + count])

    def seal(self, lines: bytes | None = None, **manifest: Any) -> bytes:
        """The victim's bundle of `lines` (default: two good records), `manifest` overriding."""
        return seal(self.victim, self.lines() if lines is None else lines, **manifest)

    def seal_payload(self, payload: bytes, **manifest: Any) -> bytes:
        return seal(self.victim, payload=payload, count=1, uncompressed_bytes=100, **manifest)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    root = tmp_path_factory.mktemp("hostile")
    running = RunningCollector(collector_settings(root / "data"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def probes(
    shared: RunningCollector,
    identity: Identity,
    other_identity: Identity,
    records: list[StoredResult],
) -> Probes:
    answer = shared.upload(bundle_of(records[:3], identity).to_bytes())
    assert answer.status_code == 201, answer.text
    return Probes(identity, other_identity, records)


def _signature(p: Probes, line: bytes) -> bytes:
    manifest, _, payload = p.good()[len(MAGIC) :].split(b"\n", 2)
    return MAGIC + manifest + b"\n" + line + b"\n" + payload


def _tamper_payload(p: Probes) -> bytes:
    data = bytearray(p.good())
    data[-20] ^= 0x01
    return bytes(data)


def _tamper_manifest(p: Probes) -> bytes:
    data = p.good()
    assert data.count(b'"software_version":"test"') == 1
    return data.replace(b'"software_version":"test"', b'"software_version":"tesT"')


def _record(p: Probes, **changes: object) -> bytes:
    fields = json.loads(p.records[33].model_dump_json())
    fields.update(changes)
    return json.dumps(fields).encode() + b"\n"


# name → (status, code, how the bundle is made)
CASES: dict[str, tuple[int, str, Callable[[Probes], bytes]]] = {
    "garbage": (400, "not_a_bundle", lambda p: b"\x00\xff" + b"no bundle here " * 50),
    "empty body": (400, "not_a_bundle", lambda p: b""),
    "truncated payload": (400, "truncated", lambda p: p.good()[:-10]),
    "truncated manifest": (400, "truncated", lambda p: p.good()[:60]),
    "two bundles in one request": (400, "trailing_bytes", lambda p: p.good() * 2),
    "signature not base64": (400, "invalid_signature", lambda p: _signature(p, b"!" * 88)),
    "signature too short": (400, "invalid_signature", lambda p: _signature(p, b"AAAA")),
    "signature line too long": (400, "signature_too_large", lambda p: _signature(p, b"A" * 200)),
    "path-like probe id": (400, "invalid_manifest", lambda p: p.seal(probe_id="../../etc/pwd")),
    "extra manifest fields": (400, "invalid_manifest", lambda p: p.seal(path="../../tmp/owned")),
    "zstd declared": (400, "invalid_manifest", lambda p: p.seal_payload(ZSTD, compression="zstd")),
    "zstd sent as gzip": (400, "invalid_compression", lambda p: p.seal_payload(ZSTD)),
    "tampered manifest": (403, "bad_signature", _tamper_manifest),
    "another key claiming the probe id": (
        403,
        "wrong_key",
        lambda p: seal(p.attacker, p.lines(), probe_id=p.victim.probe_id),
    ),
    "the probe's key, another's signature": (
        403,
        "bad_signature",
        lambda p: p.seal(signer=p.attacker),
    ),
    "inflates past its declared size": (
        422,
        "manifest_mismatch",
        lambda p: p.seal(uncompressed_bytes=100),
    ),
    "declares a payload over the cap": (
        413,
        "payload_too_large",
        lambda p: p.seal(payload_bytes=MAX_PAYLOAD_BYTES + 1),
    ),
    "declares too many records": (
        413,
        "too_many_records",
        lambda p: p.seal(count=DEFAULT_COLLECTOR_MAX_RECORDS + 1),
    ),
    "tampered payload": (422, "payload_hash_mismatch", _tamper_payload),
    "invalid JSON line": (
        422,
        "invalid_record",
        lambda p: p.seal(p.lines(34, 1) + b'{"input": "half a rec\n'),
    ),
    "schema-invalid record": (422, "invalid_record", lambda p: p.seal(_record(p, verdict="no"))),
    "a number as a string (strict)": (
        422,
        "invalid_record",
        lambda p: p.seal(_record(p, test_runtime="0.25")),
    ),
    "unknown record field": (422, "invalid_record", lambda p: p.seal(_record(p, x_owned=True))),
    "a measurement twice in one bundle": (
        422,
        "duplicate_record",
        lambda p: p.seal(p.lines(35, 1) * 2),
    ),
    "count larger than the lines": (422, "manifest_mismatch", lambda p: p.seal(count=3)),
    "record outside the manifest's time range": (
        422,
        "manifest_mismatch",
        lambda p: p.seal(last_measured_at=BASE_TIME.isoformat()),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_bundle_is_refused_and_nothing_stored(
    case: str, shared: RunningCollector, probes: Probes
) -> None:
    status, code, build = CASES[case]
    data = build(probes)
    before = shared.snapshot()
    answer = shared.upload(data)
    assert (answer.status_code, answer.json()["error"]) == (status, code), (
        f"{case}: expected {status} {code}, got {answer.status_code} {answer.text}"
    )
    assert answer.json()["detail"], f"{case}: the refusal says why"
    assert shared.snapshot() == before, f"{case}: something was stored"


def test_a_path_like_manifest_writes_nothing_outside_data_dir(
    shared: RunningCollector, probes: Probes
) -> None:
    root = shared.data_dir.parent
    data = probes.seal(probe_id="../../etc/passwd")
    assert shared.upload(data).status_code == 400
    assert sorted(p.name for p in root.iterdir()) == ["data"]
    assert not (root.parent / "etc").exists() and not Path("/tmp/owned").exists()


def _post(shared: RunningCollector, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /api/v1/bundles HTTP/1.1\r\nHost: c\r\nConnection: close\r\n{head}\r\n".encode()
    )
    return request + body


def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    shared: RunningCollector, probes: Probes
) -> None:
    before = shared.snapshot()
    # Only the head is sent: the answer comes before a byte of the body.
    raw = exchange(shared.port, _post(shared, {"Content-Length": str(1 << 30)}))
    status, body = parse_response(raw)
    assert (status, body["error"]) == (413, "body_too_large")
    assert f"at most {MAX_PAYLOAD_BYTES + FRAMING_BYTES}" in body["detail"]
    assert shared.snapshot() == before


def test_a_chunked_body_is_cut_off_at_the_cap(shared: RunningCollector, probes: Probes) -> None:
    """No Content-Length: the body is counted as it arrives. We send one byte past the cap and
    wait (sending more would race the server's close and turn its answer into a reset)."""
    before = shared.snapshot()
    cap = MAX_PAYLOAD_BYTES + FRAMING_BYTES
    sizes = [64 << 10] * (cap // (64 << 10)) + [cap % (64 << 10) + 1]
    chunks = b"".join(b"%x\r\n%s\r\n" % (n, b"x" * n) for n in sizes)[: -len(b"\r\n")]
    raw = exchange(shared.port, _post(shared, {"Transfer-Encoding": "chunked"}, chunks))
    status, body = parse_response(raw)
    assert (status, body["error"]) == (413, "body_too_large")
    assert shared.snapshot() == before


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Content-Encoding": "gzip"}, "unsupported_encoding"),
        ({"Content-Encoding": "zstd"}, "unsupported_encoding"),
        ({"Content-Type": "application/json"}, "unsupported_media_type"),
    ],
)
def test_a_transfer_encoding_or_media_type_we_do_not_take_is_415(
    shared: RunningCollector, probes: Probes, headers: dict[str, str], code: str
) -> None:
    before = shared.snapshot()
    answer = shared.upload(probes.good(), **headers)
    assert (answer.status_code, answer.json()["error"]) == (415, code)
    assert shared.snapshot() == before


def test_a_client_that_leaves_mid_body_stores_nothing(
    shared: RunningCollector, probes: Probes
) -> None:
    data = bundle_of(probes.records[36:40], probes.victim).to_bytes()
    before = shared.snapshot()
    half = _post(shared, {"Content-Length": str(len(data))}, data[: len(data) // 2])
    exchange(shared.port, half, close_early=True)
    assert shared.snapshot() == before
    answer = shared.upload(data)
    assert answer.status_code == 201, "the whole bundle, sent again, is new: nothing was kept"
    assert answer.json()["stored"] == 4


def test_the_manifest_key_of_a_registered_probe_cannot_be_swapped(
    shared: RunningCollector, probes: Probes
) -> None:
    """The attacker registers itself, then signs with its own key a manifest that names the
    victim's probe id: the key must hash to the id, so the bundle is the attacker's or nothing."""
    assert register(shared.client, probes.attacker).status_code in (200, 201)
    before = shared.snapshot()
    forged = seal(probes.attacker, probes.lines(37, 1), probe_id=probes.victim.probe_id)
    answer = shared.upload(forged)
    assert (answer.status_code, answer.json()["error"]) == (403, "wrong_key")
    assert shared.snapshot() == before


def test_lines_of_match_what_pack_writes(identity: Identity, records: list[StoredResult]) -> None:
    """The hostile cases' seal() frames payloads as pack() does: checked once here."""
    packed = bundle_of(records[:3], identity)
    assert packed.payload == seal(identity, lines_of(records[:3]))[-len(packed.payload) :]
