"""The results table prints what it is given, markup-looking text included."""

from __future__ import annotations

import uuid

import pytest
from rich.console import Console

from probe.cli.render import results_table, results_view
from probe.models.results import NetworkAssessment, NetworkState, TargetResult, Verdict
from probe.models.stored import StoredResult
from probe.models.targets import Target, TargetKind


def test_markup_in_a_target_or_a_reason_prints_as_itself() -> None:
    hostile = "http://example.com/[/]x[bold]"
    result = TargetResult(
        input=hostile, verdict=Verdict.INCONCLUSIVE, reasons=["title was [red]gone[/red] [/]"],
        target=Target(input=hostile, kind=TargetKind.URL, name="example.com", endpoints=[]),
        measurement_start_time="2026-11-29T00:00:00Z", test_runtime=0.1, software_version="t",
    )  # fmt: skip
    console = Console(record=True, width=200)
    console.print(results_table([result]))
    text = console.export_text()
    assert hostile in text and "title was [red]gone[/red] [/]" in text


# --- Issue 20: output that fits an SSH terminal (80 columns), and a wide one (120) ----------

LONG_REASON = (
    "all 2 endpoints failed with the network: every control site failed too, from before and"
    " after the targets, so this is the probe's own network"
)
WHY = "the local DNS is down: the system resolver timed out for every name, controls included"


def _result(target: str, verdict: Verdict, reasons: list[str]) -> TargetResult:
    return TargetResult(
        input=target, verdict=verdict, reasons=reasons,
        target=Target(input=target, kind=TargetKind.URL, name="example.com", endpoints=[]),
        measurement_start_time="2026-11-29T14:03:12Z", test_runtime=0.1, software_version="t",
    )  # fmt: skip


NETWORK = NetworkAssessment(
    state=NetworkState.OUTAGE, rule_id="state.outage",
    reasons=["every control site failed, foreign and domestic, and no target of the run loaded:"
             " the probe's own network is down, not the platforms"],
)  # fmt: skip

RESULTS = [
    _result("https://very-long-subdomain.of-an-example-platform.example.com/some/path",
            Verdict.NETWORK_OUTAGE, [LONG_REASON, WHY]),
    _result("twitter", Verdict.INCONCLUSIVE, ["the control failed"]),
]  # fmt: skip
RESULTS[0] = RESULTS[0].model_copy(update={"network": NETWORK})


def _printed(width: int, *renderables: object) -> list[str]:
    console = Console(record=True, width=width)
    for renderable in renderables:
        console.print(renderable)
    return console.export_text().splitlines()


def _words(text: str) -> list[str]:
    return " ".join(text.split()).split()


@pytest.mark.parametrize("width", [80, 120])
def test_check_output_fits_and_keeps_verdicts_whole(width: int) -> None:
    from probe.cli.render import print_table

    console = Console(record=True, width=width)
    print_table(RESULTS, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "network_outage" in text and "inconclusive" in text  # never cut
    # The diagnosis is shown, not only the summary (it was only in --json).
    assert "the local DNS is down" in " ".join(_words(text))
    assert "as: unknown" in text and "probe geoip update" in " ".join(_words(text))
    assert "network: outage — every control site failed" in text
    assert NETWORK.reasons[0] in " ".join(_words(text))


def test_narrow_check_output_is_a_list_and_keeps_the_url_whole() -> None:
    lines = _printed(80, results_view(RESULTS, 80))
    assert any(RESULTS[0].input in line for line in lines), lines  # not split mid-host
    assert not any("┃" in line or "│" in line for line in lines)
    wide = _printed(120, results_view(RESULTS, 120))
    assert any("│" in line for line in wide)


def _stored(verdict: Verdict) -> StoredResult:
    result = _result("https://www.example-platform.example.com/", verdict, [LONG_REASON, WHY])
    return StoredResult(**dict(result), job="platforms-and-more", measurement_id=uuid.uuid4())


@pytest.mark.parametrize("width", [80, 120])
def test_results_and_status_fit_and_keep_times_whole(width: int) -> None:
    from probe.cli.tables import status_table, stored_view

    items = [_stored(Verdict.NETWORK_OUTAGE), _stored(Verdict.SERVICE_DOWN)]
    jobs = [{"name": "platforms", "targets": 6, "every_s": 900.0,
             "next_run": "2026-11-29T14:18:12+00:00",
             "last_run": {"started_at": "2026-11-29T14:03:12+00:00", "status": "interrupted",
                          "stored": 6}}]  # fmt: skip
    lines = _printed(width, stored_view(items, width), status_table(jobs, width))
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    text = "\n".join(lines)
    assert "network_outage" in text and "service_down" in text and "interrupted" in text
    assert str(items[0].measurement_id)[:8] in text
    time = "11-29 14:03" if width < 100 else "2026-11-29 14:03:12"
    assert text.count(time) >= 3 and ("11-29 14:18" in text)


def test_one_stored_result_is_shown_whole() -> None:
    from probe.cli.tables import stored_detail

    item = _stored(Verdict.NETWORK_OUTAGE)
    text = " ".join(_words("\n".join(_printed(80, stored_detail(item)))))
    assert str(item.measurement_id) in text and LONG_REASON in text and WHY in text
    assert "network_outage" in text and "platforms-and-more" in text


@pytest.mark.parametrize("width", [80, 120])
def test_classify_fits(width: int) -> None:
    from probe.cli.classify import records_view
    from probe.models.ooni import Agreement, ClassifiedRecord

    records = [
        ClassifiedRecord(file="/data/2024-02-12-web_connectivity-IT.jsonl", record=n,
                         input="https://www.a-rather-long-host-name.example.org/path/",
                         ooni_blocking="dns", ooni_accessible=False,
                         verdict=Verdict.NETWORK_OUTAGE, agreement=Agreement.DIFFER,
                         reasons=[LONG_REASON])
        for n in range(50)
    ]  # fmt: skip
    lines = _printed(width, records_view(records, width))
    assert max(len(line) for line in lines) <= width
    assert "\n".join(lines).count("network_outage") == 50
    assert len(lines) <= 50 * 8  # was 1,115 lines of 7-character slices at 80 columns
