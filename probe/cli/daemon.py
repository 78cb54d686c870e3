"""`probe daemon` (the schedule, in the foreground) and `probe run` (every job once, now)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", envvar="PROBE_CONFIG", metavar="FILE",
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
        None, "--job", "-j", metavar="NAME", help="Only this job (repeatable); default: every job."
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

    stored: list[Any] = []

    def show(result: Any) -> None:
        stored.append(result)
        if json_output:
            sys.stdout.write(result.model_dump_json() + "\n")
            sys.stdout.flush()

    async def run_all() -> list[Any]:
        store = ResultStore.open(data_dir)
        runner = JobRunner(settings, store, data_dir, on_stored=show)
        outcomes = []
        try:
            for job in jobs:
                outcomes.append(outcome := await runner.run(job))
                if outcome.status is RunStatus.INTERRUPTED:
                    break  # Ctrl-C: the run recorded what it did; no other job starts
            return outcomes
        finally:
            runner.close()
            store.close()

    import logging

    from probe.daemon.logs import setup_logging

    # Logs go to stderr, warnings only: stdout is for what was measured (issue 20).
    setup_logging(settings.daemon.log_format, stream=sys.stderr)
    logging.getLogger().setLevel(logging.WARNING)
    outcomes = asyncio.run(run_all())
    _summarise(outcomes, stored, json_output)


def _summarise(outcomes: list[Any], stored: list[Any], json_output: bool) -> None:
    """Print what `probe run` measured (the table `probe check` prints, ids to look one up)
    and exit 1 when a run failed, 130 when it was interrupted."""
    import sys

    from probe.cli import render
    from probe.cli.common import EXIT_FAILURES, EXIT_INTERRUPTED
    from probe.models.stored import RunStatus

    if not json_output and stored:
        render.print_table(stored)
    for outcome in outcomes:
        if outcome.status is not RunStatus.OK:
            sys.stderr.write(f"probe: job {outcome.job}: {outcome.status.value}"
                             f"{': ' + outcome.error if outcome.error else ''}\n")  # fmt: skip
    if not json_output:
        sys.stderr.write(
            f"stored {len(stored)} result(s); `probe results` lists them, `probe results show"
            " ID` shows one whole\n"
        )
    if any(o.status is RunStatus.INTERRUPTED for o in outcomes):
        raise typer.Exit(EXIT_INTERRUPTED)
    if any(o.status is not RunStatus.OK for o in outcomes):
        raise typer.Exit(EXIT_FAILURES)
