"""The `probe` command: registers the commands, nothing else.

Command modules import only typer at module level; each command imports what it needs inside
its body, so `probe --version` and `probe check --help` stay fast.
"""

from __future__ import annotations

import sys

import typer

from probe import __version__
from probe.cli.check import check
from probe.cli.classify import classify
from probe.cli.collector import collector_app
from probe.cli.daemon import daemon, run
from probe.cli.helper import helper
from probe.cli.init import init
from probe.cli.report import report
from probe.cli.ship import bundle_app, upload
from probe.cli.store import results, status
from probe.lean import skip_httpx_cli

skip_httpx_cli()  # before any command imports httpx: 0.1 s of start-up (issue 19)

app = typer.Typer(
    name="probe",
    help="Censorship measurement probe: is a platform blocked (and how), down, or is the"
    " network out?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"probe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Censorship measurement probe."""


app.command(no_args_is_help=True)(check)
app.command()(classify)
app.command()(helper)
app.command()(init)
app.command()(daemon)
app.command()(run)
app.command()(results)
app.command()(status)
app.command()(upload)
app.command()(report)
app.add_typer(bundle_app)
app.add_typer(collector_app, name="collector")


def main() -> None:
    """Run the CLI; an operator error prints one line and exits 2 (usage) or 1 (runtime)."""
    from probe.errors import ProbeError

    try:
        app()
    except ProbeError as exc:
        sys.stderr.write(f"probe: error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("probe: interrupted\n")
        sys.exit(130)
