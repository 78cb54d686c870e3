"""OONI web_connectivity measurements → the `Endpoint` and `TestKeys` our plan would record.

`parse_measurement()` checks one record is a web_connectivity measurement of the right shape
(ooni_reader.py finds the records in a file); `to_test_keys()` converts it:

- one attempt (`attempt=1`); redirect depth from OONI's `depth=N` tags (0.5 "LTE") or, for
  0.4 "classic", from the request's place in the chain (`requests[0]` is the last hop);
- getaddrinfo ("system"), UDP and other lookups are the probe's; OONI's opportunistic DoH
  becomes our trusted DoH control (`x_doh`); a classic lookup has no resolver address, so it
  is named by the resolver OONI saw the probe use (`resolver_ip`, or `client_resolver`);
- LTE flows to addresses only the test helper resolved are dropped (our plan dials what the
  probe resolved); a flow after a redirect that failed before its request becomes a failed
  request at that depth (our requests connect and handshake themselves); the TLS flows that
  only validate an http:// URL's addresses (port 443, `fetch_body=false`) get `tls_validation`;
- a classic redirect hop whose lookup failed becomes a failed lookup at that depth; a classic
  https record without `tls_handshakes` (older probes wrote none) gets the handshake its first
  request implies, on the first address that connected;
- a response that failed only on its redirect's Location (`http_invalid_redirect_*`) is kept
  as a response: our plan records the redirect and stops, it never fails on it;
- `control` is dropped when `control_failure` says the helper did not answer.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from probe.errors import TargetError
from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.control import ControlResponse
from probe.models.observations import (
    BinaryData,
    DnsAnswer,
    DnsObservation,
    HttpRequestRecord,
    HttpResponseRecord,
    HttpTransaction,
    TcpObservation,
    TcpStatus,
    TlsObservation,
)
from probe.models.ooni import (
    MaybeBinary,
    OoniAnswer,
    OoniHttpTransaction,
    OoniMeasurement,
    OoniQuery,
    OoniTcpConnect,
    OoniTlsHandshake,
)
from probe.models.results import TestKeys
from probe.models.targets import Endpoint
from probe.targets.hosts import web_endpoint

Json = dict[str, Any]

_JSON_KIND = {dict: "an object", list: "an array", str: "a string", int: "a number",
              float: "a number", bool: "a boolean", type(None): "null"}  # fmt: skip
_SYSTEM_ENGINES = frozenset({"", "system", "getaddrinfo", "golang_net_resolver", "go", "unknown"})
_REDIRECT_LOCATION_FAILURES = frozenset(
    {"http_invalid_redirect_location_host", "http_invalid_redirect_url",
     "http_unexpected_redirect_url"}
)  # fmt: skip
_UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "none"})
_MODEL_NAME = re.compile(r" or instance of \w+")
_DEPTH_TAG = re.compile(r"depth=(\d{1,4})")
_VALIDATION_TAG = "tls_validation"


class OoniFormatError(ValueError):
    """A measurement whose content cannot be turned into observations; the message says why."""


def _kind(value: object) -> str:
    return _JSON_KIND.get(type(value), "a JSON value")


def _field_path(loc: Iterable[int | str]) -> str:
    """Return "test_keys.requests[0].response.code" for a pydantic error location, leaving out
    the names pydantic gives the members of a union ("str", "OoniBinary", "tuple[…]")."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _UNION_MEMBERS or "[" in part or part.startswith("Ooni"):
            continue
        elif not part.isidentifier():
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


def describe_validation(exc: ValidationError) -> str:
    """Return the first problem of a pydantic error as "field.path: message (+N more)"."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    message = _MODEL_NAME.sub("", first["msg"])
    return f"{_field_path(first['loc']) or 'record'}: {message}{more}"


def parse_measurement(value: object) -> OoniMeasurement:
    """Return `value` validated as a web_connectivity measurement; raise OoniFormatError."""
    if not isinstance(value, dict):
        raise OoniFormatError(f"{_kind(value)}, not an object (an OONI measurement)")
    test_name = value.get("test_name")
    if test_name is None:
        raise OoniFormatError("not an OONI measurement: no test_name")
    if test_name != "web_connectivity":
        raise OoniFormatError(f"test_name {str(test_name)[:60]!r}, not web_connectivity")
    for key, wanted, described in (("input", str, "a URL"), ("test_keys", dict, "an object")):
        if value.get(key) is None:
            raise OoniFormatError(f"{key} is null" if key in value else f"no {key}")
        if not isinstance(value[key], wanted):
            raise OoniFormatError(f"{key} is {_kind(value[key])}, not {described}")
    try:
        return OoniMeasurement.model_validate(value)
    except ValidationError as exc:
        raise OoniFormatError(describe_validation(exc)) from None


def _depth(tags: Iterable[str]) -> int:
    for tag in tags:
        if match := _DEPTH_TAG.fullmatch(tag):
            return int(match.group(1))
    return 0


def _tags(depth: int, *extra: str) -> list[str]:
    return ["attempt=1", f"depth={depth}", *extra]


def _address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if is_ipv6(ip) else f"{ip}:{port}"


def _ip_of(address: str, where: str) -> str:
    host, _, port = address.rpartition(":")
    ip = host.strip("[]")
    if not is_ip_address(ip) or not port.isdigit() or not 0 < int(port) < 65536:
        raise OoniFormatError(f"{where}: {address[:80]!r} is not an ip:port address")
    return ip


def _decode(data: str) -> bytes | None:
    compact = "".join(data.split())
    try:  # OONI's own pipeline accepts base64 that lacks its padding (fastpath b64_incorrect)
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _text(value: MaybeBinary, where: str) -> str:
    if isinstance(value, str):
        return value
    raw = _decode(value.data)
    if raw is None:
        raise OoniFormatError(f"{where}: not valid base64")
    return raw.decode("utf-8", errors="replace")


def _answer(answer: OoniAnswer, where: str) -> DnsAnswer | None:
    kind = answer.answer_type.upper()
    if kind == "CNAME":
        return DnsAnswer(answer_type=kind, hostname=answer.hostname)
    if kind not in ("A", "AAAA"):
        return None
    ip = answer.ipv4 if kind == "A" else answer.ipv6
    if ip is None or not is_ip_address(ip) or is_ipv6(ip) != (kind == "AAAA"):
        raise OoniFormatError(f"{where}: {str(ip)[:80]!r} is not an {kind} address")
    return DnsAnswer(
        answer_type=kind,
        ipv4=ip if kind == "A" else None,
        ipv6=ip if kind == "AAAA" else None,
        asn=answer.asn or None,
    )


def _query(query: OoniQuery, where: str, depth: int, resolver_ip: str | None) -> DnsObservation:
    engine = query.engine or ""
    is_system = engine in _SYSTEM_ENGINES
    answers = [_answer(a, f"{where}.answers[{i}]") for i, a in enumerate(query.answers)]
    return DnsObservation(
        hostname=query.hostname,
        query_type=query.query_type,
        engine="system" if is_system else engine,
        resolver_address=query.resolver_address or (is_system and resolver_ip) or "unknown",
        answers=[a for a in answers if a is not None],
        failure=query.failure,
        t0=0.0,
        t=query.t or 0.0,
        tags=_tags(depth),
    )


def _connect(item: OoniTcpConnect, where: str, depth: int, *extra: str) -> TcpObservation:
    if not is_ip_address(item.ip) or not 0 < item.port < 65536:
        raise OoniFormatError(f"{where}: {item.ip[:80]!r} port {item.port} is not an endpoint")
    return TcpObservation(
        ip=item.ip,
        port=item.port,
        status=TcpStatus(success=item.status.success, failure=item.status.failure),
        t0=0.0,
        t=item.t or 0.0,
        tags=_tags(depth, *extra),
    )


def _handshake(item: OoniTlsHandshake, where: str, depth: int, *extra: str) -> TlsObservation:
    _ip_of(item.address, f"{where}.address")
    return TlsObservation(
        address=item.address,
        server_name=item.server_name or "",
        failure=item.failure,
        no_tls_verify=bool(item.no_tls_verify),
        t0=0.0,
        t=item.t or 0.0,
        tags=_tags(depth, *extra),
    )


def _body(raw: MaybeBinary | None, where: str) -> tuple[str | BinaryData, int]:
    if raw is None:
        return "", 0
    if isinstance(raw, str):
        return raw, len(raw.encode("utf-8", errors="replace"))
    decoded = _decode(raw.data)
    if decoded is None:
        raise OoniFormatError(f"{where}: not valid base64")
    return BinaryData(data=base64.b64encode(decoded).decode("ascii")), len(decoded)


def _response(item: OoniHttpTransaction, where: str) -> HttpResponseRecord | None:
    raw = item.response
    if raw is None or raw.code is None or raw.code <= 0:
        return None  # OONI writes code 0 for a request that got no response
    body, length = _body(raw.body, f"{where}.body")
    return HttpResponseRecord(
        code=raw.code,
        headers={k: _text(v, f"{where}.headers.{k}") for k, v in raw.headers.items()},
        headers_list=[
            (k, _text(v, f"{where}.headers_list[{i}]")) for i, (k, v) in enumerate(raw.headers_list)
        ],
        body=body,
        body_is_truncated=bool(raw.body_is_truncated),
        x_body_length=length,
    )


def _transaction(item: OoniHttpTransaction, where: str, depth: int) -> HttpTransaction:
    response = _response(item, f"{where}.response")
    failure = item.failure
    if failure in _REDIRECT_LOCATION_FAILURES and response is not None:
        failure = None
    return HttpTransaction(
        address=item.address,
        failure=failure,
        request=HttpRequestRecord(url=item.request.url),
        response=response,
        t0=0.0,
        t=item.t or 0.0,
        tags=_tags(depth),
    )


def _location(transaction: HttpTransaction) -> str | None:
    response = transaction.response
    if response is None:
        return None
    pairs = [*response.headers_list, *response.headers.items()]
    return next((value for key, value in pairs if key.lower() == "location"), None)


def _redirect_url(transactions: list[HttpTransaction], depth: int) -> str:
    """Return where the response at `depth - 1` redirected to ("" when unknown)."""
    for transaction in transactions:
        if _depth(transaction.tags) == depth - 1 and (location := _location(transaction)):
            return location
    return ""


def _failed_hop(
    transactions: list[HttpTransaction], address: str, failure: str | None, depth: int, step: str
) -> HttpTransaction:
    return HttpTransaction(
        address=address,
        failure=failure or "unknown_failure",
        x_failed_operation=step,
        request=HttpRequestRecord(url=_redirect_url(transactions, depth)),
        t0=0.0,
        t=0.0,
        tags=_tags(depth),
    )


def _object(value: object, where: str) -> Json:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OoniFormatError(f"{where}: {_kind(value)}, not an object")
    return value


def _without_nulls(entry: object) -> object:
    return {k: v for k, v in entry.items() if v is not None} if isinstance(entry, dict) else entry


def _control(raw: Json | None, failure: str | None) -> ControlResponse | None:
    """Return the helper's answer; None when it did not answer (OONI then writes an empty one)."""
    if raw is None or failure is not None:
        return None
    where = "test_keys.control"
    clean: Json = {k: v for k, v in raw.items() if k != "http3_request"}
    for key in ("tcp_connect", "tls_handshake", "quic_handshake", "ip_info"):
        entries = _object(raw.get(key), f"{where}.{key}")
        clean[key] = {address: _without_nulls(entry) for address, entry in entries.items()}
    dns = _object(raw.get("dns"), f"{where}.dns")
    addrs = dns.get("addrs") or []
    if not isinstance(addrs, list):
        raise OoniFormatError(f"{where}.dns.addrs: {_kind(addrs)}, not an array")
    # The old helper listed the CNAMEs among the addresses.
    addresses = [a for a in addrs if isinstance(a, str) and is_ip_address(a)]
    clean["dns"] = {**_without_nulls(dns), "addrs": addresses}  # type: ignore[dict-item]
    clean["http_request"] = _without_nulls(
        _object(raw.get("http_request"), f"{where}.http_request")
    )
    try:
        return ControlResponse.model_validate(clean)
    except ValidationError as exc:
        raise OoniFormatError(f"{where}.{describe_validation(exc)}") from None


@dataclass
class _Observed:
    queries: list[DnsObservation]
    doh: list[DnsObservation]
    connects: list[TcpObservation]
    handshakes: list[TlsObservation]
    transactions: list[HttpTransaction]


def _system_resolver(measurement: OoniMeasurement) -> str | None:
    """Return the resolver getaddrinfo used, as OONI learnt it (whoami); None if unknown."""
    for found in (measurement.resolver_ip, measurement.test_keys.client_resolver):
        if found and found != "0.0.0.0":
            return found
    return None


def _lookups(measurement: OoniMeasurement, *, tagged: bool) -> _Observed:
    observed = _Observed([], [], [], [], [])
    resolver = _system_resolver(measurement)
    for index, query in enumerate(measurement.test_keys.queries):
        depth = _depth(query.tags) if tagged else 0
        observation = _query(query, f"test_keys.queries[{index}]", depth, resolver)
        (observed.doh if query.engine == "doh" else observed.queries).append(observation)
    return observed


def _resolved(queries: list[DnsObservation]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for query in queries:
        found.setdefault(_depth(query.tags), set()).update(a for a in query.addresses() if a)
    return found


def _lte(endpoint: Endpoint, measurement: OoniMeasurement) -> _Observed:
    keys = measurement.test_keys
    observed = _lookups(measurement, tagged=True)
    resolved = _resolved(observed.queries)
    cleartext = (endpoint.url or "").startswith("http:")
    transactions = observed.transactions
    for index, request in enumerate(keys.requests):
        where, depth = f"test_keys.requests[{index}]", _depth(request.tags)
        address = request.address
        if address is None or _ip_of(address, f"{where}.address") in resolved.get(depth, ()):
            transactions.append(_transaction(request, where, depth))
    with_request = {_depth(t.tags) for t in transactions}
    for index, connect in enumerate(keys.tcp_connect):
        depth = _depth(connect.tags)
        validation = cleartext and connect.port == 443 and "fetch_body=false" in connect.tags
        extra = (_VALIDATION_TAG,) if validation else ()
        observation = _connect(connect, f"test_keys.tcp_connect[{index}]", depth, *extra)
        if connect.ip not in resolved.get(depth, ()):
            continue
        if depth == 0:
            observed.connects.append(observation)
        elif depth not in with_request and not validation and not connect.status.success:
            address = _address(connect.ip, connect.port)
            failure = connect.status.failure
            transactions.insert(0, _failed_hop(transactions, address, failure, depth, "connect"))
            with_request.add(depth)
    for index, handshake in enumerate(keys.tls_handshakes):
        where, depth = f"test_keys.tls_handshakes[{index}]", _depth(handshake.tags)
        validation = cleartext and "fetch_body=false" in handshake.tags
        extra = (_VALIDATION_TAG,) if validation else ()
        tls = _handshake(handshake, where, depth, *extra)
        if _ip_of(handshake.address, where) not in resolved.get(depth, ()):
            continue
        if depth == 0:
            observed.handshakes.append(tls)
        elif depth not in with_request and not validation and handshake.failure:
            failed = _failed_hop(
                transactions, handshake.address, handshake.failure, depth, "tls_handshake"
            )
            transactions.insert(0, failed)
            with_request.add(depth)
    transactions.sort(key=lambda t: -_depth(t.tags))
    return observed


def _is_dns_failure(failure: str | None) -> bool:
    return failure is not None and (
        failure.startswith("dns_") or failure == "android_dns_cache_no_data"
    )


def _classic(endpoint: Endpoint, measurement: OoniMeasurement) -> _Observed:
    keys = measurement.test_keys
    observed = _lookups(measurement, tagged=False)
    for index, connect in enumerate(keys.tcp_connect):
        observed.connects.append(_connect(connect, f"test_keys.tcp_connect[{index}]", 0))
    for index, handshake in enumerate(keys.tls_handshakes):
        observed.handshakes.append(_handshake(handshake, f"test_keys.tls_handshakes[{index}]", 0))
    last = len(keys.requests) - 1
    transactions = [
        _transaction(request, f"test_keys.requests[{index}]", last - index)
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
                    resolver_address=_system_resolver(measurement) or "unknown",
                    failure=newest.failure,
                    t0=0.0,
                    t=0.0,
                    tags=_tags(last),
                )
            )
    observed.transactions.extend(transactions)
    if endpoint.url is not None and endpoint.url.startswith("https:") and not keys.tls_handshakes:
        observed.handshakes.extend(_implied_handshakes(endpoint, observed))
    return observed


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def _implied_handshakes(endpoint: Endpoint, observed: _Observed) -> list[TlsObservation]:
    """Return the handshake a classic https record without `tls_handshakes` implies: its first
    request got a response (a verified handshake) or failed after the connect, on the first
    address that connected (the record does not say which)."""
    first = next((t for t in observed.transactions if _depth(t.tags) == 0), None)
    reached = [c for c in observed.connects if c.status.success and c.port == endpoint.port]
    if first is None or not reached or (first.response is None and first.failure is None):
        return []
    return [
        TlsObservation(
            address=_address(reached[0].ip, reached[0].port),
            server_name=endpoint.host,
            failure=None if first.response is not None else first.failure,
            t0=0.0,
            t=0.0,
            tags=_tags(0),
        )
    ]


def is_lte(measurement: OoniMeasurement) -> bool:
    """Return whether `measurement` comes from web_connectivity 0.5 ("LTE")."""
    return measurement.test_version.split(".")[:2] == ["0", "5"]


def to_test_keys(measurement: OoniMeasurement | Json) -> tuple[Endpoint, TestKeys]:
    """Return the endpoint and our TestKeys for one OONI web_connectivity measurement.

    Raises OoniFormatError, naming the field, when the measurement cannot be read.
    """
    if not isinstance(measurement, OoniMeasurement):
        measurement = parse_measurement(measurement)
    try:
        endpoint = web_endpoint(measurement.input)
    except TargetError as exc:
        raise OoniFormatError(f"input {measurement.input[:200]!r}: {exc}") from None
    keys = measurement.test_keys
    try:
        control = _control(keys.control, keys.control_failure)
        observed = (
            _lte(endpoint, measurement) if is_lte(measurement) else _classic(endpoint, measurement)
        )
        return endpoint, TestKeys(
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
