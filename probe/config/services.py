"""The sections of the long-running services: `[helper]`, `[storage]`, `[schedule]` (with its
`[[schedule.jobs]]`), `[daemon]`, and their defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from probe.config.values import LISTEN, Duration, Section, parse_networks
from probe.models.addresses import IPNetwork

DEFAULT_HELPER_LISTEN = "127.0.0.1:8780"
DEFAULT_HELPER_MAX_IN_FLIGHT_ALL = 25
DEFAULT_HELPER_MAX_IN_FLIGHT = 50
DEFAULT_HELPER_MAX_REQUEST_BYTES = 1 << 20
DEFAULT_HELPER_MAX_ENDPOINTS = 32
DEFAULT_HELPER_MAX_PER_CLIENT = 16  # probes behind one carrier-grade NAT share an address
DEFAULT_HELPER_BODY_TIMEOUT_S = 5.0

_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

DEFAULT_MIN_FREE_BYTES = 50 << 20
DEFAULT_STOP_GRACE_S = 5.0


class HelperSettings(Section):
    listen: str = Field(
        default=DEFAULT_HELPER_LISTEN, description="HOST:PORT `probe helper` binds."
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate to serve HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM key for tls_cert.")
    max_in_flight_all: int = Field(
        default=DEFAULT_HELPER_MAX_IN_FLIGHT_ALL,
        ge=1,
        description="Below this many requests in flight, every client is served.",
    )
    max_in_flight: int = Field(
        default=DEFAULT_HELPER_MAX_IN_FLIGHT,
        ge=1,
        description="Up to this many, only probe/ooniprobe clients; past it, 503.",
    )
    max_request_bytes: int = Field(default=DEFAULT_HELPER_MAX_REQUEST_BYTES, ge=256)
    max_endpoints: int = Field(
        default=DEFAULT_HELPER_MAX_ENDPOINTS,
        ge=1,
        description="tcp_connect entries measured per request; the rest are ignored.",
    )
    max_per_client: int = Field(
        default=DEFAULT_HELPER_MAX_PER_CLIENT,
        ge=1,
        description="Requests one client address may have open at once (body arriving or"
        " measuring); past it, 429. Behind a proxy, list it in trusted_proxies.",
    )
    body_timeout: Duration = Field(
        default=DEFAULT_HELPER_BODY_TIMEOUT_S,
        gt=0,
        description="A request body must arrive within this (else 408); it is read before the"
        " request counts against max_in_flight.",
    )
    trusted_proxies: list[IPNetwork] = Field(
        default_factory=list,
        description="Reverse proxies whose X-Forwarded-For / Forwarded header names the client;"
        " from any other address these headers are ignored.",
    )
    refused: list[IPNetwork] = Field(
        default_factory=list,
        description="Ranges never dialled, besides bogons and the host's own interface"
        " addresses: e.g. a public address that reaches this host through NAT.",
    )
    own_addresses_allowed: list[IPNetwork] = Field(
        default_factory=list,
        description="Labs only: the host's own addresses in these ranges may be measured (the"
        " lab's helper shares a namespace with the sites). Never on a public helper: it opens"
        " services bound to 0.0.0.0 to anyone.",
    )

    _networks = field_validator(
        "trusted_proxies", "refused", "own_addresses_allowed", mode="before"
    )(parse_networks)


class StorageSettings(Section):
    data_dir: Path | None = Field(
        default=None,
        description="Where the store (results.sqlite3) and the probe's key pair live. Unset:"
        " $STATE_DIRECTORY (set by systemd), else $XDG_DATA_HOME/probe or ~/.local/share/probe.",
    )
    min_free_bytes: int = Field(
        default=DEFAULT_MIN_FREE_BYTES,
        ge=0,
        description="Below this much free space on data_dir's disk, measuring pauses (logged)"
        " until space returns.",
    )
    retention_max_age: Duration | None = Field(
        default=None,
        description='Delete uploaded or exported results older than this (e.g. "90d").'
        " Results not yet uploaded are never deleted.",
    )
    retention_max_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Delete the oldest uploaded or exported results while the stored records"
        " exceed this many bytes. Results not yet uploaded are never deleted.",
    )


class JobSettings(Section):
    name: str = Field(description="Unique job name; stored with every result as `job`.")
    targets: list[str] = Field(
        default_factory=list, description="Platform names, domains or URLs (as `probe check`)."
    )
    input_file: Path | None = Field(
        default=None, description="One target per line, or a Citizen Lab test-list CSV."
    )
    every: Duration = Field(description='How often the job runs, e.g. "15m".')
    jitter: Duration = Field(
        default=0.0, description="Random delay added to each start, up to this long."
    )
    throughput: bool | None = Field(
        default=None,
        description="Run the throughput (throttling) test in this job, arbitrary URLs' pages"
        " included (`[throughput] pages`); unset: as `[throughput] enabled` and `pages`. Its"
        " downloads are most of a run's traffic: a metered VPS can give it a job of its own"
        " that runs less often.",
    )
    packets: bool | None = Field(
        default=None,
        description="Run packet tests for this job's blocked targets; unset: as `[packets]"
        " enabled`. A long test list with many blocked targets can keep them for the job of"
        " its own, or without them.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _JOB_NAME.fullmatch(name):
            raise ValueError("a job name is 1-64 letters, digits, '.', '_' or '-'")
        return name

    @field_validator("every")
    @classmethod
    def _check_every(cls, every: float) -> float:
        if every < 1:
            raise ValueError("a job runs at most once a second")
        return every

    @model_validator(mode="after")
    def _has_input(self) -> JobSettings:
        if not self.targets and self.input_file is None:
            raise ValueError(f"job {self.name!r} has neither targets nor input_file")
        if self.jitter >= self.every:
            raise ValueError(f"job {self.name!r}: jitter must be shorter than every")
        return self


class ScheduleSettings(Section):
    jobs: list[JobSettings] = Field(
        default_factory=list,
        description="`[[schedule.jobs]]` tables: name, targets and/or input_file, every, jitter,"
        " throughput (run the throttling test in this job; unset: `[throughput] enabled`)."
        " Control sites are measured in every run.",
    )
    daily_budget_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Estimated traffic allowed per UTC day (metered VPS); a run that would"
        " exceed it is skipped and logged. Unset: no limit.",
    )

    @field_validator("jobs")
    @classmethod
    def _unique_names(cls, jobs: list[JobSettings]) -> list[JobSettings]:
        names = [job.name for job in jobs]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"duplicate job name(s): {', '.join(duplicated)}")
        return jobs


class DaemonSettings(Section):
    metrics_listen: str | None = Field(
        default=None,
        description='HOST:PORT for a Prometheus /metrics endpoint, e.g. "127.0.0.1:9780".'
        " Unset: no endpoint. Keep it on localhost (it tells which platforms you measure).",
    )
    stop_grace_s: Duration = Field(
        default=DEFAULT_STOP_GRACE_S,
        description="On SIGTERM, how long runs in flight may finish before they are recorded"
        " as interrupted.",
    )
    log_format: Literal["logfmt", "json"] = Field(
        default="logfmt", description="Log lines on stdout: logfmt (key=value) or JSON."
    )

    @field_validator("metrics_listen")
    @classmethod
    def _check_listen(cls, listen: str | None) -> str | None:
        if listen is not None:
            match = LISTEN.fullmatch(listen)
            if not match or not 0 < int(match.group(2)) < 65536:
                raise ValueError(f"{listen!r} is not HOST:PORT")
        return listen
