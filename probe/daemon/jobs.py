"""Config jobs → what to measure. Every job's targets are parsed before anything is scheduled,
so a bad target or an unreadable input file is a config error (and a reload keeps the old)."""

from __future__ import annotations

from dataclasses import dataclass

from probe.config import JobSettings, Settings
from probe.errors import ConfigError, TargetError
from probe.models.targets import Target
from probe.targets import load_catalogue, parse_targets, read_input_file


@dataclass(frozen=True)
class Job:
    settings: JobSettings
    targets: tuple[Target, ...]

    @property
    def name(self) -> str:
        return self.settings.name


def load_jobs(settings: Settings) -> list[Job]:
    """Return the configured jobs with their parsed targets; ConfigError names the job."""
    if not settings.schedule.jobs:
        raise ConfigError("no [[schedule.jobs]] configured: nothing to run (see `probe init`)")
    catalogue = load_catalogue()
    jobs = []
    for job in settings.schedule.jobs:
        inputs = list(job.targets)
        if job.input_file is not None:
            try:
                inputs += read_input_file(job.input_file)
            except TargetError as exc:
                raise ConfigError(f"job {job.name!r}: {exc}") from exc
        parsed = parse_targets(inputs, catalogue)
        errors = [str(p) for p in parsed if isinstance(p, TargetError)]
        if errors:
            raise ConfigError(f"job {job.name!r}: " + "; ".join(errors))
        targets = tuple(p for p in parsed if not isinstance(p, TargetError))
        if not targets:
            raise ConfigError(f"job {job.name!r} has no targets")
        jobs.append(Job(job, targets))
    return jobs
