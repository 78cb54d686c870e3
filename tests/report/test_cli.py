"""`probe report` end to end, as a user runs it: the local store, a saved facts file, hand-carried
bundles and a collector's data must all give the same report; bad input gets a clear error."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from probe_cli import run_probe

from probe.store import ResultStore

from .records import Day, day

LAYOUT = Day()
REPO = Path(__file__).resolve().parents[2]


class Home:
    """A probe's home: config, key and a store holding the hand-made day."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "probe"
        self.config = root / "probe.toml"
        init = run_probe("init", "--yes", "--config", str(self.config),
                      "--data-dir", str(self.data_dir))  # fmt: skip
        assert init.returncode == 0, init.stderr
        with ResultStore.open(self.data_dir) as store:
            for result in day(LAYOUT):
                store.add_result(result, "platforms")
        self.claims = root / "claims.toml"
        at = [LAYOUT.at(n).isoformat() for n in (6, 12, 15)]
        self.claims.write_text(
            f'[[claim]]\nstart = "{at[0]}"\nend = "{at[1]}"\nnetwork = "AS9198"\n'
            'statement = "technical reasons"\nsource = "https://example.org/"\n'
            f'[[claim]]\nstart = "{at[1]}"\nend = "{at[2]}"\nnetwork = "Kcell"\n'
            'statement = "power accident"\n',
            encoding="utf-8",
        )

    def report(self, *args: str) -> dict[str, Any]:
        done = run_probe("report", "--config", str(self.config), "--claims", str(self.claims),
                      "--json", *args)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        loaded: dict[str, Any] = json.loads(done.stdout)
        return loaded


def _essence(report: dict[str, Any]) -> dict[str, Any]:
    """What every source must agree on (the source line and ids differ by design)."""
    return {
        "incidents": [{k: v for k, v in i.items()} for i in report["incidents"]],
        "outages": report["outages"],
        "platform_down": report["platform_down"],
        "claims": [(c["finding"], c["summary"]) for c in report["claims"]],
        "timeline": report["timeline"],
        "measurements": report["scope"]["measurements"],
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home(tmp_path_factory.mktemp("report-home"))


@pytest.fixture(scope="module")
def local(home: Home) -> dict[str, Any]:
    return home.report()


def test_the_local_store(local: dict[str, Any]) -> None:
    assert local["scope"]["measurements"] == 120 and local["scope"]["probes"] == 1
    (incident,) = local["incidents"]
    assert (incident["platform"], incident["network"], incident["verdict"],
            incident["blocking"], incident["measurements"]) == (
        "twitter", "AS9198", "blocked", "tls_reset", 6)  # fmt: skip
    assert [w["network"] for w in local["outages"]] == ["AS29355"]
    assert [w["platform"] for w in local["platform_down"]] == ["youtube"]
    assert [c["finding"] for c in local["claims"]] == [
        "contradicted_by_blocking", "consistent_with_outage",
    ]  # fmt: skip
    assert local["claims"][0]["claim"]["source"] == "https://example.org/"


def test_files_html_csv_json(home: Home, tmp_path: Path) -> None:
    html, csv_file, out = tmp_path / "r.html", tmp_path / "r.csv", tmp_path / "r.json"
    done = run_probe("report", "--config", str(home.config), "--claims", str(home.claims),
                  "--html", str(html), "--csv", str(csv_file), "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Issue 20: report never said which files it wrote.
    for path in (html, csv_file, out):
        assert f"wrote {path} (" in done.stderr, done.stderr
    assert f"wrote {csv_file} (5 rows, " in done.stderr
    assert "twitter" in done.stdout and "contradicted_by_blocking" in done.stdout  # terminal
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") >= 2 and "contradicted_by_blocking" in page
    assert "<script src" not in page and "<link" not in page
    rows = csv_file.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("record,") and len(rows) == 1 + 1 + 1 + 1 + 2
    assert json.loads(out.read_text(encoding="utf-8"))["incidents"][0]["platform"] == "twitter"


def test_saved_facts_and_clickhouse_give_the_same_report(
    home: Home, local: dict[str, Any], tmp_path: Path
) -> None:
    facts = tmp_path / "facts.parquet"
    saved = home.report("--save-facts", str(facts))
    assert facts.stat().st_size > 0 and _essence(saved) == _essence(local)
    again = home.report("--facts", str(facts))
    assert _essence(again) == _essence(local) and again["scope"]["source"].startswith("facts")
    clickhouse = home.report("--facts", str(facts), "--engine", "clickhouse")
    assert clickhouse["engine"] == "clickhouse" and _essence(clickhouse) == _essence(local)


def test_bundles_and_a_collector_give_the_same_report(
    home: Home, local: dict[str, Any], tmp_path: Path
) -> None:
    carried = tmp_path / "carry.bundles"
    export = run_probe("bundle", "export", "--output", str(carried), "--all", "--config",
                    str(home.config))  # fmt: skip
    assert export.returncode == 0, export.stderr
    from_bundles = home.report("--bundles", str(carried))
    assert _essence(from_bundles) == _essence(local)
    # The same measurements from two sources count once.
    twice = home.report("--bundles", str(carried), "--bundles", str(carried))
    assert _essence(twice) == _essence(local)
    collector = tmp_path / "collector"
    ingest = run_probe("collector", "ingest", str(carried), "--data-dir", str(collector))
    assert ingest.returncode == 0, ingest.stderr
    from_collector = home.report("--collector-dir", str(collector))
    assert _essence(from_collector) == _essence(local)
    assert from_collector["scope"]["source"] == f"collector {collector}"


def test_a_tampered_bundle_is_skipped_with_its_reason(home: Home, tmp_path: Path) -> None:
    carried = tmp_path / "carry.bundles"
    export = run_probe("bundle", "export", "--output", str(carried), "--all", "--config",
                    str(home.config))  # fmt: skip
    assert export.returncode == 0, export.stderr
    data = bytearray(carried.read_bytes())
    data[-40] ^= 0xFF  # inside the last bundle's gzip payload
    carried.write_bytes(bytes(data))
    report = home.report("--bundles", str(carried))
    assert report["scope"]["skipped_records"] == 1
    assert "bundle" in report["scope"]["skipped_reasons"][0]
    assert report["scope"]["measurements"] < 120


def test_an_unreadable_stored_row_is_skipped_not_fatal(tmp_path: Path) -> None:
    home = Home(tmp_path)
    with sqlite3.connect(home.data_dir / "results.sqlite3") as db:
        db.execute(
            "INSERT INTO results (measurement_id, job, input, verdict, measured_at, stored_at,"
            " size, record) VALUES ('x', 'j', 'i', 'accessible', ?, ?, 3, '{no')",
            (LAYOUT.at(3).isoformat(), LAYOUT.at(3).isoformat()),
        )
    report = home.report()
    assert report["scope"]["measurements"] == 120 and report["scope"]["skipped_records"] == 1
    assert "result x" in report["scope"]["skipped_reasons"][0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--claims", "{claims}"], "claim 1: statement: Field required"),
        (["--collector-dir", "{root}/nowhere"], "no such directory"),
        (["--facts", "{root}/facts.txt"], "facts files are .csv or .parquet"),
        (["--since", "yesterday-ish"], "--since 'yesterday-ish'"),
        (["--engine", "oracle"], "unknown engine 'oracle'"),
        # Issue 20: a backwards period was accepted; --json took the next flag as its file.
        (["--since", "1h", "--until", "2d"], "the period ends"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "the period ends"),
        (["--json", "--html"], "--html"),
        (["--facts", "{root}/missing.parquet"], "--facts {root}/missing.parquet: no such file"),
        (["--bundles", "{root}"], "is a directory"),
    ],
)
def test_bad_input_is_a_clear_error(
    home: Home, tmp_path: Path, args: list[str], message: str
) -> None:
    claims = tmp_path / "bad.toml"
    claims.write_text('[[claim]]\nstart = "2022-01-01T00:00:00Z"\nend = "2022-01-02T00:00:00Z"\n')
    (tmp_path / "facts.txt").write_text("x")
    filled = [a.format(claims=claims, root=tmp_path) for a in args]
    done = run_probe("report", "--config", str(home.config), *filled)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message.format(root=tmp_path) in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "facts.txt"]


def test_the_shipped_kazakh_claims_load(home: Home) -> None:
    done = run_probe("report", "--config", str(home.config), "--claims",
                  str(REPO / "configs" / "claims.toml"), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    claims = json.loads(done.stdout)["claims"]
    assert len(claims) == 9
    # The hand-made day is 4 January 2022: only Kcell's window (from 14:30 UTC, AS29355) holds
    # measurements, and YouTube failing from the helper too at 15:00 makes it a platform outage.
    findings = {c["claim"]["said_by"]: c["finding"] for c in claims}
    assert findings.pop("Kcell") == "platform_outage"
    assert set(findings.values()) == {"insufficient_data"}
    assert any(c["claim"]["statement"] == "technical reasons" for c in claims)


SHARED = Path(os.environ.get("PROBE_SHARED_DIR", REPO.parent / "shared"))
QA = SHARED / "data" / "ooni" / "wc05_qa"


def test_ooni_measurements_through_classify_into_a_report(tmp_path: Path) -> None:
    if not QA.is_dir():
        pytest.skip(f"OONI QA measurements not found at {QA} (set PROBE_SHARED_DIR)")
    facts = tmp_path / "ooni.parquet"
    files = sorted(str(p) for p in QA.glob("*.json"))
    classify = run_probe("classify", *files, "--save-facts", str(facts))
    assert classify.returncode == 0, classify.stderr
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nstart = "2024-02-12T00:00:00Z"\nend = "2024-02-13T00:00:00Z"\n'
                      'network = "garr"\nstatement = "technical problems"\n')  # fmt: skip
    done = run_probe("report", "--facts", str(facts), "--claims", str(claims), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["scope"]["measurements"] == len(files)
    assert report["scope"]["networks"] == ["AS137"]
    assert report["scope"]["network_names"] == {"AS137": "Consortium GARR"}
    by_platform = {i["platform"]: i for i in report["incidents"]}
    assert by_platform["itsat.info"]["blocking"] == "dns_hijack"  # the ghost-DNS cases
    (claim,) = report["claims"]
    assert claim["finding"] == "contradicted_by_blocking", claim["summary"]
    assert "яндекс.рф" in claim["evidence"]["accessible_platforms"]


def test_an_unknown_network_is_said_plainly(tmp_path: Path) -> None:
    """Issue 20: results of a probe with no ASN database (AS0) gave a "high" confidence
    incident of "AS0"; the report says the network is unknown and gives it low confidence."""
    from probe.models.results import Blocking, Verdict

    from .records import START, result

    home = Home(tmp_path)
    with ResultStore.open(home.data_dir) as store:
        for n in range(6):
            when = START.replace(day=5) + n * (START - START.replace(hour=11))
            store.add_result(result(when, "twitter", Verdict.BLOCKED, Blocking.TLS_RESET,
                                    network="AS0"), "platforms")  # fmt: skip
    text = run_probe("report", "--config", str(home.config))
    assert text.returncode == 0, text.stderr
    assert "network unknown for some results (AS0" in text.stderr
    report = home.report()
    unknown = [i for i in report["incidents"] if i["network"] == "AS0"]
    assert unknown and all(i["confidence"] == "low" for i in unknown), unknown


def test_duplicates_in_one_source_are_dropped_and_counted(tmp_path: Path) -> None:
    """Issue 20: de-duplication ran only with two or more sources, so one facts file holding a
    measurement twice counted it twice, and nothing said a row was dropped."""
    if not QA.is_dir():
        pytest.skip(f"OONI QA measurements not found at {QA} (set PROBE_SHARED_DIR)")
    one = str(sorted(QA.glob("*.json"))[0])
    facts = tmp_path / "twice.parquet"
    classify = run_probe("classify", one, one, "--save-facts", str(facts))
    assert classify.returncode == 0 and f"wrote {facts} (2 rows, " in classify.stderr
    done = run_probe("report", "--facts", str(facts), "--json")
    assert done.returncode == 0, done.stderr
    scope = json.loads(done.stdout)["scope"]
    assert scope["measurements"] == 1 and scope["skipped_records"] == 1
    assert "1 duplicate row(s) dropped" in scope["skipped_reasons"][-1]
