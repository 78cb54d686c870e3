"""Which test helpers this run stopped asking for a while (they failed to connect repeatedly).

Apart from control.py, which speaks to the helpers through httpx, so that a run's context is
made without importing httpx (issue 19: nothing delays a check's first DNS query).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probe.models.failures import Failure

SKIP_AFTER_FAILURES = 3
RETRY_SKIPPED_AFTER_S = 30.0


@dataclass
class HelperHealth:
    """Helpers that could not be reached several times in a row in this run, asked again only
    now and then.

    Without it a blocked or dead helper costs every target its whole `helper_timeout_s` while
    holding one of the few in-flight slots: 200 targets behind an unreachable helper would wait
    200 / 8 × 30 s. After `SKIP_AFTER_FAILURES` consecutive failures to connect to a helper it is
    skipped (its last failure is reported, marked as not asked); every `RETRY_SKIPPED_AFTER_S`
    one request is let through to see whether it is back. A valid answer resets it. A helper
    that was reached but answered late or badly is not skipped: it may be measuring a site that
    is down (lab scenario platform_down), which says nothing about the other targets.
    """

    failures: dict[str, int] = field(default_factory=dict)
    last_failure: dict[str, str] = field(default_factory=dict)
    last_try_at: dict[str, float] = field(default_factory=dict)

    def is_skipped(self, helper: str, now: float) -> bool:
        """Return whether `helper` is being skipped and no retry is due (no side effect)."""
        if self.failures.get(helper, 0) < SKIP_AFTER_FAILURES:
            return False
        return now - self.last_try_at.get(helper, now) < RETRY_SKIPPED_AFTER_S

    def should_ask(self, helper: str, now: float) -> bool:
        """Return whether to ask `helper` now (and, if it is being skipped, count this try)."""
        if self.failures.get(helper, 0) < SKIP_AFTER_FAILURES:
            return True
        if now - self.last_try_at.get(helper, now) >= RETRY_SKIPPED_AFTER_S:
            self.last_try_at[helper] = now
            return True
        return False

    def record(self, helper: str, failure: str | None, now: float) -> None:
        """Note how asking `helper` ended: `failure` None for a valid answer."""
        if failure is None:
            self.failures.pop(helper, None)
            return
        self.failures[helper] = self.failures.get(helper, 0) + 1
        self.last_failure[helper] = failure
        self.last_try_at.setdefault(helper, now)

    def skipped(self, helper: str) -> str:
        """Return the failure to report for a helper that was not asked."""
        count = self.failures.get(helper, 0)
        last = self.last_failure.get(helper, Failure.UNKNOWN_FAILURE)
        return f"{last} (not asked: it failed {count} times in a row in this run)"
