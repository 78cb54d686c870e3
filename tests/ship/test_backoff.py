"""The wait between failed upload passes (pure)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from probe.config import DEFAULT_UPLOAD_RETRY_INITIAL_S, DEFAULT_UPLOAD_RETRY_MAX_S
from probe.ship.upload import retry_delay_s


def test_default_schedule_grows_past_fifteen_minutes() -> None:
    """OONI's bk-003 §4: after the quick retries, wait at least 15 minutes."""
    rng = random.Random(1)
    waits = [
        retry_delay_s(n, DEFAULT_UPLOAD_RETRY_INITIAL_S, DEFAULT_UPLOAD_RETRY_MAX_S, rng)
        for n in range(1, 12)
    ]
    assert waits[0] < 60
    assert max(waits) <= DEFAULT_UPLOAD_RETRY_MAX_S
    assert min(waits[7:]) >= 15 * 60, waits


def test_jitter_spreads_a_fleet() -> None:
    waits = {round(retry_delay_s(4, 30, 3600, random.Random(seed)), 3) for seed in range(50)}
    assert len(waits) > 40 and min(waits) >= 240 * 0.75 and max(waits) <= 240 * 1.25


@given(
    failures=st.integers(min_value=-5, max_value=10_000),
    initial=st.floats(min_value=0.01, max_value=1e4),
    extra=st.floats(min_value=0, max_value=1e5),
    seed=st.integers(),
)
def test_never_negative_never_above_the_cap(
    failures: int, initial: float, extra: float, seed: int
) -> None:
    maximum = initial + extra
    wait = retry_delay_s(failures, initial, maximum, random.Random(seed))
    assert 0 <= wait <= maximum
    if failures > 0:
        assert wait >= min(initial * 0.75, maximum)
