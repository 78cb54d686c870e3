"""A small, real-looking week of measurements for the live pages: two networks, three
platforms, a block of twitter by TLS reset seen by two probes, an outage, a platform down.

Times are relative to `now` (the pages show "the last days" and "no recent data"), and every
record is a real StoredResult uploaded in a signed bundle, as a probe sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from probe.models.results import (
    Blocking,
    ControlSiteCheck,
    EndpointResult,
    Finding,
    Layer,
    TargetResult,
    TestKeys,
    Verdict,
)
from probe.models.stored import StoredResult
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind

NETWORKS = {"AS9198": "JSC Kazakhtelecom", "AS21299": "Kar-Tel LLC"}
PLATFORMS = ("twitter", "whatsapp", "telegram")
TLS_RULE = "tls.reset_during_handshake"
# What a volunteer's records say of the volunteer: never on the public pages.
VOLUNTEER_RESOLVER = "198.51.100.77"
VOLUNTEER_NOTE = "alice-in-almaty"
VOLUNTEER_JOB = "alices-hourly"


def record(
    at: datetime, network: str, platform: str, verdict: Verdict, blocking: Blocking | None = None
) -> StoredResult:
    """One measurement of `platform` on `network` at `at`, with a finding when blocked."""
    host = f"{platform}.com"
    url = f"https://{host}/"
    endpoint = Endpoint(kind=EndpointKind.WEB, host=host, port=443, url=url)
    findings = []
    if verdict in (Verdict.BLOCKED, Verdict.THROTTLED):
        layer = Layer.TLS if blocking is Blocking.TLS_RESET else Layer.NETWORK
        findings = [
            Finding(
                layer=layer,
                rule_id=TLS_RULE if layer is Layer.TLS else "network.whitelisting",
                verdict=verdict,
                blocking=blocking,
                reasons=["the connection was reset during the TLS handshake"],
            )
        ]
    endpoint_result = EndpointResult(
        endpoint=endpoint,
        verdict=verdict,
        blocking=blocking,
        findings=findings,
        test_keys=TestKeys(),
    )
    target = Target(
        input=url, kind=TargetKind.URL, name=host, endpoints=[endpoint], platform=platform
    )
    up = verdict is not Verdict.NETWORK_OUTAGE  # the control site abroad loaded, but in outages
    control = ControlSiteCheck(url="https://control.example/", phase="before", success=up,
                               elapsed_s=0.2)  # fmt: skip
    result = TargetResult(
        input=url, verdict=verdict, blocking=blocking, target=target, controls=[control],
        reasons=[f"{platform}: {verdict.value}"], endpoints=[endpoint_result],
        measurement_start_time=at, test_runtime=0.5, software_version="test",
        probe_asn=network, probe_network_name=NETWORKS[network], probe_cc="KZ",
        resolver_ip=VOLUNTEER_RESOLVER, annotations={"volunteer": VOLUNTEER_NOTE},
    )  # fmt: skip
    return StoredResult(**dict(result), job=VOLUNTEER_JOB, measurement_id=uuid.uuid4())


def week(now: datetime) -> tuple[list[StoredResult], list[StoredResult]]:
    """Return the records of two probes on AS9198 (first, second) and AS21299 (first's)."""
    start = (now - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    first: list[StoredResult] = []
    second: list[StoredResult] = []
    block_from, block_to = start + timedelta(hours=20), now
    for hour in range(0, 48, 2):
        at = start + timedelta(hours=hour)
        if at > now:
            break
        blocked = block_from <= at <= block_to
        for probe, minute in ((first, 1), (second, 7)):
            when = at + timedelta(minutes=minute)
            probe.append(
                record(
                    when,
                    "AS9198",
                    "twitter",
                    Verdict.BLOCKED if blocked else Verdict.ACCESSIBLE,
                    Blocking.TLS_RESET if blocked else None,
                )
            )
            probe.append(record(when, "AS9198", "whatsapp", Verdict.ACCESSIBLE))
        down = 10 <= hour <= 14
        first.append(
            record(
                at + timedelta(minutes=3),
                "AS21299",
                "telegram",
                Verdict.NETWORK_OUTAGE if down else Verdict.ACCESSIBLE,
            )
        )
        first.append(
            record(
                at + timedelta(minutes=3),
                "AS21299",
                "twitter",
                Verdict.NETWORK_OUTAGE if down else Verdict.ACCESSIBLE,
            )
        )
    # Kar-Tel's whatsapp was measured once, three days ago: no recent data.
    first.append(record(now - timedelta(days=3), "AS21299", "whatsapp", Verdict.ACCESSIBLE))
    return first, second


def claims_toml(now: datetime) -> str:
    """An operator's statement about the twitter block: "technical problems"."""
    start = (now - timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        "[[claim]]\n"
        f'start = "{start}"\nend = "{end}"\nnetwork = "AS9198"\nplatforms = ["twitter"]\n'
        'statement = "Twitter is unavailable because of technical problems"\n'
        'said_by = "Kazakhtelecom press office"\nsource = "https://example.org/statement"\n'
    )


def chunks(records: Sequence[StoredResult], size: int) -> list[list[StoredResult]]:
    return [list(records[i : i + size]) for i in range(0, len(records), size)]
