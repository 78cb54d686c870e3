"""Judge TCP: connects to the endpoint's port against the helper's connects to the same ip:port.

IPv6 `network_unreachable`/`host_unreachable` is ignored (probe#2284: a VPS without IPv6).
"""

from __future__ import annotations

from collections.abc import Iterable

from probe.decide.attempts import (
    Attempt,
    is_ignored_connect,
    is_validation,
    join_address,
    split_address,
)
from probe.decide.evidence import TcpEvidence, failure_kind
from probe.decide.rules import TCP_RULES, finding, first_match
from probe.models.control import ControlResponse
from probe.models.failures import FailureKind
from probe.models.observations import TcpObservation
from probe.models.results import Finding
from probe.models.targets import Endpoint


def endpoint_connects(endpoint: Endpoint, attempts: Iterable[Attempt]) -> list[TcpObservation]:
    """Return the connects to the endpoint's own port (not the TLS-validation ones)."""
    return [
        c
        for attempt in attempts
        for c in attempt.connects
        if c.port == endpoint.port and not is_validation(c)
    ]


def control_results(
    control: ControlResponse | None, wanted: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], tuple[bool, str | None]]:
    """Return the helper's connect result (status, failure) for each wanted (ip, port)."""
    if control is None:
        return {}
    found = {split_address(k): (v.status, v.failure) for k, v in control.tcp_connect.items()}
    return {key: found[key] for key in wanted if key in found}


def _indirect_reach(endpoint: Endpoint, control: ControlResponse | None) -> tuple[str, ...]:
    """Return what the control reached when it has no result for the probe's addresses."""
    if control is None:
        return ()
    same_port = [
        k
        for k, v in control.tcp_connect.items()
        if v.status and split_address(k)[1] == endpoint.port
    ]
    page = control.http_request
    if page.failure is None and page.status_code > 0:
        same_port.append(f"the page (HTTP {page.status_code})")
    return tuple(same_port)


def tcp_evidence(
    endpoint: Endpoint, attempts: list[Attempt], control: ControlResponse | None
) -> tuple[TcpEvidence, tuple[str, ...]]:
    """Return the TCP evidence from `attempts` (those that failed at TCP, or all), and notes."""
    connects = endpoint_connects(endpoint, attempts)
    connected = tuple(join_address(c.ip, c.port) for c in connects if c.status.success)
    failed = [c for c in connects if not c.status.success]
    counted = [c for c in failed if not is_ignored_connect(c.ip, c.status.failure)]
    ignored = tuple(join_address(c.ip, c.port) for c in failed if c not in counted)
    results = control_results(control, [(c.ip, c.port) for c in counted])
    reached = tuple(join_address(*k) for k, (ok, _) in results.items() if ok)
    if not results:
        reached = _indirect_reach(endpoint, control)
    kinds = list(dict.fromkeys(failure_kind(c.status.failure) for c in counted))
    notes: tuple[str, ...] = ()
    if len(kinds) > 1:
        notes = (f"the connects failed in different ways ({', '.join(kinds)})",)
    evidence = TcpEvidence(
        endpoint=endpoint.label,
        failed=not connected,
        failures=tuple(f"{join_address(c.ip, c.port)} {c.status.failure}" for c in counted),
        kind=kinds[0] if kinds else FailureKind.OTHER,
        only_ignored=not connected and bool(ignored) and not counted,
        ignored=ignored,
        control_reached=reached,
        control_failed=tuple(
            f"{join_address(*k)} {failure}" for k, (ok, failure) in results.items() if not ok
        ),
        connected=connected,
    )
    return evidence, notes


def tcp_finding(
    endpoint: Endpoint, attempts: list[Attempt], control: ControlResponse | None
) -> Finding:
    """Return the TCP finding for the connects of `attempts` to the endpoint's port."""
    evidence, notes = tcp_evidence(endpoint, attempts, control)
    return finding(first_match(TCP_RULES, evidence), evidence.facts(), notes)
