"""Results shaped as `probe run` stores them, for report tests that need no network.

`day()` is a small Kazakh day on two networks (the scenario most report tests read): Twitter is
reset on its SNI for an hour on AS9198 while VK and YouTube load, the whole of AS29355 goes
dark for half an hour, and YouTube is down for everyone (the helper fails too) for twenty
minutes. Rounds are ten minutes apart, as a daemon's schedule would make them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from probe.models.results import (
    Blocking,
    ControlSiteCheck,
    EndpointResult,
    TargetResult,
    TestKeys,
    Verdict,
)
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind

START = datetime(2022, 1, 4, 12, 0, tzinfo=UTC)
ROUND = timedelta(minutes=10)
NETWORK_NAMES = {"AS9198": "JSC Kazakhtelecom", "AS29355": "Kcell JSC"}
CONTROL_SITES = ("https://www.wikipedia.org/", "https://example.com/")


def result(
    when: datetime,
    platform: str,
    verdict: Verdict,
    blocking: Blocking | None = None,
    *,
    network: str = "AS9198",
    controls_ok: bool = True,
) -> TargetResult:
    """One platform's result, with its endpoint and a before/after control-site sandwich."""
    url = f"https://{platform}.com/"
    endpoint = Endpoint(kind=EndpointKind.WEB, host=f"{platform}.com", port=443, url=url)
    target = Target(
        input=platform, kind=TargetKind.PLATFORM, name=platform, platform=platform,
        endpoints=[endpoint],
    )  # fmt: skip
    controls = [
        ControlSiteCheck(url=site, phase=phase, success=controls_ok, elapsed_s=0.2,
                         step=None if controls_ok else "tcp",
                         failure=None if controls_ok else "generic_timeout_error")
        for phase in ("before", "after") for site in CONTROL_SITES
    ]  # fmt: skip
    return TargetResult(
        input=platform, verdict=verdict, blocking=blocking, reasons=["made by hand"],
        target=target,
        endpoints=[EndpointResult(endpoint=endpoint, verdict=verdict, blocking=blocking,
                                  test_keys=TestKeys())],
        controls=controls, probe_asn=network, probe_cc="KZ",
        probe_network_name=NETWORK_NAMES.get(network), measurement_start_time=when,
        test_runtime=1.0, software_version="test",
    )  # fmt: skip


MEASURED = (("twitter", "AS9198"), ("vk", "AS9198"), ("youtube", "AS9198"),
            ("twitter", "AS29355"), ("youtube", "AS29355"))  # fmt: skip


MEASURED = (("twitter", "AS9198"), ("vk", "AS9198"), ("youtube", "AS9198"),
            ("twitter", "AS29355"), ("youtube", "AS29355"))  # fmt: skip


@dataclass(frozen=True)
class Day:
    """Where the hand-made day's events are, in rounds from START."""

    rounds: int = 24
    twitter_blocked: range = range(6, 12)  # rounds 6..11 on AS9198
    outage: range = range(12, 15)  # rounds 12..14 on AS29355
    youtube_down: range = range(18, 20)  # rounds 18..19, both networks

    def at(self, round_number: int) -> datetime:
        """Return the start time of a round."""
        return START + round_number * ROUND


def day(layout: Day = Day()) -> Iterator[TargetResult]:
    """Yield the day's results in time order (seconds apart inside a round)."""
    for number in range(layout.rounds):
        when = layout.at(number)
        down = number in layout.youtube_down
        for offset, (platform, network) in enumerate(MEASURED):
            moment = when + timedelta(seconds=offset)
            if network == "AS29355" and number in layout.outage:
                yield result(moment, platform, Verdict.NETWORK_OUTAGE, network=network,
                             controls_ok=False)  # fmt: skip
            elif platform == "youtube" and down:
                yield result(moment, platform, Verdict.SERVICE_DOWN, network=network)
            elif platform == "twitter" and network == "AS9198" and number in layout.twitter_blocked:
                yield result(moment, platform, Verdict.BLOCKED, Blocking.TLS_RESET)
            else:
                yield result(moment, platform, Verdict.ACCESSIBLE, network=network)
