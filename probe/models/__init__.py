"""pydantic records: the contract for everything stored, printed, sent or received.

Importing `probe.models` loads nothing: names resolve on first use, so a process that needs
one pydantic-free module (the daemon's supervisor) does not pay for pydantic.

Modules:
    addresses     bogon ranges and address predicates (pure)
    targets       Target, Endpoint, Platform
    observations  DNS, TCP, TLS and HTTP observations (OONI df-001…df-008)
    failures      the failure vocabulary: Failure (OONI's strings), FailureKind, HopStage…
    tags          an observation's tags (attempt=N, depth=N, tls_validation): write and read
    control       ControlRequest / ControlResponse (OONI test-helper wire format)
    page          PageSummary: a page's identity signs (text and resource MinHash, forms; pure)
    packets       PacketEvidence: captured DNS replies, TCP segments and traces (IP TTL, IP-ID)
    verdicts      Verdict, Blocking, Layer, SiteScope, NetworkState (plain enums)
    results       Finding, EndpointResult, TargetResult (and the vocabulary, re-exported)
    stored        StoredResult (TargetResult + job + measurement_id), RunRecord
    bundles       BundleManifest and the collector's wire records (receipt, error, page…)
    status        RunStatus (no pydantic: the daemon's supervisor imports it)
    reports       MeasurementFact, Incident, FailureWindow, Claim, AssessedClaim, Report
    live          LiveNow, LiveIncidents: the collector's live view (counts, never probe ids)
    ooni          OONI web_connectivity input records, ClassifiedRecord, Agreement
    schema        JSON Schema export of the wire records (docs/schema/)
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "ControlRequest": "control", "ControlResponse": "control",
    "DnsAnswer": "observations", "DnsObservation": "observations",
    "HttpTransaction": "observations", "TcpObservation": "observations",
    "TlsObservation": "observations",
    "PacketEvidence": "packets", "Trace": "packets", "Trigger": "packets",
    "Blocking": "verdicts", "ControlSiteCheck": "results", "EndpointResult": "results",
    "Finding": "results", "Layer": "verdicts", "TargetResult": "results", "TestKeys": "results",
    "Verdict": "verdicts",
    "BundleManifest": "bundles", "BundleReceipt": "bundles",
    "CollectedMeasurement": "bundles", "CollectorErrorBody": "bundles",
    "CollectorHealth": "bundles", "MeasurementPage": "bundles", "ProbeRegistration": "bundles",
    "RegisteredProbe": "bundles", "RegistrationChallenge": "bundles",
    "RunRecord": "stored", "StoredResult": "stored", "RunStatus": "status",
    "Endpoint": "targets", "EndpointKind": "targets", "Platform": "targets",
    "Target": "targets", "TargetKind": "targets",
    "MeasurementFact": "reports", "Incident": "reports", "FailureWindow": "reports",
    "Claim": "reports", "AssessedClaim": "reports", "Report": "reports",
    "ClassifiedRecord": "ooni", "Agreement": "ooni",
    "Failure": "failures", "FailureKind": "failures", "FailedOperation": "failures",
    "HopStage": "failures", "LegacyFailure": "failures", "OoniFailure": "failures",
    "LiveCell": "live", "LiveIncident": "live", "LiveIncidents": "live", "LiveNow": "live",
    "LiveState": "live",
}  # fmt: skip

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'probe.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"probe.models.{module}"), name)
