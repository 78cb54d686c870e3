"""OONI web_connectivity measurements → the `Endpoint` and `TestKeys` our plan would record.

`parse_measurement()` checks one record is a web_connectivity measurement of the right shape
(ooni_reader.py finds the records in a file; ooni_lenient.py first notes what an older probe
did not write); `convert()` converts it, with notes of what it could not use:

- one attempt (`attempt=1`); getaddrinfo ("system"), UDP and other lookups are the probe's;
  OONI's opportunistic DoH becomes our trusted DoH control (`x_doh`); a classic lookup has no
  resolver address, so it is named by the resolver OONI saw the probe use (`resolver_ip`, or
  `client_resolver`);
- 0.5 ("LTE") records: ooni_lte.py (the redirect chain by transaction order);
- every other version (0.0.x–0.3 legacy, 0.4 classic): redirect depth from the request's place
  in the chain (`requests[0]` is the last hop); a redirect hop whose lookup failed becomes a
  failed lookup at that depth; a handshake without `address` (0.4.0/0.4.1) is attributed to the
  connect of its transaction, else to the first address that connected, when it is for the
  input's host (one for a redirect's host is left out, noted); an https record without
  `tls_handshakes` (older probes wrote none) gets the handshake its first request implies;
- a response that failed only on its redirect's Location (`http_invalid_redirect_*`) is kept
  as a response: our plan records the redirect and stops, it never fails on it;
- `control` is dropped when `control_failure` says the helper did not answer;
- `test_keys: null` (OONI's record of an experiment that recorded nothing) is read as empty
  test keys, with a note: nothing was observed, which the verdict says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from probe.errors import TargetError
from probe.models.failures import OoniFailure
from probe.models.observations import DnsObservation, TlsObservation
from probe.models.ooni import OoniHttpTransaction, OoniMeasurement, OoniTlsHandshake
from probe.models.results import TestKeys
from probe.models.tags import depth_of
from probe.models.targets import Endpoint
from probe.observe.ooni_entries import (
    Observed,
    OoniFormatError,
    attributed_address,
    connect_observation,
    control_response,
    describe_validation,
    endpoint_address,
    handshake_observation,
    hop_tags,
    json_kind,
    lookups,
    system_resolver,
    transaction_observation,
)
from probe.observe.ooni_lenient import lenient
from probe.observe.ooni_lte import lte_observations
from probe.targets.hosts import web_endpoint

Json = dict[str, Any]

__all__ = ["Converted", "OoniFormatError", "convert", "is_lte", "parse_measurement",
           "to_test_keys"]  # fmt: skip


def parse_measurement(value: object) -> OoniMeasurement:
    """Return `value` validated as a web_connectivity measurement; raise OoniFormatError."""
    if not isinstance(value, dict):
        raise OoniFormatError(f"{json_kind(value)}, not an object (an OONI measurement)")
    test_name = value.get("test_name")
    if test_name is None:
        raise OoniFormatError("not an OONI measurement: no test_name")
    if test_name != "web_connectivity":
        raise OoniFormatError(f"test_name {str(test_name)[:60]!r}, not web_connectivity")
    null_keys = "test_keys" in value and value["test_keys"] is None
    if null_keys:  # OONI publishes a measurement whose experiment recorded nothing this way
        value = {**value, "test_keys": {}}
    for key, wanted, described in (("input", str, "a URL"), ("test_keys", dict, "an object")):
        if value.get(key) is None:
            raise OoniFormatError(f"{key} is null" if key in value else f"no {key}")
        if not isinstance(value[key], wanted):
            raise OoniFormatError(f"{key} is {json_kind(value[key])}, not {described}")
    record, notes = lenient(value)
    try:
        measurement = OoniMeasurement.model_validate(record)
    except ValidationError as exc:
        raise OoniFormatError(describe_validation(exc)) from None
    if null_keys:
        notes.insert(0, "test_keys is null: the probe recorded no observation")
    return measurement.model_copy(update={"notes": notes})


def _is_dns_failure(failure: str | None) -> bool:
    return failure is not None and (
        failure.startswith("dns_") or failure == OoniFailure.ANDROID_DNS_CACHE_NO_DATA
    )


def _classic(endpoint: Endpoint, measurement: OoniMeasurement) -> Observed:
    keys = measurement.test_keys
    observed = lookups(measurement, tagged=False)
    for index, connect in enumerate(keys.tcp_connect):
        where = f"test_keys.tcp_connect[{index}]"
        if (observation := connect_observation(connect, where, 0)) is not None:
            observed.connects.append(observation)
        else:
            observed.notes.append(f"{where} has no status: left out")
    for index in range(len(keys.tls_handshakes)):
        if (tls := _classic_handshake(endpoint, measurement, index, observed)) is not None:
            observed.handshakes.append(tls)
    last = len(keys.requests) - 1
    transactions = [
        transaction_observation(request, f"test_keys.requests[{index}]", last - index)
        for index, request in enumerate(keys.requests)
    ]
    newest = transactions[0] if transactions else None
    if newest is not None and last > 0 and _is_dns_failure(newest.failure):
        host = _host_of(newest.request.url)
        if host:  # the redirect target's lookup failed: a lookup at that depth, as LTE records
            transactions.pop(0)
            observed.queries.append(
                DnsObservation(
                    hostname=host,
                    query_type="A",
                    engine="system",
                    resolver_address=system_resolver(measurement) or "unknown",
                    failure=newest.failure,
                    t0=0.0,
                    t=0.0,
                    tags=hop_tags(last),
                )
            )
    observed.transactions.extend(transactions)
    if (note := _unrecorded_redirects(endpoint, keys.requests)) is not None:
        observed.notes.append(note)
    if endpoint.url is not None and endpoint.url.startswith("https:") and not keys.tls_handshakes:
        observed.handshakes.extend(_implied_handshakes(endpoint, observed))
    return observed


def _classic_handshake(
    endpoint: Endpoint, measurement: OoniMeasurement, index: int, observed: Observed
) -> TlsObservation | None:
    """Return one classic handshake; one without an address (0.4.0/0.4.1) is attributed when it
    is for the input's host, and left out (noted) when it is for a redirect's."""
    where = f"test_keys.tls_handshakes[{index}]"
    handshake: OoniTlsHandshake = measurement.test_keys.tls_handshakes[index]
    if handshake.address is not None:
        return handshake_observation(handshake, where, 0)
    name = (handshake.server_name or "").rstrip(".").lower()
    address, how = attributed_address(handshake, measurement.test_keys.tcp_connect, endpoint.port)
    if name and name != endpoint.host.lower():
        address, how = None, f"it is for {name}, a redirect's host, whose address is unknown"
    if address is None:
        observed.notes.append(f"{where} has no address: left out ({how})")
        return None
    observed.notes.append(f"{where} has no address: attributed to {address}, {how}")
    return handshake_observation(handshake, where, 0, address=address)


def _unrecorded_redirects(endpoint: Endpoint, requests: list[OoniHttpTransaction]) -> str | None:
    """Return a note when the chain's first request is not for the input (measurement-kit
    records only the last request: the redirects before it are missing), else None."""
    if not requests or endpoint.url is None:
        return None
    url = requests[-1].request.url if requests[-1].request is not None else None
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if (scheme, _host_of(url).lower()) == (urlsplit(endpoint.url).scheme, endpoint.host.lower()):
        return None
    return (
        f"test_keys.requests[{len(requests) - 1}] is for {url[:200]}, not the input "
        f"{endpoint.url[:200]}: the redirects before it were not recorded"
    )


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def _implied_handshakes(endpoint: Endpoint, observed: Observed) -> list[TlsObservation]:
    """Return the handshake a classic https record without `tls_handshakes` implies: its first
    request got a response (a verified handshake) or failed after the connect, on the first
    address that connected (the record does not say which)."""
    first = next((t for t in observed.transactions if depth_of(t.tags) == 0), None)
    reached = [c for c in observed.connects if c.status.success and c.port == endpoint.port]
    if first is None or not reached or (first.response is None and first.failure is None):
        return []
    return [
        TlsObservation(
            address=endpoint_address(reached[0].ip, reached[0].port),
            server_name=endpoint.host,
            failure=None if first.response is not None else first.failure,
            t0=0.0,
            t=0.0,
            tags=hop_tags(0),
        )
    ]


def is_lte(measurement: OoniMeasurement) -> bool:
    """Return whether `measurement` comes from web_connectivity 0.5 ("LTE")."""
    return measurement.test_version.split(".")[:2] == ["0", "5"]


@dataclass(frozen=True)
class Converted:
    """One OONI measurement as our plan would have recorded it, and what the reader noted."""

    endpoint: Endpoint
    keys: TestKeys
    notes: list[str]


def to_test_keys(measurement: OoniMeasurement | Json) -> tuple[Endpoint, TestKeys]:
    """Return the endpoint and our TestKeys for one OONI web_connectivity measurement.

    Raises OoniFormatError, naming the field, when the measurement cannot be read.
    """
    converted = convert(measurement)
    return converted.endpoint, converted.keys


def convert(measurement: OoniMeasurement | Json) -> Converted:
    """Return our endpoint, TestKeys and the reader's notes for one OONI measurement.

    Raises OoniFormatError, naming the field, when the measurement cannot be read; a field the
    record lacks is a note, never an error.
    """
    if not isinstance(measurement, OoniMeasurement):
        measurement = parse_measurement(measurement)
    try:
        endpoint = web_endpoint(measurement.input)
    except TargetError as exc:
        raise OoniFormatError(f"input {measurement.input[:200]!r}: {exc}") from None
    keys = measurement.test_keys
    try:
        control = control_response(keys.control, keys.control_failure)
        observed = (
            lte_observations(endpoint, measurement)
            if is_lte(measurement)
            else _classic(endpoint, measurement)
        )
        keys_out = TestKeys(
            queries=observed.queries,
            tcp_connect=observed.connects,
            tls_handshakes=observed.handshakes,
            requests=observed.transactions,
            x_doh=observed.doh,
            control=control,
            control_failure=keys.control_failure,
            attempts=1,
        )
    except ValidationError as exc:  # one of our records refused a value the checks let through
        raise OoniFormatError(describe_validation(exc)) from None
    return Converted(endpoint, keys_out, [*measurement.notes, *observed.notes])
