"""How the store and the collector write times into SQLite: UTC ISO-8601 text with
microseconds and a "Z", so text order is time order and an index on it is a time index."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment: datetime) -> str:
    """Return `moment` as the stored text."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_iso(text: object) -> datetime:
    """Return the datetime `iso` wrote."""
    return datetime.strptime(str(text), _FORMAT).replace(tzinfo=UTC)


def parse_optional(text: object) -> datetime | None:
    """Return the datetime `iso` wrote, or None for a NULL column."""
    return None if text is None else parse_iso(text)
