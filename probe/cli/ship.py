"""`probe upload` (the outbox, now) and `probe bundle export|inspect` (hand-carrying)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from probe.cli.common import CONTEXT, EXIT_FAILURES
from probe.cli.daemon import CONFIG_OPTION

bundle_app = typer.Typer(
    name="bundle",
    help="Bundles for hand-carrying: export the outbox to a file, check a file.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)


def _probe_home(config: Path | None) -> tuple[Any, Path]:
    from probe.cli.daemon import config_path
    from probe.config import load_settings, resolve_data_dir

    settings = load_settings(config_path(config))
    return settings, resolve_data_dir(settings)


def upload(
    config: Path | None = CONFIG_OPTION,
    retry_rejected: bool = typer.Option(
        False, "--retry-rejected", help="Queue bundles a collector refused before, again."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Seal stored results into signed bundles and upload the outbox now (exit 1 on failure)."""
    import asyncio
    import json

    from probe.ship import load_identity, require_consent
    from probe.ship.upload import upload_outbox
    from probe.store import ResultStore

    settings, data_dir = _probe_home(config)
    identity = load_identity(data_dir)
    require_consent(data_dir)
    with ResultStore.open(data_dir, create=False) as store:
        if retry_rejected:
            store.requeue_rejected()
        report = asyncio.run(upload_outbox(store, identity, settings.upload))
    if json_output:
        typer.echo(json.dumps(report.to_dict()))
    else:
        typer.echo(
            f"uploaded {report.uploaded} bundle(s), {report.measurements} measurement(s)"
            f" ({report.duplicates} already there); {report.pending} bundle(s) pending"
        )
        for line in report.rejected:
            typer.echo(f"rejected: {line}", err=True)
        if report.error:
            typer.echo(f"probe: upload failed: {report.error}", err=True)
    if not report.ok or report.rejected:
        raise typer.Exit(1)


@bundle_app.command("export", context_settings=CONTEXT)
def export(
    out: Path = typer.Option(
        ..., "--output", "-o", metavar="FILE", help="File to write (replaced atomically)."
    ),
    config: Path | None = CONFIG_OPTION,
    include_exported: bool = typer.Option(
        False, "--all", help="Also bundles an earlier export already wrote."
    ),
) -> None:
    """Write the pending bundles to a file a collector can ingest (`probe collector ingest`).

    For when nothing can be uploaded: carry the file out. The bundles stay in the outbox, so
    an upload that works later is still safe (the collector keeps each measurement once).
    """
    from probe.cli.common import human_bytes
    from probe.ship import load_identity
    from probe.ship.outbox import export_outbox, seal
    from probe.store import ResultStore

    settings, data_dir = _probe_home(config)
    identity = load_identity(data_dir)
    with ResultStore.open(data_dir, create=False) as store:
        seal(
            store, identity, max_records=settings.upload.max_bundle_records,
            max_bytes=settings.upload.max_bundle_bytes,
        )  # fmt: skip
        outbox = store.outbox()
        if not any(include_exported or e.exported_at is None for e in outbox):
            # issue 20: a second export wrote a 0-byte file and said nothing of --all
            done = f"the {len(outbox)} bundle(s) in the outbox were exported before"
            hint = "; --all writes them again" if outbox else ""
            typer.echo(f"probe: nothing to export: {done if outbox else 'no results are waiting'}"
                       f"{hint}. {out} was not written.", err=True)  # fmt: skip
            raise typer.Exit(EXIT_FAILURES)
        report = export_outbox(store, out, include_exported=include_exported)
    typer.echo(
        f"wrote {report.path} ({report.bundles} bundle(s), {report.measurements}"
        f" measurement(s), {human_bytes(report.bytes)})",
        err=True,
    )


@bundle_app.command("inspect", context_settings=CONTEXT)
def inspect(
    file: Path = typer.Argument(
        ..., metavar="FILE", help="A bundle or an exported file of bundles.", show_default=False
    ),
    json_output: bool = typer.Option(False, "--json", help="One JSON line per bundle."),
) -> None:
    """Verify every bundle in a file (signature, hash, records) and list them (exit 1 if any
    is bad): check a hand-carried file before the trip."""
    import json

    from probe.cli.common import input_file
    from probe.errors import BundleError
    from probe.ship.bundle import Limits, iter_bundles, unpack_records, verify_signature

    limits = Limits()
    bad = good = 0
    try:
        handle = input_file(file, "FILE").open("rb")
    except OSError as exc:
        raise BundleError(f"cannot read {file}: {exc.strerror or exc}") from exc
    with handle:
        for item in iter_bundles(handle, limits):
            try:
                if isinstance(item, BundleError):
                    raise item
                verify_signature(item)
                records = unpack_records(item, limits)
            except BundleError as exc:
                bad += 1
                typer.echo(f"bad bundle: {exc.code}: {exc}", err=True)
                continue
            good += 1
            line: dict[str, Any] = {
                "bundle_id": item.bundle_id, "probe_id": item.manifest.probe_id,
                "count": len(records), "first": item.manifest.first_measured_at.isoformat(),
                "last": item.manifest.last_measured_at.isoformat(),
                "bytes": len(item.payload),
            }  # fmt: skip
            typer.echo(json.dumps(line) if json_output else
                       f"{line['bundle_id'][:16]}  {line['count']:>5} measurements"
                       f"  {line['first'][:19]} … {line['last'][:19]}  ok")  # fmt: skip
    if not bad and not good:
        typer.echo(f"probe: {file} holds no bundles (an empty export?)", err=True)
    if bad or not good:
        raise typer.Exit(EXIT_FAILURES)
