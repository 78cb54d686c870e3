"""The bundle format on its own: pack → bytes → parse → verify → unpack, and every way a
bundle can be wrong gives a BundleError with a stable code (never another exception)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.errors import BundleError, SignatureError
from probe.ship.bundle import (
    MAGIC,
    Bundle,
    Limits,
    PackedRecord,
    iter_bundles,
    pack,
    parse_bundle,
    unpack_records,
    verify_signature,
)
from probe.ship.identity import Identity, create_identity

from .records import sample_result

LIMITS = Limits()


def _packed(count: int, start: int = 0) -> list[PackedRecord]:
    out = []
    for i in range(start, start + count):
        result = sample_result(i)
        record = json.loads(result.model_dump_json())
        record.update(job="test", measurement_id=str(uuid.uuid4()))
        out.append(
            PackedRecord(record["measurement_id"], result.measurement_start_time,
                         json.dumps(record))
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return create_identity(Path(tmp_path_factory.mktemp("key")))[0]


@pytest.fixture(scope="module")
def bundle(identity: Identity) -> Bundle:
    return pack(_packed(5), identity, software_version="test")


def _reframe(bundle: Bundle, identity: Identity, **changes: object) -> bytes:
    """The bundle with manifest fields changed and re-signed by `identity`."""
    manifest = json.loads(bundle.manifest_line)
    manifest.update(changes)
    line = json.dumps(manifest).encode()
    signature = base64.b64encode(identity.private_key.sign(line))
    return MAGIC + line + b"\n" + signature + b"\n" + bundle.payload


def _code(data: bytes, limits: Limits = LIMITS) -> str:
    with pytest.raises(BundleError) as caught:
        parsed = parse_bundle(data, limits)
        verify_signature(parsed)
        unpack_records(parsed, limits)
    return caught.value.code


def test_round_trip(bundle: Bundle, identity: Identity) -> None:
    parsed = parse_bundle(bundle.to_bytes(), LIMITS)
    assert parsed.bundle_id == bundle.bundle_id
    assert verify_signature(parsed) == identity.public_key_raw
    records = unpack_records(parsed, LIMITS)
    assert [r.input for r in records] == [f"https://site{i}.example/" for i in range(5)]
    assert parsed.manifest.count == 5 and parsed.manifest.probe_id == identity.probe_id


def test_same_records_same_bytes(identity: Identity) -> None:
    """Sealing is deterministic given the time: a bundle id names its content."""
    records = _packed(3)
    first = pack(records, identity, software_version="t", created_at=records[0].measured_at)
    again = pack(records, identity, software_version="t", created_at=records[0].measured_at)
    assert first.to_bytes() == again.to_bytes()


def test_wrong_key_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    other = create_identity(tmp_path)[0]
    # Claims the original probe, signed by another key: the key does not hash to the id.
    forged = _reframe(bundle, other, public_key=base64.b64encode(other.public_key_raw).decode())
    assert _code(forged) == "wrong_key"
    # A self-consistent bundle of another probe, offered against the registered key.
    theirs = parse_bundle(pack(_packed(1), other, software_version="t").to_bytes(), LIMITS)
    with pytest.raises(SignatureError) as caught:
        verify_signature(theirs, registered_key=bundle_key(bundle))
    assert caught.value.code == "wrong_key"


def bundle_key(bundle: Bundle) -> bytes:
    return base64.b64decode(bundle.manifest.public_key)


CASES = {
    "tampered manifest": lambda b, i: b.to_bytes().replace(b'"count":5', b'"count":4'),
    "tampered payload": lambda b, i: b.to_bytes()[:-20] + bytes(20),
    "truncated": lambda b, i: b.to_bytes()[:-1],
    "trailing bytes": lambda b, i: b.to_bytes() + b"x",
    "not a bundle": lambda b, i: b"PK\x03\x04 zip file",
    "empty": lambda b, i: b"",
    "path in probe_id": lambda b, i: _reframe(b, i, probe_id="../../etc/passwd"),
    "extra manifest field": lambda b, i: _reframe(b, i, file="../../x"),
    "zstd": lambda b, i: _reframe(b, i, compression="zstd"),
    "count lies": lambda b, i: _reframe(b, i, count=6),
    "huge declared payload": lambda b, i: _reframe(b, i, payload_bytes=1 << 40),
    "hash of other payload": lambda b, i: _reframe(b, i, payload_sha256="0" * 64),
    "range excludes records": lambda b, i: _reframe(b, i, last_measured_at="2026-11-01T00:00:01Z"),
    "string count": lambda b, i: _reframe(b, i, count="5"),
    "long manifest line": lambda b, i: MAGIC + b"{" + b" " * (1 << 20),
    "signature not base64": lambda b, i: MAGIC + b.manifest_line + b"\n!!!\n" + b.payload,
}
EXPECTED = {
    "tampered manifest": "bad_signature", "tampered payload": "payload_hash_mismatch",
    "truncated": "truncated", "trailing bytes": "trailing_bytes", "not a bundle": "not_a_bundle",
    "empty": "not_a_bundle", "path in probe_id": "invalid_manifest",
    "extra manifest field": "invalid_manifest", "zstd": "invalid_manifest",
    "count lies": "manifest_mismatch", "huge declared payload": "payload_too_large",
    "hash of other payload": "payload_hash_mismatch",
    "range excludes records": "manifest_mismatch", "string count": "invalid_manifest",
    "long manifest line": "manifest_too_large", "signature not base64": "invalid_signature",
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_bundle_names_its_problem(case: str, bundle: Bundle, identity: Identity) -> None:
    assert _code(CASES[case](bundle, identity)) == EXPECTED[case], case


def _payload_bundle(identity: Identity, lines: bytes, count: int) -> bytes:
    payload = gzip.compress(lines, mtime=0)
    manifest = json.loads(pack(_packed(1), identity, software_version="t").manifest_line)
    manifest.update(
        count=count, payload_bytes=len(payload), uncompressed_bytes=len(lines),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
    )  # fmt: skip
    line = json.dumps(manifest).encode()
    signature = base64.b64encode(identity.private_key.sign(line))
    return MAGIC + line + b"\n" + signature + b"\n" + payload


def test_invalid_json_record(identity: Identity) -> None:
    assert _code(_payload_bundle(identity, b"{not json\n", 1)) == "invalid_record"


def test_schema_invalid_record(identity: Identity) -> None:
    record = json.loads(_packed(1)[0].record)
    record["verdict"] = "fine"
    line = json.dumps(record).encode() + b"\n"
    assert _code(_payload_bundle(identity, line, 1)) == "invalid_record"


def test_string_where_number_is_refused(identity: Identity) -> None:
    """Strict validation: data from another machine never coerces "0.1" into 0.1."""
    record = json.loads(_packed(1)[0].record)
    record["test_runtime"] = "0.1"
    line = json.dumps(record).encode() + b"\n"
    assert _code(_payload_bundle(identity, line, 1)) == "invalid_record"


def test_repeated_measurement_id(identity: Identity) -> None:
    line = _packed(1)[0].record.encode() + b"\n"
    assert _code(_payload_bundle(identity, line * 2, 2)) == "duplicate_record"


def test_gzip_bomb_stops_at_the_cap(identity: Identity) -> None:
    """64 MiB of zeros (64 KiB compressed), declared honestly, against a 1 MiB cap."""
    lines = bytes(64 << 20)
    data = _payload_bundle(identity, lines, 1)
    assert len(data) < 200_000
    assert _code(data, Limits(max_uncompressed_bytes=1 << 20)) == "uncompressed_too_large"


def test_bomb_declaring_a_small_size_stops_there(identity: Identity) -> None:
    payload = gzip.compress(bytes(32 << 20), mtime=0)
    manifest = json.loads(pack(_packed(1), identity, software_version="t").manifest_line)
    manifest.update(
        payload_bytes=len(payload), uncompressed_bytes=1000,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
    )  # fmt: skip
    line = json.dumps(manifest).encode()
    data = MAGIC + line + b"\n" + base64.b64encode(identity.private_key.sign(line)) + b"\n"
    assert _code(data + payload) == "manifest_mismatch"


def test_too_many_records(bundle: Bundle) -> None:
    assert _code(bundle.to_bytes(), Limits(max_records=4)) == "too_many_records"


def test_exported_file_reads_bundle_by_bundle(identity: Identity) -> None:
    bundles = [pack(_packed(2, start=10 * n), identity, software_version="t") for n in range(3)]
    stream = io.BytesIO(b"".join(b.to_bytes() for b in bundles) + b"garbage")
    items = list(iter_bundles(stream, LIMITS))
    assert [b.bundle_id for b in items[:3] if isinstance(b, Bundle)] == [
        b.bundle_id for b in bundles
    ]
    assert isinstance(items[3], BundleError) and len(items) == 4


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_is_refused(position: int, flip: int, bundle: Bundle) -> None:
    """No single corrupted byte anywhere yields an accepted bundle or a stray exception."""
    data = bytearray(bundle.to_bytes())
    data[position % len(data)] ^= flip
    with pytest.raises(BundleError):
        parsed = parse_bundle(bytes(data), LIMITS)
        verify_signature(parsed)
        unpack_records(parsed, LIMITS)


def test_non_canonical_signature_encoding_is_refused(bundle: Bundle) -> None:
    """The 86th base64 character carries 4 unused bits: setting them must not give a second
    byte form of the same bundle."""
    data = bundle.to_bytes()
    start = len(MAGIC) + len(bundle.manifest_line) + 1
    line = bytearray(data[start : start + 88])
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    line[85] = alphabet[alphabet.index(line[85]) ^ 0b0001]
    assert _code(data[:start] + bytes(line) + data[start + 88 :]) == "invalid_signature"
