"""Issue 18: a stored record keeps no trace of the probe's address, whatever field holds it.

A record is built as the probe records hostile content: a Latin-1 page echoing the address
(stored as base64), a gzip'd body recorded raw, a body in a content coding the probe cannot
open, UTF-16 text, headers, URLs, DNS answers and a certificate naming the address. After
`runner.scrub` every value, decoded as it was stored, is searched for every spelling.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import ipaddress
import json
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.measure._certificates import summarize_certificate
from probe.models.observations import (
    BinaryData,
    DnsAnswer,
    DnsObservation,
    HttpRequestRecord,
    HttpResponseRecord,
    HttpTransaction,
    TlsObservation,
)
from probe.models.results import EndpointResult, TargetResult, TestKeys, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind
from probe.observe.spellings import address_pattern
from probe.runner import scrub

OURS = "203.0.113.77"
OURS6 = "2001:db8::77"
SPELLINGS = [
    OURS, "203-0-113-77", "203_0_113_77", "203%2E0%2E113%2E77", "77.113.0.203", "3405803853",
    "2001:db8::77", "2001:0db8:0000:0000:0000:0000:0000:0077", "2001-db8--77",
]  # fmt: skip
NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def certificate_naming(address: str) -> bytes:
    """Return a self-signed DER certificate with `address` in its CN and as an iPAddress SAN."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"host-{address.replace('.', '-')}")])
    san = x509.SubjectAlternativeName(
        [x509.DNSName(f"{address}.sslip.io"), x509.IPAddress(ipaddress.ip_address(address))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def response(body: bytes | str, headers: dict[str, str]) -> HttpResponseRecord:
    raw = body.encode() if isinstance(body, str) else body
    stored: str | BinaryData = (
        body if isinstance(body, str) else BinaryData(data=base64.b64encode(body).decode())
    )
    return HttpResponseRecord(
        code=200, headers=headers, headers_list=list(headers.items()), body=stored,
        x_body_length=len(raw), x_body_sha256=hashlib.sha256(raw).hexdigest(),
    )  # fmt: skip


def transaction(url: str, body: bytes | str, headers: dict[str, str]) -> HttpTransaction:
    return HttpTransaction(
        address="192.0.2.80:80",
        request=HttpRequestRecord(url=url, headers={"X-Real-IP": OURS}),
        response=response(body, headers),
        t0=0.0,
        t=0.1,
    )


def hostile_record(page: str, der: bytes) -> TargetResult:
    latin1 = f"<p>Votre adresse IP est {page} : café</p>".encode("latin-1")
    requests = [
        transaction("http://example.org/latin1", latin1, {"Content-Type": "text/html"}),
        transaction(
            "http://example.org/gz", gzip.compress(latin1), {"Content-Type": "application/gzip"}
        ),
        transaction(
            "http://example.org/br", b"\x8b\x07\x80" + page.encode(), {"Content-Encoding": "br"}
        ),
        transaction(
            f"http://example.org/?ip={page}", f"ip: {page}".encode("utf-16-le").decode(), {}
        ),
        transaction("http://example.org/h", "", {"Location": f"http://host-{page}.example/"}),
    ]
    tls = TlsObservation(
        address="192.0.2.80:443", server_name="example.org", t0=0.0, t=0.1,
        peer_certificates=[BinaryData(data=base64.b64encode(der).decode())],
        x_certificates=[summarize_certificate(der)],
    )  # fmt: skip
    dns = DnsObservation(
        hostname="myip.example", query_type="PTR", engine="udp", resolver_address="192.0.2.53:53",
        answers=[DnsAnswer(answer_type="A", ipv4=OURS), DnsAnswer(answer_type="AAAA", ipv6=OURS6)],
        t0=0.0, t=0.1,
    )  # fmt: skip
    endpoint = Endpoint(
        kind=EndpointKind.WEB, host="example.org", port=80, url="http://example.org/"
    )
    keys = TestKeys(queries=[dns], tls_handshakes=[tls], requests=requests)
    return TargetResult(
        input="http://example.org/", verdict=Verdict.ACCESSIBLE,
        target=Target(input="http://example.org/", kind=TargetKind.URL, name="example.org",
                      endpoints=[endpoint]),
        endpoints=[EndpointResult(endpoint=endpoint, verdict=Verdict.ACCESSIBLE, test_keys=keys)],
        measurement_start_time=NOW, test_runtime=1.0, software_version="test",
    )  # fmt: skip


def every_decoding(value: Any) -> list[str]:
    """Return every string of a serialized record, base64 values also decoded (and inflated)."""
    found: list[str] = []
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, list):
        for item in value:
            found += every_decoding(item)
    elif isinstance(value, dict):
        if value.get("format") == "base64":
            raw = base64.b64decode(value["data"])
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            found += [raw.decode("latin-1"), raw.decode("utf-16-le", "replace")]
        for key, item in value.items():
            found += [key, *every_decoding(item)]
    return found


def assert_no_trace(result: TargetResult) -> None:
    pattern = address_pattern([OURS, OURS6])
    assert pattern is not None
    whole = re.compile("|".join(f.source for f in pattern.families), re.IGNORECASE)  # every one
    for text in every_decoding(json.loads(result.model_dump_json())):
        match = whole.search(text)
        assert match is None, f"{match.group()!r} survived in {text[:120]!r}"
        for spelling in SPELLINGS:
            assert spelling not in text, f"{spelling!r} survived in {text[:120]!r}"


@settings(max_examples=25, deadline=None)
@given(page=st.sampled_from(SPELLINGS))
def test_no_spelling_survives_anywhere_in_a_record(page: str) -> None:
    der = certificate_naming(OURS)
    scrubbed = scrub(hostile_record(page, der), frozenset({OURS, OURS6}))
    assert_no_trace(scrubbed)


def test_bodies_keep_their_encoding_and_their_hash_is_of_what_is_stored() -> None:
    scrubbed = scrub(hostile_record(OURS, certificate_naming(OURS)), frozenset({OURS}))
    responses = [r.response for r in scrubbed.endpoints[0].test_keys.requests]
    latin1, gz, br = (r for r in responses[:3] if r is not None)
    assert isinstance(latin1.body, BinaryData)
    text = base64.b64decode(latin1.body.data).decode("latin-1")
    assert text == "<p>Votre adresse IP est [scrubbed] : café</p>"
    for record in (latin1, gz):
        assert isinstance(record.body, BinaryData)
        stored = base64.b64decode(record.body.data)
        assert record.x_body_sha256 == hashlib.sha256(stored).hexdigest()
    assert br.body == "[scrubbed]", "a body the probe cannot open cannot be checked: dropped"


def test_a_certificate_is_masked_in_place_and_still_parses() -> None:
    der = certificate_naming(OURS)
    scrubbed = scrub(hostile_record(OURS, der), frozenset({OURS}))
    tls = scrubbed.endpoints[0].test_keys.tls_handshakes[0]
    masked = base64.b64decode(tls.peer_certificates[0].data)
    assert len(masked) == len(der)
    cert = x509.load_der_x509_certificate(masked)
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in ips.get_values_for_type(x509.IPAddress)] == ["0.0.0.0"]
    # The summary's fingerprint is that of the stored certificate, not of the one naming us.
    assert tls.x_certificates[0].sha256 == hashlib.sha256(masked).hexdigest()
    assert hashlib.sha256(der).hexdigest() not in scrubbed.model_dump_json()


def test_what_does_not_name_us_is_left_as_it_was() -> None:
    other = "198.51.100.1"
    record = hostile_record(other, certificate_naming(other))
    scrubbed = scrub(record, frozenset({OURS}))
    before, after = record.endpoints[0].test_keys, scrubbed.endpoints[0].test_keys
    assert after.tls_handshakes == before.tls_handshakes
    for index in (0, 1, 3, 4):  # all but the body in a coding the probe cannot open
        assert after.requests[index].response == before.requests[index].response
