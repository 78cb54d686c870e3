"""measure.tls: the trust store, certificate summaries and handshakes against loopback servers."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
from pathlib import Path

import certifi
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from servers import (
    Blackhole,
    HttpServer,
    ResetServer,
    ServerLoop,
    SilentServer,
    StreamServer,
    TestPki,
)

from probe.errors import ConfigError
from probe.measure._clock import Clock
from probe.measure.tls import TrustStore, handshake, summarize_certificate
from probe.models.observations import TcpObservation, TlsObservation

CONNECT_S = 1.0
TLS_S = 0.4


def _handshake(
    port: int, server_name: str, trust: TrustStore, tls_timeout_s: float = 2.0
) -> tuple[TcpObservation, TlsObservation]:
    return asyncio.run(
        handshake(
            "127.0.0.1",
            port,
            server_name,
            trust=trust,
            connect_timeout_s=CONNECT_S,
            tls_timeout_s=tls_timeout_s,
            clock=Clock(),
            tags=["attempt=1"],
        )
    )


def _certifi_roots() -> int:
    return Path(certifi.where()).read_text().count("-----BEGIN CERTIFICATE-----")


# --- TrustStore --------------------------------------------------------------------------------


def test_trust_store_is_mozilla_only() -> None:
    context = TrustStore().verifying_context()
    assert context.cert_store_stats()["x509_ca"] == _certifi_roots(), "never the OS store"


def test_trust_store_adds_the_extra_bundle(pki: TestPki) -> None:
    context = TrustStore(pki.ca_pem).verifying_context()
    assert context.cert_store_stats()["x509_ca"] == _certifi_roots() + 1


def test_contexts_are_cached_and_distinct(trust_store: TrustStore) -> None:
    assert trust_store.verifying_context() is trust_store.verifying_context()
    assert trust_store.capturing_context() is trust_store.capturing_context()
    assert trust_store.verifying_context() is not trust_store.capturing_context()
    assert trust_store.verifying_context(alpn=("dot",)) is not trust_store.verifying_context()
    # The httpx clients share one context (its roots loaded once: the helper built one per
    # request), never a handshake's (httpcore rewrites its ALPN to http/1.1).
    assert trust_store.client_context() is trust_store.client_context()
    assert trust_store.client_context() is not trust_store.verifying_context()
    assert trust_store.client_context() is not trust_store.verifying_context(("http/1.1",))
    assert trust_store.client_context().cert_store_stats()["x509_ca"] == _certifi_roots() + 1


BAD_BUNDLES = {
    "missing": (None, "cannot read it"),
    "empty": (b"", "no PEM certificate"),
    "garbage": (b"hello, not a certificate\n", "no PEM certificate"),
    "binary": (b"\xff\xfe\x00\x01", "cannot read it"),
    "broken_pem": (
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "no PEM certificate could be loaded",
    ),
}


@pytest.mark.parametrize("case", BAD_BUNDLES)
def test_unusable_ca_bundle_is_a_config_error(case: str, tmp_path: Path) -> None:
    content, message = BAD_BUNDLES[case]
    path = tmp_path / "bundle.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"\[tls\] ca_bundle") as raised:
        TrustStore(path)
    assert message in str(raised.value) and str(path) in str(raised.value), str(raised.value)


# --- summarize_certificate ---------------------------------------------------------------------


def _der(leaf: trustme.LeafCert) -> bytes:
    pem = leaf.cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


@pytest.mark.parametrize(
    ("leaf", "key"), [("trusted", "EC-secp256r1"), ("rsa", "RSA-2048 e=65537")]
)
def test_summarize_certificate(leaf: str, key: str, pki: TestPki) -> None:
    der = _der(pki.leaves[leaf])
    cert = x509.load_der_x509_certificate(der)
    got = summarize_certificate(der)
    assert got.public_key == key
    assert got.sha256 == hashlib.sha256(der).hexdigest()
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert got.spki_sha256 == hashlib.sha256(spki).hexdigest()
    assert got.subject == cert.subject.rfc4514_string() and "O=" in got.issuer
    assert got.not_before.tzinfo is not None and got.not_after.tzinfo is not None
    assert got.not_before < datetime.datetime.now(datetime.UTC) < got.not_after


def test_summary_lists_dns_and_ip_names(pki: TestPki) -> None:
    got = summarize_certificate(_der(pki.leaves["trusted"]))
    assert {"trusted.test", "site.test", "*.site.test", "127.0.0.1", "::1"} <= set(got.san)


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x01", b"not DER at all"])
def test_summary_of_garbage_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        summarize_certificate(data)


# --- handshake ---------------------------------------------------------------------------------


def test_trusted_handshake(https_server: HttpServer, trust_store: TrustStore) -> None:
    tcp, tls = _handshake(https_server.port, "trusted.test", trust_store)
    assert tcp.status.success and (tcp.ip, tcp.port) == ("127.0.0.1", https_server.port)
    assert tls.failure is None
    assert (tls.address, tls.server_name) == (f"127.0.0.1:{https_server.port}", "trusted.test")
    assert tls.tls_version in ("TLSv1.2", "TLSv1.3") and tls.cipher_suite
    assert tls.negotiated_protocol == "http/1.1"
    assert tls.tags == ["attempt=1"] and tcp.t <= tls.t0 <= tls.t


def test_chain_is_recorded_leaf_first(
    https_server: HttpServer, trust_store: TrustStore, pki: TestPki
) -> None:
    _, tls = _handshake(https_server.port, "trusted.test", trust_store)
    ders = [base64.b64decode(c.data) for c in tls.peer_certificates]
    assert len(ders) == 2, "leaf and intermediate, as the server sent them"
    assert ders[0] == _der(pki.leaves["trusted"])
    leaf, intermediate = tls.x_certificates
    assert "trusted.test" in leaf.san
    assert leaf.issuer == intermediate.subject
    assert [s.sha256 for s in tls.x_certificates] == [hashlib.sha256(d).hexdigest() for d in ders]


def test_server_name_may_be_an_ip(https_server: HttpServer, trust_store: TrustStore) -> None:
    _, tls = _handshake(https_server.port, "127.0.0.1", trust_store)
    assert tls.failure is None, "the default certificate has 127.0.0.1 as an IP SAN"


def test_alpn_offers_h2_first(
    server_loop: ServerLoop, pki: TestPki, trust_store: TrustStore
) -> None:
    with HttpServer(server_loop, ssl_context=pki.server_context(alpn=("h2",))) as server:
        _, tls = _handshake(server.port, "trusted.test", trust_store)
    assert (tls.failure, tls.negotiated_protocol) == (None, "h2")


# name: (server name, failure, text in the leaf's issuer, a check of the leaf summary)
UNVERIFIED = {
    "unknown_authority": ("untrusted.test", "ssl_unknown_authority", "probe rogue CA"),
    "expired": ("expired.test", "ssl_invalid_certificate", "probe test CA"),
    "wrong_host": ("wrong.test", "ssl_invalid_hostname", "probe test CA"),
}


@pytest.mark.parametrize("case", UNVERIFIED)
def test_unverified_chain_is_failed_and_still_captured(
    case: str, https_server: HttpServer, trust_store: TrustStore
) -> None:
    server_name, failure, issuer = UNVERIFIED[case]
    tcp, tls = _handshake(https_server.port, server_name, trust_store)
    assert tcp.status.success, case
    assert tls.failure == failure, f"{case}: failure expected {failure}, got {tls.failure}"
    assert tls.peer_certificates and tls.x_certificates, f"{case}: chain not captured"
    leaf = tls.x_certificates[0]
    assert issuer in leaf.issuer, f"{case}: issuer {leaf.issuer}"
    assert tls.tls_version is not None and tls.no_tls_verify is False
    if case == "expired":
        assert leaf.not_after < datetime.datetime.now(datetime.UTC)
    if case == "wrong_host":
        assert leaf.san == ["other.test"]


def test_handshake_timeout_is_bounded(silent_server: SilentServer, trust_store: TrustStore) -> None:
    tcp, tls = _handshake(silent_server.port, "trusted.test", trust_store, tls_timeout_s=TLS_S)
    assert tcp.status.success
    assert (tls.failure, tls.peer_certificates) == ("generic_timeout_error", [])
    assert TLS_S <= tls.t - tls.t0 < TLS_S + 1.0, tls.t - tls.t0


def test_reset_on_client_hello(reset_server: ResetServer, trust_store: TrustStore) -> None:
    tcp, tls = _handshake(reset_server.port, "trusted.test", trust_store)
    assert tcp.status.success and tls.failure == "connection_reset"


class _PlainHttpAnswer(StreamServer):
    """Answers a ClientHello with plain HTTP, as a blockpage server on port 443 may."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()


def test_plain_http_answer_is_a_failed_handshake(
    server_loop: ServerLoop, trust_store: TrustStore
) -> None:
    with _PlainHttpAnswer(server_loop) as server:
        _, tls = _handshake(server.port, "trusted.test", trust_store)
    assert tls.failure == "ssl_failed_handshake"


@pytest.mark.parametrize("case", ["refused", "timeout"])
def test_failed_connect_is_carried_by_both_observations(
    case: str, closed_port: int, blackhole: Blackhole, trust_store: TrustStore
) -> None:
    port, failure = (
        (closed_port, "connection_refused")
        if case == "refused"
        else (blackhole.port, "generic_timeout_error")
    )
    tcp, tls = _handshake(port, "trusted.test", trust_store)
    assert (tcp.status.success, tcp.status.failure) == (False, failure)
    assert (tls.failure, tls.tls_version, tls.peer_certificates) == (failure, None, [])
