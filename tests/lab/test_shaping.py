"""The lab's throttling is real, without the probe: curl in the client namespace times downloads.

The throughput scenarios (lab/scenarios.py) expect the probe to tell SNI-keyed throttling from
throttling of an address and from a slow network. These tests prove the lab does what those
scenarios say, with an independent client: the same object from Twitter's address, once with
SNI twitter.com and once with SNI example.org (certificate not checked, as the probe's
same-address download does), and from a control site.
"""

from __future__ import annotations

import shutil

import pytest

from . import world
from .netns import Lab
from .scenarios import SCENARIOS

TWITTER = world.SITES_BY_KEY["twitter"].address
WIKIPEDIA = world.SITES_BY_KEY["wikipedia"].address
MAX_TIME_S = 2
MBIT = 1e6 / 8  # bytes/s


def _speed(lab: Lab, server_name: str, address: str, host: str) -> float:
    """Return curl's average download speed (bytes/s) of the large object, over MAX_TIME_S."""
    done = lab.exec(
        "client",
        "curl",
        "--silent",
        "--insecure",
        "--resolve",
        f"{server_name}:443:{address}",
        "--header",
        f"Host: {host}",
        "--output",
        "/dev/null",
        "--write-out",
        "%{speed_download} %{size_download}",
        "--max-time",
        str(MAX_TIME_S),
        f"https://{server_name}/lab/large.bin",
        check=False,
    )
    # 28: cut at --max-time, which a throttled download is; anything else is a failure.
    assert done.returncode in (0, 28), f"curl {server_name} → {done.returncode}: {done.stderr}"
    speed, size = done.stdout.split()
    assert int(size) > 0, f"curl {server_name} at {address}: nothing received"
    return float(speed)


def _speeds(lab: Lab, scenario: str) -> dict[str, float]:
    if shutil.which("curl") is None:
        pytest.skip("the shaping tests need curl (Debian: curl)")
    lab.reset()
    lab.apply(SCENARIOS[scenario].censor)
    try:
        return {
            "twitter": _speed(lab, "twitter.com", TWITTER, "twitter.com"),
            "same_address": _speed(lab, "example.org", TWITTER, "twitter.com"),
            "control": _speed(lab, "www.wikipedia.org", WIKIPEDIA, "www.wikipedia.org"),
        }
    finally:
        lab.reset()


def test_sni_keyed_throttling_slows_only_the_twitter_name(lab: Lab) -> None:
    speeds = _speeds(lab, "sni_throttled")
    assert speeds["twitter"] < 5 * MBIT, f"SNI twitter.com not throttled: {speeds}"
    assert speeds["same_address"] >= 5 * speeds["twitter"], (
        f"the same address with SNI example.org is not >= 5x faster than twitter.com: {speeds}"
    )
    assert speeds["control"] >= 5 * speeds["twitter"], f"the control is slow too: {speeds}"


def test_address_throttling_slows_every_name_on_the_address(lab: Lab) -> None:
    speeds = _speeds(lab, "throttled_platform")
    assert speeds["twitter"] < 5 * MBIT, f"Twitter's address not throttled: {speeds}"
    assert speeds["same_address"] < 5 * MBIT, f"another SNI escaped the throttling: {speeds}"
    assert speeds["control"] >= 5 * speeds["twitter"], f"the control is slow too: {speeds}"


def test_congested_link_slows_everything(lab: Lab) -> None:
    speeds = _speeds(lab, "congested_link")
    assert all(speed < 3 * MBIT for speed in speeds.values()), f"not all slow: {speeds}"
