"""What every command shares: `-h`, times, the file checks and the "wrote" line (docs/cli.md).

The convention lives here so no command grows its own dialect of it; tests/cli/test_convention.py
walks every command's parameters and holds them to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

# `-h` works everywhere (issue 20): given to every command and group.
CONTEXT = {"help_option_names": ["-h", "--help"]}

# Exit codes, the same for every command.
EXIT_OK = 0
EXIT_FAILURES = 1  # it ran, and something failed (a record unreadable, an upload refused…)
EXIT_USAGE = 2  # usage, configuration or input error: nothing was done
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM

TIME_HELP = "a duration back from now (30m, 24h, 7d) or an ISO date/time (UTC unless given)"


def parse_time(text: str | None, flag: str, *, now: datetime | None = None) -> datetime | None:
    """Return the moment `text` names: a duration back from `now`, or an ISO date/time."""
    from probe.config import parse_duration
    from probe.errors import ConfigError

    if text is None:
        return None
    try:
        return (now or datetime.now(UTC)) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"{flag} {text!r}: use a duration (30m, 24h, 7d) or an ISO date/time (2026-11-01)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_period(
    since: str | None, until: str | None, *, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """Return (since, until) as moments; ConfigError when the period runs backwards."""
    from probe.errors import ConfigError

    moment = now or datetime.now(UTC)
    start, end = parse_time(since, "--since", now=moment), parse_time(until, "--until", now=moment)
    if start is not None and end is not None and end <= start:
        raise ConfigError(
            f"--since {since} --until {until}: the period ends ({end:%Y-%m-%d %H:%M}) before it"
            f" starts ({start:%Y-%m-%d %H:%M}); a duration counts back from now, so --since"
            " takes the longer one"
        )
    return start, end


def input_file(path: Path, flag: str) -> Path:
    """Return `path` when it is a readable file; ConfigError naming it and what to do."""
    from probe.errors import ConfigError

    if not path.exists():
        raise ConfigError(f"{flag} {path}: no such file; check the path")
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a directory; give a file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from exc
    return path


def human_bytes(size: int) -> str:
    """Return `size` for people: 812 B, 4.2 kB, 17.0 MB."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def wrote(path: Path | str, *, rows: int | None = None, what: str = "rows") -> None:
    """Say on stderr what a command wrote: the path, how many rows and how many bytes."""
    size = Path(path).stat().st_size
    count = f"{rows} {what}, " if rows is not None else ""
    typer.echo(f"wrote {path} ({count}{human_bytes(size)})", err=True)


__all__ = [
    "CONTEXT",
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "TIME_HELP",
    "human_bytes",
    "input_file",
    "parse_period",
    "parse_time",
    "wrote",
]
