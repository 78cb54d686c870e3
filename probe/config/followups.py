"""The sections of the tests that follow a verdict: `[throughput]` (throttling, for a target
that loads) and `[packets]` (packet evidence, for a blocked one), and their defaults."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from probe.config.values import HOST_NAME, Duration, Section

# Speed-test downloads run for exactly this purpose: large, innocuous, served from nearby caches.
DEFAULT_THROUGHPUT_CONTROLS = (
    "https://speed.cloudflare.com/__down?bytes=4194304",
    "https://proof.ovh.net/files/10Mb.dat",
)
DEFAULT_THROUGHPUT_REPEATS = 2
DEFAULT_THROUGHPUT_DURATION_S = 5.0
DEFAULT_THROUGHPUT_MAX_BYTES = 1 << 19  # OONI's throttling methodology caps bodies here too
DEFAULT_THROUGHPUT_MIN_BYTES = 1 << 16
# About five objects' tests (2 repeats x 3 downloads x 512 KiB each): a run of a long list
# downloads a few platforms' worth, never one test per URL (issue 19).
DEFAULT_THROUGHPUT_MAX_BYTES_PER_RUN = 16 << 20
DEFAULT_INNOCUOUS_SNI = "example.org"
# Packet evidence (CenTrace, CoNEXT 2022, waits 3 s between TTL probes; a volunteer's daemon
# cannot spend a minute per blocked target, so 1 s, and one traced address per target).
DEFAULT_PACKET_CONTROL_NAME = "example.com"
DEFAULT_PACKET_DNS_LISTEN_S = 2.0
DEFAULT_PACKET_MAX_TTL = 30
DEFAULT_PACKET_PROBE_INTERVAL_S = 1.0
DEFAULT_PACKET_HOP_TIMEOUT_S = 2.0
DEFAULT_PACKET_MAX_SILENT_HOPS = 4


class ThroughputSettings(Section):
    enabled: bool = Field(
        default=True,
        description="Measure the goodput of an accessible target's large object against the"
        " same address with an innocuous SNI and control sites (throttling). By default only"
        " a catalogue platform's objects (a platform, or a URL or domain on one of its hosts),"
        " once per address, server name and object in a run.",
    )
    pages: bool = Field(
        default=False,
        description="Also measure the large pages of targets with no catalogue object"
        " (arbitrary URLs and domains). `probe check --throughput` and a job's"
        " `throughput = true` turn it on.",
    )
    max_bytes_per_run: int = Field(
        default=DEFAULT_THROUGHPUT_MAX_BYTES_PER_RUN,
        ge=0,
        description="Bytes the throughput tests of one run may receive in all; a test that"
        " could exceed what is left (every download at its byte cap) is skipped, and says so."
        " At least one test's worth: max_bytes × repeats × 3.",
    )
    repeats: int = Field(
        default=DEFAULT_THROUGHPUT_REPEATS,
        ge=1,
        le=10,
        description="Rounds of target, same-address and control downloads; `throttled` needs"
        " at least 2.",
    )
    duration_s: Duration = Field(
        default=DEFAULT_THROUGHPUT_DURATION_S,
        gt=0,
        le=60,
        description="One download stops after this long (a throttled one is cut here).",
    )
    max_bytes: int = Field(
        default=DEFAULT_THROUGHPUT_MAX_BYTES,
        ge=1 << 14,
        le=1 << 28,
        description="One download stops after this many bytes.",
    )
    min_bytes: int = Field(
        default=DEFAULT_THROUGHPUT_MIN_BYTES,
        ge=1 << 12,
        description="A page smaller than this is not measured; a download that ended sooner"
        " is too short to judge.",
    )
    controls: list[str] = Field(
        default=list(DEFAULT_THROUGHPUT_CONTROLS),
        description="https URLs of large innocuous objects, used in turn as control downloads.",
    )
    innocuous_sni: str = Field(
        default=DEFAULT_INNOCUOUS_SNI,
        description="The SNI sent to the target's own address for the same-address download.",
    )
    objects_per_target: int = Field(
        default=1, ge=1, le=4, description="Large objects measured per target."
    )

    @field_validator("controls")
    @classmethod
    def _check_controls(cls, controls: list[str]) -> list[str]:
        for url in controls:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise ValueError(f"{url!r} is not an https URL")
        return controls

    @field_validator("innocuous_sni")
    @classmethod
    def _check_sni(cls, name: str) -> str:
        if not HOST_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a host name")
        return name.lower()

    @model_validator(mode="after")
    def _min_below_max(self) -> ThroughputSettings:
        if self.min_bytes > self.max_bytes:
            raise ValueError("min_bytes must not exceed max_bytes")
        one_test = self.max_bytes * self.repeats * 3
        if self.enabled and self.max_bytes_per_run < one_test:
            raise ValueError(
                f"max_bytes_per_run ({self.max_bytes_per_run}) cannot hold one object's test"
                f" (max_bytes × repeats × 3 downloads = {one_test}): raise it, or set"
                " enabled = false"
            )
        return self


class PacketSettings(Section):
    enabled: bool = Field(
        default=True,
        description="For each blocked target, capture the packets that answer the probe (IP TTL,"
        " IP-ID) and trace where the censor sits. Needs root or CAP_NET_RAW (the systemd unit"
        " grants it); without it the tests are recorded as skipped.",
    )
    silent_hosts: list[str] = Field(
        default_factory=list,
        description="IP addresses beyond the border that run no DNS server: the target's name is"
        " asked of them, and any reply is forged on the path. Empty: the control helpers'"
        " addresses.",
    )
    control_name: str = Field(
        default=DEFAULT_PACKET_CONTROL_NAME,
        description="The innocuous name of the control queries and control traces.",
    )
    dns_listen_s: Duration = Field(
        default=DEFAULT_PACKET_DNS_LISTEN_S,
        gt=0,
        le=10,
        description="How long every reply to a DNS packet probe is captured.",
    )
    localise: bool = Field(
        default=True,
        description="Send the trigger (ClientHello, HTTP request, SYN or DNS query) with IP TTL"
        " 1, 2, 3… toward the target's own address (or the resolver) to find the hop where the"
        " blocking begins, with a control run carrying `control_name`.",
    )
    traces_per_target: int = Field(
        default=1,
        ge=0,
        le=4,
        description="Addresses traced per target: this many resolvers (DNS blocking) and this"
        " many blocked server addresses. Each also gets a TCP probe (at least one, even at 0).",
    )
    max_ttl: int = Field(
        default=DEFAULT_PACKET_MAX_TTL,
        ge=1,
        le=64,
        description="The highest IP TTL a trace sends the trigger with.",
    )
    probe_interval_s: Duration = Field(
        default=DEFAULT_PACKET_PROBE_INTERVAL_S,
        ge=0,
        le=60,
        description="Pause between two TTL-limited probes (a rate limit on the trace).",
    )
    hop_timeout_s: Duration = Field(
        default=DEFAULT_PACKET_HOP_TIMEOUT_S,
        gt=0,
        le=30,
        description="How long one TTL-limited probe waits for a reaction (or an ICMP reply).",
    )
    max_silent_hops: int = Field(
        default=DEFAULT_PACKET_MAX_SILENT_HOPS,
        ge=1,
        le=16,
        description="A trace stops after this many TTLs in a row answered by nothing.",
    )

    @field_validator("silent_hosts")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IP address") from None
            if address.version != 4:
                raise ValueError(f"{host!r}: packet tests speak IPv4 only")
        return hosts

    @field_validator("control_name")
    @classmethod
    def _check_control_name(cls, name: str) -> str:
        if not HOST_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a host name")
        return name.lower()
