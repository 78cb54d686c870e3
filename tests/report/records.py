"""Results shaped as `probe run` stores them, for report tests that need no network.

`day()` is a small Kazakh day on two networks (the scenario most report tests read): Twitter is
reset on its SNI for an hour on AS9198 while VK and YouTube load, the whole of AS29355 goes
dark for half an hour, and YouTube is down for everyone (the helper fails too) for twenty
minutes. Rounds are ten minutes apart, as a daemon's schedule would make them.

`whitelist_day()` is January 2022 in small (data format 0.5.0, every record carrying the
network's state as decide/network.py decides it from the round's control sites, foreign and
domestic, and the targets that loaded): Twitter is reset first on AS9198, then AS9198 admits
only allow-listed destinations for an hour (every site abroad fails, kaspi.kz and egov.kz
load, and so does Kaspi), while AS29355 goes genuinely dark (domestic sites fail too) for half
an hour, and YouTube is down for everyone later on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from probe.decide.network import network_assessment
from probe.models.results import (
    Blocking,
    ControlSiteCheck,
    EndpointResult,
    NetworkAssessment,
    SiteScope,
    TargetResult,
    TestKeys,
    Verdict,
)
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind

START = datetime(2022, 1, 4, 12, 0, tzinfo=UTC)
ROUND = timedelta(minutes=10)
NETWORK_NAMES = {"AS9198": "JSC Kazakhtelecom", "AS29355": "Kcell JSC"}
CONTROL_SITES = ("https://www.wikipedia.org/", "https://example.com/")
DOMESTIC_SITES = ("https://kaspi.kz/", "https://egov.kz/")
HOSTS = {"kaspi": "kaspi.kz"}  # a domestic platform; the others are abroad


def result(
    when: datetime,
    platform: str,
    verdict: Verdict,
    blocking: Blocking | None = None,
    *,
    network: str = "AS9198",
    controls_ok: bool = True,
    domestic_ok: bool | None = None,
    state: NetworkAssessment | None = None,
) -> TargetResult:
    """One platform's result, with its endpoint and a before/after control-site sandwich
    (domestic sites too when `domestic_ok` is given), and the network's state when given."""
    host = HOSTS.get(platform, f"{platform}.com")
    url = f"https://{host}/"
    endpoint = Endpoint(kind=EndpointKind.WEB, host=host, port=443, url=url)
    target = Target(
        input=platform, kind=TargetKind.PLATFORM, name=platform, platform=platform,
        endpoints=[endpoint],
    )  # fmt: skip
    controls = control_sites(controls_ok, domestic_ok)
    return TargetResult(
        input=platform, verdict=verdict, blocking=blocking, reasons=["made by hand"],
        target=target,
        endpoints=[EndpointResult(endpoint=endpoint, verdict=verdict, blocking=blocking,
                                  test_keys=TestKeys())],
        controls=controls, probe_asn=network, probe_cc="KZ",
        probe_network_name=NETWORK_NAMES.get(network), measurement_start_time=when,
        test_runtime=1.0, software_version="test", network=state,
    )  # fmt: skip


def control_sites(foreign_ok: bool, domestic_ok: bool | None = None) -> list[ControlSiteCheck]:
    """The control sites of a round, before and after: foreign, and domestic when given."""
    sites = [(site, SiteScope.FOREIGN, foreign_ok) for site in CONTROL_SITES]
    if domestic_ok is not None:
        sites += [(site, SiteScope.DOMESTIC, domestic_ok) for site in DOMESTIC_SITES]
    return [
        ControlSiteCheck(url=site, phase=phase, scope=scope, success=ok, elapsed_s=0.2,
                         step=None if ok else "tcp",
                         failure=None if ok else "generic_timeout_error")
        for phase in ("before", "after") for site, scope, ok in sites
    ]  # fmt: skip


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


WHITELIST_MEASURED = (("twitter", "AS9198"), ("youtube", "AS9198"), ("kaspi", "AS9198"),
                      ("twitter", "AS29355"), ("youtube", "AS29355"),
                      ("kaspi", "AS29355"))  # fmt: skip


@dataclass(frozen=True)
class WhitelistDay:
    """Where the whitelist day's events are, in rounds from START."""

    rounds: int = 24
    twitter_reset: range = range(3, 6)  # rounds 3..5 on AS9198: messengers blocked first
    whitelisted: range = range(6, 12)  # rounds 6..11 on AS9198
    outage: range = range(8, 11)  # rounds 8..10 on AS29355, domestic sites down too
    youtube_down: range = range(16, 18)  # rounds 16..17, both networks

    def at(self, round_number: int, offset: int = 0) -> datetime:
        """Return the time of a round's `offset`-th measurement."""
        return START + round_number * ROUND + timedelta(seconds=offset)


def _round_outcome(
    layout: WhitelistDay, number: int, platform: str, network: str
) -> tuple[Verdict, Blocking | None]:
    """What one target did in one round, before the network's state is applied."""
    if network == "AS29355" and number in layout.outage:
        return Verdict.NETWORK_OUTAGE, None
    if network == "AS9198" and number in layout.whitelisted:
        if platform in HOSTS:
            return Verdict.ACCESSIBLE, None
        return Verdict.BLOCKED, Blocking.WHITELISTING  # decide/target.py's whitelisted rule
    if platform == "youtube" and number in layout.youtube_down:
        return Verdict.SERVICE_DOWN, None
    if platform == "twitter" and network == "AS9198" and number in layout.twitter_reset:
        return Verdict.BLOCKED, Blocking.TLS_RESET
    return Verdict.ACCESSIBLE, None


def whitelist_day(layout: WhitelistDay = WhitelistDay()) -> Iterator[TargetResult]:
    """Yield the whitelist day's results in time order, each with the network's state."""
    for number in range(layout.rounds):
        outcomes = {
            (platform, network): _round_outcome(layout, number, platform, network)
            for platform, network in WHITELIST_MEASURED
        }
        states = {}
        for network in ("AS9198", "AS29355"):
            foreign_ok = not (
                (network == "AS9198" and number in layout.whitelisted)
                or (network == "AS29355" and number in layout.outage)
            )
            domestic_ok = not (network == "AS29355" and number in layout.outage)
            loaded = [p for (p, n), (v, _) in outcomes.items()
                      if n == network and v is Verdict.ACCESSIBLE]  # fmt: skip
            controls = control_sites(foreign_ok, domestic_ok)
            states[network] = (foreign_ok, domestic_ok, network_assessment(controls, loaded))
        for offset, (platform, network) in enumerate(WHITELIST_MEASURED):
            verdict, blocking = outcomes[platform, network]
            foreign_ok, domestic_ok, state = states[network]
            yield result(layout.at(number, offset), platform, verdict, blocking, network=network,
                         controls_ok=foreign_ok, domestic_ok=domestic_ok,
                         state=state)  # fmt: skip
