"""The formatters every renderer shares: times in UTC, durations, method and verdict counts.

Pure, standard library only. The HTML page, the SVG plots, the CSV, the terminal summary and
the collector's live pages all write a time or a count through these, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = [
    "counts_text",
    "duration_text",
    "epoch_s",
    "iso_text",
    "methods_text",
    "minute_text",
    "short_text",
    "utc_at",
    "when_text",
]

_DAY = 86_400


def epoch_s(moment: datetime) -> int:
    """Return `moment` as whole seconds since the epoch."""
    if moment.tzinfo is None:  # models promise UTC-aware datetimes; a naive one is UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def utc_at(seconds: int) -> datetime:
    """Return the UTC datetime `seconds` after the epoch."""
    return datetime.fromtimestamp(seconds, UTC)


def when_text(moment: datetime | None, missing: str = "—") -> str:
    """Return "YYYY-MM-DD HH:MM:SS" in UTC, or `missing` for None."""
    return missing if moment is None else utc_at(epoch_s(moment)).strftime("%Y-%m-%d %H:%M:%S")


def minute_text(moment: datetime | None, missing: str = "open") -> str:
    """Return "YYYY-MM-DD HH:MM" in UTC, or `missing` for None."""
    return missing if moment is None else utc_at(epoch_s(moment)).strftime("%Y-%m-%d %H:%M")


def iso_text(moment: datetime | None) -> str:
    """Return ISO 8601 UTC to the second ("2024-05-01T10:00:00Z"), or "" for None."""
    return "" if moment is None else utc_at(epoch_s(moment)).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_text(seconds: int) -> str:
    """Return "1 h", "15 min", "2 d" or "90 s"."""
    for unit, size in (("d", _DAY), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def methods_text(methods: Mapping[str, int], sep: str = ";", fmt: str = "{}:{}") -> str:
    """Return the methods, most counted first, each formatted with `fmt` and joined by `sep`."""
    ranked = sorted(methods.items(), key=lambda item: (-item[1], item[0]))
    return sep.join(fmt.format(name, count) for name, count in ranked)


def counts_text(counts: Mapping[str, int]) -> str:
    """Return "12 blocked, 4 accessible, 4 service_down": most counted first."""
    ranked = sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    return ", ".join(f"{n} {v}" for v, n in ranked if n)


def short_text(text: str, limit: int) -> str:
    """Return `text`, cut to `limit` characters with "…" when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
