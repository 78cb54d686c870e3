"""Issue 18: the probe does not trust whatever address a helper echoes.

An echo (`x_client_address`) is accepted only when it is a plausible public address; what is
accepted is scrubbed, but names the probe's network (its ASN) only while the helpers agree.
"""

from __future__ import annotations

import ipaddress

import pytest

from probe.measure._local import LocalAddresses

ROUTABLE = [ipaddress.ip_network("203.0.113.0/24")]


@pytest.mark.parametrize(
    ("echo", "why"),
    [
        ("127.0.0.1", "loopback: the helper saw a proxy or a test rig"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.1.20", "private"),
        ("100.64.0.9", "shared address space (CGN): not what the world sees"),
        ("198.51.100.7", "documentation range not declared routable"),
        ("fd00::7", "unique local"),
        ("not an address", "arbitrary text a hostile helper would have us scrub"),
        ("example.org", "a name"),
        ("", "nothing"),
    ],
)
def test_an_implausible_echo_is_ignored(echo: str, why: str) -> None:
    local = LocalAddresses()
    assert not local.add_echoed("https://helper.example/", echo, ROUTABLE), why
    assert local.addresses == frozenset(), why


def test_a_public_echo_is_scrubbed_and_names_the_network() -> None:
    local = LocalAddresses()
    assert local.add_echoed("https://a.example/", "8.8.4.4", [])
    assert local.addresses == frozenset({"8.8.4.4"})
    assert local.public([]) == ["8.8.4.4"]


def test_a_mapped_echo_counts_as_its_ipv4_address() -> None:
    """A helper on a dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d."""
    local = LocalAddresses()
    assert local.add_echoed("https://a.example/", "::ffff:203.0.113.77", ROUTABLE)
    assert local.addresses == frozenset({"203.0.113.77"})


def test_a_declared_routable_echo_is_accepted() -> None:
    local = LocalAddresses()
    assert local.add_echoed("https://a.example/", "203.0.113.77", ROUTABLE)
    assert local.public(ROUTABLE) == ["203.0.113.77"]


def test_helpers_that_disagree_are_all_scrubbed_but_none_names_the_network() -> None:
    local = LocalAddresses()
    local.add_echoed("https://a.example/", "8.8.4.4", [])
    local.add_echoed("https://liar.example/", "9.9.9.9", [])
    assert local.addresses == frozenset({"8.8.4.4", "9.9.9.9"})
    assert local.disputed() == [4]
    assert local.public([]) == []


def test_helpers_that_agree_name_the_network() -> None:
    local = LocalAddresses()
    local.add_echoed("https://a.example/", "8.8.4.4", [])
    local.add_echoed("https://b.example/", "8.8.4.4", [])
    assert local.disputed() == []
    assert local.public([]) == ["8.8.4.4"]


def test_one_ipv4_and_one_ipv6_echo_are_no_dispute() -> None:
    """Dual stack: one helper reached over IPv4, another over IPv6."""
    local = LocalAddresses()
    local.add_echoed("https://a.example/", "8.8.4.4", [])
    local.add_echoed("https://b.example/", "2001:4860:4860::8844", [])
    assert local.disputed() == []
    assert local.public([]) == ["8.8.4.4", "2001:4860:4860::8844"]
