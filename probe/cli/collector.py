"""`probe collector`: receive signed bundles from probes; `export` and `ingest` by hand."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from probe.cli.common import CONTEXT, TIME_HELP

if TYPE_CHECKING:
    from probe.config import Settings

collector_app = typer.Typer(
    name="collector",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)

DATA_DIR_OPTION = typer.Option(
    None,
    "--data-dir",
    metavar="DIR",
    help="Where bundles and the index live (default: [collector] data_dir).",
)
CONFIG_OPTION = typer.Option(
    None,
    "--config",
    "-c",
    envvar="PROBE_CONFIG",
    metavar="FILE",
    help="TOML configuration ([collector]).",
)


def _token(path: Path, flag: str) -> str:
    from probe.errors import ConfigError

    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: {exc.strerror}") from exc
    if not token:
        raise ConfigError(f"{flag} {path} is empty")
    return token


def _settings(
    config: Path | None,
    data_dir: Path | None,
    token_file: Path | None = None,
    read_token_file: Path | None = None,
) -> Settings:
    """Settings with the flags applied; ConfigError when no data dir is set anywhere."""
    from probe.config import load_settings
    from probe.errors import ConfigError

    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = str(data_dir)
    if token_file is not None:
        overrides["register_token"] = _token(token_file, "--token-file")
    if read_token_file is not None:
        overrides["read_token"] = _token(read_token_file, "--read-token-file")
    settings = load_settings(config, {"collector": overrides} if overrides else None)
    if settings.collector.data_dir is None:
        raise ConfigError("collector: pass --data-dir (or set [collector] data_dir)")
    return settings


@collector_app.callback()
def collector(
    ctx: typer.Context,
    listen: str | None = typer.Option(
        None,
        "--listen",
        metavar="HOST:PORT",
        help="HOST:PORT to listen on (default from [collector] listen).",
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    config: Path | None = CONFIG_OPTION,
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        metavar="FILE",
        help="File holding the token that registering a probe needs.",
    ),
    read_token_file: Path | None = typer.Option(
        None,
        "--read-token-file",
        metavar="FILE",
        help="File holding the token that reading measurements needs.",
    ),
) -> None:
    """Serve the collector: probes upload signed bundles; `export` and `ingest` by hand.

    Without a token (--token-file or [collector] register_token) any probe registers itself
    on its first upload. Without a read token (--read-token-file or [collector] read_token)
    the read API is closed; /api/v1/health is public.
    """
    if ctx.invoked_subcommand is not None:
        return
    import asyncio
    import logging

    from probe.errors import ConfigError

    try:
        import fastapi  # noqa: F401
    except ImportError as exc:
        raise ConfigError("probe collector needs FastAPI: pip install 'probe[collector]'") from exc
    settings = _settings(config, data_dir, token_file, read_token_file)
    from probe.collector.server import serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(settings.collector, listen=listen))


@collector_app.command(context_settings=CONTEXT)
def export(
    data_dir: Path | None = DATA_DIR_OPTION,
    config: Path | None = CONFIG_OPTION,
    since: str | None = typer.Option(
        None, "--since", metavar="TIME", help=f"Only measured since: {TIME_HELP}."
    ),
    probe_id: str | None = typer.Option(
        None, "--probe-id", metavar="ID", help="Only this probe's."
    ),
) -> None:
    """Print every accepted measurement as JSON Lines (CollectedMeasurement), oldest first."""
    import sys

    from probe.cli.common import parse_time
    from probe.collector.storage import CollectorStore, MeasurementQuery
    from probe.errors import ConfigError

    settings = _settings(config, data_dir)
    assert settings.collector.data_dir is not None
    query = MeasurementQuery(probe_id=probe_id, since=parse_time(since, "--since"))
    store_file = settings.collector.data_dir / "collector.sqlite3"
    if not store_file.is_file():  # a usage error, said as every missing file is (issue 20)
        raise ConfigError(f"--data-dir {settings.collector.data_dir}: no collector store there"
                          f" ({store_file.name} missing); check the path")  # fmt: skip
    with CollectorStore.open(settings.collector.data_dir, create=False) as store:
        for measurement in store.iter_measurements(query):
            sys.stdout.write(measurement.model_dump_json() + "\n")


@collector_app.command(context_settings=CONTEXT)
def ingest(
    file: Path = typer.Argument(
        ..., metavar="FILE", help="An export file (`probe bundle export`).", show_default=False
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Ingest a hand-carried export file; registers the probes whose bundles it holds.

    Prints one line per bundle; exits 1 if any bundle was rejected.
    """
    from probe.cli.common import input_file
    from probe.collector.ingest import ingest_file, limits_of
    from probe.collector.storage import CollectorStore

    input_file(file, "FILE")
    settings = _settings(config, data_dir)
    assert settings.collector.data_dir is not None
    rejected = 0
    with CollectorStore.open(settings.collector.data_dir) as store:
        for outcome in ingest_file(store, file, limits=limits_of(settings.collector)):
            if outcome.status == "rejected":
                rejected += 1
                where = f" {outcome.bundle_id}" if outcome.bundle_id else ""
                typer.echo(f"bundle {outcome.number}{where}: rejected ({outcome.code}):"
                           f" {outcome.detail}")  # fmt: skip
            else:
                typer.echo(
                    f"bundle {outcome.number} {outcome.bundle_id}: {outcome.status} probe"
                    f" {outcome.probe_id} measurements={outcome.measurements}"
                    f" stored={outcome.stored}"
                )
    if rejected:
        raise typer.Exit(1)


claims_app = typer.Typer(
    name="claims", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    context_settings=CONTEXT, help="Operators' statements shown on the live pages.",
)  # fmt: skip
collector_app.add_typer(claims_app, name="claims")


@claims_app.command("add", context_settings=CONTEXT)
def claims_add(
    file: Path = typer.Argument(
        ..., metavar="FILE", help="A claims file (TOML, docs/reports.md).", show_default=False
    ),
    url: str | None = typer.Option(
        None,
        "--url",
        metavar="URL",
        help="The collector (default: http:// + [collector] listen).",
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        metavar="FILE",
        help="File holding the claims token (default: [collector] claims_token).",
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Add the claims of FILE to a running collector (POST /api/v1/claims, token-gated): each
    is judged against the measurements and shown on the timelines it concerns."""
    import httpx

    from probe.cli.common import input_file
    from probe.config import load_settings
    from probe.errors import ConfigError, UploadError
    from probe.report.claims import load_claims

    input_file(file, "FILE")
    claims = load_claims(file)  # a bad file is said here, before anything is sent
    settings = load_settings(config).collector
    token = _token(token_file, "--token-file") if token_file else settings.claims_token
    if not token:
        raise ConfigError("claims add: pass --token-file (or set [collector] claims_token)")
    base = (url or f"http://{settings.listen}").rstrip("/")
    try:
        answer = httpx.post(f"{base}/api/v1/claims", content=file.read_bytes(), timeout=30,
                            headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/toml"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise UploadError(f"cannot reach the collector at {base}: {exc}") from exc
    if answer.status_code != 201:
        raise UploadError(f"the collector refused the claims ({answer.status_code}):"
                          f" {answer.text[:500]}")  # fmt: skip
    typer.echo(f"added {len(claims)} claim(s) to {base}")
