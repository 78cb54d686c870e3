"""The run's control sites: measured before the targets and, shared, after failing ones.

Control sites (foreign and domestic) are measured once before the targets and again after any
target that did not simply load (the Censored Planet "sandwich"); the after-measurement is
shared by targets finishing together. The run's first evidence about its own network is
watched here too: once it shows an outage beyond doubt, the run stops retrying (issue 19).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from probe import decide
from probe.config import Settings
from probe.measure.plan import MeasureContext, check_control_sites, reach_helpers

if TYPE_CHECKING:
    from probe.models.results import ControlSiteCheck


class Controls:
    """Control-site checks before the targets and, shared, after failing ones; the outage
    watch on the run's first evidence."""

    def __init__(self, settings: Settings, ctx: MeasureContext, domestic: list[str]) -> None:
        self._settings = settings
        self._ctx = ctx
        self._domestic = domestic
        ctx.on_evidence = self._watch
        self.before: asyncio.Task[list[ControlSiteCheck]] = asyncio.create_task(
            check_control_sites("before", ctx, domestic)
        )
        self._after: asyncio.Task[list[ControlSiteCheck]] | None = None
        self._after_started = 0.0
        # A helper unreachable at connect is part of an outage's evidence (issue 19); only
        # asked when domestic and foreign sites could make that evidence decisive.
        self._reach: asyncio.Task[None] | None = None
        if domestic and settings.control.sites and settings.control.helpers:
            self._reach = asyncio.create_task(reach_helpers(ctx))

    @property
    def stopped_retrying(self) -> bool:
        """Return whether the run stopped retrying (an outage beyond doubt)."""
        return self._ctx.stop_retrying.is_set()

    async def after(self, finished_at: float) -> list[ControlSiteCheck]:
        """Return control checks that started no earlier than `finished_at` (loop time)."""
        loop = asyncio.get_running_loop()
        if self._after is None or self._after_started < finished_at:
            self._after_started = loop.time()
            self._after = asyncio.create_task(
                check_control_sites("after", self._ctx, self._domestic)
            )
        return await asyncio.shield(self._after)

    def _watch(self) -> None:
        """Stop the run's retries once its first evidence shows an outage beyond doubt."""
        ctx = self._ctx
        helpers = self._settings.control.helpers
        if ctx.stop_retrying.is_set() or any(h not in ctx.helper_connects for h in helpers):
            return
        if decide.outage_beyond_doubt(
            ctx.first_control_attempts, self._settings.control.sites, self._domestic,
            {h: ctx.helper_connects[h] for h in helpers}, anything_reached=ctx.anything_reached,
        ):  # fmt: skip
            ctx.stop_retrying.set()

    async def close(self) -> None:
        """Cancel the checks still running (the run ended or was interrupted)."""
        tasks: list[asyncio.Task[Any]] = [
            t for t in (self.before, self._after, self._reach) if t is not None
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
