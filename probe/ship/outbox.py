"""Sealing stored results into bundles, and writing the outbox to a file for hand-carrying."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from probe import __version__
from probe.errors import StoreError
from probe.paths import open_private
from probe.ship.bundle import PackedRecord, pack
from probe.ship.identity import Identity
from probe.store import ResultStore, SealRaced


@dataclass(frozen=True)
class SealReport:
    """What one `seal` did."""

    bundles: list[str]
    measurements: int
    quarantined: int


def seal(store: ResultStore, identity: Identity, *, max_records: int, max_bytes: int) -> SealReport:
    """Pack every result not yet in a bundle into signed bundles in the outbox.

    A record that no longer validates is quarantined (kept, never bundled): a collector would
    refuse its bundle forever.
    """
    from pydantic import ValidationError

    from probe.models.stored import StoredResult

    bundles: list[str] = []
    measurements = quarantined = 0
    while rows := store.unbundled(max_records=max_records, max_bytes=max_bytes):
        good: list[PackedRecord] = []
        bad: list[str] = []
        for row in rows:
            try:
                StoredResult.model_validate_json(row.record, strict=True)
            except ValidationError:
                bad.append(row.measurement_id)
                continue
            good.append(PackedRecord(row.measurement_id, row.measured_at, row.record))
        if bad:
            store.quarantine(bad)
            quarantined += len(bad)
        if not good:
            continue
        now = datetime.now(UTC)
        bundle = pack(good, identity, software_version=__version__, created_at=now)
        try:
            store.add_bundle(
                bundle.bundle_id, bundle.to_bytes(), [r.measurement_id for r in good], now
            )
        except SealRaced:
            continue  # another sealer took some of these rows: read what is left
        bundles.append(bundle.bundle_id)
        measurements += len(good)
    return SealReport(bundles, measurements, quarantined)


@dataclass(frozen=True)
class ExportReport:
    """What `export_outbox` wrote."""

    path: Path
    bundles: int
    measurements: int
    bytes: int


def export_outbox(store: ResultStore, out: Path, *, include_exported: bool) -> ExportReport:
    """Write the pending bundles (not yet exported, unless `include_exported`) back to back
    into `out`, durably (temp file, fsync, rename), then stamp them exported.

    The bundles stay in the outbox: uploading one later is harmless (the collector keeps each
    measurement once), and losing the file loses nothing.
    """
    entries = [e for e in store.outbox() if include_exported or e.exported_at is None]
    temporary = out.with_name(f".{out.name}.part")
    written: list[str] = []
    size = measurements = 0
    try:
        with open_private(temporary) as handle:
            for entry in entries:
                data = store.bundle_bytes(entry.bundle_id)
                if data is None:  # acknowledged meanwhile: a collector has it
                    continue
                handle.write(data)
                written.append(entry.bundle_id)
                size += len(data)
                measurements += entry.count
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, out)
        _fsync_directory(out.parent)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"cannot write {out}: {exc.strerror or exc}") from exc
    store.mark_bundles_exported(written)
    return ExportReport(out, len(written), measurements, size)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
