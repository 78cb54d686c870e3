"""The collector's live view: what `/api/v1/now` and `/api/v1/incidents` answer (and the pages
show). Probe identities are never in them: counts only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from probe.models._base import Record
from probe.models.reports import AssessedClaim, FailureWindow, Incident


class LiveState(StrEnum):
    """What the latest measurement of a platform on a network showed."""

    ACCESSIBLE = "accessible"
    BLOCKED = "blocked"
    THROTTLED = "throttled"
    WHITELISTING = "whitelisting"
    NETWORK_OUTAGE = "network_outage"
    PLATFORM_DOWN = "platform_down"
    NO_RECENT_DATA = "no_recent_data"


class LiveCell(Record):
    """One network × platform cell of the "now" matrix."""

    network: str = Field(description='The ASN, "AS9198".')
    network_name: str = ""
    platform: str
    state: LiveState
    blocking: str = Field(default="", description="The technique, when blocked or throttled.")
    since: datetime = Field(description="The first measurement of the current state.")
    last_measured: datetime
    probes: int = Field(description="Probes whose latest measurement shows this state.")
    incident: str | None = Field(
        default=None, description="The path of the incident going on here, if any."
    )


class LiveNow(Record):
    """The latest state of every platform on every network (`GET /api/v1/now`)."""

    generated_at: datetime
    stale_after_s: int = Field(description="Older than this, a cell shows no_recent_data.")
    networks: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    cells: list[LiveCell] = Field(default_factory=list)


class LiveIncident(Record):
    """An incident with the path of its page."""

    incident_id: str = Field(description="network/platform/start in Unix milliseconds.")
    path: str
    incident: Incident


class LiveIncidents(Record):
    """Incidents and failure windows that ended at or after `since` (`GET /api/v1/incidents`)."""

    generated_at: datetime
    since: datetime
    incidents: list[LiveIncident] = Field(default_factory=list)
    windows: list[FailureWindow] = Field(
        default_factory=list, description="Network outages, platforms down, whitelisting."
    )
    claims: list[AssessedClaim] = Field(default_factory=list)


__all__ = ["LiveCell", "LiveIncident", "LiveIncidents", "LiveNow", "LiveState"]
