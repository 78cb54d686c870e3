"""Bundles and the collector's wire records.

A bundle carries stored results from a probe to a collector (docs/data-format.md, "Bundles"):

```
probe-bundle/1\\n
<BundleManifest as one line of JSON>\\n
<Ed25519 signature of that exact line, base64>\\n
<payload: manifest.payload_bytes bytes of gzip'd JSON Lines, one StoredResult per line>
```

The manifest commits to the payload by its SHA-256, and the signature covers the manifest
line as sent, so nothing needs re-serialising to verify. A bundle's id is the SHA-256 of its
manifest line: the same bundle always has the same id, and two different bundles never do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from probe.models._base import Record
from probe.models.stored import StoredResult

BUNDLE_FORMAT = "probe-bundle/1"
RECORD_FORMAT = "stored-result/1"
_HEX64 = r"^[0-9a-f]{64}$"
_BASE64_KEY = r"^[A-Za-z0-9+/]{43}=$"  # 32 raw bytes
_BASE64_NONCE = r"^[A-Za-z0-9+/]{54}==$"  # 40 raw bytes
_BASE64_SIGNATURE = r"^[A-Za-z0-9+/]{86}==$"  # 64 raw bytes


class BundleManifest(Record):
    """What a bundle holds, signed by the probe. Validated strictly at the collector."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    format: Literal["probe-bundle/1"] = Field(description="The framing version.")
    probe_id: str = Field(
        pattern=_HEX64, description="SHA-256 (hex) of the probe's raw Ed25519 public key."
    )
    public_key: str = Field(
        pattern=_BASE64_KEY,
        description="The probe's raw Ed25519 public key, base64: lets a collector register a"
        " probe from a hand-carried file; it must hash to probe_id.",
    )
    software_name: str = Field(default="probe", max_length=64)
    software_version: str = Field(max_length=64)
    created_at: datetime = Field(description="When the probe sealed the bundle.")
    first_measured_at: datetime = Field(description="Earliest measurement_start_time inside.")
    last_measured_at: datetime = Field(description="Latest measurement_start_time inside.")
    count: int = Field(ge=1, description="Records in the payload (lines).")
    compression: Literal["gzip"] = Field(description="How the payload is compressed.")
    payload_sha256: str = Field(pattern=_HEX64, description="SHA-256 (hex) of the payload.")
    payload_bytes: int = Field(ge=1, description="Length of the compressed payload.")
    uncompressed_bytes: int = Field(ge=1, description="Length of the JSON Lines it inflates to.")
    records: Literal["stored-result/1"] = Field(description="The schema of each line.")

    @model_validator(mode="after")
    def _ordered(self) -> BundleManifest:
        # Naive and aware times do not compare (a TypeError, answered 500 before issue 18),
        # and an offset at the edge of the calendar overflows when turned into UTC.
        for name in ("created_at", "first_measured_at", "last_measured_at"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"{name} has no UTC offset")
        try:
            ordered = self.first_measured_at <= self.last_measured_at
        except OverflowError as exc:
            raise ValueError("a time is outside the calendar once turned into UTC") from exc
        if not ordered:
            raise ValueError("first_measured_at is after last_measured_at")
        return self


class BundleReceipt(Record):
    """The collector's answer to an accepted (or already accepted) bundle: the probe's ack."""

    bundle_id: str = Field(pattern=_HEX64, description="SHA-256 of the manifest line.")
    probe_id: str = Field(pattern=_HEX64)
    status: Literal["accepted", "duplicate"] = Field(
        description='"duplicate": this exact bundle was accepted before; nothing stored twice.'
    )
    measurements: int = Field(description="Records in the bundle.")
    stored: int = Field(
        description="Records new to the collector (a measurement id it already had is skipped)."
    )


class CollectorErrorBody(Record):
    """Every 4xx/5xx answer of the collector: a stable code and a sentence."""

    error: str = Field(description='Machine-readable code, e.g. "payload_hash_mismatch".')
    detail: str = Field(description="What is wrong, for a person.")


class RegistrationChallenge(Record):
    """`POST /api/v1/probes/challenge`: a nonce to sign with the key being registered."""

    nonce: str = Field(pattern=_BASE64_NONCE, description="40 bytes, base64; sign them.")
    expires_at: datetime = Field(description="Register before this moment.")


class ProbeRegistration(Record):
    """`POST /api/v1/probes`: register a probe's public key, proving the probe holds it.

    `signature` is the key's Ed25519 signature of `probe-registration/1\\n` + the nonce's 40
    raw bytes + the key's 32 raw bytes (probe/ship/keys.py `registration_message`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    public_key: str = Field(pattern=_BASE64_KEY, description="Raw Ed25519 public key, base64.")
    nonce: str = Field(pattern=_BASE64_NONCE, description="A challenge's nonce, as given.")
    signature: str = Field(
        pattern=_BASE64_SIGNATURE, description="Ed25519 signature of the challenge, base64."
    )


class RegisteredProbe(Record):
    """The collector's answer to a registration."""

    probe_id: str = Field(pattern=_HEX64)
    registered_at: datetime
    status: Literal["registered", "known"]


class CollectedMeasurement(StoredResult):
    """A measurement as the collector holds it and `probe collector export` prints it."""

    probe_id: str = Field(pattern=_HEX64, description="The probe that signed it.")
    bundle_id: str = Field(pattern=_HEX64, description="The bundle that first brought it.")
    received_at: datetime = Field(description="When the collector accepted that bundle.")


class MeasurementPage(Record):
    """`GET /api/v1/measurements`: one page, oldest first; pass next_cursor for the next."""

    measurements: list[CollectedMeasurement]
    next_cursor: int | None = None


class CollectorHealth(Record):
    """`GET /api/v1/health`."""

    status: Literal["ok"] = "ok"
    version: str
    probes: int
    bundles: int
    measurements: int


__all__ = [
    "BUNDLE_FORMAT",
    "RECORD_FORMAT",
    "BundleManifest",
    "BundleReceipt",
    "CollectedMeasurement",
    "CollectorErrorBody",
    "CollectorHealth",
    "MeasurementPage",
    "ProbeRegistration",
    "RegisteredProbe",
    "RegistrationChallenge",
]
