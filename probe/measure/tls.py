"""TLS handshakes verified against the probe's own trust store. STUB: owned by the measure helper."""

from __future__ import annotations

import ssl
from pathlib import Path

from probe.measure._clock import Clock
from probe.models.observations import CertificateSummary, TcpObservation, TlsObservation


class TrustStore:
    """The probe's roots: Mozilla's (certifi), never the OS store, plus an optional extra bundle."""

    def __init__(self, ca_bundle: Path | None = None) -> None:
        raise NotImplementedError

    def verifying_context(self) -> ssl.SSLContext:
        """Return a cached client context that verifies chain and host name."""
        raise NotImplementedError

    def capturing_context(self) -> ssl.SSLContext:
        """Return a cached client context that verifies nothing (to record an untrusted chain)."""
        raise NotImplementedError


def summarize_certificate(der: bytes) -> CertificateSummary:
    """Return the summary (subject, issuer, fingerprints, validity, SAN, key) of a DER cert."""
    raise NotImplementedError


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
    still captured (a second, non-verifying handshake). ALPN h2, http/1.1.
    """
    raise NotImplementedError
