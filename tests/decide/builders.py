"""Small builders for hand-made measurements, shaped as measure/plan.py records them.

Every probe-side observation carries `attempt=N` and `depth=N`; handshakes that only validate an
http:// URL's addresses carry `tls_validation`. Defaults describe a working https://example.com/
seen from a probe whose resolver is 10.0.0.53 and whose helper reached the site.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from probe.decide import DecisionContext, endpoint_verdict, parse_fingerprints
from probe.models.control import (
    ControlDns,
    ControlHttpRequest,
    ControlIpInfo,
    ControlResponse,
    ControlTcpConnect,
    ControlTlsHandshake,
)
from probe.models.observations import (
    CertificateSummary,
    DnsAnswer,
    DnsLateReply,
    DnsObservation,
    HttpRequestRecord,
    HttpResponseRecord,
    HttpTransaction,
    TcpObservation,
    TcpStatus,
    TlsObservation,
)
from probe.models.results import ControlSiteCheck, EndpointResult, SiteScope, TestKeys
from probe.models.targets import Endpoint, EndpointKind

HOST = "example.com"
IP = "93.184.216.34"
OTHER_IP = "104.244.42.1"
RESOLVER = "10.0.0.53:53"
PAGE = "<html><head><title>Example Domain</title></head><body>" + "x" * 1200 + "</body></html>"
Observation = DnsObservation | TcpObservation | TlsObservation | HttpTransaction


def tags(attempt: int = 1, depth: int = 0, *extra: str) -> list[str]:
    """Return the tags measure/plan.py writes."""
    return [f"attempt={attempt}", f"depth={depth}", *extra]


def https(host: str = HOST, port: int = 443) -> Endpoint:
    """Return an https:// URL endpoint."""
    suffix = "" if port == 443 else f":{port}"
    return Endpoint(kind=EndpointKind.WEB, host=host, port=port, url=f"https://{host}{suffix}/")


def http(host: str = HOST, port: int = 80) -> Endpoint:
    """Return an http:// URL endpoint."""
    suffix = "" if port == 80 else f":{port}"
    return Endpoint(kind=EndpointKind.WEB, host=host, port=port, url=f"http://{host}{suffix}/")


def tcp(host: str = "e1.whatsapp.net", port: int = 5222) -> Endpoint:
    """Return a bare TCP service endpoint."""
    return Endpoint(kind=EndpointKind.TCP, host=host, port=port)


def answer(ip: str, asn: int | None = None) -> DnsAnswer:
    """Return an A or AAAA answer record."""
    if ":" in ip:
        return DnsAnswer(answer_type="AAAA", ipv6=ip, asn=asn)
    return DnsAnswer(answer_type="A", ipv4=ip, asn=asn)


def query(
    ips: Sequence[str] = (IP,),
    *,
    host: str = HOST,
    qtype: str = "A",
    engine: str = "udp",
    resolver: str = RESOLVER,
    failure: str | None = None,
    rcode: str | None = None,
    attempt: int = 1,
    depth: int = 0,
    asn: int | None = None,
    late: Sequence[Sequence[str]] = (),
) -> DnsObservation:
    """Return one lookup; `late` lists the addresses of later replies to the same query."""
    late_replies = [
        DnsLateReply(rcode="NOERROR", answers=[answer(ip) for ip in reply], t=0.2) for reply in late
    ]
    return DnsObservation(
        hostname=host,
        query_type=qtype,
        engine=engine,
        resolver_address=resolver,
        answers=[answer(ip, asn) for ip in ips],
        rcode=rcode if rcode is not None else ("NOERROR" if failure is None else None),
        failure=failure,
        x_late_replies=late_replies,
        t0=0.0,
        t=0.05,
        tags=tags(attempt, depth),
    )


def doh(
    ips: Sequence[str] = (IP,), *, host: str = HOST, failure: str | None = None
) -> DnsObservation:
    """Return a lookup through a trusted DoH control resolver."""
    return DnsObservation(
        hostname=host,
        query_type="A",
        engine="doh",
        resolver_address="https://dns.google/dns-query",
        answers=[answer(ip) for ip in ips],
        rcode="NXDOMAIN" if failure == "dns_nxdomain_error" else None,
        failure=failure,
        t0=0.0,
        t=0.1,
        tags=["control_resolver"],
    )


def connect(
    ip: str = IP,
    port: int = 443,
    failure: str | None = None,
    *,
    attempt: int = 1,
    extra: Iterable[str] = (),
) -> TcpObservation:
    """Return one TCP connect (failure None = success)."""
    return TcpObservation(
        ip=ip,
        port=port,
        status=TcpStatus(success=failure is None, failure=failure),
        t0=0.0,
        t=0.02,
        tags=tags(attempt, 0, *extra),
    )


def certificate(
    issuer: str = "CN=R3,O=Let's Encrypt,C=US", subject: str = f"CN={HOST}", spki: str = "aa" * 32
) -> CertificateSummary:
    """Return a certificate summary."""
    return CertificateSummary(
        subject=subject,
        issuer=issuer,
        sha256=(spki[::-1] + "00")[:64],
        spki_sha256=spki,
        not_before=datetime(2024, 1, 1, tzinfo=UTC),
        not_after=datetime(2030, 1, 1, tzinfo=UTC),
        san=[HOST],
        public_key="RSA-2048 e=65537",
    )


def handshake(
    ip: str = IP,
    port: int = 443,
    failure: str | None = None,
    *,
    host: str = HOST,
    attempt: int = 1,
    chain: Sequence[CertificateSummary] | None = None,
    validation: bool = False,
) -> TlsObservation:
    """Return one TLS handshake with SNI `host` (failure None = verified)."""
    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    extra = ("tls_validation",) if validation else ()
    has_chain = failure is None or failure.startswith("ssl_")
    return TlsObservation(
        address=address,
        server_name=host,
        failure=failure,
        x_certificates=list(chain if chain is not None else [certificate()] if has_chain else []),
        t0=0.0,
        t=0.1,
        tags=tags(attempt, 0, *extra),
    )


def tls_step(
    ip: str = IP,
    failure: str | None = None,
    *,
    tcp_failure: str | None = None,
    attempt: int = 1,
    chain: Sequence[CertificateSummary] | None = None,
    validation: bool = False,
) -> list[Observation]:
    """Return a connect and a handshake, as plan.py records an https step. A connect failure
    ends the step: the handshake then carries the connect's failure."""
    extra = ("tls_validation",) if validation else ()
    return [
        connect(ip, 443, tcp_failure, attempt=attempt, extra=extra),
        handshake(
            ip, 443, tcp_failure or failure, attempt=attempt, chain=chain, validation=validation
        ),
    ]


def response(
    status: int = 200,
    body: str = PAGE,
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/html"), ("X-Cache", "HIT")),
    *,
    truncated: bool = False,
) -> HttpResponseRecord:
    """Return an HTTP response record."""
    return HttpResponseRecord(
        code=status,
        headers={k: v for k, v in headers},
        headers_list=list(headers),
        body=body,
        body_is_truncated=truncated,
        x_body_length=len(body.encode()),
    )


def fetch(
    url: str = f"https://{HOST}/",
    status: int | None = 200,
    *,
    body: str = PAGE,
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/html"), ("X-Cache", "HIT")),
    failure: str | None = None,
    attempt: int = 1,
    depth: int = 0,
    address: str | None = None,
    operation: str | None = None,
) -> HttpTransaction:
    """Return one HTTP transaction (status None or a failure = no response)."""
    if address is None:
        address = f"{IP}:{443 if url.startswith('https') else 80}"
    return HttpTransaction(
        address=address,
        failure=failure,
        x_failed_operation=operation,
        request=HttpRequestRecord(url=url),
        response=None if failure or status is None else response(status, body, headers),
        t0=0.0,
        t=0.3,
        tags=tags(attempt, depth),
    )


def redirect(url: str, location: str, *, attempt: int = 1, depth: int = 0) -> HttpTransaction:
    """Return a 302 to `location`."""
    return fetch(url, 302, body="", headers=(("Location", location),), attempt=attempt, depth=depth)


def https_chain(
    ip: str = IP, *, attempt: int = 1, status: int = 200, body: str = PAGE
) -> list[Observation]:
    """Return one working https attempt: lookup, handshake, final response."""
    return [
        query([ip], attempt=attempt),
        *tls_step(ip, attempt=attempt),
        fetch(f"https://{HOST}/", status, body=body, attempt=attempt, address=f"{ip}:443"),
    ]


def http_chain(
    ip: str = IP, *, attempt: int = 1, status: int = 200, body: str = PAGE, validated: bool = True
) -> list[Observation]:
    """Return one working http attempt: lookup, connect :80, validation handshake, response."""
    validation = tls_step(ip, attempt=attempt, validation=True) if validated else []
    return [
        query([ip], attempt=attempt),
        connect(ip, 80, attempt=attempt),
        *validation,
        fetch(f"http://{HOST}/", status, body=body, attempt=attempt, address=f"{ip}:80"),
    ]


def control(
    addrs: Sequence[str] = (IP,),
    *,
    ports: Sequence[int] = (443,),
    tcp_failure: str | None = None,
    tls_failure: str | None = None,
    status: int = 200,
    body_length: int | None = None,
    title: str = "Example Domain",
    headers: dict[str, str] | None = None,
    http_failure: str | None = None,
    dns_failure: str | None = None,
    certificate_seen: CertificateSummary | None = None,
    asns: dict[str, int] | None = None,
    extra_ips: Sequence[str] = (),
) -> ControlResponse:
    """Return the helper's answer: it resolved `addrs`, connected to them (and `extra_ips`)."""
    endpoints = [f"{ip}:{p}" for ip in (*addrs, *extra_ips) for p in ports]
    page = ControlHttpRequest(
        body_length=len(PAGE.encode()) if body_length is None else body_length,
        failure=http_failure,
        title=title if http_failure is None else "",
        headers=headers if headers is not None else {"Content-Type": "text/html", "X-Cache": "HIT"},
        status_code=status if http_failure is None else -1,
    )
    return ControlResponse(
        tcp_connect={
            e: ControlTcpConnect(status=tcp_failure is None, failure=tcp_failure) for e in endpoints
        },
        tls_handshake={
            e: ControlTlsHandshake(
                server_name=HOST,
                status=tls_failure is None and tcp_failure is None,
                failure=tls_failure or tcp_failure,
                x_certificate=certificate_seen,
            )
            for e in endpoints
            if e.endswith(":443")
        },
        dns=ControlDns(failure=dns_failure, addrs=[] if dns_failure else list(addrs)),
        http_request=page,
        ip_info={ip: ControlIpInfo(asn=(asns or {}).get(ip, 15133), flags=2) for ip in addrs},
    )


def _flatten(items: Iterable[object]) -> list[Observation]:
    flat: list[Observation] = []
    for item in items:
        if isinstance(item, Observation):
            flat.append(item)
        else:
            flat.extend(_flatten(item))  # type: ignore[arg-type]
    return flat


def keys(
    *observations: Observation | Iterable[Observation],
    control: ControlResponse | None = None,
    control_failure: str | None = None,
    doh: Sequence[DnsObservation] = (),
    attempts: int | None = None,
) -> TestKeys:
    """Return TestKeys from observations (or lists of them); requests end newest first."""
    flat = _flatten(observations)
    requests = [o for o in flat if isinstance(o, HttpTransaction)]
    numbers = {int(t.split("=")[1]) for o in flat for t in o.tags if t.startswith("attempt=")}
    return TestKeys(
        queries=[o for o in flat if isinstance(o, DnsObservation)],
        tcp_connect=[o for o in flat if isinstance(o, TcpObservation)],
        tls_handshakes=[o for o in flat if isinstance(o, TlsObservation)],
        requests=list(reversed(requests)),
        x_doh=list(doh),
        control=control,
        control_failure=control_failure,
        attempts=attempts if attempts is not None else max(numbers, default=1),
    )


def site(
    phase: str = "before",
    success: bool = True,
    step: str | None = None,
    failure: str | None = None,
    *,
    url: str = "https://www.wikipedia.org/",
    scope: SiteScope = SiteScope.FOREIGN,
) -> ControlSiteCheck:
    """Return one control-site check of the sandwich."""
    return ControlSiteCheck(
        url=url,
        phase=phase,
        scope=scope,
        success=success,
        step=None if success else (step or "tcp"),
        failure=None if success else (failure or "generic_timeout_error"),
        status_code=200 if success else None,
        elapsed_s=0.3,
    )


SITES_OK = (site("before"), site("before"))


def context(
    *controls: ControlSiteCheck, sites: bool = True, fingerprints: str = "", **kwargs: object
) -> DecisionContext:
    """Return a DecisionContext with these control-site checks (default: two that loaded;
    `sites=False`: none measured)."""
    parsed = parse_fingerprints(fingerprints, "test.csv") if fingerprints else ()
    checks = controls or (SITES_OK if sites else ())
    return DecisionContext(controls=checks, fingerprints=parsed, **kwargs)  # type: ignore[arg-type]


FINGERPRINT_HEADER = (
    "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
    "expected_countries,source,exp_url,notes\n"
)


def fingerprint_csv(*rows: str) -> str:
    """Return a fingerprint CSV with the OONI header and `rows`."""
    return FINGERPRINT_HEADER + "".join(row + "\n" for row in rows)


def judge(
    endpoint: Endpoint, test_keys: TestKeys, ctx: DecisionContext | None = None
) -> EndpointResult:
    """Return endpoint_verdict with the default context."""
    return endpoint_verdict(endpoint, test_keys, ctx or context())
