"""Throwaway certificate authorities and leaf certificates (trustme) for loopback TLS servers."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import trustme

# Names the default (trusted) certificate covers: DNS names the test DNS server resolves to
# loopback, plus the loopback addresses themselves.
TRUSTED_NAMES = ("trusted.test", "site.test", "*.site.test", "localhost", "127.0.0.1", "::1")

# SNI → which certificate the HTTPS and DoT listeners present. Anything else gets "trusted".
SNI_CERTIFICATES = {
    "trusted.test": "trusted",
    "rsa.test": "rsa",
    "untrusted.test": "untrusted",
    "expired.test": "expired",
    "wrong.test": "wrong",  # a valid certificate, for other.test
}


class TestPki:
    """Two CAs (one we trust, one we do not) and the leaf certificates the servers present.

    `ca_pem` is usable as `[tls] ca_bundle`; `rogue_ca_pem` is a CA nobody trusts. The "trusted"
    leaf is issued by `intermediate` (servers send leaf + intermediate); the others by the CAs.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA(organization_name="probe test CA")
        self.rogue_ca = trustme.CA(organization_name="probe rogue CA")
        # The trusted leaf comes from an intermediate, so servers send a chain of two.
        self.intermediate = self.ca.create_child_ca()
        self.ca_pem = directory / "probe-test-ca.pem"
        self.rogue_ca_pem = directory / "probe-rogue-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        self.rogue_ca.cert_pem.write_to_path(str(self.rogue_ca_pem))
        now = datetime.datetime.now(datetime.UTC)
        self.leaves: dict[str, trustme.LeafCert] = {
            "trusted": self.intermediate.issue_cert(*TRUSTED_NAMES),
            "rsa": self.ca.issue_cert("rsa.test", key_type=trustme.KeyType.RSA),
            "untrusted": self.rogue_ca.issue_cert("untrusted.test", "127.0.0.1", "::1"),
            "expired": self.ca.issue_cert(
                "expired.test",
                not_before=now - datetime.timedelta(days=60),
                not_after=now - datetime.timedelta(days=30),
            ),
            "wrong": self.ca.issue_cert("other.test"),
        }

    def leaf_context(self, leaf: str, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        """Return a server context presenting one leaf certificate (with its chain)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.leaves[leaf].configure_cert(context)
        context.set_alpn_protocols(list(alpn))
        return context

    def server_context(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        """Return a server context that picks the certificate by SNI (see SNI_CERTIFICATES).

        The SNI the client sent is stored on the SSL object as `probe_sni` (None without SNI).
        """
        contexts = {name: self.leaf_context(name, alpn) for name in self.leaves}
        default = contexts["trusted"]

        def choose(tls: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
            tls.probe_sni = server_name  # type: ignore[attr-defined]
            tls.context = contexts[SNI_CERTIFICATES.get(server_name or "", "trusted")]

        default.sni_callback = choose
        return default
