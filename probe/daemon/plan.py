"""What the supervisor needs to know of a validated config, as plain data (no pydantic).

The worker's `validate` command builds it from `Settings`; the supervisor reads it back. The
config text travels with it so that every run measures with exactly the config validated.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class JobPlan:
    name: str
    every_s: float
    jitter_s: float
    targets: int


@dataclass(frozen=True)
class DaemonPlan:
    config_text: str
    data_dir: str
    jobs: list[JobPlan] = field(default_factory=list)
    min_free_bytes: int = 0
    retention_max_age_s: float | None = None
    retention_max_bytes: int | None = None
    metrics_listen: str | None = None
    stop_grace_s: float = 5.0
    log_format: str = "logfmt"
    upload_every_s: float | None = None  # None: no collector configured, nothing uploaded

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DaemonPlan:
        data = json.loads(text)
        data["jobs"] = [JobPlan(**job) for job in data["jobs"]]
        return cls(**data)
