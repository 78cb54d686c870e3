"""What the daemon stores: each `TargetResult` with its job and a forever-unique id, and the
record of every run (including the ones that were skipped or interrupted)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from probe.models._base import Record
from probe.models.results import TargetResult
from probe.models.status import RunStatus


class StoredResult(TargetResult):
    """A `TargetResult` as the store keeps it and `probe results --json` prints it."""

    job: str = Field(description="The schedule job that measured it (`run` jobs included).")
    measurement_id: UUID = Field(description="Unique forever (UUID4), given when stored.")


class RunRecord(Record):
    """One run of one job, as `probe status` shows it."""

    run_id: int
    job: str
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus
    targets: int = Field(default=0, description="Targets the run set out to measure.")
    stored: int = Field(default=0, description="Results it stored.")
    estimated_bytes: int = Field(default=0, description="Estimated traffic (budget).")
    error: str | None = None
    unmeasured: list[str] = Field(
        default_factory=list, description="Targets an interrupted run did not finish."
    )


__all__ = ["RunRecord", "RunStatus", "StoredResult"]
