"""The run's throughput tests: who gets one, once per object, within a byte budget (issue 19).

A throughput test answers a question only where a catalogue platform names an object: by default
a target gets one when it loads and it is a platform, or a URL or domain on one of a platform's
hosts (its objects come from the catalogue). Arbitrary pages are measured only when asked for
(`[throughput] pages`: `probe check --throughput`, a job's `throughput = true`). A run measures
one set of objects at one address with one server name once: the other targets wait for that
test and share it (`ThroughputTest.measured_for`). And the tests of a run stop at
`[throughput] max_bytes_per_run`: a list of 200 URLs of one platform downloads one platform's
worth, not 200 tests' (about 3 MiB each).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from probe.config import Settings
from probe.decide import cut_while_arriving, may_be_throttled
from probe.measure._clock import Clock
from probe.measure.plan import MeasureContext
from probe.measure.throughput import measure_throughput
from probe.models.observations import ThroughputChoice, ThroughputTest
from probe.models.results import EndpointResult, Verdict
from probe.models.targets import Target
from probe.targets import Catalogue, load_catalogue

_Key = tuple[tuple[str, str, str], ...]  # (address, server name, URL) of each candidate


def throughput_candidates(
    target: Target, endpoints: list[EndpointResult], min_bytes: int, objects: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """Return the URLs worth a throughput test, best first, and the addresses the target used.

    `objects` (the catalogue's) first, then pages that loaded with at least `min_bytes`, or
    were still arriving at the timeout, largest first. A page keeps the address it loaded from.
    """
    pages: list[tuple[int, str]] = []
    known: dict[str, str] = {}
    for result in endpoints:
        final = result.test_keys.requests[0] if result.test_keys.requests else None
        if final is None or final.response is None or final.address is None:
            continue
        cut = cut_while_arriving(result)
        if result.verdict is not Verdict.ACCESSIBLE and not cut:
            continue
        url = final.request.url
        known.setdefault(urlsplit(url).hostname or "", final.address.rpartition(":")[0].strip("[]"))
        size = final.response.x_body_length
        if cut or size >= min_bytes:
            pages.append((size, url))
    ordered = [url for _, url in sorted(pages, key=lambda page: -page[0])]
    return list(dict.fromkeys([*objects, *ordered])), known


class ThroughputRun:
    """One run's throughput tests: chosen, shared and budgeted."""

    def __init__(self, settings: Settings, ctx: MeasureContext) -> None:
        self._settings = settings
        self._ctx = ctx
        self._catalogue: Catalogue | None = None
        self._tests: dict[_Key, tuple[str, asyncio.Task[ThroughputTest]]] = {}
        self._spent_bytes = 0
        self.on_status: Callable[[str], None] | None = None  # what the test is waiting for

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
        if not settings.enabled or not may_be_throttled(endpoints):
            return None
        objects = self._objects(target)
        if not objects and not settings.pages:
            return None
        choice = ThroughputChoice.CATALOGUE_OBJECTS if objects else ThroughputChoice.PAGES
        candidates, known = throughput_candidates(
            target, endpoints, settings.min_bytes, objects if objects else []
        )
        if objects:
            candidates = objects  # a platform's pages are never what its test measures
        if not candidates:  # a small page and no catalogue object: nothing to measure
            return None
        key = tuple((known.get(_host(url), ""), _host(url), url) for url in candidates)
        if key in self._tests:
            owner, task = self._tests[key]
            test = await asyncio.shield(task)
            return test.model_copy(update={"measured_for": owner})
        task = asyncio.create_task(self._measure(candidates, known, choice, clock))
        self._tests[key] = (target.input, task)
        return await asyncio.shield(task)

    async def _measure(
        self, candidates: list[str], known: dict[str, str], choice: ThroughputChoice, clock: Clock
    ) -> ThroughputTest:
        settings = self._settings.throughput
        async with self._ctx.throughput_lock:  # one test at a time: downloads never share a link
            if self.on_status is not None:
                self.on_status(f"measuring throughput: {candidates[0]}")
            left = settings.max_bytes_per_run - self._spent_bytes
            test = await measure_throughput(candidates, known, self._ctx, clock, budget_bytes=left)
            self._spent_bytes += sum(t.bytes for t in test.transfers)
        return test.model_copy(update={"choice": choice})

    async def close(self) -> None:
        """Cancel the tests still running (the run was interrupted)."""
        tasks = [task for _, task in self._tests.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


__all__ = ["ThroughputRun", "throughput_candidates"]
