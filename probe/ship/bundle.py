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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from probe.errors import BundleError, SignatureError
from probe.ship.keys import check_public_key
from probe.ship.lines import check_fields, check_manifest_times, check_time, iter_lines

if TYPE_CHECKING:
    from probe.models.bundles import BundleManifest
    from probe.models.stored import StoredResult
    from probe.ship.identity import Identity

MAGIC = b"probe-bundle/1\n"
MAX_MANIFEST_LINE_BYTES = 16 << 10
_SIGNATURE_LINE_BYTES = 89  # base64 of 64 bytes (88) + "\n"
DEFAULT_MAX_PAYLOAD_BYTES = 16 << 20
DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 << 20
DEFAULT_MAX_RECORDS = 20_000
DEFAULT_MAX_RECORD_BYTES = 4 << 20
DEFAULT_MAX_FIELD_BYTES = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What a reader accepts at most (the collector's caps).

    `measured_not_before` and `max_ahead_s` bound every time a bundle carries (None: no
    bound); `now` is the clock they are checked against (None: the system's, when checked).
    """

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    max_records: int = DEFAULT_MAX_RECORDS
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
    measured_not_before: datetime | None = None
    max_ahead_s: float | None = None
    now: datetime | None = None


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
    except (TypeError, OverflowError) as exc:  # a validator's comparison: never a 500
        raise BundleError(f"invalid manifest: {exc}", "invalid_manifest") from exc
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


class _PassedOver(BundleError):
    """A bundle refused whole whose bytes were read to its end: the next one can be read."""


def _declared_payload_bytes(line: bytes, limits: Limits) -> int | None:
    """The payload_bytes of a manifest that did not validate, if it says one we may read."""
    import json

    try:
        declared = json.loads(line).get("payload_bytes")
    except (ValueError, AttributeError, RecursionError):
        return None
    if isinstance(declared, int) and 0 < declared <= limits.max_payload_bytes:
        return declared
    return None


def _pass_over(stream: IO[bytes], line: bytes, limits: Limits, exc: BundleError) -> BundleError:
    """`exc` as a _PassedOver once the rest of its bundle is read, or as it is."""
    declared = _declared_payload_bytes(line, limits)
    if declared is None:
        return exc
    try:
        _read_line(stream, _SIGNATURE_LINE_BYTES, "signature")
    except BundleError:
        return exc
    if len(stream.read(declared)) != declared:
        return exc
    return _PassedOver(str(exc), exc.code)


def _read_rest(stream: IO[bytes], magic: bytes, limits: Limits, *, resume: bool = False) -> Bundle:
    if magic != MAGIC:
        raise BundleError("not a probe bundle (it does not start with 'probe-bundle/1')",
                          "not_a_bundle")  # fmt: skip
    line = _read_line(stream, MAX_MANIFEST_LINE_BYTES, "manifest")
    try:
        manifest = _parse_manifest(line)
    except BundleError as exc:
        if not resume:
            raise
        raise _pass_over(stream, line, limits, exc) from exc
    encoded = _read_line(stream, _SIGNATURE_LINE_BYTES, "signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise SignatureError("the signature line is not base64", "invalid_signature") from exc
    if len(signature) != 64 or base64.b64encode(signature) != encoded:
        # Canonical base64 only: one bundle has exactly one byte form.
        raise SignatureError("the signature line is not one canonical base64 Ed25519"
                             " signature (64 bytes)", "invalid_signature")  # fmt: skip
    if manifest.uncompressed_bytes > limits.max_uncompressed_bytes:  # before anything costs
        raise BundleError(
            f"the payload inflates to {manifest.uncompressed_bytes} bytes, its manifest says;"
            f" this collector accepts at most {limits.max_uncompressed_bytes}",
            "uncompressed_too_large",
        )  # fmt: skip
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
    """Yield each bundle of an exported file (bundles back to back), or the error of one that
    is refused whole; after broken framing (where the next bundle starts is unknowable) that
    error is the last item. A manifest that does not validate but still says its
    payload_bytes is passed over, and the next bundle read (issue 18)."""
    while True:
        magic = stream.read(len(MAGIC))
        if not magic:
            return
        try:
            yield _read_rest(stream, magic, limits, resume=True)
        except _PassedOver as exc:  # a manifest that does not validate, its bytes read
            yield BundleError(str(exc), exc.code)
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
    check_public_key(key)  # a small-order key verifies any signature (issue 18)
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(bundle.signature, bundle.manifest_line)
    except InvalidSignature as exc:
        raise SignatureError("the signature does not verify with the probe's key") from exc
    return key


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
    now = limits.now or datetime.now(UTC)
    check_manifest_times(bundle, limits, now)
    seen: set[object] = set()
    for number, line in enumerate(iter_lines(bundle, limits), start=1):
        try:
            record = StoredResult.model_validate_json(line, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(record)"
            raise BundleError(f"record {number}: {where}: {first['msg']}",
                              "invalid_record") from exc  # fmt: skip
        check_fields(line, number, limits)
        moment = record.measurement_start_time
        check_time(moment, f"record {number} measurement_start_time", limits, now)
        if not manifest.first_measured_at <= moment <= manifest.last_measured_at:
            raise BundleError(f"record {number} was measured at {moment.isoformat()}, outside"
                              " the manifest's time range", "manifest_mismatch")  # fmt: skip
        if record.measurement_id in seen:
            raise BundleError(f"record {number} repeats measurement_id"
                              f" {record.measurement_id}", "duplicate_record")  # fmt: skip
        seen.add(record.measurement_id)
        yield record
