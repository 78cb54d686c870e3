"""Read OONI's web_connectivity@v0.5 QA measurements as our plan would have recorded them.

Test-only glue (observe/ooni.py will own the general converter): one attempt; getaddrinfo and
UDP lookups are the probe's resolvers, OONI's opportunistic DoH becomes our trusted DoH control;
flows to addresses only the test helper resolved are dropped (our plan dials what the probe
resolved); a flow after a redirect that failed before its request becomes a failed request at
that depth (our plan's requests connect and handshake themselves); the validation flows of an
http:// URL (port 443, fetch_body=false) are tagged `tls_validation`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

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
from probe.models.results import TestKeys
from probe.models.targets import Endpoint, EndpointKind

Json = dict[str, Any]


def endpoint_of(url: str) -> Endpoint:
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("idna").decode("ascii").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Endpoint(kind=EndpointKind.WEB, host=host, port=port, url=url)


def _depth(tags: list[str] | None) -> int:
    for tag in tags or []:
        if tag.startswith("depth="):
            return int(tag.split("=")[1])
    return 0


def _tags(item: Json, *extra: str) -> list[str]:
    return ["attempt=1", f"depth={_depth(item.get('tags'))}", *extra]


def _query(item: Json, engine: str) -> DnsObservation:
    answers = [
        DnsAnswer(
            answer_type=a.get("answer_type", "A"),
            ipv4=a.get("ipv4"),
            ipv6=a.get("ipv6"),
            hostname=a.get("hostname"),
            asn=a.get("asn") or None,
        )
        for a in item.get("answers") or []
        if a.get("answer_type") in ("A", "AAAA", "CNAME")
    ]
    return DnsObservation(
        hostname=item["hostname"],
        query_type=item["query_type"],
        engine=engine,
        resolver_address=item.get("resolver_address") or "system",
        answers=answers,
        failure=item.get("failure"),
        t0=0.0,
        t=float(item.get("t") or 0),
        tags=_tags(item),
    )


def _body(raw: Any) -> str | BinaryData:
    if isinstance(raw, dict):
        return BinaryData(format=raw.get("format", "base64"), data=raw.get("data", ""))
    return raw or ""


def _transaction(item: Json) -> HttpTransaction:
    raw = item.get("response") or {}
    failure = item.get("failure")
    if failure == "http_invalid_redirect_location_host":
        failure = None  # our plan records the redirect and stops; it never fails on it
    response = None
    if raw.get("code"):
        headers_list = [tuple(h) for h in raw.get("headers_list") or []]
        body = _body(raw.get("body"))
        length = len(body.encode()) if isinstance(body, str) else 0
        response = HttpResponseRecord(
            code=raw["code"],
            headers=raw.get("headers") or {},
            headers_list=headers_list,
            body=body,
            body_is_truncated=bool(raw.get("body_is_truncated")),
            x_body_length=length,
        )
    request = item.get("request") or {}
    return HttpTransaction(
        address=item.get("address"),
        failure=failure,
        request=HttpRequestRecord(url=request["url"]),
        response=response,
        t0=0.0,
        t=float(item.get("t") or 0),
        tags=_tags(item),
    )


def _control(raw: Json | None) -> ControlResponse | None:
    if raw is None:
        return None
    clean = dict(raw)
    clean["dns"] = {**(raw.get("dns") or {}), "addrs": (raw.get("dns") or {}).get("addrs") or []}
    for key in ("tcp_connect", "tls_handshake", "ip_info"):
        clean[key] = raw.get(key) or {}
    page = dict(raw.get("http_request") or {})
    page["headers"] = page.get("headers") or {}
    clean["http_request"] = page
    clean.pop("http3_request", None)
    return ControlResponse.model_validate(clean)


def _resolved(queries: list[DnsObservation]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for query in queries:
        found.setdefault(_depth(query.tags), set()).update(a for a in query.addresses() if a)
    return found


def _next_url(transactions: list[HttpTransaction], depth: int) -> str | None:
    for transaction in transactions:
        if _depth(transaction.tags) == depth - 1 and transaction.response is not None:
            for key, value in transaction.response.headers_list:
                if key.lower() == "location":
                    return value
    return None


def to_test_keys(measurement: Json) -> tuple[Endpoint, TestKeys]:
    """Return the endpoint and our TestKeys for one OONI measurement."""
    keys: Json = measurement["test_keys"]
    endpoint = endpoint_of(measurement["input"])
    engines = {"getaddrinfo": "system", "udp": "udp"}
    queries = [
        _query(q, engines[q["engine"]]) for q in keys.get("queries") or [] if q["engine"] in engines
    ]
    doh = [_query(q, "doh") for q in keys.get("queries") or [] if q["engine"] == "doh"]
    resolved = _resolved(queries)
    cleartext = endpoint.url is not None and endpoint.url.startswith("http:")
    connects, handshakes = [], []
    transactions = [
        t
        for t in map(_transaction, keys.get("requests") or [])
        if t.address is None
        or t.address.rsplit(":", 1)[0].strip("[]") in resolved.get(_depth(t.tags), set())
    ]
    with_request = {_depth(t.tags) for t in transactions}
    for item in keys.get("tcp_connect") or []:
        depth = _depth(item.get("tags"))
        if item["ip"] not in resolved.get(depth, set()):
            continue
        validation = (
            cleartext and item["port"] == 443 and "fetch_body=false" in (item.get("tags") or [])
        )
        status = item["status"]
        if depth == 0:
            extra = ("tls_validation",) if validation else ()
            connects.append(
                TcpObservation(
                    ip=item["ip"],
                    port=item["port"],
                    t0=0.0,
                    t=0.0,
                    status=TcpStatus(success=status["success"], failure=status["failure"]),
                    tags=_tags(item, *extra),
                )
            )
        elif depth not in with_request and not validation and not status["success"]:
            url = _next_url(transactions, depth) or ""
            transactions.insert(
                0,
                HttpTransaction(
                    address=f"{item['ip']}:{item['port']}",
                    failure=status["failure"],
                    request=HttpRequestRecord(url=url),
                    t0=0.0,
                    t=0.0,
                    tags=_tags(item),
                ),
            )
            with_request.add(depth)
    for item in keys.get("tls_handshakes") or []:
        depth = _depth(item.get("tags"))
        ip = item["address"].rsplit(":", 1)[0].strip("[]")
        if ip not in resolved.get(depth, set()):
            continue
        validation = cleartext and "fetch_body=false" in (item.get("tags") or [])
        if depth == 0:
            extra = ("tls_validation",) if validation else ()
            handshakes.append(
                TlsObservation(
                    address=item["address"],
                    server_name=item.get("server_name") or "",
                    failure=item.get("failure"),
                    t0=0.0,
                    t=0.0,
                    tags=_tags(item, *extra),
                )
            )
        elif depth not in with_request and not validation and item.get("failure"):
            url = _next_url(transactions, depth) or ""
            transactions.insert(
                0,
                HttpTransaction(
                    address=item["address"],
                    failure=item["failure"],
                    request=HttpRequestRecord(url=url),
                    t0=0.0,
                    t=0.0,
                    tags=_tags(item),
                ),
            )
            with_request.add(depth)
    transactions.sort(key=lambda t: -_depth(t.tags))
    return endpoint, TestKeys(
        queries=queries,
        tcp_connect=connects,
        tls_handshakes=handshakes,
        requests=transactions,
        x_doh=doh,
        control=_control(keys.get("control")),
        control_failure=keys.get("control_failure"),
        attempts=1,
    )
