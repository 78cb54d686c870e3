"""Issue 18: the helper cannot be made to measure its own host or a cloud's metadata service.

Replayed against the real helper (uvicorn on loopback). The host's own non-loopback addresses
are listed in `[network] routable`, so only the own-address rule stands between a client and a
trap listening there (bound like a service on 0.0.0.0 behind a cloud firewall): zero hits proves
the refusal. Metadata endpoints and IPv4-carrying IPv6 prefixes are refused even when
`routable` covers the whole internet.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from helper import conftest as helper_fixtures
from helper.conftest import StartHelper
from helper.loopback import Internet, Trap, control
from helper.test_refusals import assert_skipped
from servers import ServerLoop

from probe.helper.guard import DestinationPolicy
from probe.helper.interfaces import HostAddresses, host_addresses

EVERYWHERE = ["0.0.0.0/0", "::/0"]

# The helper's fixtures (tests/helper/conftest.py), used here as they are.
internet = helper_fixtures.internet
start_helper = helper_fixtures.start_helper


def own_addresses() -> list[str]:
    """Return the host's non-loopback, non-link-local addresses, as `ip` reports them."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    try:
        listing = json.loads(subprocess.run([ip, "-j", "addr"], capture_output=True,
                                            check=True, text=True).stdout)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return []
    found = [a["local"] for i in listing for a in i.get("addr_info", [])]
    return [a for a in found if not ipaddress.ip_address(a).is_loopback
            and not ipaddress.ip_address(a).is_link_local]  # fmt: skip


OWN = own_addresses()
needs_own = pytest.mark.skipif(not OWN, reason="this host has no non-loopback address")


def test_the_kernel_lists_every_address_ip_addr_shows() -> None:
    assert set(OWN) <= {str(a) for a in host_addresses()}


@pytest.fixture
def own_trap(server_loop: ServerLoop) -> Iterator[Trap]:
    """A listener on the host's first own address: a service the helper must never reach."""
    with Trap(server_loop, host=OWN[0]) as trap:
        assert isinstance(trap, Trap)
        yield trap


@needs_own
def test_the_host_own_address_is_refused_even_if_routable(
    internet: Internet, start_helper: StartHelper, own_trap: Trap
) -> None:
    own = OWN[0]
    helper = start_helper(internet.settings(network={"routable": ["127.0.0.1/32", own]}))
    endpoint = f"[{own}]:{own_trap.port}" if ":" in own else f"{own}:{own_trap.port}"
    result = control(
        helper, {"http_request": f"http://{endpoint}/admin", "tcp_connect": [endpoint]}
    )
    assert_skipped(result, own)
    assert own_trap.hits == 0, "the helper reached a service on its own host"
    assert result.http_request.status_code == -1


@needs_own
@pytest.mark.parametrize("own", OWN)
def test_without_the_own_address_rule_the_trap_would_be_reachable(own: str) -> None:
    """The test above can fail: the same policy that does not know its addresses allows them."""
    routable = [ipaddress.ip_network(own)]
    blind = DestinationPolicy(routable, own=HostAddresses(read=frozenset))
    assert blind.allows(own)
    assert not DestinationPolicy(routable).allows(own)


NEVER = {
    "AWS/GCP/Azure/Oracle metadata": "169.254.169.254",
    "AWS ECS credentials": "169.254.170.2",
    "AWS IMDS over IPv6": "fd00:ec2::254",
    "GCP metadata over IPv6": "fd20:ce::254",
    "Alibaba metadata": "100.100.100.200",
    "Azure WireServer": "168.63.129.16",
    "IPv4-compatible ::/96 (loopback inside)": "::7f00:1",
    "IPv4-compatible ::/96 (public inside)": "::808:808",
    "IPv4-translated ::ffff:0:0:0/96": "::ffff:0:7f00:1",
    "local-use NAT64 64:ff9b:1::/48": "64:ff9b:1::a00:1",
    "IPv4-mapped metadata": "::ffff:a9fe:a9fe",
    "NAT64 of Azure WireServer": "64:ff9b::a83f:8110",
}


@pytest.mark.parametrize("case", sorted(NEVER))
def test_metadata_and_ipv4_carrying_prefixes_are_refused_whatever_routable_says(
    case: str, internet: Internet, start_helper: StartHelper
) -> None:
    helper = start_helper(internet.settings(network={"routable": EVERYWHERE}))
    ip = NEVER[case]
    entry = f"[{ip}]:80" if ":" in ip else f"{ip}:80"
    result = control(helper, {"http_request": internet.url(), "tcp_connect": [entry]})
    assert_skipped(result, ip)


def test_operator_refused_ranges_are_refused(internet: Internet, start_helper: StartHelper) -> None:
    """A public address that reaches the host through NAT is on no interface: listed instead."""
    settings = internet.settings(
        network={"routable": ["127.0.0.1/32", "198.51.100.0/24"]},
        helper={"refused": ["198.51.100.7/32"]},
    )
    helper = start_helper(settings)
    result = control(helper, {"http_request": internet.url(), "tcp_connect": ["198.51.100.7:80"]})
    assert_skipped(result, "198.51.100.7")


@needs_own
def test_a_lab_may_let_its_helper_measure_sites_on_its_own_addresses() -> None:
    """`[helper] own_addresses_allowed`: the lab's helper shares a namespace with the sites."""
    own = ipaddress.ip_network(OWN[0])
    lab = DestinationPolicy([own], own_allowed=[own, ipaddress.ip_network("127.0.0.0/8")])
    assert lab.allows(OWN[0])
    assert not lab.allows("127.0.0.1"), "loopback stays refused"
    assert not lab.allows("169.254.169.254"), "metadata stays refused"
