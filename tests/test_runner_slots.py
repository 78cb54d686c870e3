"""The runner's scheduling of a batch (issue 19), against real loopback servers."""

from __future__ import annotations

import asyncio

from servers import DnsEntry, DnsServer, HttpServer, TestPki, page, respond

from probe.config import load_settings
from probe.runner import check_targets
from probe.targets import load_catalogue, parse_target

SLOT_NAME = "slots.site.test"


def test_a_target_waiting_for_a_slot_starts_its_attempts_on_its_own_clock(
    dns_server: DnsServer, https_server: HttpServer, pki: TestPki
) -> None:
    """Issue 19 (found by bench/defaults_bench.py): a target's clock started before it got one
    of the run's slots, so after waiting it started all its attempts at once and fetched its
    page three times. The second target here waits for the first (one slot, a page that takes
    3 s); its own page loads at once, well within the backoff: one attempt."""
    dns_server.zone.set(SLOT_NAME, DnsEntry(a=("127.0.0.1",)))
    slow = https_server.route("/runner/slow", respond(page(), delay_s=3.0))
    fast = https_server.route("/runner/fast", respond(page()))
    settings = load_settings(
        None,
        {
            "resolver": {"servers": [f"udp://{dns_server.address}"], "late_reply_window_s": 0},
            "control": {"helpers": [], "doh": [], "sites": [], "domestic_sites": []},
            "tls": {"ca_bundle": str(pki.ca_pem)},
            "network": {"routable": ["127.0.0.1/32"]},
            "timeouts": {"http": 10},
            "measure": {"target_concurrency": 1, "retry_backoff_s": 2.0},
            "throughput": {"enabled": False},
            "packets": {"enabled": False},
        },
    )
    urls = [url.replace("127.0.0.1", SLOT_NAME) for url in (slow, fast)]
    catalogue = load_catalogue()
    results = asyncio.run(check_targets([parse_target(u, catalogue) for u in urls], settings))
    attempts = [r.endpoints[0].test_keys.attempts for r in results]
    assert attempts[1] == 1, f"the waiting target started {attempts[1]} attempts at once"
