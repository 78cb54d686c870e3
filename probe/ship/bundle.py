"""Pack, frame, sign and verify bundles (the format is drawn in probe/models/bundles.py).

The probe packs; the collector parses, verifies and unpacks with the same code, so the two
sides cannot drift. Every reader here is bounded: a manifest line, a signature line, a payload
and its decompression each stop at a limit and raise `BundleError` naming the problem (with a
stable `code`), so a hostile file can cost memory only up to the limits it is given.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from probe.errors import BundleError, SignatureError

if TYPE_CHECKING:
    from probe.models.bundles import BundleManifest
    from probe.models.stored import StoredResult
    from probe.ship.identity import Identity

MAGIC = b"probe-bundle/1\n"
MAX_MANIFEST_LINE_BYTES = 16 << 10
_SIGNATURE_LINE_BYTES = 89  # base64 of 64 bytes (88) + "\n"
_INFLATE_CHUNK = 64 << 10
DEFAULT_MAX_PAYLOAD_BYTES = 16 << 20
DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 << 20
DEFAULT_MAX_RECORDS = 20_000


@dataclass(frozen=True)
class Limits:
    """What a reader accepts at most (the collector's caps)."""

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    max_records: int = DEFAULT_MAX_RECORDS


@dataclass(frozen=True)
class Bundle:
    """A framed bundle: the manifest as parsed and as signed, the signature, the payload."""

    manifest: BundleManifest
    manifest_line: bytes
    signature: bytes
    payload: bytes

    @property
    def bundle_id(self) -> str:
        """SHA-256 (hex) of the manifest line: names this exact bundle, content included."""
        return hashlib.sha256(self.manifest_line).hexdigest()

    def to_bytes(self) -> bytes:
        """Return the bundle as sent and stored."""
        return b"".join(
            (MAGIC, self.manifest_line, b"\n", base64.b64encode(self.signature), b"\n",
             self.payload)
        )  # fmt: skip


@dataclass(frozen=True)
class PackedRecord:
    """One stored record, as the store holds it (its JSON text is packed byte for byte)."""

    measurement_id: str
    measured_at: datetime
    record: str


def pack(
    records: Sequence[PackedRecord],
    identity: Identity,
    *,
    software_version: str,
    created_at: datetime | None = None,
) -> Bundle:
    """Return a signed bundle of `records` (at least one), in the order given."""
    from probe.models.bundles import BundleManifest

    if not records:
        raise ValueError("a bundle holds at least one record")
    lines = b"".join(r.record.encode() + b"\n" for r in records)
    # mtime=0: the same records always compress to the same bytes.
    payload = gzip.compress(lines, compresslevel=9, mtime=0)
    moments = [r.measured_at for r in records]
    manifest = BundleManifest(
        format="probe-bundle/1", probe_id=identity.probe_id,
        public_key=base64.b64encode(identity.public_key_raw).decode(),
        software_version=software_version, created_at=created_at or datetime.now(UTC),
        first_measured_at=min(moments), last_measured_at=max(moments), count=len(records),
        compression="gzip", payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_bytes=len(payload), uncompressed_bytes=len(lines), records="stored-result/1",
    )  # fmt: skip
    line = manifest.model_dump_json().encode()
    return Bundle(manifest, line, identity.private_key.sign(line), payload)


def _read_line(stream: IO[bytes], limit: int, what: str) -> bytes:
    line = stream.readline(limit + 1)
    if not line:
        raise BundleError(f"the bundle ends before its {what}", "truncated")
    if not line.endswith(b"\n"):
        if len(line) > limit:
            raise BundleError(f"the {what} is longer than {limit} bytes", f"{what}_too_large")
        raise BundleError(f"the bundle ends inside its {what}", "truncated")
    return line[:-1]


def _parse_manifest(line: bytes) -> BundleManifest:
    from pydantic import ValidationError

    from probe.models.bundles import BundleManifest

    try:
        return BundleManifest.model_validate_json(line)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(manifest)'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise BundleError(f"invalid manifest: {problems}", "invalid_manifest") from exc


def read_bundle(stream: IO[bytes], limits: Limits) -> Bundle:
    """Return the next framed bundle in `stream`; BundleError when the framing is wrong.

    Checks the framing and the manifest only: `verify_signature` and `unpack_records` do the
    rest. The payload is read only once its declared length is known to be within limits.
    """
    return _read_rest(stream, stream.read(len(MAGIC)), limits)


def _read_rest(stream: IO[bytes], magic: bytes, limits: Limits) -> Bundle:
    if magic != MAGIC:
        raise BundleError("not a probe bundle (it does not start with 'probe-bundle/1')",
                          "not_a_bundle")  # fmt: skip
    line = _read_line(stream, MAX_MANIFEST_LINE_BYTES, "manifest")
    manifest = _parse_manifest(line)
    encoded = _read_line(stream, _SIGNATURE_LINE_BYTES, "signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise SignatureError("the signature line is not base64", "invalid_signature") from exc
    if len(signature) != 64 or base64.b64encode(signature) != encoded:
        # Canonical base64 only: one bundle has exactly one byte form.
        raise SignatureError("the signature line is not one canonical base64 Ed25519"
                             " signature (64 bytes)", "invalid_signature")  # fmt: skip
    if manifest.payload_bytes > limits.max_payload_bytes:
        raise BundleError(
            f"the payload is {manifest.payload_bytes} bytes; this collector accepts at most"
            f" {limits.max_payload_bytes}", "payload_too_large",
        )  # fmt: skip
    payload = stream.read(manifest.payload_bytes)
    if len(payload) != manifest.payload_bytes:
        raise BundleError(
            f"the payload is {len(payload)} bytes, the manifest says {manifest.payload_bytes}",
            "truncated",
        )
    return Bundle(manifest, line, signature, payload)


def parse_bundle(data: bytes, limits: Limits) -> Bundle:
    """Return the one bundle `data` holds; BundleError if it holds anything more or less."""
    import io

    stream = io.BytesIO(data)
    bundle = read_bundle(stream, limits)
    if stream.read(1):
        raise BundleError("bytes follow the payload: one bundle per request", "trailing_bytes")
    return bundle


def iter_bundles(stream: IO[bytes], limits: Limits) -> Iterator[Bundle | BundleError]:
    """Yield each bundle of an exported file (bundles back to back), or the error that stops
    the reading: after broken framing, where the next bundle starts is unknowable."""
    while True:
        magic = stream.read(len(MAGIC))
        if not magic:
            return
        try:
            yield _read_rest(stream, magic, limits)
        except BundleError as exc:
            yield exc
            return


def verify_signature(bundle: Bundle, registered_key: bytes | None = None) -> bytes:
    """Return the raw public key that signed `bundle`; SignatureError if it did not.

    The manifest's key must hash to its probe_id and, when the collector already knows the
    probe, be the key it registered.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = base64.b64decode(bundle.manifest.public_key)
    if hashlib.sha256(key).hexdigest() != bundle.manifest.probe_id:
        raise SignatureError("the manifest's public key does not match its probe_id", "wrong_key")
    if registered_key is not None and key != registered_key:
        raise SignatureError("the bundle is signed with a key other than the one registered"
                             " for this probe", "wrong_key")  # fmt: skip
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(bundle.signature, bundle.manifest_line)
    except InvalidSignature as exc:
        raise SignatureError("the signature does not verify with the probe's key") from exc
    return key


def _inflated_too_far(bundle: Bundle, limits: Limits) -> BundleError:
    declared = bundle.manifest.uncompressed_bytes
    if declared < limits.max_uncompressed_bytes:  # a lying manifest, whatever the payload
        return BundleError(f"the payload inflates past the {declared} bytes its manifest"
                           " declares", "manifest_mismatch")  # fmt: skip
    return BundleError(f"the payload inflates past {limits.max_uncompressed_bytes} bytes, the"
                       " most this collector accepts", "uncompressed_too_large")  # fmt: skip


def _inflate(bundle: Bundle, limits: Limits) -> bytearray:
    """The payload's JSON Lines, decompressed in chunks: a bomb stops at the cap.

    Input goes in slices of `_INFLATE_CHUNK` so that zlib's unconsumed tail stays small
    (feeding it the whole payload re-copied the rest of it for every chunk inflated).
    """
    cap = min(limits.max_uncompressed_bytes, bundle.manifest.uncompressed_bytes)
    inflater = zlib.decompressobj(wbits=31)  # gzip framing only
    out = bytearray()  # grown in place: no list of chunks joined into a second copy
    payload = memoryview(bundle.payload)
    consumed = 0
    try:
        while consumed < len(payload) and not inflater.eof:
            pending: bytes | memoryview = payload[consumed : consumed + _INFLATE_CHUNK]
            consumed += len(pending)
            while pending and not inflater.eof:
                out += inflater.decompress(pending, _INFLATE_CHUNK)
                pending = inflater.unconsumed_tail
                if len(out) > cap:
                    raise _inflated_too_far(bundle, limits)
    except zlib.error as exc:
        raise BundleError(f"the payload is not valid gzip: {exc}", "invalid_compression") from exc
    if not inflater.eof or inflater.unused_data or consumed < len(payload):
        raise BundleError("the payload is not one complete gzip stream", "invalid_compression")
    return out


def unpack_records(bundle: Bundle, limits: Limits) -> list[StoredResult]:
    """Return the bundle's records, each validated strictly; BundleError on the first problem
    (see `iter_records`)."""
    return list(iter_records(bundle, limits))


def iter_records(bundle: Bundle, limits: Limits) -> Iterator[StoredResult]:
    """Yield the bundle's records one by one, each validated strictly; raise BundleError on
    the first problem, before the record after it.

    Checks the payload hash, the sizes, the record count, each record's schema, that every
    record lies in the manifest's time range and that no measurement id repeats. A consumer
    that keeps only what it needs of each record holds one record object at a time.
    """
    from pydantic import ValidationError

    from probe.models.stored import StoredResult

    manifest = bundle.manifest
    if hashlib.sha256(bundle.payload).hexdigest() != manifest.payload_sha256:
        raise BundleError("the payload does not match the manifest's hash (altered in transit"
                          " or tampered with)", "payload_hash_mismatch")  # fmt: skip
    if manifest.count > limits.max_records:
        raise BundleError(f"{manifest.count} records; this collector accepts at most"
                          f" {limits.max_records} per bundle", "too_many_records")  # fmt: skip
    text = _inflate(bundle, limits)
    if len(text) != manifest.uncompressed_bytes:
        raise BundleError(f"the payload inflates to {len(text)} bytes, the manifest says"
                          f" {manifest.uncompressed_bytes}", "manifest_mismatch")  # fmt: skip
    lines = text.count(b"\n")
    if lines != manifest.count or not text.endswith(b"\n"):
        raise BundleError(f"the payload holds {lines} lines, the manifest says"
                          f" {manifest.count}", "manifest_mismatch")  # fmt: skip
    seen: set[object] = set()
    start = 0
    for number in range(1, manifest.count + 1):
        end = text.index(b"\n", start)
        try:
            record = StoredResult.model_validate_json(text[start:end], strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(record)"
            raise BundleError(f"record {number}: {where}: {first['msg']}",
                              "invalid_record") from exc  # fmt: skip
        start = end + 1
        moment = record.measurement_start_time
        if not manifest.first_measured_at <= moment <= manifest.last_measured_at:
            raise BundleError(f"record {number} was measured at {moment.isoformat()}, outside"
                              " the manifest's time range", "manifest_mismatch")  # fmt: skip
        if record.measurement_id in seen:
            raise BundleError(f"record {number} repeats measurement_id"
                              f" {record.measurement_id}", "duplicate_record")  # fmt: skip
        seen.add(record.measurement_id)
        yield record
