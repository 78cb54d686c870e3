"""The throughput test: capped downloads of a target's large object and of its references.

Throttling is a ratio, not a speed (METHODS §1.5): the target's object is downloaded from the
target's address with its own SNI, then the same object from the same address with an
innocuous SNI (the pair that isolates an SNI-keyed policer), then a control site's large object,
`repeats` times, one download at a time (downloads sharing the link would slow each other).
Every download counts the bytes its socket receives, TLS records included, over time: a policer
shapes packets, and decrypted data only arrives a whole TLS record (up to 16 KiB) at a time.
A download stops at its byte or time cap; a cut download is data, not a failure (OONI's
throttling methodology: "timeouts after a partial body are evidence"). Nothing here judges.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from probe.measure import http, tcp, tls
from probe.measure._clock import Clock
from probe.measure._connection import Connection, LendingTransport
from probe.measure._sockets import PlainSocket
from probe.measure._steps import AttemptLog, MeasureContext, Sink, resolve
from probe.measure._transfer import open_response
from probe.measure.failures import NETWORK_ERRORS, failure_string
from probe.models.failures import FailedOperation, Failure
from probe.models.observations import (
    DnsObservation,
    ThroughputLimits,
    ThroughputSample,
    ThroughputTest,
    ThroughputTransfer,
    TransferRole,
)

SAMPLE_INTERVAL_S = 0.025  # reads closer together than this share one sample
MAX_SAMPLES = 2_400  # 60 s (the longest allowed download) at one sample per interval


@dataclass
class _Counter:
    """Counts the bytes a socket receives once armed, as coalesced cumulative samples."""

    clock: Clock
    start: float = 0.0
    armed: bool = False
    received: int = 0
    last_at: float = 0.0  # when the last byte arrived (seconds since `start`)
    samples: list[tuple[float, int]] = field(default_factory=list)
    _opened_at: float = -1.0  # when the current sample's interval began

    def arm(self) -> None:
        """Start counting now: the request is about to be sent."""
        self.start = self.clock.now()
        self.armed = True

    def elapsed(self) -> float:
        return self.clock.now() - self.start

    def __call__(self, size: int) -> None:
        if not self.armed:
            return  # the handshake's bytes are timed by the handshake, not counted
        self.received += size
        self.last_at = t = self.elapsed()
        if self.samples and (
            t - self._opened_at < SAMPLE_INTERVAL_S or len(self.samples) >= MAX_SAMPLES
        ):
            self.samples[-1] = (t, self.received)
        else:
            self.samples.append((t, self.received))
            self._opened_at = t


@dataclass(frozen=True)
class _Download:
    role: TransferRole
    repeat: int
    url: str
    ip: str | None
    server_name: str
    verify: bool


@dataclass
class _Outcome:
    """What one download produced so far (kept outside its deadline)."""

    status_code: int | None = None
    ttfb_s: float | None = None
    failure: str | None = None
    operation: FailedOperation | None = None
    stopped: str = "failure"


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _request(client: httpx.AsyncClient, spec: _Download, timeout_s: float) -> httpx.Request:
    """Return the GET of the object, sent to the download's address with its Host and SNI."""
    target = httpx.URL(spec.url)
    host = target.raw_host.decode("ascii")
    headers = {
        "Host": host if target.port is None else f"{host}:{target.port}",
        "User-Agent": http.user_agent(),
        "Accept": "*/*",
        "Accept-Encoding": "identity",  # the bytes on the wire are the bytes measured
    }
    extensions = {"sni_hostname": spec.server_name} if target.scheme == "https" else {}
    return client.build_request(
        "GET",
        target.copy_with(host=(spec.ip or host).strip("[]")),
        headers=headers,
        extensions=extensions,
        timeout=httpx.Timeout(timeout_s),
    )


async def _receive(
    connection: Connection, spec: _Download, counter: _Counter, outcome: _Outcome, cap: int
) -> None:
    """Send the request over `connection` and read the body until it ends or reaches `cap`."""
    transport = LendingTransport(connection)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        request = _request(client, spec, timeout_s=3600.0)  # the caller's deadline bounds it
        outcome.operation = FailedOperation.WRITE
        counter.arm()
        async with open_response(client, request) as response:
            outcome.operation = FailedOperation.READ
            outcome.ttfb_s = counter.elapsed()
            outcome.status_code = response.status_code
            async for _ in response.aiter_raw():
                if counter.received >= cap:
                    outcome.stopped = "max_bytes"
                    return
            outcome.stopped = "complete"


async def _open(
    spec: _Download, ctx: MeasureContext, clock: Clock, outcome: _Outcome
) -> tuple[Connection | None, float | None, float | None]:
    """Return the connection (None on failure), the connect and the handshake durations."""
    assert spec.ip is not None
    timeouts = ctx.settings.timeouts
    port = _port(spec.url)
    if urlsplit(spec.url).scheme == "https":
        tcp_obs, tls_obs, stream = await tls.open_tls(
            spec.ip, port, spec.server_name, trust=ctx.trust, connect_timeout_s=timeouts.connect,
            tls_timeout_s=timeouts.tls, clock=clock, tags=[], verify=spec.verify,
        )  # fmt: skip
        connect_s = tcp_obs.t - tcp_obs.t0 if tcp_obs.status.success else None
        if stream is None:
            outcome.failure = tls_obs.failure or tcp_obs.status.failure
            outcome.operation = (
                FailedOperation.TLS_HANDSHAKE if tcp_obs.status.success else FailedOperation.CONNECT
            )
            handshake_s = tls_obs.t - tls_obs.t0 if tcp_obs.status.success else None
            return None, connect_s, handshake_s
        connection = Connection(stream, spec.ip, port, spec.server_name)
        return connection, connect_s, tls_obs.t - tls_obs.t0
    tcp_obs, sock = await tcp.open_socket(
        spec.ip, port, timeout_s=timeouts.connect, clock=clock, tags=[]
    )
    if sock is None:
        outcome.failure, outcome.operation = tcp_obs.status.failure, FailedOperation.CONNECT
        return None, None, None
    return Connection(PlainSocket(sock), spec.ip, port), tcp_obs.t - tcp_obs.t0, None


async def _download(spec: _Download, ctx: MeasureContext, clock: Clock) -> ThroughputTransfer:
    """Return one capped download of `spec.url` from `spec.ip`, with its bytes over time."""
    limits = ctx.settings.throughput
    t0 = clock.now()
    counter, outcome = _Counter(clock), _Outcome()
    connect_s = handshake_s = None
    if spec.ip is None:
        outcome.failure, outcome.operation = Failure.DNS_NO_ANSWER, FailedOperation.DNS
    else:
        connection, connect_s, handshake_s = await _open(spec, ctx, clock, outcome)
        if connection is not None:
            connection.count_received(counter)
            try:
                async with asyncio.timeout(limits.duration_s) as deadline:
                    await _receive(connection, spec, counter, outcome, limits.max_bytes)
            except TimeoutError:
                if deadline.expired() and outcome.ttfb_s is not None:
                    outcome.stopped = "max_duration"
                else:
                    outcome.failure = Failure.GENERIC_TIMEOUT_ERROR
            except NETWORK_ERRORS as exc:
                outcome.failure = failure_string(exc)
            finally:
                connection.close()
    if outcome.failure is not None:
        outcome.stopped = "failure"
    elif outcome.stopped == "max_duration":
        counter.last_at = counter.elapsed()
    return ThroughputTransfer(
        role=spec.role,
        repeat=spec.repeat,
        url=spec.url,
        address=tcp.endpoint_text(spec.ip, _port(spec.url)) if spec.ip else None,
        server_name=spec.server_name,
        verified=spec.verify,
        failure=outcome.failure,
        x_failed_operation=outcome.operation if outcome.failure else None,
        status_code=outcome.status_code,
        connect_s=connect_s,
        handshake_s=handshake_s,
        ttfb_s=outcome.ttfb_s,
        bytes=counter.received,
        duration_s=round(counter.last_at if counter.received else counter.elapsed(), 6),
        stopped=outcome.stopped,
        samples=[ThroughputSample(t=round(t, 6), bytes=n) for t, n in counter.samples],
        t0=t0,
    )


def _suitable(transfer: ThroughputTransfer, min_bytes: int) -> bool:
    """Return whether a first download shows the object is worth measuring."""
    if transfer.failure is not None or transfer.status_code is None:
        return False
    if transfer.status_code >= 400:
        return False
    return transfer.stopped != "complete" or transfer.bytes >= min_bytes


async def _addresses(
    hosts: list[str], ctx: MeasureContext, clock: Clock
) -> tuple[dict[str, str | None], Sink]:
    """Return the first address of each host (IPv4 first) and the lookups' observations."""
    sink = Sink()
    log = AttemptLog(1, sink)
    found = await asyncio.gather(
        *(resolve(host, ctx, clock, log, 0, first_only=True) for host in hosts)
    )
    await log.settle()
    return {host: (a[0] if a else None) for host, a in zip(hosts, found, strict=True)}, sink


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


BUDGET_SPENT = "the run's throughput budget is spent ([throughput] max_bytes_per_run)"


async def measure_throughput(
    candidates: list[str],
    known: dict[str, str],
    ctx: MeasureContext,
    clock: Clock,
    *,
    budget_bytes: int | None = None,
) -> ThroughputTest:
    """Return the throughput test of a target whose large objects may be `candidates` (URLs).

    Candidates are tried in order until `objects_per_target` prove large enough; `known` maps
    hosts to the address the target's own measurement used (others are resolved again). An
    object is started only while `budget_bytes` holds its whole test (every download at its
    byte cap). The caller holds `ctx.throughput_lock`: one test at a time.
    """
    settings = ctx.settings.throughput
    one_test = settings.max_bytes * settings.repeats * 3
    address: dict[str, str | None] = dict(known)
    queries: list[DnsObservation] = []

    async def look_up(urls: list[str]) -> None:
        hosts = sorted({_host(url) for url in urls} - set(address))
        if hosts:
            resolved, sink = await _addresses(hosts, ctx, clock)
            address.update(resolved)
            queries.extend(sink.queries)

    objects: list[str] = []
    transfers: list[ThroughputTransfer] = []
    spent = False
    if candidates and (budget_bytes is None or budget_bytes >= one_test):
        await look_up(candidates)  # no object, no traffic (not even the controls' lookups)
    for url in candidates:
        if len(objects) >= settings.objects_per_target:
            break
        if budget_bytes is not None and budget_bytes - sum(t.bytes for t in transfers) < one_test:
            spent = True
            break
        first = _Download(TransferRole.TARGET, 1, url, address[_host(url)], _host(url), True)
        transfer = await _download(first, ctx, clock)
        transfers.append(transfer)
        if _suitable(transfer, settings.min_bytes):
            objects.append(url)
            await look_up(settings.controls)
            for spec in _references(url, address, len(objects) - 1, ctx):
                transfers.append(await _download(spec, ctx, clock))
    skipped = None
    if not objects:
        skipped = "no candidate object could be measured" if candidates else "no large object"
        skipped = BUDGET_SPENT if spent else skipped
    return ThroughputTest(
        objects=objects,
        innocuous_sni=settings.innocuous_sni,
        limits=ThroughputLimits(
            repeats=settings.repeats,
            duration_s=settings.duration_s,
            max_bytes=settings.max_bytes,
            min_bytes=settings.min_bytes,
        ),
        transfers=transfers,
        queries=queries,
        skipped=skipped,
    )


def _references(
    url: str, address: dict[str, str | None], offset: int, ctx: MeasureContext
) -> list[_Download]:
    """Return the rest of the object's downloads, in order: every repeat's references.

    The first target download has run; each repeat after it starts with a control, so the
    target's downloads are sandwiched between references. Each object (`offset`) starts its
    controls at a different site.
    """
    settings = ctx.settings.throughput
    controls = settings.controls
    host, https = _host(url), urlsplit(url).scheme == "https"
    downloads: list[_Download] = []
    for repeat in range(1, settings.repeats + 1):
        steps: list[_Download] = []
        if controls:
            control = controls[(repeat - 1 + offset) % len(controls)]
            steps.append(_Download(TransferRole.CONTROL, repeat, control,
                                   address[_host(control)], _host(control), True))  # fmt: skip
        if repeat > 1:
            steps.append(_Download(TransferRole.TARGET, repeat, url, address[host], host, True))
        if https:
            steps.append(_Download(TransferRole.SAME_ADDRESS, repeat, url, address[host],
                                   settings.innocuous_sni, False))  # fmt: skip
        if repeat == 1:
            steps.reverse()  # the target went first: the same address, then the control
        downloads += steps
    return downloads


__all__ = ["BUDGET_SPENT", "measure_throughput"]
