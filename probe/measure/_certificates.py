"""Certificate summaries: what a person needs to judge a certificate without decoding DER.

cryptography is imported by the first summary, not with the module: a check then pays for it
(≈ 20 ms) during its measurement, while it waits for late DNS replies anyway (issue 19).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from probe.models.observations import CertificateSummary

if TYPE_CHECKING:
    from cryptography import x509


def summarize_certificate(der: bytes) -> CertificateSummary:
    """Return the summary (subject, issuer, fingerprints, validity, SAN, key) of a DER cert.

    Raises ValueError when `der` is not a parseable X.509 certificate (servers are untrusted:
    callers that summarise a peer's chain skip such entries).
    """
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    return CertificateSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=hashlib.sha256(_spki_der(der)).hexdigest(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        san=_subject_alt_names(cert),
        public_key=_describe_key(cert),
    )


def _der_item(data: bytes, offset: int) -> tuple[int, int, int]:
    """Return (tag, content start, end) of the DER element at `offset`."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        start, length = offset + 2, first
    else:
        size = first & 0x7F
        if size == 0 or size > 4:
            raise ValueError("unsupported DER length")
        start = offset + 2 + size
        length = int.from_bytes(data[offset + 2 : start], "big")
    if start + length > len(data):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _spki_der(der: bytes) -> bytes:
    """Return the SubjectPublicKeyInfo exactly as encoded in the certificate (RFC 5280 §4.1).

    Hashing the certificate's own bytes (not a re-encoding) matches what HPKP-style pins and
    `openssl x509 -pubkey | openssl dgst` compute, whatever the key algorithm.
    """
    _, certificate, _ = _der_item(der, 0)
    _, tbs, _ = _der_item(der, certificate)
    position = tbs
    tag, _, end = _der_item(der, position)
    if tag == 0xA0:  # [0] EXPLICIT version
        position = end
    for _ in range(5):  # serialNumber, signature, issuer, validity, subject
        _, _, position = _der_item(der, position)
    _, _, end = _der_item(der, position)
    return der[position:end]


def _subject_alt_names(cert: x509.Certificate) -> list[str]:
    """Return the DNS names and IP addresses of the subjectAltName extension."""
    from cryptography import x509

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return []
    names: list[str] = list(extension.value.get_values_for_type(x509.DNSName))
    names += [str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress)]
    return names


def _describe_key(cert: x509.Certificate) -> str:
    """Return the key as "RSA-2048 e=65537", "EC-secp256r1", "Ed25519", …"""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):  # unsupported or malformed: name it by its OID
        return f"unsupported {cert.public_key_algorithm_oid.dotted_string}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size} e={key.public_numbers().e}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__
