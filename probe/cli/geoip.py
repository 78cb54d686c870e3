"""`probe geoip update`: fetch, verify and install the free ASN database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from probe.cli.common import CONTEXT

if TYPE_CHECKING:
    from probe.config import Settings

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", envvar="PROBE_CONFIG", metavar="FILE",
    help="TOML configuration ([geoip], [storage] data_dir); default: the one `probe init` wrote.",
)  # fmt: skip

geoip_app = typer.Typer(
    name="geoip",
    help="The ASN database that names the probe's network: `probe geoip update` fetches it.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


@geoip_app.command("update", context_settings=CONTEXT)
def update(
    config: Path | None = CONFIG_OPTION,
    url: str | None = typer.Option(
        None,
        "--url",
        metavar="URL",
        help="Fetch from here ({year}, {month}); replaces [geoip] update_url.",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        metavar="FILE",
        help="Install here (default: [geoip] asn_db, else <data_dir>/geoip/asn.mmdb).",
    ),
    auto: bool = typer.Option(
        False,
        "--auto",
        help="As the daemon runs it: only when the installed database is older than [geoip]"
        " refresh_every, and never over a configured asn_db.",
    ),
) -> None:
    """Fetch the free ASN database (DB-IP Lite, CC BY 4.0), verify it and swap it in.

    Results then name the probe's network instead of AS0. A download that fails or is not an
    ASN database leaves the installed one as it was (exit 1).
    """
    import asyncio

    from probe.cli.common import wrote
    from probe.config import load_settings
    from probe.geoip import download, install, installed_path
    from probe.paths import default_config_path

    if config is None and (found := default_config_path()).exists():
        config = found
    settings = load_settings(config)
    destination = output or installed_path(settings)
    if auto and (why := _fresh(settings, destination)) is not None:
        typer.echo(f"not fetched: {why}")
        return
    data = asyncio.run(download(url or settings.geoip.update_url, timeout_s=settings.timeouts.http))
    kind = install(data, destination)
    wrote(destination)
    typer.echo(
        f"installed {kind} at {destination}: results now name the network they were measured"
        " from (IP to ASN Lite by DB-IP, https://db-ip.com, CC BY 4.0)."
    )


def _fresh(settings: Settings, destination: Path) -> str | None:
    """Return why `--auto` fetches nothing now, None when it should fetch."""
    import time

    from probe.config import format_duration

    every = settings.geoip.refresh_every
    if settings.geoip.asn_db is not None:
        return f"[geoip] asn_db is set ({settings.geoip.asn_db}): yours to refresh"
    if every is None:
        return "[geoip] refresh_every is unset"
    if not destination.is_file():  # installing is the operator's choice (`probe init` asks)
        return f"none installed at {destination}: `probe geoip update` installs one"
    age = time.time() - destination.stat().st_mtime
    if age < every:
        return f"{destination} is {format_duration(round(age))} old, under {format_duration(every)}"
    return None
