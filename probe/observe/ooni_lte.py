"""web_connectivity 0.5 ("LTE") → our observations: the redirect chain by transaction order.

A request's redirect depth is its `depth=N` tag; a record whose requests carry no depth tag
(early 0.5 builds) is ordered by `transaction_id` (oldest first), else by its place in
`requests` (newest first, as df-001 says). The chain is never cut by where lookups happened: a
redirect to the same host reuses the first lookup, and a URL whose host is an IP literal needs
none. What the probe may dial is every address its own lookups gave, at any depth, and every IP
literal of the chain; flows to addresses only the test helper (or DoH) resolved are left out
with a note, because our plan dials what the probe resolved. A flow after a redirect that
failed before its request becomes a failed request at that depth; the TLS flows that only
validate an http:// URL's addresses (port 443, `fetch_body=false`) get `tls_validation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from probe.models.addresses import is_ip_address
from probe.models.failures import FailedOperation
from probe.models.observations import TcpObservation
from probe.models.ooni import OoniHttpTransaction, OoniMeasurement, OoniTcpConnect
from probe.models.tags import TLS_VALIDATION, depth_of, has_depth_tag
from probe.models.targets import Endpoint
from probe.observe.ooni_entries import (
    Observed,
    attributed_address,
    connect_observation,
    endpoint_address,
    failed_hop,
    handshake_observation,
    ip_of,
    lookups,
    transaction_observation,
)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def request_depths(requests: Sequence[OoniHttpTransaction]) -> list[int]:
    """Return the redirect depth of each request: its tag, else its transaction order."""
    if all(has_depth_tag(r.tags) for r in requests):
        return [depth_of(r.tags) for r in requests]
    ids = [r.transaction_id for r in requests]
    if all(i is not None for i in ids) and len(set(ids)) == len(ids):
        order = sorted(i for i in ids if i is not None)
        return [order.index(i) for i in ids if i is not None]
    last = len(requests) - 1
    return [last - index for index in range(len(requests))]


def _dialable(endpoint: Endpoint, measurement: OoniMeasurement, observed: Observed) -> set[str]:
    """Return what the probe may dial: its own lookups' answers and the chain's IP literals."""
    found = {a for query in observed.queries for a in query.addresses() if a}
    hosts = [endpoint.host] + [
        _host(r.request.url) for r in measurement.test_keys.requests if r.request is not None
    ]
    found.update(h.strip("[]") for h in hosts if is_ip_address(h.strip("[]")))
    return found


def _requests(measurement: OoniMeasurement, observed: Observed, dialable: set[str]) -> None:
    requests = measurement.test_keys.requests
    for index, (request, depth) in enumerate(zip(requests, request_depths(requests), strict=True)):
        where = f"test_keys.requests[{index}]"
        address = request.address
        if address is None or ip_of(address, f"{where}.address") in dialable:
            observed.transactions.append(transaction_observation(request, where, depth))
        else:
            observed.notes.append(
                f"{where} went to {address}, which only the test helper or DoH resolved: left"
                " out (our plan dials what the probe resolved)"
            )


def _connect_hop(
    observed: Observed, observation: TcpObservation, with_request: set[int], validation: bool
) -> None:
    depth = depth_of(observation.tags)
    if depth == 0:
        observed.connects.append(observation)
    elif depth not in with_request and not validation and not observation.status.success:
        address = endpoint_address(observation.ip, observation.port)
        failure = observation.status.failure
        transactions = observed.transactions
        transactions.insert(
            0, failed_hop(transactions, address, failure, depth, FailedOperation.CONNECT)
        )
        with_request.add(depth)


def _connects(
    measurement: OoniMeasurement, observed: Observed, dialable: set[str], cleartext: bool
) -> set[int]:
    with_request = {depth_of(t.tags) for t in observed.transactions}
    left_out = 0
    for index, connect in enumerate(measurement.test_keys.tcp_connect):
        where = f"test_keys.tcp_connect[{index}]"
        validation = cleartext and connect.port == 443 and "fetch_body=false" in connect.tags
        extra = (TLS_VALIDATION,) if validation else ()
        observation = connect_observation(connect, where, depth_of(connect.tags), *extra)
        if observation is None:
            observed.notes.append(f"{where} has no status: left out")
        elif connect.ip not in dialable:
            left_out += 1
        else:
            _connect_hop(observed, observation, with_request, validation)
    if left_out:
        observed.notes.append(
            f"{left_out} TCP connect(s) to addresses only the test helper or DoH resolved: left out"
        )
    return with_request


def _handshakes(
    endpoint: Endpoint,
    measurement: OoniMeasurement,
    observed: Observed,
    context: tuple[set[str], set[int], bool],
) -> None:
    dialable, with_request, cleartext = context
    connects: list[OoniTcpConnect] = list(measurement.test_keys.tcp_connect)
    for index, handshake in enumerate(measurement.test_keys.tls_handshakes):
        where, depth = f"test_keys.tls_handshakes[{index}]", depth_of(handshake.tags)
        address = handshake.address
        if address is None:
            address, how = attributed_address(handshake, connects, endpoint.port)
            observed.notes.append(
                f"{where} has no address: "
                + (f"attributed to {address}, {how}" if address else f"left out ({how})")
            )
            if address is None:
                continue
        validation = cleartext and "fetch_body=false" in handshake.tags
        extra = (TLS_VALIDATION,) if validation else ()
        tls = handshake_observation(handshake, where, depth, *extra, address=address)
        if ip_of(address, where) not in dialable:
            continue
        if depth == 0:
            observed.handshakes.append(tls)
        elif depth not in with_request and not validation and handshake.failure:
            transactions = observed.transactions
            failed = failed_hop(
                transactions, address, handshake.failure, depth, FailedOperation.TLS_HANDSHAKE
            )
            transactions.insert(0, failed)
            with_request.add(depth)


def lte_observations(endpoint: Endpoint, measurement: OoniMeasurement) -> Observed:
    """Return our observations of one web_connectivity 0.5 measurement, notes included."""
    observed = lookups(measurement, tagged=True)
    dialable = _dialable(endpoint, measurement, observed)
    cleartext = (endpoint.url or "").startswith("http:")
    _requests(measurement, observed, dialable)
    with_request = _connects(measurement, observed, dialable, cleartext)
    _handshakes(endpoint, measurement, observed, (dialable, with_request, cleartext))
    observed.transactions.sort(key=lambda t: -depth_of(t.tags))
    return observed


__all__ = ["lte_observations", "request_depths"]
