"""Taking a bundle in: parse → duplicate? → key → verify → unpack → store.

The reading and checking is `probe.ship.bundle`'s, the same code the probe packs with; this
module decides which key a bundle must be signed with and records the outcome. Whatever is
refused raises `BundleError` (or `SignatureError`) with a stable code and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from probe.errors import BundleError, SignatureError
from probe.ship.bundle import Limits, iter_bundles, iter_records, parse_bundle, verify_signature

if TYPE_CHECKING:
    from probe.collector.storage import CollectorStore, Via
    from probe.config import CollectorSettings
    from probe.models.bundles import BundleReceipt
    from probe.ship.bundle import Bundle


class UnknownProbe(SignatureError):
    """The bundle's probe is not registered, and this collector registers only with a token."""

    def __init__(self, probe_id: str) -> None:
        super().__init__(
            f"probe {probe_id} is not registered with this collector: register its key first"
            " (POST /api/v1/probes with the collector's token)",
            "unknown_probe",
        )


@dataclass(frozen=True)
class FileOutcome:
    """What became of one bundle of an export file (`number` counts from 1)."""

    number: int
    status: Literal["accepted", "duplicate", "rejected"]
    bundle_id: str | None = None
    probe_id: str | None = None
    measurements: int = 0
    stored: int = 0
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Quota:
    """What one probe may have accepted in any 24 hours (uploads only, not an operator's
    `probe collector ingest`)."""

    max_bytes: int
    max_bundles: int


def limits_of(settings: CollectorSettings) -> Limits:
    """Return the bundle reader's limits from the collector's settings."""
    return Limits(
        max_payload_bytes=settings.max_payload_bytes,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_records=settings.max_records,
        max_record_bytes=settings.max_record_bytes,
        max_field_bytes=settings.max_field_bytes,
        measured_not_before=datetime.combine(settings.measured_not_before, time(), UTC),
        max_ahead_s=settings.max_ahead,
    )


def quota_of(settings: CollectorSettings) -> Quota:
    """Return the per-probe daily quota from the collector's settings."""
    return Quota(settings.max_bytes_per_probe_per_day, settings.max_bundles_per_probe_per_day)


def _check_quota(store: CollectorStore, bundle: Bundle, quota: Quota) -> None:
    manifest = bundle.manifest
    bundles, used = store.usage(manifest.probe_id, datetime.now(UTC) - timedelta(days=1))
    if bundles >= quota.max_bundles:
        raise BundleError(f"{bundles} bundles of this probe were accepted in the last 24 h, the"
                          " most this collector takes; retry later",
                          "daily_bundles_exceeded")  # fmt: skip
    if used + manifest.uncompressed_bytes > quota.max_bytes:
        raise BundleError(f"this probe had {used} bytes accepted in the last 24 h; with these"
                          f" {manifest.uncompressed_bytes} it would pass {quota.max_bytes}, the"
                          " most this collector takes; retry later",
                          "daily_bytes_exceeded")  # fmt: skip


def ingest(
    store: CollectorStore,
    data: bytes,
    *,
    limits: Limits,
    register_open: bool,
    via: Via,
    quota: Quota | None = None,
    on_register: Callable[[], None] | None = None,
) -> BundleReceipt:
    """Return the receipt for the one bundle `data` holds, stored durably (or a duplicate).

    `register_open`: a probe the collector does not know is registered with the manifest's key
    (a collector without a token, or an operator's `probe collector ingest`); otherwise it is
    refused with UnknownProbe. `on_register` is called before that registration and may
    refuse it (BundleError). Raises BundleError (its `code` names the problem) and
    StoreError (nothing acknowledged: the sender may retry).
    """
    bundle = parse_bundle(data, limits)
    return ingest_bundle(
        store, bundle, raw=data, limits=limits, register_open=register_open, via=via,
        quota=quota, on_register=on_register,
    )  # fmt: skip


def ingest_bundle(
    store: CollectorStore,
    bundle: Bundle,
    *,
    raw: bytes | None = None,
    limits: Limits,
    register_open: bool,
    via: Via,
    quota: Quota | None = None,
    on_register: Callable[[], None] | None = None,
) -> BundleReceipt:
    """Return the receipt for a parsed `bundle` (`raw`: its bytes as received); see `ingest`."""
    from probe.models.bundles import BundleReceipt

    manifest = bundle.manifest
    bundle_id = bundle.bundle_id
    previous = store.bundle(bundle_id)
    registered = store.probe_key(manifest.probe_id)
    if registered is None and not register_open:
        raise UnknownProbe(manifest.probe_id)
    key = verify_signature(bundle, registered)
    if previous is not None:  # this exact manifest, signed: its payload was checked before
        return BundleReceipt(
            bundle_id=bundle_id, probe_id=previous.probe_id, status="duplicate",
            measurements=previous.count, stored=0,
        )  # fmt: skip
    if quota is not None:
        _check_quota(store, bundle, quota)
    if registered is None and on_register is not None:
        on_register()
    records = iter_records(bundle, limits)  # validated as the store takes them, one at a time
    outcome = store.add_bundle(
        bundle, records, raw=bundle.to_bytes() if raw is None else raw, public_key=key,
        register=registered is None, via=via,
    )  # fmt: skip
    return BundleReceipt(
        bundle_id=bundle_id, probe_id=manifest.probe_id, status=outcome.status,
        measurements=outcome.count, stored=outcome.stored,
    )  # fmt: skip


def ingest_file(store: CollectorStore, path: Path, *, limits: Limits) -> Iterator[FileOutcome]:
    """Yield what became of each bundle of an exported file (bundles back to back).

    The operator runs this, so an unknown probe is registered with its manifest's key. A
    refused bundle is reported and the next one read (a manifest that does not validate too,
    when its payload_bytes can still be read); broken framing ends the file (where the next
    bundle would start is unknowable) with one last `rejected` outcome. Raises BundleError
    (code `unreadable`) when the file cannot be opened, StoreError when the store fails.
    """
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}", "unreadable") from exc
    with stream:
        for number, item in enumerate(iter_bundles(stream, limits), start=1):
            if isinstance(item, BundleError):
                yield FileOutcome(number, "rejected", code=item.code, detail=str(item))
                continue  # iter_bundles stops by itself when the framing is lost
            bundle_id, probe_id = item.bundle_id, item.manifest.probe_id
            try:
                receipt = ingest_bundle(store, item, limits=limits, register_open=True, via="file")
            except BundleError as exc:
                yield FileOutcome(
                    number, "rejected", bundle_id, probe_id, code=exc.code, detail=str(exc)
                )
                continue
            except (ValueError, TypeError, OverflowError) as exc:  # a bug, not the next bundle's
                yield FileOutcome(number, "rejected", bundle_id, probe_id, code="invalid_bundle",
                                  detail=f"{type(exc).__name__}: {exc}")  # fmt: skip
                continue
            yield FileOutcome(
                number, receipt.status, bundle_id, probe_id,
                measurements=receipt.measurements, stored=receipt.stored,
            )  # fmt: skip


__all__ = [
    "FileOutcome",
    "Quota",
    "UnknownProbe",
    "ingest",
    "ingest_bundle",
    "ingest_file",
    "limits_of",
    "quota_of",
]
