"""Taking a bundle in: parse → duplicate? → key → verify → unpack → store.

The reading and checking is `probe.ship.bundle`'s, the same code the probe packs with; this
module decides which key a bundle must be signed with and records the outcome. Whatever is
refused raises `BundleError` (or `SignatureError`) with a stable code and stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


def limits_of(settings: CollectorSettings) -> Limits:
    """Return the bundle reader's limits from the collector's settings."""
    return Limits(
        max_payload_bytes=settings.max_payload_bytes,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_records=settings.max_records,
    )


def ingest(
    store: CollectorStore, data: bytes, *, limits: Limits, register_open: bool, via: Via
) -> BundleReceipt:
    """Return the receipt for the one bundle `data` holds, stored durably (or a duplicate).

    `register_open`: a probe the collector does not know is registered with the manifest's key
    (a collector without a token, or an operator's `probe collector ingest`); otherwise it is
    refused with UnknownProbe. Raises BundleError (its `code` names the problem) and
    StoreError (nothing acknowledged: the sender may retry).
    """
    bundle = parse_bundle(data, limits)
    return ingest_bundle(
        store, bundle, raw=data, limits=limits, register_open=register_open, via=via
    )


def ingest_bundle(
    store: CollectorStore,
    bundle: Bundle,
    *,
    raw: bytes | None = None,
    limits: Limits,
    register_open: bool,
    via: Via,
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
    refused bundle is reported and the next one read; broken framing ends the file (where the
    next bundle would start is unknowable) with one last `rejected` outcome. Raises BundleError
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
                return
            bundle_id, probe_id = item.bundle_id, item.manifest.probe_id
            try:
                receipt = ingest_bundle(store, item, limits=limits, register_open=True, via="file")
            except BundleError as exc:
                yield FileOutcome(
                    number, "rejected", bundle_id, probe_id, code=exc.code, detail=str(exc)
                )
                continue
            yield FileOutcome(
                number, receipt.status, bundle_id, probe_id,
                measurements=receipt.measurements, stored=receipt.stored,
            )  # fmt: skip


__all__ = ["FileOutcome", "UnknownProbe", "ingest", "ingest_bundle", "ingest_file", "limits_of"]
