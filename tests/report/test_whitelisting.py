"""Whitelisting in reports (issue 17): a window of its own per network, never an outage nor a
pile of per-platform incidents, and a claim of "technical problems" during it contradicted —
beside a genuine outage that stays an outage and a platform down for everyone.

The records are `records.whitelist_day()`: built through the real models, each carrying the
network's state as decide/network.py decides it from the round's control sites.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from rich.console import Console

from probe.models.reports import ClaimFinding, Confidence, Report, WindowKind
from probe.models.results import Blocking, Verdict
from probe.report.build import build_report
from probe.report.claims import parse_claims
from probe.report.engines import ClickHouseEngine, DuckDbEngine, Engine
from probe.report.facts import FACT_COLUMNS, FactRow, fact_of, fact_row
from probe.report.html import html_report
from probe.report.render import csv_report, print_report
from probe.report.sources import load_facts

from .records import DOMESTIC_SITES, START, WhitelistDay, whitelist_day
from .test_render import parse, rows

LAYOUT = WhitelistDay()
PROBES = {"AS9198": "probe-a", "AS29355": "probe-b"}
DOMESTIC = sorted(DOMESTIC_SITES)  # ["https://egov.kz/", "https://kaspi.kz/"]
ENGINES = {"duckdb": DuckDbEngine, "clickhouse": ClickHouseEngine}


def whitelist_facts() -> list[FactRow]:
    rows = []
    for number, result in enumerate(whitelist_day(LAYOUT)):
        record = result.model_dump(mode="json") | {"measurement_id": f"w{number:04d}"}
        rows.append(fact_row(record, PROBES[result.probe_asn]))
    return rows


def claims_toml() -> str:
    def claim(start: int, end: int, statement: str, extra: str = "") -> str:
        return (
            f'[[claim]]\nstart = "{LAYOUT.at(start).isoformat()}"\n'
            f'end = "{LAYOUT.at(end).isoformat()}"\nstatement = "{statement}"\n{extra}'
        )

    return "".join([
        claim(6, 12, "technical problems", 'network = "AS9198"\n'),
        claim(8, 11, "an accident at power-supply equipment", 'network = "kcell"\n'),
        claim(16, 18, "a problem on our side", 'platforms = ["youtube"]\n'),
        claim(8, 11, "technical problems"),
        claim(6, 12, "technical problems", 'network = "AS9198"\nplatforms = ["twitter"]\n'),
        claim(3, 6, "technical problems", 'network = "AS9198"\n'),
    ])  # fmt: skip


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    made: Engine = ENGINES[request.param]()
    yield made
    made.close()


def make_report(engine: Engine, rows: list[FactRow] | None = None) -> Report:
    load_facts(engine, whitelist_facts() if rows is None else rows)
    return build_report(
        engine, source="test", software_version="test", generated_at=START + timedelta(days=2),
        claims=parse_claims(claims_toml()),
    )  # fmt: skip


@pytest.fixture(scope="module")
def report() -> Report:
    engine = DuckDbEngine()
    try:
        return make_report(engine)
    finally:
        engine.close()


def test_facts_carry_the_network_state() -> None:
    facts = [fact_of(row) for row in whitelist_facts()]
    cut = [f for f in facts if f.blocking == "whitelisting"]
    assert len(cut) == 12 and {f.network_state for f in cut} == {"whitelisted"}
    # Every site abroad failed: the control sites that loaded are the domestic ones.
    assert {f.control_sites_ok for f in cut} == {"https://kaspi.kz/|https://egov.kz/"}
    assert {f.network_state for f in facts if f.verdict == "network_outage"} == {"outage"}
    assert {f.network_state for f in facts} == {"normal", "whitelisted", "outage"}


def test_whitelisting_is_a_window_of_its_own(engine: Engine) -> None:
    report = make_report(engine)
    (window,) = report.whitelisting
    assert (window.kind, window.network, window.platform) == (
        WindowKind.WHITELISTING, "AS9198", "*",
    )  # fmt: skip
    assert window.platforms == ["twitter", "youtube"] and window.sites_loaded == DOMESTIC
    assert (window.measurements, window.probes) == (12, 1)
    assert (window.start, window.end) == (LAYOUT.at(6, 0), LAYOUT.at(11, 1))
    # Bounded by the last and first measurements whose network reached abroad (state normal).
    assert (window.onset_after, window.ended_before) == (LAYOUT.at(5, 2), LAYOUT.at(12, 0))
    assert window.confidence is Confidence.HIGH, window.confidence_reasons
    assert any("(reaching abroad)" in r for r in window.confidence_reasons)

    # Not an incident per platform: Twitter's own reset before it is the only incident.
    (incident,) = report.incidents
    assert (incident.platform, incident.network, incident.blocking) == (
        "twitter", "AS9198", Blocking.TLS_RESET,
    )  # fmt: skip
    assert incident.methods == {"tls_reset": 3} and incident.end == LAYOUT.at(5, 0)

    # The genuine outage next door stays an outage, and AS9198 is never in one.
    (outage,) = report.outages
    assert outage.network == "AS29355" and outage.platforms == ["kaspi", "twitter", "youtube"]
    assert (outage.start, outage.end) == (LAYOUT.at(8, 3), LAYOUT.at(10, 5))
    assert outage.measurements == 9

    # The platform down for everyone is the only platform-down window: whitelisting says
    # nothing about whether YouTube itself was up.
    (down,) = report.platform_down
    assert down.platform == "youtube" and down.networks == ["AS29355", "AS9198"]
    assert (down.start, down.end, down.measurements) == (LAYOUT.at(16, 1), LAYOUT.at(17, 4), 4)


def test_the_timeline_counts_whitelisting_apart(report: Report) -> None:
    totals: dict[str, int] = {}
    for cell in report.timeline:
        for shown, n in cell.counts.items():
            totals[shown] = totals.get(shown, 0) + n
        if cell.network == "AS9198" and cell.platform in ("twitter", "youtube"):
            if LAYOUT.at(6) <= cell.start < LAYOUT.at(12) - timedelta(minutes=15):
                assert set(cell.counts) == {"whitelisting"}, cell
    assert totals["whitelisting"] == 12 and totals["blocked"] == 3
    assert sum(totals.values()) == report.scope.measurements == LAYOUT.rounds * 6


def test_claims_during_whitelisting_are_contradicted(engine: Engine) -> None:
    claims = make_report(engine).claims
    assert [c.finding for c in claims] == [
        ClaimFinding.CONTRADICTED_BY_BLOCKING,
        ClaimFinding.CONSISTENT_WITH_OUTAGE,
        ClaimFinding.PLATFORM_OUTAGE,
        ClaimFinding.CONTRADICTED_BY_BLOCKING,
        ClaimFinding.CONTRADICTED_BY_BLOCKING,
        ClaimFinding.CONTRADICTED_BY_BLOCKING,
    ], [c.summary for c in claims]
    whitelisted, outage, down, both, twitter, reset = claims

    evidence = whitelisted.evidence
    assert (evidence.whitelisting, evidence.measurements, evidence.probes) == (12, 18, 1)
    assert evidence.whitelisted_platforms == ["twitter", "youtube"]
    assert evidence.domestic_sites_loaded == DOMESTIC
    assert evidence.loaded_while_whitelisted == ["kaspi"]
    # Domestic sites loading is no evidence of a platform's own block.
    assert evidence.blocked_with_controls_up == 0 and evidence.control_sites_reachable == []
    summary = whitelisted.summary
    assert summary.startswith("whitelisting: the network admitted only allow-listed destinations")
    assert "12 of 18 measurements from 1 probe failed as every control site abroad did" in summary
    assert "twitter (6); youtube (6)" in summary
    assert "domestic control sites loaded (https://egov.kz/, https://kaspi.kz/)" in summary
    assert "kaspi loaded too" in summary and "not technical problems or an outage" in summary

    assert outage.evidence.networks == ["AS29355"]
    assert outage.evidence.outage_in_outage_state == outage.evidence.outage_with_controls_down == 9
    assert "network state was outage" in outage.summary and "whitelist" not in outage.summary
    assert down.evidence.down_platforms == ["youtube"]

    # Every network: AS9198's whitelisting is not excused by AS29355's outage meanwhile.
    assert both.evidence.networks == ["AS29355", "AS9198"] and both.evidence.whitelisting == 6
    assert "9 measurements also saw the whole network fail" in both.summary
    # About Twitter alone: the domestic sites still show what the network admitted.
    assert twitter.evidence.loaded_while_whitelisted == []
    assert twitter.evidence.domestic_sites_loaded == DOMESTIC
    assert "6 of 6 measurements" in twitter.summary
    # Before the whitelist: Twitter's own reset, selective while the sites abroad loaded.
    assert reset.summary.startswith("selective blocking") and reset.evidence.whitelisting == 0


def test_both_engines_agree() -> None:
    dumps = []
    for name in sorted(ENGINES):
        engine = ENGINES[name]()
        try:
            dumps.append(make_report(engine).model_dump(exclude={"engine"}))
        finally:
            engine.close()
    assert dumps[0] == dumps[1]


def test_a_facts_file_without_the_state_still_loads(engine: Engine, tmp_path: Path) -> None:
    # Written before data format 0.5.0's state column: it loads, the state empty.
    old = tmp_path / "old.csv"
    with old.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(FACT_COLUMNS[:-1])
        writer.writerows(row[:-1] for row in whitelist_facts())
    engine.load(old)
    assert engine.query("SELECT DISTINCT network_state FROM facts") == [("",)]
    report = build_report(engine, source="old", software_version="test", generated_at=START)
    # Without the state nothing shows the whitelist lifted: the window stays open-ended.
    (window,) = report.whitelisting
    assert window.ended_before is None and window.onset_after is None


def test_a_facts_file_missing_a_column_is_refused(tmp_path: Path) -> None:
    from probe.errors import ReportError

    bad = tmp_path / "bad.csv"
    bad.write_text("measurement_id,probe_id\nm1,p1\n", encoding="utf-8")
    engine = DuckDbEngine()
    try:
        with pytest.raises(ReportError, match="not a facts file: no column"):
            engine.load(bad)
    finally:
        engine.close()


# ── renderings ─────────────────────────────────────────────────────────────────────────────


def test_csv_has_a_whitelisting_row(report: Report) -> None:
    records = list(csv.DictReader(io.StringIO(csv_report(report))))
    (row,) = [r for r in records if r["record"] == "whitelisting"]
    assert (row["network"], row["platform"], row["verdict"], row["blocking"]) == (
        "AS9198", "twitter;youtube", Verdict.BLOCKED.value, "whitelisting",
    )  # fmt: skip
    assert row["summary"].startswith("control sites that loaded: https://egov.kz/, https://kaspi")
    assert [r["record"] for r in records].count("network_outage") == 1


def test_terminal_says_whitelisting_not_outage(report: Report) -> None:
    console = Console(file=io.StringIO(), width=240, color_system=None)
    print_report(report, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Whitelisting: only allow-listed destinations loaded (not an outage)" in text
    assert "https://kaspi.kz/" in text
    assert "C1 contradicted_by_blocking: whitelisting: the network admitted only" in text


def test_terminal_whitelisting_colour() -> None:
    from rich.style import Style

    from probe.report.render import _VERDICT_STYLE

    # The terminal's blue is the HTML's Okabe–Ito blue, apart from blocked's red.
    colour = Style.parse(_VERDICT_STYLE["whitelisting"]).color
    assert colour is not None
    red, green, blue = colour.get_truecolor()
    assert blue > max(red, green) and _VERDICT_STYLE["whitelisting"] != _VERDICT_STYLE["blocked"]


def test_html_shows_the_whitelisting(report: Report) -> None:
    page = html_report(report)
    for svg in re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL):
        ElementTree.fromstring(svg)  # the new pattern and overlays are well-formed
    dom = parse(page)
    (table,) = dom.all("table", "whitelisting")
    (row,) = rows(table)
    assert row[:3] == ["AS9198", "twitter, youtube", "https://egov.kz/https://kaspi.kz/"]
    lanes = {
        (g.attrs["data-network"], g.attrs["data-platform"]): g
        for svg in dom.all("svg", "timeline")
        for g in svg.all("g", "lane")
    }
    shaded = {key for key, g in lanes.items() if g.all("rect", "whitelisting")}
    assert shaded == {("AS9198", p) for p in ("kaspi", "twitter", "youtube")}
    dark = {key for key, g in lanes.items() if g.all("rect", "network_outage")}
    assert dark == {("AS29355", p) for p in ("kaspi", "twitter", "youtube")}
    fills = [c.attrs["fill"] for c in lanes["AS9198", "twitter"].all("rect", "seg")]
    assert "url(#pat-whitelisting)" in fills and 'id="pat-whitelisting"' in page
    (heatmap,) = dom.all("svg", "heatmap")
    twitter = next(r for r in heatmap.all("g", "row") if r.attrs["data-platform"] == "twitter")
    hour = next(c.own_title() for c in twitter.all("rect", "cell") if "13:00:00" in c.own_title())
    # AS9198 cut by the whitelist, AS29355 loading it: whitelisting counts as blocking.
    assert "2 of 4 measurements blocked or throttled (50%)" in hour
    legend = dom.all("ul", "legend")[0].text()
    assert "blocked by whitelisting" in legend and "whitelisting window" in legend
    incidents = dom.all("section")[[s.attrs.get("id") for s in dom.all("section")].index(
        "incidents")]  # fmt: skip
    assert len(rows(incidents.all("table", "incidents")[0])) == 1  # Twitter's reset only


def test_html_without_incidents_points_to_the_whitelisting() -> None:
    layout = WhitelistDay(twitter_reset=range(0))
    rows_ = []
    for number, result in enumerate(whitelist_day(layout)):
        record = result.model_dump(mode="json") | {"measurement_id": f"w{number:04d}"}
        rows_.append(fact_row(record, PROBES[result.probe_asn]))
    engine = DuckDbEngine()
    try:
        report = make_report(engine, rows_)
    finally:
        engine.close()
    assert report.incidents == [] and len(report.whitelisting) == 1
    page = html_report(report)
    assert "by a method of its own" in page and 'href="#whitelisting"' in page
    console = Console(file=io.StringIO(), width=240, color_system=None)
    print_report(report, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "No platform was found blocked or throttled by a method of its own." in text


# ── the real CLI: a store of current records (0.5.0 on), shipped to a collector ──────────────


def test_a_collector_of_current_records_reports_the_whitelisting(tmp_path: Path) -> None:
    import json

    from probe_cli import run_probe

    from probe.models.results import DATA_FORMAT_VERSION
    from probe.store import ResultStore

    config, data_dir = tmp_path / "probe.toml", tmp_path / "probe"
    init = run_probe("init", "--yes", "--config", str(config), "--data-dir", str(data_dir))
    assert init.returncode == 0, init.stderr
    with ResultStore.open(data_dir) as store:
        for result in whitelist_day(LAYOUT):
            # `network` came with 0.5.0; the records are of the current format.
            assert result.data_format_version == DATA_FORMAT_VERSION >= "0.5.0"
            store.add_result(result, "platforms")
    carried, collector = tmp_path / "carry.bundles", tmp_path / "collector"
    export = run_probe("bundle", "export", "-o", str(carried), "--all", "--config",
                       str(config))  # fmt: skip
    assert export.returncode == 0, export.stderr
    ingest = run_probe("collector", "ingest", str(carried), "--data-dir", str(collector))
    assert ingest.returncode == 0, ingest.stderr
    claims = tmp_path / "claims.toml"
    claims.write_text(claims_toml(), encoding="utf-8")
    html, out = tmp_path / "r.html", tmp_path / "r.json"
    done = run_probe("report", "--config", str(config), "--collector-dir", str(collector),
                     "--claims", str(claims), "--html", str(html), "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["scope"]["measurements"] == LAYOUT.rounds * 6
    assert report["scope"]["skipped_records"] == 0, report["scope"]["skipped_reasons"]
    (window,) = report["whitelisting"]
    assert (window["network"], window["platforms"], window["sites_loaded"]) == (
        "AS9198", ["twitter", "youtube"], DOMESTIC,
    )  # fmt: skip
    assert [w["network"] for w in report["outages"]] == ["AS29355"]
    assert [c["finding"] for c in report["claims"]][:2] == [
        "contradicted_by_blocking", "consistent_with_outage",
    ]  # fmt: skip
    assert "Whitelisting: only allow-listed destinations loaded" in done.stdout  # terminal
    assert 'class="whitelisting"' in html.read_text(encoding="utf-8")
    # The hand-carried bundles themselves give the same windows and findings.
    bundled = run_probe("report", "--config", str(config), "--bundles", str(carried),
                        "--claims", str(claims), "--json")  # fmt: skip
    assert bundled.returncode == 0, bundled.stderr
    again = json.loads(bundled.stdout)
    assert again["whitelisting"] == report["whitelisting"]
    assert [c["summary"] for c in again["claims"]] == [c["summary"] for c in report["claims"]]
