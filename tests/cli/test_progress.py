"""The progress line of `probe check` says what a long wait is waiting for (issue 19)."""

from __future__ import annotations

from probe.cli.render import Progress
from probe.models.results import TargetResult, Verdict
from probe.models.targets import Target, TargetKind


class _Status:
    """Records what the spinner would show."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, text: str) -> None:
        self.shown.append(text)


def test_the_progress_line_names_the_wait_and_keeps_the_count() -> None:
    status = _Status()
    progress = Progress(2, status)
    progress.waiting("tracing the path to 203.0.113.13: hop 3")
    result = TargetResult(
        input="twitter", verdict=Verdict.BLOCKED,
        target=Target(input="twitter", kind=TargetKind.PLATFORM, name="twitter", endpoints=[]),
        measurement_start_time="2026-12-06T00:00:00Z", test_runtime=0.1, software_version="t",
    )  # fmt: skip
    progress(result)
    progress.waiting("measuring throughput: https://abs.twimg.com/x.png")
    assert status.shown == [
        "measuring 2 target(s)… — tracing the path to 203.0.113.13: hop 3",
        "measured 1/2 — last: twitter: blocked",
        "measured 1/2 — last: twitter: blocked — measuring throughput: https://abs.twimg.com/x.png",
    ]
