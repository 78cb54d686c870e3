"""The probe's own addresses never survive in a record."""

from __future__ import annotations

import pytest

from probe.measure._local import LocalAddresses
from probe.observe.privacy import SCRUBBED, scrub_text


@pytest.mark.parametrize(
    ("text", "address", "expected"),
    [
        ("from 192.0.2.7 ok", "192.0.2.7", f"from {SCRUBBED} ok"),
        ('"ip": "192.0.2.7"', "192.0.2.7", f'"ip": "{SCRUBBED}"'),
        ("192.0.2.70 is someone else", "192.0.2.7", "192.0.2.70 is someone else"),
        ("10.192.0.2.7", "192.0.2.7", "10.192.0.2.7"),
        (
            "X-Forwarded-For: 192.0.2.7, 10.0.0.1",
            "192.0.2.7",
            f"X-Forwarded-For: {SCRUBBED}, 10.0.0.1",
        ),
        ("[2001:db8::7]:443", "2001:db8::7", f"[{SCRUBBED}]:443"),
        ("2001:db8::77", "2001:db8::7", "2001:db8::77"),
        ("your ip is 192.0.2.7.", "192.0.2.7", f"your ip is {SCRUBBED}."),
    ],
)
def test_scrub_respects_address_boundaries(text: str, address: str, expected: str) -> None:
    assert scrub_text(text, [address]) == expected


def test_scrub_without_addresses_changes_nothing() -> None:
    assert scrub_text("192.0.2.7", []) == "192.0.2.7"


def test_local_addresses_learns_without_sending_and_skips_loopback() -> None:
    local = LocalAddresses()
    local.learn_towards(["127.0.0.1", "::1"])
    assert local.addresses == frozenset()
    local.add("127.0.0.1")
    local.add("not an ip")
    assert local.addresses == frozenset()
    local.add("192.0.2.9")
    assert local.addresses == frozenset({"192.0.2.9"})
