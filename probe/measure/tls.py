"""TLS handshakes verified against the probe's own trust store (OONI df-006 `tls_handshakes`).

The handshake runs over a socket we own, with memory BIOs (`_sockets.TlsSocket`): a cancelled or
hostile handshake is closed at once, and there is no transport whose shutdown could hang.
`open_tls()` leaves a verified connection open, so the page can be fetched over the connection
whose handshake was recorded (one connection per attempt, as OONI's webconnectivitylte).
"""

from __future__ import annotations

import _ssl
import asyncio
import base64
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probe.errors import ConfigError
from probe.measure._certificates import summarize_certificate
from probe.measure._clock import Clock
from probe.measure._sockets import TlsSocket
from probe.measure.failures import SOCKET_ERRORS, failure_string
from probe.measure.tcp import dial, endpoint_text, open_socket
from probe.models.observations import (
    BinaryData,
    CertificateSummary,
    TcpObservation,
    TlsObservation,
)

__all__ = ["DEFAULT_ALPN", "TrustStore", "handshake", "open_tls", "summarize_certificate"]

DEFAULT_ALPN: tuple[str, ...] = ("h2", "http/1.1")  # what browsers (and OONI's probes) offer
_ENCODING_DER = getattr(_ssl, "ENCODING_DER", 2)  # for the Certificate objects of Python 3.11
_MAX_CHAIN = 16  # certificates recorded per handshake; a hostile server may send more


class TrustStore:
    """The probe's roots: Mozilla's (certifi), never the OS store, plus an optional extra bundle."""

    def __init__(self, ca_bundle: Path | None = None) -> None:
        self.ca_bundle = ca_bundle
        self._mozilla: str | None = None  # read with the first verifying context
        self._extra = _read_bundle(ca_bundle) if ca_bundle is not None else None
        self._contexts: dict[tuple[bool, tuple[str, ...]], ssl.SSLContext] = {}
        self._client_context: ssl.SSLContext | None = None  # the httpx clients'
        # An unusable bundle fails now, at start-up. Mozilla's roots (≈ 15 ms a context) are
        # loaded when a context is first needed: a check's first DNS query need not wait.
        self._load_extra(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))

    def _load_extra(self, context: ssl.SSLContext) -> None:
        if self._extra is None:
            return
        try:
            context.load_verify_locations(cadata=self._extra)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                f"[tls] ca_bundle {self.ca_bundle}: no PEM certificate could be loaded"
                f" ({exc}); give a file of '-----BEGIN CERTIFICATE-----' blocks"
            ) from exc

    def _build(self, *, verify: bool, alpn: tuple[str, ...]) -> ssl.SSLContext:
        # PROTOCOL_TLS_CLIENT loads no roots (unlike create_default_context): never the OS store.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if verify:
            if self._mozilla is None:
                import certifi  # with importlib.resources: not before a check's first query

                self._mozilla = Path(certifi.where()).read_text(encoding="ascii")
            context.load_verify_locations(cadata=self._mozilla)
            self._load_extra(context)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(list(alpn))
        return context

    def _cached(self, verify: bool, alpn: tuple[str, ...]) -> ssl.SSLContext:
        key = (verify, tuple(alpn))
        if key not in self._contexts:
            self._contexts[key] = self._build(verify=verify, alpn=key[1])
        return self._contexts[key]

    def verifying_context(self, alpn: tuple[str, ...] = DEFAULT_ALPN) -> ssl.SSLContext:
        """Return a cached client context that verifies chain and host name."""
        return self._cached(True, alpn)

    def capturing_context(self, alpn: tuple[str, ...] = DEFAULT_ALPN) -> ssl.SSLContext:
        """Return a cached client context that verifies nothing (to record an untrusted chain)."""
        return self._cached(False, alpn)

    def client_context(self) -> ssl.SSLContext:
        """Return the verifying context of the httpx clients (`http.make_client()` and
        `make_service_client()`), built once: loading Mozilla's roots into a context costs
        ≈ 15 ms of CPU, which the helper paid for every request it measured (issue 19).

        Apart from the handshakes' contexts: httpcore rewrites the ALPN list of the context it
        is given at every connect, to ["http/1.1"] for these HTTP/1.1 clients alike, which must
        not leak into the contexts the handshakes share (they offer h2 too).
        """
        if self._client_context is None:
            self._client_context = self._build(verify=True, alpn=("http/1.1",))
        return self._client_context


def _read_bundle(path: Path) -> str:
    """Return the PEM text of the extra bundle, or raise ConfigError naming the key and file."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a PEM (ASCII) file"
        raise ConfigError(f"[tls] ca_bundle {path}: cannot read it: {reason}") from exc
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(
            f"[tls] ca_bundle {path}: no PEM certificate in the file;"
            " give a file of '-----BEGIN CERTIFICATE-----' blocks"
        )
    return text


@dataclass(frozen=True)
class _Session:
    """What a completed handshake negotiated and the chain the server sent (leaf first)."""

    tls_version: str | None
    cipher_suite: str | None
    negotiated_protocol: str | None
    chain: list[bytes] = field(default_factory=list)


async def _secure(
    sock: socket.socket, server_name: str, context: ssl.SSLContext, timeout_s: float
) -> tuple[_Session, TlsSocket]:
    """Return the session of a TLS handshake over `sock` and the TLS stream it opened.

    Raises ssl/OS errors or TimeoutError; the caller owns (and closes) `sock` either way.
    """
    stream = TlsSocket(sock, context, server_name)
    async with asyncio.timeout(timeout_s):
        await stream.handshake()
    cipher = stream.tls.cipher()
    session = _Session(
        tls_version=stream.tls.version(),
        cipher_suite=cipher[0] if cipher else None,
        negotiated_protocol=stream.tls.selected_alpn_protocol(),
        chain=_peer_chain(stream.tls),
    )
    return session, stream


def _peer_chain(tls: ssl.SSLObject) -> list[bytes]:
    """Return the DER chain the server sent, leaf first (just the leaf if Python hides it)."""
    # Public from Python 3.13 (returns bytes); on 3.11 only the private _sslobj has it.
    getter: Any = getattr(tls, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    certificates = getter() if getter is not None else None
    if certificates:
        return [
            c if isinstance(c, bytes) else c.public_bytes(_ENCODING_DER)
            for c in certificates[:_MAX_CHAIN]
        ]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


async def _capture(
    ip: str, port: int, server_name: str, trust: TrustStore, connect_s: float, tls_s: float
) -> _Session | None:
    """Return the session of a non-verifying handshake (to record an untrusted chain), or None."""
    try:
        async with asyncio.timeout(connect_s):
            sock = await dial(ip, port)
    except SOCKET_ERRORS:
        return None
    try:
        session, _ = await _secure(sock, server_name, trust.capturing_context(), tls_s)
        return session
    except SOCKET_ERRORS:
        return None
    finally:
        sock.close()


def _summaries(chain: list[bytes]) -> list[CertificateSummary]:
    summaries = []
    for der in chain:
        try:
            summaries.append(summarize_certificate(der))
        except ValueError:  # the server's bytes are not a certificate we can parse
            continue
    return summaries


async def open_tls(
    ip: str,
    port: int,
    server_name: str,
    *,
    trust: TrustStore,
    connect_timeout_s: float,
    tls_timeout_s: float,
    clock: Clock,
    tags: list[str],
    verify: bool = True,
) -> tuple[TcpObservation, TlsObservation, TlsSocket | None]:
    """Return the connect and handshake observations, and the verified TLS stream, left open.

    As `handshake()`, but a verified connection is not closed: the caller owns the stream (it
    closes `stream.socket`) and may send its HTTP request over it. The stream is None when the
    connect or the handshake failed (verification included). `verify=False` accepts any chain
    (the throughput test's innocuous SNI, which the certificate does not name).
    """
    # The context first (the first one loads Mozilla's roots): neither the connect nor the
    # handshake time recorded may include it.
    context = trust.verifying_context() if verify else trust.capturing_context()
    tcp_observation, sock = await open_socket(
        ip, port, timeout_s=connect_timeout_s, clock=clock, tags=tags
    )
    t0 = clock.now()
    session: _Session | None = None
    stream: TlsSocket | None = None
    failure = tcp_observation.status.failure
    unverified = False
    if sock is not None:
        try:
            session, stream = await _secure(sock, server_name, context, tls_timeout_s)
        except SOCKET_ERRORS as exc:
            failure = failure_string(exc)
            unverified = isinstance(exc, ssl.SSLCertVerificationError)
        finally:
            if stream is None:  # failed or cancelled: nothing may outlive the handshake
                sock.close()
    t = clock.now()
    if unverified:
        session = await _capture(ip, port, server_name, trust, connect_timeout_s, tls_timeout_s)
    observation = _observation(endpoint_text(ip, port), server_name, failure, session, t0, t, tags)
    return tcp_observation, observation, stream


async def handshake(
    ip: str,
    port: int,
    server_name: str,
    *,
    trust: TrustStore,
    connect_timeout_s: float,
    tls_timeout_s: float,
    clock: Clock,
    tags: list[str],
) -> tuple[TcpObservation, TlsObservation]:
    """Return the connect and the handshake observations for server_name at ip:port.

    The chain is verified with `trust`; on a verification failure the failure is recorded
    (ssl_unknown_authority / ssl_invalid_hostname / ssl_invalid_certificate) and the chain is
    still captured (a second, non-verifying handshake). ALPN h2, http/1.1. When the connect
    fails, the TLS observation carries the connect's failure (the handshake never started).
    The connection is closed afterwards (`open_tls()` keeps it).
    """
    tcp_observation, tls_observation, stream = await open_tls(
        ip,
        port,
        server_name,
        trust=trust,
        connect_timeout_s=connect_timeout_s,
        tls_timeout_s=tls_timeout_s,
        clock=clock,
        tags=tags,
    )
    if stream is not None:
        stream.socket.close()
    return tcp_observation, tls_observation


def _observation(
    address: str,
    server_name: str,
    failure: str | None,
    session: _Session | None,
    t0: float,
    t: float,
    tags: list[str],
) -> TlsObservation:
    chain = session.chain if session is not None else []
    return TlsObservation(
        address=address,
        server_name=server_name,
        failure=failure,
        tls_version=session.tls_version if session else None,
        cipher_suite=session.cipher_suite if session else None,
        negotiated_protocol=session.negotiated_protocol if session else None,
        peer_certificates=[BinaryData(data=base64.b64encode(der).decode("ascii")) for der in chain],
        x_certificates=_summaries(chain),
        t0=t0,
        t=t,
        tags=list(tags),
    )
