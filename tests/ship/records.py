"""Small valid results for tests that need records but no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from probe.models.results import Blocking, TargetResult, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind

START = datetime(2026, 11, 1, tzinfo=UTC)


def sample_result(index: int = 0, *, reasons: int = 1) -> TargetResult:
    """A distinct result per `index`, measured `index` seconds after START."""
    host = f"site{index}.example"
    url = f"https://{host}/"
    endpoint = Endpoint(kind=EndpointKind.WEB, host=host, port=443, url=url)
    target = Target(input=url, kind=TargetKind.URL, name=host, endpoints=[endpoint])
    blocked = index % 3 == 0
    return TargetResult(
        input=url, verdict=Verdict.BLOCKED if blocked else Verdict.ACCESSIBLE,
        blocking=Blocking.TLS_RESET if blocked else None,
        reasons=[f"reason {index}.{n}" for n in range(reasons)], target=target,
        measurement_start_time=START + timedelta(seconds=index), test_runtime=0.1,
        software_version="test",
    )  # fmt: skip
