"""Registration challenges and the per-address registration count, with a clock of the test's."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from starlette.requests import Request

from probe.collector.admission import RegistrationLimit
from probe.collector.challenge import CHALLENGE_TTL_S, Challenges
from probe.errors import BundleError, SignatureError
from probe.ship.identity import create_identity
from probe.ship.keys import registration_message


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_challenge_proves_the_key_until_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    challenges = Challenges(clock)
    identity = create_identity(tmp_path)[0]
    nonce, _ = challenges.issue()
    raw = base64.b64decode(nonce)
    signature = base64.b64encode(
        identity.private_key.sign(registration_message(raw, identity.public_key_raw))
    ).decode()
    challenges.verify(nonce, identity.public_key_raw, signature)
    clock.now += CHALLENGE_TTL_S + 1
    with pytest.raises(SignatureError, match="expired") as expired:
        challenges.verify(nonce, identity.public_key_raw, signature)
    assert expired.value.code == "bad_challenge"
    other = Challenges(clock)  # a restarted collector: another secret
    with pytest.raises(SignatureError, match="not one this collector gave"):
        other.verify(nonce, identity.public_key_raw, signature)
    tampered = bytearray(raw)
    tampered[0] ^= 1  # a later expiry, without the secret
    with pytest.raises(SignatureError) as forged:
        challenges.verify(base64.b64encode(tampered).decode(), identity.public_key_raw, signature)
    assert forged.value.code == "bad_challenge"


def test_registrations_per_client_are_counted_over_a_sliding_hour() -> None:
    clock = Clock()
    limit = RegistrationLimit(2, clock)
    limit.take("192.0.2.1")
    clock.now += 1800
    limit.take("192.0.2.1")
    with pytest.raises(BundleError) as refused:
        limit.take("192.0.2.1")
    assert refused.value.code == "too_many_registrations"
    limit.take("2001:db8::/64")  # another client has its own share
    clock.now += 1801  # the first one is an hour old: one place again
    limit.take("192.0.2.1")
    with pytest.raises(BundleError):
        limit.take("192.0.2.1")


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    return Request({"type": "http", "client": (peer, 40000), "headers": headers})


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() -> None:
    import ipaddress

    from probe.collector.admission import client_of

    proxies = [ipaddress.ip_network("10.0.0.0/24")]
    cases = {
        # peer, X-Forwarded-For, proxies → the client counted
        "no proxy configured: the header is the client's lie": (
            "198.51.100.7", "203.0.113.5", [], "198.51.100.7"),
        "an untrusted peer's header is ignored": (
            "198.51.100.7", "203.0.113.5", proxies, "198.51.100.7"),
        "through our proxy": ("10.0.0.2", "203.0.113.5", proxies, "203.0.113.5"),
        "a forged hop left of the real one": (
            "10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.3", proxies, "203.0.113.5"),
        "an IPv6 client is its /64": (
            "2001:db8:1:2:aaaa::1", None, [], "2001:db8:1:2::/64"),
        "an IPv4-mapped peer is the IPv4 address": ("::ffff:192.0.2.9", None, [], "192.0.2.9"),
        "garbage in the header: the proxy's view": ("10.0.0.2", "not-an-ip", proxies, "10.0.0.2"),
    }  # fmt: skip
    for case, (peer, forwarded, trusted, expected) in cases.items():
        assert client_of(_request(peer, forwarded), trusted) == expected, case
