"""`TargetResult`, the record we print, store and upload (its vocabulary: models/verdicts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from probe.models._base import Record
from probe.models.control import ControlRequest, ControlResponse
from probe.models.observations import (
    DnsObservation,
    HttpTransaction,
    TcpObservation,
    ThroughputTest,
    TlsObservation,
)
from probe.models.packets import PacketEvidence
from probe.models.targets import Endpoint, Target
from probe.models.verdicts import (
    DNS_BLOCKING,
    Blocking,
    Layer,
    NetworkState,
    SiteScope,
    Verdict,
)

DATA_FORMAT_VERSION = "0.7.0"
TEST_NAME = "probe_check"
TEST_VERSION = "0.1.0"


class Finding(Record):
    """One layer's judgement: the rule that fired, what it implies, and why."""

    layer: Layer
    rule_id: str = Field(description='Stable id "layer.what_was_seen" (docs/methodology.md).')
    verdict: Verdict
    blocking: Blocking | None = None
    reasons: list[str] = Field(default_factory=list)


class ControlSiteCheck(Record):
    """One fetch of a control site on the probe's own path, before or after the targets."""

    url: str
    phase: str = Field(description='"before" or "after" the targets (the sandwich).')
    scope: SiteScope = Field(
        default=SiteScope.FOREIGN,
        description='"foreign" (an innocuous site abroad) or "domestic" (a site in the probe\'s'
        " country, `[control] domestic_sites`): a cut that spares domestic sites is deliberate.",
    )
    success: bool
    step: str | None = Field(
        default=None, description='Where it failed: "dns", "tcp", "tls" or "http".'
    )
    failure: str | None = None
    status_code: int | None = None
    elapsed_s: float


class NetworkAssessment(Record):
    """What the run's control sites (foreign and domestic) and its other targets say about the
    probe's network: normal, intercepted (captive portal or TLS interception of the controls),
    whitelisted (abroad unreachable while domestic destinations load) or an outage."""

    state: NetworkState
    rule_id: str = Field(description='Stable id "state.…" (docs/methodology.md).')
    reasons: list[str] = Field(default_factory=list)
    loaded_targets: list[str] = Field(
        default_factory=list,
        description="Inputs of other targets of the same run that loaded when this one was"
        " decided: evidence that the network carries traffic somewhere.",
    )


class TestKeys(Record):
    """Everything measured for one endpoint, over every attempt, in OONI's structures."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    queries: list[DnsObservation] = Field(default_factory=list)
    tcp_connect: list[TcpObservation] = Field(default_factory=list)
    tls_handshakes: list[TlsObservation] = Field(default_factory=list)
    requests: list[HttpTransaction] = Field(
        default_factory=list, description="Newest first, as OONI's (requests[0] = last hop)."
    )
    x_doh: list[DnsObservation] = Field(
        default_factory=list, description="Lookups through the trusted control resolvers."
    )
    x_control_request: ControlRequest | None = None
    control: ControlResponse | None = None
    control_failure: str | None = None
    test_helper: str | None = Field(default=None, description="The helper that answered.")
    attempts: int = Field(default=1, description="How many attempts ran (retries included).")


class EndpointResult(Record):
    """One endpoint's measurement and verdict."""

    endpoint: Endpoint
    verdict: Verdict
    blocking: Blocking | None = None
    reasons: list[str] = Field(default_factory=list)
    rules: list[str] = Field(
        default_factory=list,
        description="The ids of the rules that decided the verdict and method, in the order"
        " applied: the findings adopted, then the combining row (`endpoint.*`,"
        " docs/methodology.md); empty in records older than data format 0.7.0.",
    )
    findings: list[Finding] = Field(default_factory=list)
    test_keys: TestKeys


class TargetResult(Record):
    """The record of one target: printed by `probe check --json`, stored, uploaded.

    Top-level metadata mirrors OONI's measurement envelope (df-000); `probe_ip` is always
    "127.0.0.1" and the probe's real address is scrubbed from the whole record.
    """

    input: str = Field(description="The target exactly as the user typed it.")
    verdict: Verdict
    blocking: Blocking | None = Field(
        default=None, description="Set exactly when the verdict is blocked or throttled."
    )
    reasons: list[str] = Field(default_factory=list)
    rules: list[str] = Field(
        default_factory=list,
        description="The ids of the rules that decided the verdict and method, in the order"
        " applied: the target table's row (`target.*`) and every step after it, each preceded"
        " by the ids of the findings it adopted (throughput, packets); docs/methodology.md."
        " Empty in records older than data format 0.7.0.",
    )
    target: Target
    endpoints: list[EndpointResult] = Field(default_factory=list)
    controls: list[ControlSiteCheck] = Field(default_factory=list)
    throughput: ThroughputTest | None = Field(
        default=None,
        description="Goodput of the target's large object against references (throttling).",
    )
    network: NetworkAssessment | None = Field(
        default=None,
        description="The network's state during the run, as it was when this target was decided"
        " (absent in records older than data format 0.5.0).",
    )
    packets: PacketEvidence | None = Field(
        default=None,
        description="Packet-level evidence (IP TTL/IP-ID of the answers, censor localisation)"
        " for a blocked target; `skipped` says why it is missing.",
    )
    probe_asn: str = "AS0"
    probe_cc: str = "ZZ"
    probe_network_name: str | None = None
    probe_ip: str = "127.0.0.1"
    resolver_ip: str | None = None
    measurement_start_time: datetime
    test_runtime: float = Field(description="Seconds, control time included.")
    software_name: str = "probe"
    software_version: str
    data_format_version: str = DATA_FORMAT_VERSION
    test_name: str = TEST_NAME
    test_version: str = TEST_VERSION
    test_helpers: list[str] = Field(default_factory=list)
    annotations: dict[str, str] = Field(default_factory=dict)


__all__ = [
    "DATA_FORMAT_VERSION",
    "DNS_BLOCKING",
    "TEST_NAME",
    "TEST_VERSION",
    "Blocking",
    "ControlSiteCheck",
    "EndpointResult",
    "Finding",
    "Layer",
    "NetworkAssessment",
    "NetworkState",
    "SiteScope",
    "TargetResult",
    "TestKeys",
    "Verdict",
]
