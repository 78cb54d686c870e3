"""A blocked target's packet tests: planned by decide/followup.py, run one target at a time.

The plan's inputs that are not the target's own come from here: the settings' limits and the
silent hosts (configured, else the control helpers' addresses, looked up once per run). The
run's control traces are kept here too, so each is traced once per run (issue 19).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from probe import decide
from probe.config import Settings
from probe.measure._clock import Clock
from probe.measure.plan import MeasureContext
from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.verdicts import Verdict

if TYPE_CHECKING:  # imported with the first blocked target's tests (issue 19)
    from probe.measure.packets import ControlTraces
    from probe.models.packets import PacketEvidence, PacketPlan
    from probe.models.results import EndpointResult


def packet_plan(
    endpoints: list[EndpointResult], settings: Settings, silent_hosts: list[str]
) -> PacketPlan:
    """Return the packet probes worth running for a blocked target's endpoints, within the
    settings' limits (decide/followup.py `packet_plan()`)."""
    packets = settings.packets
    return decide.packet_plan(
        endpoints, silent_hosts, routable=settings.network.routable, localise=packets.localise,
        traces_per_target=packets.traces_per_target, control_name=packets.control_name,
    )  # fmt: skip


class PacketRun:
    """One run's packet tests: the silent hosts and control traces they share, one target's
    tests at a time (`ctx.packet_lock`)."""

    def __init__(
        self,
        settings: Settings,
        ctx: MeasureContext,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._ctx = ctx
        self._silent: list[str] | None = None
        self._control_traces: ControlTraces = {}  # the run's control traces, each traced once
        self.on_status = on_status  # what a trace is waiting for

    async def test(
        self, verdict: Verdict, endpoints: list[EndpointResult], clock: Clock
    ) -> PacketEvidence | None:
        """Return a target's packet evidence; None if none is due: the tests are off, the
        target was not found blocked, or nothing is worth probing."""
        if not self._settings.packets.enabled or not decide.packets_due(verdict):
            return None
        plan = packet_plan(endpoints, self._settings, await self._silent_hosts())
        if plan.is_empty:
            return None
        from probe.measure.packets import measure_packets

        async with self._ctx.packet_lock:  # one target's packet tests at a time
            return await measure_packets(
                plan, self._settings.packets, clock, self._settings.timeouts.connect,
                control_traces=self._control_traces, on_status=self.on_status,
            )  # fmt: skip

    async def _silent_hosts(self) -> list[str]:
        """Return the addresses that run no DNS server: configured, else the helpers'."""
        if self._silent is None:
            configured = self._settings.packets.silent_hosts
            self._silent = list(configured) or await helper_addresses(
                self._settings.control.helpers, self._settings.timeouts.dns
            )
        return self._silent


async def helper_addresses(helpers: list[str], timeout_s: float) -> list[str]:
    """Return the IPv4 addresses of the control helpers (literal, or looked up; best effort)."""
    found: list[str] = []
    loop = asyncio.get_running_loop()
    for url in helpers:
        host = urlsplit(url).hostname or ""
        if not host:
            continue
        if is_ip_address(host) and not is_ipv6(host):
            found.append(host)
            continue
        try:
            async with asyncio.timeout(timeout_s):
                infos = await loop.getaddrinfo(host, 443, family=socket.AF_INET)
        except (OSError, TimeoutError):
            continue
        found.extend(str(info[4][0]) for info in infos[:1])
    return list(dict.fromkeys(found))


__all__ = ["PacketRun", "helper_addresses", "packet_plan"]
