"""`probe helper`: run a control vantage point (OONI web-connectivity test-helper protocol)."""

from __future__ import annotations

from pathlib import Path

import typer


def helper(
    listen: str | None = typer.Option(
        None,
        "--listen",
        metavar="HOST:PORT",
        help="HOST:PORT to listen on (default from [helper] listen: 127.0.0.1:8780).",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="PROBE_CONFIG",
        metavar="FILE",
        help="TOML configuration file.",
    ),
) -> None:
    """Serve the test-helper protocol so probes elsewhere can compare their view with ours.

    The helper refuses loopback, private and other bogon destinations and sheds load with 503.
    """
    import asyncio
    import logging

    from probe.config import load_settings
    from probe.helper import serve

    settings = load_settings(config)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(settings, listen=listen))
