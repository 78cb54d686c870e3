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


def test_each_address_that_may_be_ours_is_told_once() -> None:
    """Issue 19: the runner compiles the scrubbing of every address that may be ours as it is
    learnt or echoed, inside the late-reply window; an echo is recorded only by add_echoed."""
    told: list[str] = []
    local = LocalAddresses()
    local.on_address = told.append
    local.add("192.0.2.10")
    local.add("192.0.2.10")
    local.add("127.0.0.1")  # loopback: never ours
    local.heard("198.51.100.1")
    local.heard("192.0.2.10")
    assert told == ["192.0.2.10", "198.51.100.1"]
    assert local.addresses == frozenset({"192.0.2.10"})  # the echo is not recorded by heard
