"""`probe init`: the config, the key pair, and the operator's informed consent."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

# Bump when the notice changes in substance: consent is recorded against this version.
NOTICE_VERSION = "4"

NOTICE = """\
What probe does and what it collects (docs/privacy.md in probe's source has the details)

 * On a schedule it connects to the platforms and sites in your config (Twitter/X, YouTube,
   WhatsApp, ...) and to control sites. Your ISP, your VPS provider and the state can see
   these connections, and our User-Agent says this is a censorship measurement tool.
 * It sends each URL and the addresses it resolved to a test helper (OONI's public helpers
   unless you configure your own), which sees your IP address and what you tested, and it
   asks public DoH resolvers (Google, Cloudflare, Quad9) for the same names.
 * Each result stores DNS answers, addresses, certificates, HTTP headers and up to 512 KiB of
   each page, timings, and your network's ASN and country. Your own IP address is scrubbed
   from every record; behind NAT with OONI's helpers a page echoing it could keep it.
 * For platforms that load it downloads a large object several times (up to a few MiB per
   platform and run) to detect throttling, also from the platform's own address with an
   unrelated name (example.org), which an observer may read as circumvention; and it
   downloads from speed-test sites as controls. [throughput] enabled = false turns it off.
 * For a blocked target, with raw-socket privilege (the systemd unit grants it), it records
   the IP headers of the packets that answered, asks the blocked name of an address that runs
   no DNS server (your helper's), and sends the blocked request again with IP TTL 1, 2, 3...
   to find the router where the censor sits. These unusual bursts can be noticed and
   attributed to a measurement tool; the routers' addresses on your path are stored.
   [packets] enabled = false (or localise = false, no bursts) turns it off.
 * A key pair is created to sign your uploads; its fingerprint identifies this probe.
 * If you configure a collector, signed bundles of these results are uploaded to it. The
   collector (and anyone watching the link) sees your IP address at upload time unless you
   upload through a proxy such as Tor ([upload] proxy); the bundles name this probe's key.

Risks: measuring censorship can be seen as opposition, and people have been questioned or
punished for it. A VPS is tied to a payment and an identity. Published results reveal your
network and the times you measured. Talk to someone who knows the local situation first.
"""

CONFIG_TEMPLATE = """\
# probe configuration: every key is in docs/configuration.md.

[storage]
data_dir = "{data_dir}"
# Results already uploaded (or exported) may be deleted after this long:
# retention_max_age = "90d"

[schedule]
# Estimated traffic allowed per UTC day, for metered VPSes (unset: no limit):
# daily_budget_bytes = 500_000_000

# Control sites ([control] sites) are measured in every run of every job.
[[schedule.jobs]]
name = "platforms"
targets = ["twitter", "youtube", "whatsapp", "skype", "instagram", "facebook"]
every = "15m"
jitter = "3m"

# A Citizen Lab test list, once a day:
# [[schedule.jobs]]
# name = "test-list"
# input_file = "/etc/probe/kz.csv"
# every = "24h"
# jitter = "1h"

[daemon]
# Prometheus metrics on localhost (reach it through an SSH tunnel):
# metrics_listen = "127.0.0.1:9780"

[upload]
# Where signed bundles of results go (unset: nothing leaves this machine; `probe bundle
# export` writes them to a file to carry out instead). Tried in turn when one fails.
# collectors = ["https://collector.example.org"]
# every = "1h"
# Upload through Tor (or another proxy) so the collector does not see this VPS's address:
# proxy = "socks5h://127.0.0.1:9050"
"""


def init(
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="PROBE_CONFIG",
        metavar="FILE",
        help="Where to write the config (default: /etc/probe/probe.toml as root,"
        " ~/.config/probe/probe.toml otherwise).",
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        metavar="DIR",
        help="Store and key directory (default: /var/lib/probe as root,"
        " ~/.local/share/probe otherwise).",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Consent without asking (automation)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing config file."),
) -> None:
    """Write a config, create the probe's key pair, and record your consent.

    An existing config is kept (unless --force) and an existing key is never replaced.
    """  # fmt: skip
    from probe.config import Settings, load_settings, resolve_data_dir
    from probe.errors import ConfigError
    from probe.paths import PRIVATE_DIR_MODE, default_config_path, write_private
    from probe.ship import create_identity, record_consent
    from probe.store import ResultStore

    config_path = (config or default_config_path()).absolute()
    typer.echo(NOTICE)
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError("consent is needed: run `probe init` in a terminal, or pass --yes")
        if not typer.confirm("Do you understand the risks and want to run probe?", default=False):
            typer.echo("Nothing was written.")
            raise typer.Exit(1)
    if config_path.exists() and not force:
        settings = load_settings(config_path)
        chosen = data_dir.absolute() if data_dir else resolve_data_dir(settings)
        if data_dir is not None and chosen != resolve_data_dir(settings):
            raise ConfigError(
                f"{config_path} already names another data_dir; edit it or use --force"
            )
        typer.echo(f"Keeping the existing config {config_path}.")
    else:
        chosen = data_dir.absolute() if data_dir else resolve_data_dir(Settings())
        text = CONFIG_TEMPLATE.format(data_dir=str(chosen).replace("\\", "\\\\"))
        try:  # 0600: a config may come to hold an upload token (issue 18)
            config_path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
            write_private(config_path, text.encode())
        except OSError as exc:
            raise ConfigError(f"cannot write {config_path}: {exc.strerror or exc}") from exc
        load_settings(config_path)  # the template must always be valid
        typer.echo(f"Wrote {config_path}.")
    try:
        identity, created = create_identity(chosen)
        ResultStore.open(chosen).close()
        record_consent(chosen, NOTICE_VERSION)
    except OSError as exc:
        raise ConfigError(f"cannot write to {chosen}: {exc.strerror or exc}") from exc
    typer.echo(
        f"{'Created' if created else 'Kept'} the probe key in {chosen}"
        f" (probe id {identity.probe_id[:16]}…)."
    )
    if not yes and sys.stdin.isatty():
        _offer_geoip(config_path)
    # Issue 20: the hint named no --config, so `probe run` then looked for the default file.
    flag = "" if config_path == default_config_path().absolute() else f" --config {config_path}"
    typer.echo(
        f"Next:\n  probe geoip update{flag}   names your network in results (a free ASN"
        " database, DB-IP Lite, CC BY 4.0; without it results say AS0)\n"
        f"  probe run{flag}            measures every job once now\n"
        f"  probe daemon{flag}         runs the schedule (docs/deployment.md installs it as"
        " a systemd service)"
    )


def _offer_geoip(config_path: Path) -> None:
    """Offer to fetch the free ASN database now, so results name the network (issue 20)."""
    import asyncio

    from probe.config import load_settings
    from probe.errors import ProbeError
    from probe.geoip import download, install, installed_path

    try:
        wanted = typer.confirm(
            "Fetch the free ASN database now (DB-IP Lite, CC BY 4.0, ~10 MB), so results name"
            " your network?",
            default=True,
        )
    except typer.Abort:  # no answer (end of input): init itself is done
        wanted = False
    if not wanted:
        typer.echo("Skipped: `probe geoip update` fetches it later.")
        return
    settings = load_settings(config_path)
    try:
        data = asyncio.run(download(settings.geoip.update_url, timeout_s=settings.timeouts.http))
        destination = installed_path(settings)
        install(data, destination)
    except ProbeError as exc:
        typer.echo(f"probe: warning: {exc}; `probe geoip update` tries again", err=True)
        return
    typer.echo(f"Installed the ASN database at {destination}.")
