"""The check chain for a batch of targets: measure → decide → follow up → decide → record.

Used by `probe check` and the daemon. Targets run concurrently (bounded by
`target_concurrency`); each is measured, decided against the run's control sites (measured
before the targets and again after failing ones: `_run/controls.py`), followed up with a
throughput test (a target that loads) or packet tests (a blocked one), whose plans are
decide/followup.py's, decided again and recorded, scrubbed of the probe's own addresses. An
outage verdict waits for the batch's end, when every target that loaded is known (`settle`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe import __version__, decide  # decide's modules: imported when first used
from probe._run.controls import Controls
from probe._run.location import Location, scrub
from probe._run.packets import PacketRun, packet_plan
from probe._run.throughput import ThroughputRun
from probe.config import Settings
from probe.errors import ConfigError
from probe.measure._clock import Clock
from probe.measure.plan import MeasureContext, measure_endpoint, open_context
from probe.models.targets import Endpoint, Target
from probe.models.verdicts import Verdict
from probe.observe import compile_spellings, with_asns
from probe.observe.asn import AsnDatabase
from probe.targets import load_catalogue

if TYPE_CHECKING:
    from probe.models.observations import ThroughputTest
    from probe.models.packets import PacketEvidence
    from probe.models.results import (
        ControlSiteCheck,
        EndpointResult,
        NetworkAssessment,
        TargetResult,
        TestKeys,
    )

# Needed only once a target's first DNS reply is in: imported in a worker thread while the run
# waits out the late-reply window (≈ 0.5 s from that reply), not before its first query (issue
# 19). The HTTP side first (httpx and httpcore under the fetch and the helper's client, the
# records), which a reply makes useful at once, then decide/ (its __init__ imports its modules
# when first used), which only the window's end does. The measuring code imports each of these
# where it first needs it: a module the thread is still importing is waited for, never
# imported twice.
WINDOW_IMPORTS = (
    "probe.measure._connection", "probe.measure._fetch", "probe.measure.control",
    "probe.measure._doh", "probe.models.results",
    *(f"probe.decide.{name}" for name in decide.MODULES),
)  # fmt: skip

ResultCallback = Callable[["TargetResult"], None]
StatusCallback = Callable[[str], None]
_LOADS = frozenset({Verdict.ACCESSIBLE, Verdict.THROTTLED})


# Ours, always loaded: fingerprints, and generic block-page phrases (scope `phrase`, issue 17).
PACKAGED_FINGERPRINTS = ("blockpages.csv", "blockphrases.csv")


def load_fingerprints(settings: Settings) -> tuple[decide.Fingerprint, ...]:
    """Return our packaged blockpage fingerprints and block-page phrases plus every configured
    CSV's."""
    found: list[decide.Fingerprint] = []
    for name in PACKAGED_FINGERPRINTS:
        packaged = resources.files("probe") / "data" / name
        text = packaged.read_text(encoding="utf-8")
        found += decide.parse_fingerprints(text, f"probe/data/{name}")
    for path in settings.blockpages.fingerprints:
        try:
            text = Path(path).read_text(encoding="utf-8")
            found.extend(decide.parse_fingerprints(text, str(path)))
        except OSError as exc:
            raise ConfigError(
                f"blockpages.fingerprints: cannot read {path}: {exc.strerror}"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"blockpages.fingerprints: {exc}") from exc
    return tuple(found)


def domestic_sites(settings: Settings) -> list[str]:
    """Return the domestic control sites: configured, else the catalogue's for the country."""
    configured = settings.control.domestic_sites
    if configured is not None:
        return list(configured)
    country = settings.control.country
    return list(load_catalogue().domestic_sites(country)) if country else []


@dataclass(frozen=True)
class _Judged:
    """A target's endpoints as decided, and the target's decision from them, the network's
    state and its follow-ups (`dataclasses.replace()` decides again)."""

    target: Target
    endpoints: list[EndpointResult]
    context: decide.DecisionContext
    network: NetworkAssessment
    throughput: ThroughputTest | None = None
    packets: PacketEvidence | None = None
    decision: decide.Decision = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        decision = decide.target_verdict(
            self.target, self.endpoints, self.context, self.throughput, self.packets,
            self.network,
        )  # fmt: skip
        object.__setattr__(self, "decision", decision)

    @property
    def verdict(self) -> Verdict:
        """Return the target's verdict."""
        return self.decision.verdict

    def fields(self) -> dict[str, Any]:
        """Return the fields of the target's record that its decision sets."""
        decision = self.decision
        return {
            "verdict": decision.verdict, "blocking": decision.blocking,
            "reasons": list(decision.reasons), "rules": list(decision.rules),
        }  # fmt: skip


class _Checker:
    """One run's targets: each measured, decided, followed up, decided again and recorded."""

    def __init__(
        self,
        settings: Settings,
        ctx: MeasureContext,
        asn: AsnDatabase | None,
        on_status: StatusCallback | None = None,
        imports: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.ctx = ctx
        self.asn = asn
        self.fingerprints = load_fingerprints(settings)
        self.controls = Controls(settings, ctx, domestic_sites(settings))
        self.throughput = ThroughputRun(settings, ctx, on_status)
        self.packets = PacketRun(settings, ctx, on_status)
        self.location = Location(settings, ctx, asn)
        self._imports = asyncio.create_task(_prepare_in_window(ctx, WINDOW_IMPORTS + imports))
        self._compiling: list[asyncio.Future[None]] = []
        ctx.local_addresses.on_address = self._compile
        # Inputs of the run's targets that loaded so far: evidence that the network carries
        # traffic somewhere (decide/network.py).
        self.loaded: list[str] = []

    async def check(self, target: Target, slot: asyncio.Semaphore) -> TargetResult:
        """Return the target's result; only its endpoints' measurement holds one of the run's
        `slot`s (issue 19: its packet tests overlap the ordinary measurements of the targets
        after it)."""
        async with slot:  # measure
            # The clock starts with the measurement, not the wait for a slot: the attempts are
            # scheduled on it (at 0, 1 and 3 s; tests/test_runner_slots.py).
            started_at = datetime.now(UTC)
            clock = Clock()
            keys = await asyncio.gather(
                *(measure_endpoint(e, self.ctx, clock) for e in target.endpoints)
            )
        judged = await self._judge(target, keys)  # decide, with the controls
        self.location.note(keys)
        # Follow up (the plans are decide/followup.py's) and decide again with what was found.
        throughput = await self.throughput.test(target, judged.endpoints, clock)
        if throughput is not None:
            judged = dataclasses.replace(judged, throughput=throughput)
        packets = await self.packets.test(judged.verdict, judged.endpoints, clock)
        if packets is not None:
            judged = dataclasses.replace(judged, packets=packets)
        if judged.verdict in _LOADS:
            self.loaded.append(target.input)
        return self.location.scrub(self._record(judged, started_at, clock))  # record

    async def _judge(self, target: Target, keys: Sequence[TestKeys]) -> _Judged:
        """Return the target decided against the controls before it and, unless it simply
        loaded, the controls after it too."""
        lookup = self.asn.asn if self.asn is not None else None
        measured = [(e, with_asns(k, lookup)) for e, k in zip(target.endpoints, keys, strict=True)]
        controls = list(await asyncio.shield(self.controls.before))
        judged = self._decide(target, measured, controls)
        # Once the run stopped retrying (an outage beyond doubt), the controls are not measured
        # again: the "after" side could only wait out the same timeouts.
        if not self.controls.stopped_retrying and any(
            e.verdict is not Verdict.ACCESSIBLE for e in judged.endpoints
        ):
            controls += await self.controls.after(asyncio.get_running_loop().time())
            judged = self._decide(target, measured, controls)
        return judged

    def _decide(
        self,
        target: Target,
        measured: list[tuple[Endpoint, TestKeys]],
        controls: list[ControlSiteCheck],
    ) -> _Judged:
        context = self._context(controls)
        endpoints = [decide.endpoint_verdict(e, keys, context) for e, keys in measured]
        return _Judged(target, endpoints, context, decide.network_assessment(controls, self.loaded))

    def _context(self, controls: Sequence[ControlSiteCheck]) -> decide.DecisionContext:
        return decide.DecisionContext(
            routable=tuple(self.settings.network.routable),
            fingerprints=self.fingerprints,
            controls=tuple(controls),
        )

    def _record(self, judged: _Judged, started_at: datetime, clock: Clock) -> TargetResult:
        """Return the record of a decided target (not yet scrubbed)."""
        endpoints = judged.endpoints
        helpers = sorted({e.test_keys.test_helper for e in endpoints if e.test_keys.test_helper})
        from probe.models.results import TargetResult

        return TargetResult(
            input=judged.target.input, **judged.fields(), target=judged.target,
            endpoints=endpoints, controls=list(judged.context.controls),
            throughput=judged.throughput, network=judged.network, packets=judged.packets,
            measurement_start_time=started_at, test_runtime=clock.now(),
            software_version=__version__, test_helpers=helpers,
            annotations={"platform": sys.platform, **self.location.annotations()},
            **self.location.fields(),
        )  # fmt: skip

    def settle(self, result: TargetResult) -> TargetResult:
        """Return `result` decided again with every target of the run that loaded: an outage
        verdict held back until the batch ended becomes whitelisting when something loaded."""
        loaded = [i for i in self.loaded if i != result.input]
        network = decide.network_assessment(result.controls, loaded)
        if network == result.network:
            return result
        context = self._context(result.controls)
        judged = _Judged(
            result.target, result.endpoints, context, network, result.throughput, result.packets
        )
        return result.model_copy(update={**judged.fields(), "network": network})

    async def close(self) -> None:
        """Cancel the run's control checks and throughput tests still running."""
        await self.controls.close()
        await self.throughput.close()
        # A thread cannot be cancelled: an interrupted run waits for its imports (≤ 0.1 s).
        await asyncio.gather(self._imports, *self._compiling, return_exceptions=True)

    def _compile(self, address: str) -> None:
        """Compile the regexes scrubbing `address` will need, in a thread: learnt from a
        connect or echoed by a helper inside the late-reply window, the record's scrub finds
        them compiled."""
        loop = asyncio.get_running_loop()
        self._compiling.append(loop.run_in_executor(None, compile_spellings, [address]))


async def _prepare_in_window(ctx: MeasureContext, modules: Sequence[str]) -> None:
    """Import `modules` once the run's first DNS queries are out (in a thread: the event loop
    goes on reading replies; asyncio.run joins the thread before the process ends)."""
    await ctx.after_first_queries()
    await asyncio.to_thread(_import, modules)


def _import(modules: Sequence[str]) -> None:
    for name in modules:
        importlib.import_module(name)


async def check_targets(
    targets: list[Target],
    settings: Settings,
    *,
    on_result: ResultCallback | None = None,
    on_status: StatusCallback | None = None,
    imports: tuple[str, ...] = (),
) -> list[TargetResult]:
    """Return the result of every target (in input order), reporting each as it completes,
    and (`on_status`) what a long wait is waiting for. `imports`: modules the caller needs
    after the run, imported during it with `WINDOW_IMPORTS` (the results table's)."""
    if not targets:
        return []
    from probe.geoip import asn_db_path

    database = asn_db_path(settings)  # configured, else the one `probe geoip update` installed
    asn = AsnDatabase(database, settings.geoip.country_db) if database else None
    limit = asyncio.Semaphore(settings.measure.target_concurrency)
    try:
        async with open_context(settings) as ctx:
            checker = _Checker(settings, ctx, asn, on_status, imports)
            results: list[TargetResult | None] = [None] * len(targets)

            async def one(index: int, target: Target) -> None:
                result = results[index] = await checker.check(target, limit)
                # An outage is only an outage if nothing else loads: such a verdict waits for
                # the batch to end (a target that loads later turns it into whitelisting).
                if on_result is not None and result.verdict is not Verdict.NETWORK_OUTAGE:
                    on_result(result)

            try:
                await asyncio.gather(*(one(i, t) for i, t in enumerate(targets)))
            finally:
                await checker.close()
                # Also when interrupted: a finished target is never lost.
                for index, held in enumerate(results):
                    if held is not None and held.verdict is Verdict.NETWORK_OUTAGE:
                        results[index] = settled = checker.settle(held)
                        if on_result is not None:
                            on_result(settled)
            return [r for r in results if r is not None]
    finally:
        if asn is not None:
            asn.close()


__all__ = [
    "check_targets",
    "domestic_sites",
    "load_fingerprints",
    "packet_plan",
    "scrub",
]
