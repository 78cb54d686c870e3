"""`probe daemon` (the schedule, in the foreground) and `probe run` (every job once, now)."""

from __future__ import annotations

from pathlib import Path

import typer

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", envvar="PROBE_CONFIG",
    help="TOML configuration (default: /etc/probe/probe.toml as root,"
    " ~/.config/probe/probe.toml otherwise).",
)  # fmt: skip


def config_path(config: Path | None) -> Path:
    """The config the scheduled commands use; ConfigError when there is none yet."""
    from probe.errors import ConfigError
    from probe.paths import default_config_path

    path = (config or default_config_path()).absolute()
    if not path.exists():
        raise ConfigError(f"no config at {path}: run `probe init` first (or pass --config)")
    return path


def daemon(config: Path | None = CONFIG_OPTION) -> None:
    """Run the configured jobs on their schedule until SIGTERM (what systemd starts).

    SIGHUP reloads the config (an invalid one is logged and the old one kept). Logs go to
    stdout as logfmt (or JSON) lines.
    """
    from probe.daemon.service import run_daemon

    run_daemon(config_path(config))


def run(
    config: Path | None = CONFIG_OPTION,
    job: list[str] | None = typer.Option(
        None, "--job", "-j", help="Only this job (repeatable); default: every job."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print each stored result as a JSON line."
    ),
) -> None:
    """Run every scheduled job once, now, and store the results."""
    import asyncio
    import sys

    from probe.config import load_settings, resolve_data_dir
    from probe.daemon.jobs import load_jobs
    from probe.daemon.runner import JobRunner
    from probe.errors import ConfigError
    from probe.models.stored import RunStatus
    from probe.ship import load_identity, require_consent
    from probe.store import ResultStore

    settings = load_settings(config_path(config))
    jobs = load_jobs(settings)
    if job:
        unknown = sorted(set(job) - {j.name for j in jobs})
        if unknown:
            raise ConfigError(f"no such job: {', '.join(unknown)}")
        jobs = [j for j in jobs if j.name in job]
    data_dir = resolve_data_dir(settings)
    load_identity(data_dir)
    require_consent(data_dir)

    def show(stored: object) -> None:
        if json_output:
            sys.stdout.write(stored.model_dump_json() + "\n")  # type: ignore[attr-defined]

    async def run_all() -> list[object]:
        store = ResultStore.open(data_dir)
        runner = JobRunner(settings, store, data_dir, on_stored=show)
        try:
            return [await runner.run(j) for j in jobs]
        finally:
            runner.close()
            store.close()

    from probe.daemon.logs import setup_logging

    if not json_output:
        setup_logging(settings.daemon.log_format)
    outcomes = asyncio.run(run_all())
    failed = [o for o in outcomes if o.status is not RunStatus.OK]  # type: ignore[attr-defined]
    if failed:
        raise typer.Exit(1)
