"""Base classes shared by every record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """A record we produce: immutable, and a misspelt field is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class WireRecord(BaseModel):
    """A record another implementation also speaks (OONI's test-helper protocol).

    Unknown fields are ignored rather than refused: OONI adds `x_` fields between releases and an
    OONI probe talking to our helper (or our probe to theirs) must keep working.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
