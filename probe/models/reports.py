"""What `probe report` reads and writes: measurement facts, windows, claims and the report.

A *fact* is one measurement flattened to the columns the analysis needs (docs/reports.md); the
report is computed from facts only, so it runs the same over the local store, a collector's
data, hand-carried bundles or a facts file, and on DuckDB or ClickHouse.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from probe.models._base import Record
from probe.models.results import Blocking, Verdict

LIST_SEPARATOR = "|"  # joins endpoints, methods and control URLs inside one fact column


class MeasurementFact(Record):
    """One measurement as the report engine sees it: one row of the `facts` table.

    Text columns are never null ("" = none) and lists are joined with "|", so the same table
    loads into DuckDB, ClickHouse, CSV and Parquet without a dialect of its own.
    """

    measurement_id: str
    probe_id: str = Field(description='The probe that measured it ("local" for an unkeyed store).')
    t_ms: int = Field(
        description="measurement_start_time, milliseconds since the Unix epoch (UTC)."
    )
    network: str = Field(description='The probe\'s ASN, "AS9198" ("AS0" when unknown).')
    network_name: str = Field(default="", description="The operator's name, when known.")
    cc: str = Field(default="ZZ", description="The probe's country code.")
    platform: str = Field(description="The catalogue platform, else the target's name.")
    input: str
    verdict: Verdict
    blocking: str = Field(default="", description="The target's blocking method, or empty.")
    methods: str = Field(default="", description="Every endpoint's blocking method, |-joined.")
    endpoints: str = Field(
        default="", description="The endpoints found blocked or throttled, |-joined."
    )
    controls_total: int = Field(default=0, description="Control-site fetches on the probe's path.")
    controls_ok: int = Field(default=0, description="How many of them loaded.")
    control_sites_ok: str = Field(default="", description="The control URLs that loaded, |-joined.")
    network_state: str = Field(
        default="",
        description="The network's state when the target was decided (normal, intercepted,"
        ' whitelisted, outage, unknown; data format 0.5.0), or "" when the record has none.',
    )


class Confidence(StrEnum):
    """How much a window can be trusted (docs/reports.md "Confidence")."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Incident(Record):
    """A maximal window in which one platform was blocked or throttled on one network by a
    method of its own. Measurements blocked by whitelisting are not incidents: they make the
    network's whitelisting windows (docs/reports.md "Whitelisting")."""

    platform: str
    network: str
    network_name: str = ""
    start: datetime = Field(description="The first blocked or throttled measurement.")
    end: datetime = Field(description="The last blocked or throttled measurement.")
    onset_after: datetime | None = Field(
        default=None,
        description="The last accessible measurement before `start`: the block began between"
        " the two. Null when nothing before it was accessible in the period.",
    )
    ended_before: datetime | None = Field(
        default=None,
        description="The first accessible measurement after `end`: the block was lifted between"
        " the two. Null when it was still in place at the last measurement.",
    )
    verdict: Verdict = Field(description="blocked, or throttled when nothing was blocked.")
    blocking: Blocking | None = Field(default=None, description="The most frequent method.")
    methods: dict[str, int] = Field(
        default_factory=dict, description="Measurements per blocking method."
    )
    endpoints: list[str] = Field(default_factory=list, description="Endpoints found blocked.")
    measurements: int
    probes: int
    good_meanwhile: int = Field(
        default=0,
        description="Accessible measurements of this platform on this network inside the"
        " window (from other probes): a block not seen from every vantage point.",
    )
    confidence: Confidence
    confidence_reasons: list[str] = Field(default_factory=list)


class WindowKind(StrEnum):
    """Windows that are not one platform's targeted blocking."""

    NETWORK_OUTAGE = "network_outage"
    PLATFORM_DOWN = "platform_down"
    WHITELISTING = "whitelisting"


class FailureWindow(Record):
    """A window of network outage (controls failed too), of a platform down for everyone, or of
    whitelisting (the network admitted only allow-listed destinations: every control site
    abroad failed while domestic sites or other targets loaded)."""

    kind: WindowKind
    network: str = Field(
        description='The network (outages, whitelisting), or "*" when several saw it.'
    )
    platform: str = Field(
        description='The platform (platform down), or "*" for outages and whitelisting.'
    )
    networks: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(
        default_factory=list,
        description="The platforms that failed in it (for whitelisting: those cut by it).",
    )
    sites_loaded: list[str] = Field(
        default_factory=list,
        description="Whitelisting only: the control sites that loaded during it (domestic ones:"
        " every site abroad failed).",
    )
    start: datetime
    end: datetime
    onset_after: datetime | None = None
    ended_before: datetime | None = None
    measurements: int
    probes: int
    good_meanwhile: int = Field(
        default=0,
        description="Measurements inside the window that showed the network working (outage)"
        " or the platform up (platform down), from other probes.",
    )
    confidence: Confidence
    confidence_reasons: list[str] = Field(default_factory=list)


class Claim(Record):
    """A statement about a period (an operator's or a ministry's), read from a claims file."""

    start: datetime
    end: datetime
    network: str | None = Field(
        default=None, description='An ASN ("AS9198") or part of an operator\'s name; none = all.'
    )
    platforms: list[str] = Field(
        default_factory=list, description="The platforms the statement is about; none = all."
    )
    statement: str
    said_by: str | None = None
    source: str | None = None
    note: str | None = None


class ClaimFinding(StrEnum):
    """What the evidence in a claim's window says about it."""

    CONSISTENT_WITH_OUTAGE = "consistent_with_outage"
    CONTRADICTED_BY_BLOCKING = "contradicted_by_blocking"
    PLATFORM_OUTAGE = "platform_outage"
    INSUFFICIENT_DATA = "insufficient_data"


class BlockedPlatform(Record):
    """One platform found blocked or throttled inside a claim's window."""

    platform: str
    measurements: int
    methods: dict[str, int] = Field(default_factory=dict)


class ClaimEvidence(Record):
    """The measurements inside a claim's window and network, counted."""

    measurements: int = 0
    probes: int = 0
    networks: list[str] = Field(default_factory=list)
    verdicts: dict[str, int] = Field(default_factory=dict, description="Measurements per verdict.")
    blocked: list[BlockedPlatform] = Field(default_factory=list)
    accessible_platforms: list[str] = Field(default_factory=list)
    down_platforms: list[str] = Field(default_factory=list)
    control_sites_reachable: list[str] = Field(
        default_factory=list,
        description="Control URLs that loaded during the blocked measurements.",
    )
    blocked_with_controls_up: int = Field(
        default=0,
        description="Measurements blocked by a method of their own (not whitelisting) whose"
        " control sites loaded (selectivity).",
    )
    outage_with_controls_down: int = Field(
        default=0, description="network_outage measurements whose control sites failed too."
    )
    outage_in_outage_state: int = Field(
        default=0,
        description="network_outage measurements whose network state was `outage` (decided from"
        " every control site failing, domestic ones included when measured).",
    )
    whitelisting: int = Field(
        default=0,
        description="Measurements blocked by whitelisting: failed as every control site abroad"
        " did, while domestic sites or other targets loaded.",
    )
    whitelisted_platforms: list[str] = Field(
        default_factory=list, description="The platforms cut by whitelisting."
    )
    domestic_sites_loaded: list[str] = Field(
        default_factory=list,
        description="Control sites that loaded during the whitelisting measurements (domestic:"
        " every site abroad failed).",
    )
    loaded_while_whitelisted: list[str] = Field(
        default_factory=list,
        description="Platforms that loaded while the network's state was whitelisted (the"
        " allow-listed destinations).",
    )


class AssessedClaim(Record):
    """A claim, the finding the evidence supports, and that evidence summarised."""

    claim: Claim
    finding: ClaimFinding
    summary: str
    evidence: ClaimEvidence


class TimelineCell(Record):
    """Measurements of one platform on one network in one time bucket, by verdict."""

    network: str
    platform: str
    start: datetime
    counts: dict[str, int] = Field(
        description="Measurements per verdict; those blocked by whitelisting count under"
        ' "whitelisting", not "blocked" (a network-wide cut, not this platform\'s block).'
    )
    first_at: datetime | None = Field(
        default=None,
        description="The bucket's first measurement (plots draw a lone measurement as a tick at"
        " its time, and clip a bucket to the data); null when not known.",
    )
    last_at: datetime | None = Field(
        default=None, description="The bucket's last measurement; null when not known."
    )


class ReportScope(Record):
    """What the report covers."""

    source: str = Field(description="Where the measurements came from.")
    since: datetime | None = None
    until: datetime | None = None
    first_measurement: datetime | None = None
    last_measurement: datetime | None = None
    measurements: int = 0
    probes: int = 0
    networks: list[str] = Field(default_factory=list)
    network_names: dict[str, str] = Field(
        default_factory=dict, description="Operator names of the networks, where known."
    )
    platforms: list[str] = Field(default_factory=list)
    skipped_records: int = Field(default=0, description="Records that could not be read.")
    skipped_reasons: list[str] = Field(default_factory=list)


class Report(Record):
    """The report: incidents, failure and whitelisting windows, claims and the timeline."""

    generated_at: datetime
    software_version: str
    engine: str = Field(description='"duckdb" or "clickhouse".')
    scope: ReportScope
    bucket_seconds: int = Field(description="The timeline's bucket width.")
    incidents: list[Incident] = Field(default_factory=list)
    outages: list[FailureWindow] = Field(default_factory=list)
    platform_down: list[FailureWindow] = Field(default_factory=list)
    whitelisting: list[FailureWindow] = Field(
        default_factory=list,
        description="Windows in which a network admitted only allow-listed destinations.",
    )
    claims: list[AssessedClaim] = Field(default_factory=list)
    timeline: list[TimelineCell] = Field(default_factory=list)
