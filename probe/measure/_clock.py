"""Measurement-relative time: OONI's `t0`/`t` are seconds since the measurement started."""

from __future__ import annotations

import time


class Clock:
    """Seconds since this clock was made (monotonic), for `t0`/`t` fields."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        """Return seconds elapsed since the measurement started, rounded to microseconds."""
        return round(time.monotonic() - self._start, 6)
