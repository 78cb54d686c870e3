"""DNS lookups through one resolver, recording answers, rcodes, timing and late replies.

Engines: "system" and "udp" use our own UDP socket (`_dns_udp`: late replies are injection
evidence); "tcp" and "dot" send length-prefixed messages over a socket we own (`_sockets`;
dnspython's asyncio streams leave TLS transports to close after the loop is gone); "doh" is a
POST of application/dns-message sent with our httpx client (dnspython's DoH extra no longer uses
httpx). We talk to one explicit server and parse its reply with dnspython, so every rcode is
recorded (the resolver API hides them).
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import dns.exception
import dns.message
import dns.rcode
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA

from probe.errors import ConfigError
from probe.measure import _dns_udp
from probe.measure._clock import Clock
from probe.measure._sockets import ByteStream, PlainSocket, TlsSocket, read_exactly
from probe.measure.failures import SOCKET_ERRORS, failure_string
from probe.measure.tcp import dial, endpoint_text
from probe.measure.tls import TrustStore
from probe.models.addresses import is_ip_address, is_ipv6, split_address
from probe.models.failures import Failure, unknown_failure
from probe.models.observations import DnsAnswer, DnsLateReply, DnsObservation

if TYPE_CHECKING:
    import httpx

RESOLV_CONF = Path("/etc/resolv.conf")
_DEFAULT_PORTS = {"udp": 53, "tcp": 53, "dot": 853}
_SCHEMES = {"udp": "udp", "tcp": "tcp", "tls": "dot"}
_RCODE_FAILURES = {
    "NXDOMAIN": Failure.DNS_NXDOMAIN_ERROR,
    "SERVFAIL": Failure.DNS_SERVFAIL_ERROR,
    "REFUSED": Failure.DNS_REFUSED_ERROR,
}
_EDNS_PAYLOAD = 1232  # the DNS-flag-day size: large answers fit without fragmentation
_MAX_ANSWERS = 64  # records kept per reply; a hostile reply may carry thousands


@dataclass(frozen=True)
class ResolverSpec:
    """A resolver to measure through.

    engine: "system" (UDP to the first nameserver of /etc/resolv.conf), "udp", "tcp", "dot", "doh".
    address: "ip:port" ("[ip6]:port") for udp/tcp/dot/system, the URL for doh.
    """

    engine: str
    address: str


def _bad_resolver(spec: str, why: str) -> ConfigError:
    return ConfigError(
        f"[resolver] servers: {spec!r}: {why}; use system, udp://IP[:port], tcp://IP[:port],"
        " tls://IP[:port] or https://HOST/dns-query"
    )


def system_nameserver(resolv_conf: Path = RESOLV_CONF) -> str:
    """Return "ip:53" of the first nameserver in resolv.conf (127.0.0.1, as glibc, if none)."""
    try:
        lines = resolv_conf.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and is_ip_address(words[1].split("%")[0]):
            return endpoint_text(words[1], 53)
    return "127.0.0.1:53"


def parse_resolver(spec: str) -> ResolverSpec:
    """Return the ResolverSpec for a config string ("system", "udp://IP[:port]", "tcp://…",
    "tls://IP[:port]", "https://HOST/dns-query"). Default ports: 53, 53, 853.

    "system" is read from /etc/resolv.conf now. Raises ConfigError naming the key and the entry.
    """
    text = spec.strip()
    if text == "system":
        return ResolverSpec("system", system_nameserver())
    scheme, separator, rest = text.partition("://")
    if scheme == "https" and separator:
        if not urlsplit(text).hostname:
            raise _bad_resolver(spec, "the DoH URL has no host")
        return ResolverSpec("doh", text)
    engine = _SCHEMES.get(scheme) if separator else None
    if engine is None:
        raise _bad_resolver(spec, "unknown resolver")
    try:
        host, port = split_address(rest, _DEFAULT_PORTS[engine])
    except ValueError as exc:
        raise _bad_resolver(spec, str(exc)) from exc
    return ResolverSpec(engine, endpoint_text(host, port))


@functools.cache
def _default_trust() -> TrustStore:
    return TrustStore()


def _answers(message: dns.message.Message) -> list[DnsAnswer]:
    """Return the A, AAAA and CNAME records of the answer section, in order, with TTLs."""
    answers: list[DnsAnswer] = []
    for rrset in message.answer:
        for record in rrset:
            if len(answers) >= _MAX_ANSWERS:
                return answers
            # isinstance, not rdtype: a record of another class (CH, …) is generic rdata.
            if isinstance(record, dns.rdtypes.IN.A.A):
                answers.append(DnsAnswer(answer_type="A", ipv4=record.address, ttl=rrset.ttl))
            elif isinstance(record, dns.rdtypes.IN.AAAA.AAAA):
                answers.append(DnsAnswer(answer_type="AAAA", ipv6=record.address, ttl=rrset.ttl))
            elif isinstance(record, dns.rdtypes.ANY.CNAME.CNAME):
                target = record.target.to_text(omit_final_dot=True)
                answers.append(DnsAnswer(answer_type="CNAME", hostname=target, ttl=rrset.ttl))
    return answers


def _interpret(
    message: dns.message.Message, query_type: str
) -> tuple[str, list[DnsAnswer], str | None]:
    """Return (rcode name, answers, failure) of one reply."""
    rcode = dns.rcode.to_text(message.rcode())
    answers = _answers(message)
    if rcode != "NOERROR":
        return rcode, answers, _RCODE_FAILURES.get(rcode, Failure.DNS_SERVER_MISBEHAVING)
    if not any(answer.answer_type == query_type for answer in answers):
        return rcode, answers, Failure.DNS_NO_ANSWER
    return rcode, answers, None


async def _stream(
    query: dns.message.Message, resolver: ResolverSpec, timeout_s: float, trust: TrustStore | None
) -> tuple[dns.message.Message | None, str | None]:
    """Return (reply, failure) of a query over TCP or DoT (RFC 7766/7858 framing)."""
    host, port = split_address(resolver.address, _DEFAULT_PORTS[resolver.engine])
    wire = query.to_wire()
    sock: socket.socket | None = None
    try:
        async with asyncio.timeout(timeout_s):
            sock = await dial(host, port)
            stream: ByteStream = PlainSocket(sock)
            if resolver.engine == "dot":
                context = (trust or _default_trust()).verifying_context(alpn=("dot",))
                stream = TlsSocket(sock, context, host)
                await stream.handshake()
            await stream.send(len(wire).to_bytes(2, "big") + wire)
            size = int.from_bytes(await read_exactly(stream, 2), "big")
            data = await read_exactly(stream, size)
    except SOCKET_ERRORS as exc:
        return None, failure_string(exc)
    finally:
        if sock is not None:
            sock.close()
    reply = _dns_udp.parse_reply(data)
    if reply is None or not query.is_response(reply):
        return None, Failure.DNS_SERVER_MISBEHAVING
    return reply, None


@dataclass(frozen=True)
class _Outcome:
    """What one exchange returned: the reply (or None), the failure, the late UDP replies."""

    reply: dns.message.Message | None
    failure: str | None
    late: list[_dns_udp.LateReply] = field(default_factory=list)
    t: float | None = None  # UDP: the first reply's arrival in the kernel (clock seconds)


async def _exchange(
    query: dns.message.Message,
    resolver: ResolverSpec,
    timeout_s: float,
    late_reply_window_s: float,
    clock: Clock,
    http_client: httpx.AsyncClient | None,
    trust: TrustStore | None,
    on_first: Callable[[_Outcome], None] | None = None,
) -> _Outcome:
    """Return the outcome of sending `query` with the resolver's engine."""
    if resolver.engine in ("udp", "system"):
        host, port = split_address(resolver.address, 53)
        first = None
        if on_first is not None:
            notify = on_first

            def first(udp: _dns_udp.UdpExchange) -> None:
                notify(_Outcome(udp.reply, udp.failure, t=udp.t))

        udp = await _dns_udp.exchange(
            query,
            host,
            port,
            timeout_s=timeout_s,
            late_reply_window_s=late_reply_window_s,
            clock=clock,
            on_first=first,
        )
        return _Outcome(udp.reply, udp.failure, udp.late, udp.t)
    if resolver.engine == "doh":
        if http_client is None:
            raise ValueError("resolve() needs http_client for a DoH resolver")
        from probe.measure._doh import ask  # httpx: not before a check's first UDP query

        return _Outcome(*await ask(query, resolver.address, timeout_s, http_client))
    if resolver.engine in ("tcp", "dot"):
        return _Outcome(*await _stream(query, resolver, timeout_s, trust))
    raise ValueError(f"unknown resolver engine {resolver.engine!r}")


def _late(replies: list[_dns_udp.LateReply]) -> list[DnsLateReply]:
    return [
        DnsLateReply(
            rcode=dns.rcode.to_text(late.message.rcode()),
            answers=_answers(late.message),
            t=late.t,
            ip_ttl=late.ip_ttl,
        )
        for late in replies
    ]


def _literal(
    hostname: str, query_type: str, resolver: ResolverSpec, clock: Clock, tags: list[str]
) -> DnsObservation:
    ip = hostname.strip("[]")
    answer = (
        DnsAnswer(answer_type="AAAA", ipv6=ip)
        if is_ipv6(ip)
        else DnsAnswer(answer_type="A", ipv4=ip)
    )
    now = clock.now()
    return DnsObservation(
        hostname=hostname,
        query_type=query_type,
        engine=resolver.engine,
        resolver_address=resolver.address,
        answers=[answer],
        t0=now,
        t=now,
        tags=list(tags),
    )


async def resolve(
    hostname: str,
    query_type: str,
    resolver: ResolverSpec,
    *,
    timeout_s: float,
    late_reply_window_s: float,
    clock: Clock,
    tags: list[str],
    http_client: httpx.AsyncClient | None = None,
    trust: TrustStore | None = None,
    on_first: Callable[[DnsObservation], None] | None = None,
) -> DnsObservation:
    """Return the observation of one query (A or AAAA) of `hostname` through `resolver`.

    Never raises for network problems: failures are recorded (`dns_nxdomain_error`,
    `dns_servfail_error`, `dns_refused_error`, `dns_no_answer`, `generic_timeout_error`, …).
    For UDP ("udp"/"system") keeps listening `late_reply_window_s` after the first reply and
    records further replies in `x_late_replies`. DoH is a POST of application/dns-message sent
    with `http_client` (required for "doh"). DoT verifies the resolver's certificate (its IP
    SAN) with `trust` (default: Mozilla's roots only). An IP-literal hostname is answered
    without a query. `on_first`, if given, receives the observation of the first reply as soon
    as it is in (before the late-reply window; every engine calls it exactly once).
    """
    if is_ip_address(hostname):
        observation = _literal(hostname, query_type, resolver, clock, tags)
        if on_first is not None:
            on_first(observation)
        return observation
    t0 = clock.now()

    early: list[DnsObservation] = []

    def first(outcome: _Outcome) -> None:
        # `t` is when the first reply arrived; late replies are added to this observation later.
        if early:
            return
        early.append(_observe(outcome))
        if on_first is not None:
            on_first(early[0])

    def _observe(outcome: _Outcome) -> DnsObservation:
        rcode, answers, failure = None, list[DnsAnswer](), outcome.failure
        if outcome.reply is not None:
            rcode, answers, failure = _interpret(outcome.reply, query_type)
        return DnsObservation(
            hostname=hostname,
            query_type=query_type,
            engine=resolver.engine,
            resolver_address=resolver.address,
            answers=answers,
            rcode=rcode,
            failure=failure,
            t0=t0,
            t=clock.now() if outcome.t is None else outcome.t,
            tags=list(tags),
        )

    try:
        query = dns.message.make_query(hostname, query_type, use_edns=0, payload=_EDNS_PAYLOAD)
    except dns.exception.DNSException as exc:  # a name DNS cannot carry (label > 63 bytes, …)
        outcome = _Outcome(None, unknown_failure(f"invalid name: {exc}"))
    else:
        outcome = await _exchange(
            query, resolver, timeout_s, late_reply_window_s, clock, http_client, trust, first
        )
    first(outcome)
    return early[0].model_copy(update={"x_late_replies": _late(outcome.late)})
