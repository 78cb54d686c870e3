"""The run's throughput tests: who gets one, once per object, within a byte budget (issue 19).

A throughput test answers a question only where a catalogue platform names an object: by default
a target gets one when it loads and it is a platform, or a URL or domain on one of a platform's
hosts (its objects come from the catalogue). Arbitrary pages are measured only when asked for
(`[throughput] pages`: `probe check --throughput`, a job's `throughput = true`). A run measures
one set of objects at one address with one server name once: the other targets wait for that
test and share it (`ThroughputTest.measured_for`). And the tests of a run stop at
`[throughput] max_bytes_per_run`: a list of 200 URLs of one platform downloads one platform's
worth, not 200 tests' (about 3 MiB each). What to measure and how much of the budget is left
are decide/followup.py's; this module shares the tests and runs them one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from probe import decide
from probe.config import Settings
from probe.measure._clock import Clock
from probe.measure.plan import MeasureContext
from probe.models.targets import Target
from probe.targets import Catalogue, load_catalogue

if TYPE_CHECKING:
    from probe.models.observations import ThroughputTest
    from probe.models.results import EndpointResult

_Key = tuple[tuple[str, str, str], ...]  # (address, server name, URL) of each candidate


class ThroughputRun:
    """One run's throughput tests: chosen, shared and budgeted."""

    def __init__(
        self,
        settings: Settings,
        ctx: MeasureContext,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._ctx = ctx
        self._catalogue: Catalogue | None = None
        self._tests: dict[_Key, tuple[str, asyncio.Task[ThroughputTest]]] = {}
        self._measured: list[ThroughputTest] = []  # what the run's budget was spent on
        self.on_status = on_status  # what the test is waiting for

    def _objects(self, target: Target) -> list[str]:
        """Return the catalogue's objects for `target` (its own, or its platform's)."""
        if target.objects or not target.platform:
            return list(target.objects)
        if self._catalogue is None:
            self._catalogue = load_catalogue()
        platform = self._catalogue.get(target.platform)
        return list(platform.objects) if platform is not None else []

    async def test(
        self, target: Target, endpoints: list[EndpointResult], clock: Clock
    ) -> ThroughputTest | None:
        """Return the target's throughput test (measured, shared or skipped); None if none is
        due: the test is off, the target does not load, or it is no platform's and pages were
        not asked for."""
        settings = self._settings.throughput
        # Asked before the catalogue is read: most targets of a run never need it.
        if not settings.enabled or not decide.may_be_throttled(endpoints):
            return None
        objects = self._objects(target)
        plan = decide.throughput_plan(
            target, endpoints, objects, pages=settings.pages, min_bytes=settings.min_bytes
        )
        if plan is None:
            return None
        if plan.key in self._tests:
            owner, task = self._tests[plan.key]
            test = await asyncio.shield(task)
            return test.model_copy(update={"measured_for": owner})
        task = asyncio.create_task(self._measure(plan, clock))
        self._tests[plan.key] = (target.input, task)
        return await asyncio.shield(task)

    async def _measure(self, plan: decide.ThroughputPlan, clock: Clock) -> ThroughputTest:
        from probe.measure.throughput import measure_throughput  # httpx: not before a query

        settings = self._settings.throughput
        async with self._ctx.throughput_lock:  # one test at a time: downloads never share a link
            if self.on_status is not None:
                self.on_status(f"measuring throughput: {plan.candidates[0]}")
            left = decide.throughput_budget_bytes(settings.max_bytes_per_run, self._measured)
            test = await measure_throughput(
                list(plan.candidates), dict(plan.known), self._ctx, clock, budget_bytes=left
            )
            self._measured.append(test)
        return test.model_copy(update={"choice": plan.choice})

    async def close(self) -> None:
        """Cancel the tests still running (the run was interrupted)."""
        tasks = [task for _, task in self._tests.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["ThroughputRun"]
