"""One OONI web_connectivity entry → one of our observations (used by ooni.py and ooni_lte.py).

Each function converts one df-00x entry (a query, a connect, a handshake, a request, the helper's
answer) and raises OoniFormatError, naming the field, when a value present in the record cannot
be read. Fields missing from a record are never an error here: the callers note them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.control import ControlResponse
from probe.models.failures import FailedOperation, Failure, OoniFailure
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
from probe.models.tags import depth_of, observation_tags

Json = dict[str, Any]

_JSON_KIND = {dict: "an object", list: "an array", str: "a string", int: "a number",
              float: "a number", bool: "a boolean", type(None): "null"}  # fmt: skip
_SYSTEM_ENGINES = frozenset({"", "system", "getaddrinfo", "golang_net_resolver", "go", "unknown"})
_REDIRECT_LOCATION_FAILURES = frozenset(
    {OoniFailure.HTTP_INVALID_REDIRECT_LOCATION_HOST, OoniFailure.HTTP_INVALID_REDIRECT_URL,
     Failure.HTTP_UNEXPECTED_REDIRECT_URL}
)  # fmt: skip
_UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "none"})
_MODEL_NAME = re.compile(r" or instance of \w+")


class OoniFormatError(ValueError):
    """A measurement whose content cannot be turned into observations; the message says why."""


def json_kind(value: object) -> str:
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


def attributed_address(
    item: OoniTlsHandshake, connects: list[OoniTcpConnect], port: int
) -> tuple[str | None, str]:
    """Return the address of a handshake the record wrote none for (web_connectivity 0.4.0 and
    0.4.1), and the note that says how it was found: the connect of the same transaction, else
    the first connect to `port` that succeeded; (None, why) when neither exists."""
    for connect in connects:
        same = item.transaction_id is not None and connect.transaction_id == item.transaction_id
        if same and connect.status is not None and connect.status.success:
            return endpoint_address(connect.ip, connect.port), "the connect of its transaction"
    for connect in connects:
        if connect.port == port and connect.status is not None and connect.status.success:
            how = f"the first address on port {port} that connected"
            return endpoint_address(connect.ip, connect.port), how
    return None, f"no connect to port {port} succeeded"


def hop_tags(depth: int, *extra: str) -> list[str]:
    """Return the tags of an observation at redirect `depth` (an OONI record is one attempt)."""
    return observation_tags(1, depth, *extra)


def endpoint_address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if is_ipv6(ip) else f"{ip}:{port}"


def ip_of(address: str, where: str) -> str:
    host, _, port = address.rpartition(":")
    ip = host.strip("[]")
    if not is_ip_address(ip) or not port.isdigit() or not 0 < int(port) < 65536:
        raise OoniFormatError(f"{where}: {address[:80]!r} is not an ip:port address")
    return ip


def decode_base64(data: str) -> bytes | None:
    compact = "".join(data.split())
    try:  # OONI's own pipeline accepts base64 that lacks its padding (fastpath b64_incorrect)
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def text_of(value: MaybeBinary, where: str) -> str:
    if isinstance(value, str):
        return value
    raw = decode_base64(value.data)
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


def query_observation(
    query: OoniQuery, where: str, depth: int, resolver_ip: str | None
) -> DnsObservation:
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
        tags=hop_tags(depth),
    )


def connect_observation(
    item: OoniTcpConnect, where: str, depth: int, *extra: str
) -> TcpObservation | None:
    """Return our record of one connect; None when the record has no `status` (noted)."""
    if not is_ip_address(item.ip) or not 0 < item.port < 65536:
        raise OoniFormatError(f"{where}: {item.ip[:80]!r} port {item.port} is not an endpoint")
    if item.status is None:
        return None
    return TcpObservation(
        ip=item.ip,
        port=item.port,
        status=TcpStatus(success=item.status.success, failure=item.status.failure),
        t0=0.0,
        t=item.t or 0.0,
        tags=hop_tags(depth, *extra),
    )


def handshake_observation(
    item: OoniTlsHandshake, where: str, depth: int, *extra: str, address: str | None = None
) -> TlsObservation:
    """Return our record of one handshake, at `address` when the record wrote none."""
    address = item.address or address
    if address is None:
        raise OoniFormatError(f"{where}: no address")  # callers attribute one first
    ip_of(address, f"{where}.address")
    return TlsObservation(
        address=address,
        server_name=item.server_name or "",
        failure=item.failure,
        no_tls_verify=bool(item.no_tls_verify),
        t0=0.0,
        t=item.t or 0.0,
        tags=hop_tags(depth, *extra),
    )


def _body(raw: MaybeBinary | None, where: str) -> tuple[str | BinaryData, int]:
    if raw is None:
        return "", 0
    if isinstance(raw, str):
        return raw, len(raw.encode("utf-8", errors="replace"))
    decoded = decode_base64(raw.data)
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
        headers={k: text_of(v, f"{where}.headers.{k}") for k, v in raw.headers.items()},
        headers_list=[
            (k, text_of(v, f"{where}.headers_list[{i}]"))
            for i, (k, v) in enumerate(raw.headers_list)
        ],
        body=body,
        body_is_truncated=bool(raw.body_is_truncated),
        x_body_length=length,
    )


def transaction_observation(item: OoniHttpTransaction, where: str, depth: int) -> HttpTransaction:
    response = _response(item, f"{where}.response")
    failure = item.failure
    if failure in _REDIRECT_LOCATION_FAILURES and response is not None:
        failure = None
    return HttpTransaction(
        address=item.address,
        failure=failure,
        request=HttpRequestRecord(url=item.request.url if item.request is not None else ""),
        response=response,
        t0=0.0,
        t=item.t or 0.0,
        tags=hop_tags(depth),
    )


def location_of(transaction: HttpTransaction) -> str | None:
    response = transaction.response
    if response is None:
        return None
    pairs = [*response.headers_list, *response.headers.items()]
    return next((value for key, value in pairs if key.lower() == "location"), None)


def redirect_url(transactions: list[HttpTransaction], depth: int) -> str:
    """Return where the response at `depth - 1` redirected to ("" when unknown)."""
    for transaction in transactions:
        if depth_of(transaction.tags) == depth - 1 and (location := location_of(transaction)):
            return location
    return ""


def failed_hop(
    transactions: list[HttpTransaction],
    address: str,
    failure: str | None,
    depth: int,
    step: FailedOperation,
) -> HttpTransaction:
    return HttpTransaction(
        address=address,
        failure=failure or Failure.UNKNOWN_FAILURE,
        x_failed_operation=step,
        request=HttpRequestRecord(url=redirect_url(transactions, depth)),
        t0=0.0,
        t=0.0,
        tags=hop_tags(depth),
    )


def _object(value: object, where: str) -> Json:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OoniFormatError(f"{where}: {json_kind(value)}, not an object")
    return value


def _without_nulls(entry: object) -> object:
    return {k: v for k, v in entry.items() if v is not None} if isinstance(entry, dict) else entry


def control_response(raw: Json | None, failure: str | None) -> ControlResponse | None:
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
        raise OoniFormatError(f"{where}.dns.addrs: {json_kind(addrs)}, not an array")
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
class Observed:
    queries: list[DnsObservation]
    doh: list[DnsObservation]
    connects: list[TcpObservation]
    handshakes: list[TlsObservation]
    transactions: list[HttpTransaction]
    notes: list[str] = field(default_factory=list)


def system_resolver(measurement: OoniMeasurement) -> str | None:
    """Return the resolver getaddrinfo used, as OONI learnt it (whoami); None if unknown."""
    for found in (measurement.resolver_ip, measurement.test_keys.client_resolver):
        if found and found != "0.0.0.0":
            return found
    return None


def lookups(measurement: OoniMeasurement, *, tagged: bool) -> Observed:
    observed = Observed([], [], [], [], [])
    resolver = system_resolver(measurement)
    for index, query in enumerate(measurement.test_keys.queries):
        depth = depth_of(query.tags) if tagged else 0
        observation = query_observation(query, f"test_keys.queries[{index}]", depth, resolver)
        (observed.doh if query.engine == "doh" else observed.queries).append(observation)
    return observed
