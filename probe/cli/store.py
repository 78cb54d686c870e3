"""`probe results` and `probe status`: read the store (safe while the daemon writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from probe.cli.common import CONTEXT, EXIT_FAILURES, TIME_HELP
from probe.cli.daemon import CONFIG_OPTION


def _open_store(config: Path | None) -> object:
    from probe.cli.daemon import config_path
    from probe.config import load_settings, resolve_data_dir
    from probe.store import ResultStore

    settings = load_settings(config_path(config))
    return ResultStore.open(resolve_data_dir(settings), create=False)


def _outbox_report(backlog: int, outbox: Any, state: object) -> dict[str, Any]:
    upload: dict[str, Any] = state if isinstance(state, dict) else {}
    return {
        "backlog": backlog, "unbundled": outbox.unbundled,
        "pending_bundles": outbox.pending_bundles, "pending_bytes": outbox.pending_bytes,
        "pending_measurements": outbox.pending_measurements,
        "rejected_bundles": outbox.rejected_bundles,
        "last_upload_at": upload.get("last_attempt_at"),
        "last_success_at": upload.get("last_success_at"),
        "next_upload_at": upload.get("next_attempt_at"),
        "failures": upload.get("failures", 0),
        "last_upload_error": upload.get("last_error"),
        "last_rejected": upload.get("last_rejected"),
    }  # fmt: skip


results_app = typer.Typer(
    name="results",
    help="List stored results (oldest first), or show one whole: `probe results show ID`.",
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


@results_app.callback()
def results(
    ctx: typer.Context,
    config: Path | None = CONFIG_OPTION,
    since: str | None = typer.Option(
        None, "--since", metavar="TIME", help=f"Only results measured since: {TIME_HELP}."
    ),
    job: str | None = typer.Option(
        None, "--job", "-j", metavar="NAME", help="Only this job's results."
    ),
    measurement_id: str | None = typer.Option(
        None, "--id", metavar="ID", help="Show this one result whole (the id or its start)."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="JSON Lines: one stored result (TargetResult + job + id) per line."
    ),
) -> None:
    """List stored results, oldest first; `--id ID` (or `results show ID`) shows one whole."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = config
        return
    if measurement_id is not None:
        _show(config, measurement_id, json_output)
        return
    import sys

    from rich.console import Console

    from probe.cli.common import parse_time
    from probe.cli.tables import stored_view
    from probe.errors import StoreError
    from probe.store import ResultStore

    start = parse_time(since, "--since")
    store = _open_store(config)
    assert isinstance(store, ResultStore)
    listed: list[Any] = []
    bad = 0
    with store:
        if job is not None and job not in (known := store.jobs()):
            _unknown_job(config, job, known)
        for item in store.results(since=start, job=job):
            if isinstance(item, StoreError):
                bad += 1
                sys.stderr.write(f"probe: warning: {item}\n")
            elif json_output:
                sys.stdout.write(item.model_dump_json() + "\n")
            else:
                listed.append(item)
    if not json_output:
        console = Console()
        if listed:
            console.print(stored_view(listed, console.width))
        else:
            sys.stderr.write("probe: no results stored" + (" in that period" if since else "")
                             + " (`probe run` measures every job now)\n")  # fmt: skip
    if bad:
        raise typer.Exit(EXIT_FAILURES)


def _unknown_job(config: Path | None, job: str, stored: list[str]) -> None:
    """Raise ConfigError for a job that neither the config nor the store knows (issue 20:
    `results -j nope` printed an empty table); a configured job with no results yet is fine."""
    from probe.cli.daemon import config_path
    from probe.config import load_settings
    from probe.errors import ConfigError

    configured = [j.name for j in load_settings(config_path(config)).schedule.jobs]
    if job in configured:
        return
    names = ", ".join(sorted({*configured, *stored})) or "none yet"
    raise ConfigError(f"--job {job}: no such job (jobs: {names})")


@results_app.command("show", context_settings=CONTEXT)
def show(
    ctx: typer.Context,
    measurement_id: str = typer.Argument(
        ...,
        metavar="ID",
        help="A result's id, or its start as `probe results` lists it.",
        show_default=False,
    ),
    config: Path | None = CONFIG_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print the stored result as JSON."),
) -> None:
    """Show one stored result whole: every reason, endpoint and control."""
    _show(config or ctx.obj, measurement_id, json_output)


def _show(config: Path | None, measurement_id: str, json_output: bool) -> None:
    from rich.console import Console

    from probe.cli.tables import stored_detail
    from probe.errors import ConfigError, StoreError
    from probe.store import ResultStore

    store = _open_store(config)
    assert isinstance(store, ResultStore)
    with store:
        found = store.result(measurement_id)
    if not found:
        raise ConfigError(f"no stored result has the id {measurement_id!r}: `probe results`"
                          " lists them (the id column)")  # fmt: skip
    if len(found) > 1:
        raise ConfigError(f"{measurement_id!r} starts more than one id: give more of it")
    (item,) = found
    if isinstance(item, StoreError):
        raise item
    if json_output:
        typer.echo(item.model_dump_json())
    else:
        Console().print(stored_detail(item))


def status(
    config: Path | None = CONFIG_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print the status as one JSON object."),
) -> None:
    """Show the schedule, last and next runs, store size, outbox backlog and recent errors."""
    import json

    from rich.console import Console

    from probe.cli.tables import status_table
    from probe.models.stored import RunRecord
    from probe.store import ResultStore
    from probe.store.sqlite import pid_alive

    store = _open_store(config)
    assert isinstance(store, ResultStore)
    with store:
        state = store.get_state("daemon")
        upload_state = store.get_state("upload")
        stats = store.stats()
        outbox = store.outbox_stats()
        runs = store.runs(limit=200)
        latest = store.latest()
    daemon: dict[str, Any] = state if isinstance(state, dict) else {}
    pid = daemon.get("pid")
    alive = isinstance(pid, int) and not daemon.get("stopped_at") and pid_alive(pid)
    last: dict[str, RunRecord] = {}
    for record in runs:
        last.setdefault(record.job, record)
    errors = [r for r in runs if r.error][:5]
    jobs: list[dict[str, Any]] = [
        {**j, "last_run": last[j["name"]].model_dump(mode="json") if j["name"] in last else None}
        for j in daemon.get("jobs") or _configured_jobs(config)
    ]
    report = {
        "daemon": {
            "running": alive, "pid": pid if alive else None,
            "started_at": daemon.get("started_at"),
            "disk_paused": bool(daemon.get("disk_paused")), "unsaved": daemon.get("unsaved", 0),
        },
        "store": {
            "path": str(store.path), "results": stats.results, "file_bytes": stats.file_bytes,
            "oldest": stats.oldest.isoformat() if stats.oldest else None,
            "newest": stats.newest.isoformat() if stats.newest else None,
        },
        "outbox": _outbox_report(stats.pending, outbox, upload_state),
        "jobs": jobs,
        "recent_errors": [r.model_dump(mode="json") for r in errors],
        "network": {
            "probe_asn": latest.probe_asn if latest else None,
            "probe_cc": latest.probe_cc if latest else None,
            "probe_network_name": latest.probe_network_name if latest else None,
        },
    }  # fmt: skip
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console()
    paused = "  [disk full: measuring paused]" if daemon.get("disk_paused") else ""
    console.print(f"daemon: {f'running (pid {pid})' if alive else 'not running'}{paused}")
    box: dict[str, Any] = report["outbox"]  # type: ignore[assignment]
    console.print(
        f"store: {stats.results} results, {stats.file_bytes / 1e6:.1f} MB ({store.path});"
        f" outbox: {stats.pending} not uploaded, {box['pending_bundles']} bundle(s)"
        f" ({box['pending_bytes'] / 1e6:.1f} MB) waiting, {box['rejected_bundles']} rejected"
    )
    if box["last_upload_at"]:
        console.print(f"last upload: {box['last_upload_at'][:19]}"
                      f"  next: {str(box['next_upload_at'] or '-')[:19]}")  # fmt: skip
    if box["last_upload_error"]:
        console.print(f"upload error ({box['failures']} failed in a row):"
                      f" {box['last_upload_error']}")  # fmt: skip
    console.print(status_table(jobs, console.width))
    asn: dict[str, Any] = report["network"]  # type: ignore[assignment]
    if asn["probe_asn"] not in (None, "AS0"):
        console.print(f"network: {asn['probe_asn']} {asn['probe_network_name'] or ''}".rstrip())
    elif asn["probe_asn"] == "AS0":
        console.print("network: unknown (results filed under AS0): `probe geoip update` fetches"
                      " a free ASN database")  # fmt: skip
    for record in errors:
        console.print(
            f"error: {record.job} {record.started_at:%Y-%m-%d %H:%M} {record.status.value}:"
            f" {record.error}"
        )


def _configured_jobs(config: Path | None) -> list[dict[str, Any]]:
    """Return the config's jobs as the daemon reports them, for a store only `probe run`
    wrote (issue 20: `probe status` showed an empty jobs table after `probe run`)."""
    from probe.cli.daemon import config_path
    from probe.config import load_settings

    return [
        {"name": j.name, "targets": len(j.targets) + (j.input_file is not None),
         "every_s": j.every, "next_run": None}
        for j in load_settings(config_path(config)).schedule.jobs
    ]  # fmt: skip
