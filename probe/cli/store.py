"""`probe results` and `probe status`: read the store (safe while the daemon writes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from probe.cli.daemon import CONFIG_OPTION


def _since(text: str | None) -> datetime | None:
    from probe.config import parse_duration
    from probe.errors import ConfigError

    if text is None:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"--since {text!r}: use a duration (30m, 24h, 7d) or an ISO date/time"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


def results(
    config: Path | None = CONFIG_OPTION,
    since: str | None = typer.Option(
        None, "--since", help="Only results measured since: a duration (24h, 7d) or ISO time."
    ),
    job: str | None = typer.Option(None, "--job", "-j", help="Only this job's results."),
    json_output: bool = typer.Option(
        False, "--json", help="JSON Lines: one stored result (TargetResult + job + id) per line."
    ),
) -> None:
    """List stored results, oldest first."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from probe.errors import StoreError
    from probe.store import ResultStore

    store = _open_store(config)
    assert isinstance(store, ResultStore)
    table = Table("measured (UTC)", "job", "target", "verdict", "blocking", "id")
    bad = 0
    with store:
        for item in store.results(since=_since(since), job=job):
            if isinstance(item, StoreError):
                bad += 1
                sys.stderr.write(f"probe: warning: {item}\n")
                continue
            if json_output:
                sys.stdout.write(item.model_dump_json() + "\n")
            else:
                table.add_row(
                    item.measurement_start_time.strftime("%Y-%m-%d %H:%M:%S"), item.job,
                    item.input, item.verdict.value,
                    item.blocking.value if item.blocking else "",
                    str(item.measurement_id)[:8],
                )  # fmt: skip
    if not json_output:
        Console().print(table)
    if bad:
        raise typer.Exit(1)


def status(
    config: Path | None = CONFIG_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print the status as one JSON object."),
) -> None:
    """Show the schedule, last and next runs, store size, outbox backlog and recent errors."""
    import json

    from rich.console import Console
    from rich.table import Table

    from probe.config import format_duration
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
    daemon: dict[str, Any] = state if isinstance(state, dict) else {}
    pid = daemon.get("pid")
    alive = isinstance(pid, int) and not daemon.get("stopped_at") and pid_alive(pid)
    last: dict[str, RunRecord] = {}
    for record in runs:
        last.setdefault(record.job, record)
    errors = [r for r in runs if r.error][:5]
    jobs: list[dict[str, Any]] = [
        {**j, "last_run": last[j["name"]].model_dump(mode="json") if j["name"] in last else None}
        for j in daemon.get("jobs", [])
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
    table = Table("job", "targets", "every", "last run (UTC)", "status", "stored", "next run")
    for job in jobs:
        run: dict[str, Any] = job["last_run"] or {}
        table.add_row(
            job["name"], str(job["targets"]), format_duration(job["every_s"]),
            str(run.get("started_at") or "-")[:19], str(run.get("status", "-")),
            str(run.get("stored", "-")), str(job["next_run"] or "-")[:19],
        )  # fmt: skip
    console.print(table)
    for record in errors:
        console.print(
            f"error: {record.job} {record.started_at:%Y-%m-%d %H:%M} {record.status.value}:"
            f" {record.error}"
        )
