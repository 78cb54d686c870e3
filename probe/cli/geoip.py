"""`probe geoip update`: fetch, verify and install the free ASN database (placeholder)."""

from __future__ import annotations

import typer

from probe.cli.common import CONTEXT

geoip_app = typer.Typer(
    name="geoip",
    help="The ASN database that names the probe's network: `probe geoip update` fetches it.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
