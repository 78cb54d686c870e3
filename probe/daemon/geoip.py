"""The daemon's monthly ASN database refresh: `probe geoip update --auto` in a process of its own.

The supervisor imports no pydantic and no HTTP client: once a day it runs the command, which
reads the config and fetches only when the database it installed is older than
`[geoip] refresh_every` (never over a configured `asn_db`, nor when none is installed); a
failure is logged and the installed database kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from probe.daemon.logs import log

CHECK_EVERY_S = 86400.0
FIRST_CHECK_S = 3600.0
COMMAND_TIMEOUT_S = 600.0


async def refresh_once(config_path: Path) -> int:
    """Run `probe geoip update --auto` once; return its exit code (logged with its output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "probe", "geoip", "update", "--auto", "--config", str(config_path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    text = (err or out).decode(errors="replace").strip().splitlines()
    code = process.returncode or 0
    log("geoip.refresh", logging.INFO if code == 0 else logging.WARNING, code=code,
        outcome=text[-1] if text else "")  # fmt: skip
    return code


async def refresh_loop(config_path: Path, stop: asyncio.Event) -> None:
    """Refresh once a day, the first time `FIRST_CHECK_S` after the start (the runs come first),
    until `stop` is set; a failed or slow pass waits for the next day."""
    delay = FIRST_CHECK_S
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await refresh_once(config_path)
        delay = CHECK_EVERY_S
