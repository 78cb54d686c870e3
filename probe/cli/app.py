"""The `probe` command: registers the commands, nothing else.

Command modules import only typer at module level; each command imports what it needs inside
its body, so `probe --version` and `probe check --help` stay fast.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from probe import __version__
from probe.cli.check import check
from probe.cli.classify import classify
from probe.cli.collector import collector_app
from probe.cli.common import CONTEXT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from probe.cli.daemon import daemon, run
from probe.cli.geoip import geoip_app
from probe.cli.helper import helper
from probe.cli.init import init
from probe.cli.report import report
from probe.cli.ship import bundle_app, upload
from probe.cli.store import results_app, status
from probe.lean import exit_process, skip_httpx_cli, skip_trio

skip_httpx_cli()  # before any command imports httpx: 0.1 s of start-up (issue 19)

app = typer.Typer(
    name="probe",
    help="Censorship measurement probe: is a platform blocked (and how), down, or is the"
    " network out?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
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


app.command(no_args_is_help=True, context_settings=CONTEXT)(check)
for command in (classify, helper, init, daemon, run, status, upload, report):
    app.command(context_settings=CONTEXT)(command)
app.add_typer(results_app)
app.add_typer(geoip_app)
app.add_typer(bundle_app)
app.add_typer(collector_app, name="collector")


# typer vendors click's exceptions (typer._click): reach UsageError through the public class.
_USAGE_ERROR: type[typer.TyperException] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def click_command() -> Any:
    """Return the click command of the app, arguments shown by their metavar alone: typer
    appends the Python type (`FILE... <list[path]>`), which help must not show (issue 20)."""
    root = typer.main.get_command(app)

    def walk(node: Any) -> None:
        for param in node.params:
            if param.param_type_name == "argument" and param.metavar:
                param.display_type_rich = lambda ctx: None
        for sub in getattr(node, "commands", {}).values():
            walk(sub)

    walk(root)
    return root


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the code docs/cli.md promises: 0 done, 1 ran with failures,
    2 usage or configuration error (one line on stderr), 130 interrupted."""
    from probe.errors import ProbeError

    skip_trio()  # this process runs asyncio only: httpcore's trio support costs 0.05–0.13 s
    try:
        code = click_command().main(args=argv, prog_name="probe", standalone_mode=False)
    except ProbeError as exc:
        sys.stderr.write(f"probe: error: {exc}\n")
        sys.exit(exc.exit_code)
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # `probe check` alone: the help
        else:
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "probe"
            sys.stderr.write(f"probe: error: {exc.format_message()} (see `{command} -h`)\n")
        sys.exit(EXIT_USAGE)
    except typer.TyperException as exc:
        sys.stderr.write(f"probe: error: {exc.format_message()}\n")
        sys.exit(EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("probe: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    if code == EXIT_INTERRUPTED:
        sys.stderr.write("probe: interrupted\n")
    exit_process(code if isinstance(code, int) else EXIT_OK)
