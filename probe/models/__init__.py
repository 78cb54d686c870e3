"""pydantic records: the contract for everything stored, printed, sent or received.

Modules:
    addresses     bogon ranges and address predicates (pure)
    targets       Target, Endpoint, Platform
    observations  DNS, TCP, TLS and HTTP observations (OONI df-001…df-008)
    control       ControlRequest / ControlResponse (OONI test-helper wire format)
    results       Verdict, Blocking, Finding, EndpointResult, TargetResult
    stored        StoredResult (TargetResult + job + measurement_id), RunRecord, RunStatus
    schema        JSON Schema export of the wire records (docs/schema/)
"""

from probe.models.control import ControlRequest, ControlResponse
from probe.models.observations import (
    DnsAnswer,
    DnsObservation,
    HttpTransaction,
    TcpObservation,
    TlsObservation,
)
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
from probe.models.stored import RunRecord, RunStatus, StoredResult
from probe.models.targets import Endpoint, EndpointKind, Platform, Target, TargetKind

__all__ = [
    "Blocking",
    "ControlRequest",
    "ControlResponse",
    "ControlSiteCheck",
    "DnsAnswer",
    "DnsObservation",
    "Endpoint",
    "EndpointKind",
    "EndpointResult",
    "Finding",
    "HttpTransaction",
    "Layer",
    "Platform",
    "RunRecord",
    "RunStatus",
    "StoredResult",
    "Target",
    "TargetKind",
    "TargetResult",
    "TcpObservation",
    "TestKeys",
    "TlsObservation",
    "Verdict",
]
