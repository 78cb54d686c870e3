"""The check chain for a batch of targets: measure → observe → decide, then scrub.

Used by `probe check` and (later) the daemon. Targets run concurrently (bounded); control sites
are measured once before the targets and again after any target that did not simply load (the
Censored Planet "sandwich"); the after-measurement is shared by targets finishing together.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from probe import __version__
from probe.config import Settings
from probe.decide import (
    DecisionContext,
    Fingerprint,
    cut_while_arriving,
    endpoint_verdict,
    may_be_throttled,
    parse_fingerprints,
    target_verdict,
)
from probe.errors import ConfigError
from probe.measure._clock import Clock
from probe.measure.plan import MeasureContext, check_control_sites, measure_endpoint, open_context
from probe.measure.throughput import measure_throughput
from probe.models.addresses import is_bogon
from probe.models.observations import ThroughputTest
from probe.models.results import (
    Blocking,
    ControlSiteCheck,
    EndpointResult,
    TargetResult,
    TestKeys,
    Verdict,
)
from probe.models.targets import Endpoint, Target
from probe.observe import AsnLookup, scrub_text, with_asns
from probe.observe.asn import AsnDatabase

ResultCallback = Callable[[TargetResult], None]
Decision = tuple[Verdict, Blocking | None, list[str]]


def load_fingerprints(settings: Settings) -> tuple[Fingerprint, ...]:
    """Return our packaged blockpage fingerprints plus every configured CSV's."""
    packaged = resources.files("probe") / "data" / "blockpages.csv"
    found = list(
        parse_fingerprints(packaged.read_text(encoding="utf-8"), "probe/data/blockpages.csv")
    )
    for path in settings.blockpages.fingerprints:
        try:
            text = Path(path).read_text(encoding="utf-8")
            found.extend(parse_fingerprints(text, str(path)))
        except OSError as exc:
            raise ConfigError(
                f"blockpages.fingerprints: cannot read {path}: {exc.strerror}"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"blockpages.fingerprints: {exc}") from exc
    return tuple(found)


class _Sandwich:
    """Control-site checks before the targets and, shared, after failing ones."""

    def __init__(self, ctx: MeasureContext) -> None:
        self._ctx = ctx
        self.before: asyncio.Task[list[ControlSiteCheck]] = asyncio.create_task(
            check_control_sites("before", ctx)
        )
        self._after: asyncio.Task[list[ControlSiteCheck]] | None = None
        self._after_started = 0.0

    async def after(self, finished_at: float) -> list[ControlSiteCheck]:
        """Return control checks that started no earlier than `finished_at` (loop time)."""
        loop = asyncio.get_running_loop()
        if self._after is None or self._after_started < finished_at:
            self._after_started = loop.time()
            self._after = asyncio.create_task(check_control_sites("after", self._ctx))
        return await asyncio.shield(self._after)

    async def close(self) -> None:
        tasks = [t for t in (self.before, self._after) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Checker:
    def __init__(self, settings: Settings, ctx: MeasureContext, asn: AsnDatabase | None) -> None:
        self.settings = settings
        self.ctx = ctx
        self.asn = asn
        self.fingerprints = load_fingerprints(settings)
        self.sandwich = _Sandwich(ctx)

    def _context(self, controls: list[ControlSiteCheck]) -> DecisionContext:
        return DecisionContext(
            routable=tuple(self.settings.network.routable),
            fingerprints=self.fingerprints,
            controls=tuple(controls),
        )

    def _decide(
        self,
        target: Target,
        measured: list[tuple[Endpoint, TestKeys]],
        controls: list[ControlSiteCheck],
    ) -> tuple[list[EndpointResult], Decision]:
        context = self._context(controls)
        endpoints = [endpoint_verdict(endpoint, keys, context) for endpoint, keys in measured]
        return endpoints, target_verdict(target, endpoints, context)

    async def check(self, target: Target) -> TargetResult:
        started_at = datetime.now(UTC)
        clock = Clock()
        lookup: AsnLookup | None = self.asn.asn if self.asn is not None else None
        keys = await asyncio.gather(
            *(measure_endpoint(e, self.ctx, clock) for e in target.endpoints)
        )
        measured = [(e, with_asns(k, lookup)) for e, k in zip(target.endpoints, keys, strict=True)]
        controls = list(await asyncio.shield(self.sandwich.before))
        endpoints, decision = self._decide(target, measured, controls)
        if any(e.verdict is not Verdict.ACCESSIBLE for e in endpoints):
            controls += await self.sandwich.after(asyncio.get_running_loop().time())
            endpoints, decision = self._decide(target, measured, controls)
        for endpoint_keys in keys:
            if endpoint_keys.control is not None and endpoint_keys.control.x_client_address:
                self.ctx.local_addresses.add(endpoint_keys.control.x_client_address)
        throughput: ThroughputTest | None = None
        if self.settings.throughput.enabled and may_be_throttled(endpoints):
            candidates, known = throughput_candidates(
                target, endpoints, self.settings.throughput.min_bytes
            )
            if candidates:  # a small page and no catalogue object: nothing to measure
                throughput = await measure_throughput(candidates, known, self.ctx, clock)
                decision = target_verdict(target, endpoints, self._context(controls), throughput)
        verdict, blocking, reasons = decision
        helpers = sorted({e.test_keys.test_helper for e in endpoints if e.test_keys.test_helper})
        result = TargetResult(
            input=target.input, verdict=verdict, blocking=blocking, reasons=reasons,
            target=target, endpoints=endpoints, controls=controls, throughput=throughput,
            measurement_start_time=started_at, test_runtime=clock.now(),
            software_version=__version__, test_helpers=helpers,
            annotations={"platform": sys.platform},
            **self._probe_location(),
        )  # fmt: skip
        return scrub(result, self.ctx.local_addresses.addresses)

    def _probe_location(self) -> dict[str, Any]:
        routable = self.settings.network.routable
        public = [a for a in self.ctx.local_addresses.addresses if not is_bogon(a, routable)]
        if self.asn is None or not public:
            return {}
        asn, org = self.asn.asn(public[0])
        country = self.asn.country(public[0])
        return {
            "probe_asn": f"AS{asn}" if asn else "AS0",
            "probe_cc": country or "ZZ",
            "probe_network_name": org,
        }


def throughput_candidates(
    target: Target, endpoints: list[EndpointResult], min_bytes: int
) -> tuple[list[str], dict[str, str]]:
    """Return the URLs worth a throughput test, best first, and the addresses the target used.

    The catalogue's objects first, then pages that loaded with at least `min_bytes`, or were
    still arriving at the timeout, largest first. A page keeps the address it loaded from.
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
    return list(dict.fromkeys([*target.objects, *ordered])), known


def scrub(result: TargetResult, addresses: frozenset[str]) -> TargetResult:
    """Return `result` with the probe's own addresses replaced by "[scrubbed]" everywhere."""
    if not addresses:
        return result
    text = scrub_text(result.model_dump_json(), addresses)
    return TargetResult.model_validate_json(text)


async def check_targets(
    targets: list[Target], settings: Settings, *, on_result: ResultCallback | None = None
) -> list[TargetResult]:
    """Return the result of every target (in input order), reporting each as it completes."""
    if not targets:
        return []
    asn = (
        AsnDatabase(settings.geoip.asn_db, settings.geoip.country_db)
        if settings.geoip.asn_db
        else None
    )
    limit = asyncio.Semaphore(settings.measure.target_concurrency)
    try:
        async with open_context(settings) as ctx:
            checker = _Checker(settings, ctx, asn)

            async def one(target: Target) -> TargetResult:
                async with limit:
                    result = await checker.check(target)
                if on_result is not None:
                    on_result(result)
                return result

            try:
                return list(await asyncio.gather(*(one(t) for t in targets)))
            finally:
                await checker.sandwich.close()
    finally:
        if asn is not None:
            asn.close()


__all__ = ["EndpointResult", "check_targets", "load_fingerprints", "scrub"]
