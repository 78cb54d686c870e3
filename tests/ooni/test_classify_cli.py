"""`probe classify` as a user runs it (a real subprocess): OONI's QA measurements, OONI's
backend fixtures (most not web_connectivity, some malformed) and hand-made hostile files."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
from pathlib import Path

import pytest
from decide.test_real_data import FINGERPRINTS, QA, QA_EXPECTED, QA_NOT_JUDGED, SHARED

from probe.models.ooni import ClassifiedRecord

from .measurements import CLASSIC_HTTPS, line, probe, require

FASTPATH = SHARED / "data" / "ooni" / "fastpath"


def _records(proc: subprocess.CompletedProcess[str]) -> list[ClassifiedRecord]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [ClassifiedRecord.model_validate_json(text) for text in proc.stdout.splitlines()]


def _fingerprint_flags() -> list[str]:
    return [a for p in sorted(FINGERPRINTS.glob("*.csv")) for a in ("--fingerprints", str(p))]


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClassifiedRecord]:
    """Every QA measurement through `probe classify --json`, by case name."""
    require(QA)
    config = tmp_path_factory.mktemp("qa") / "probe.toml"
    config.write_text("", encoding="utf-8")
    files = [str(p) for p in sorted(QA.glob("*.json"))]
    proc = probe("classify", "--json", *_fingerprint_flags(), *files, config=config)
    assert proc.returncode == 0, proc.stderr
    assert "0 errors" in proc.stderr, proc.stderr
    records = {Path(r.file).stem: r for r in _records(proc)}
    assert len(records) == len(files), f"expected one record per file, got {sorted(records)}"
    return records


@pytest.mark.parametrize("case", sorted(QA_EXPECTED))
def test_qa_verdict_is_the_correct_one(qa: dict[str, ClassifiedRecord], case: str) -> None:
    record = qa[case]
    got = (record.verdict, record.blocking)
    assert got == QA_EXPECTED[case], (
        f"{case}: (verdict, blocking) expected {QA_EXPECTED[case]}, got {got}: {record.reasons}"
    )


def test_qa_ooni_values_are_printed_as_published(qa: dict[str, ClassifiedRecord]) -> None:
    with (QA / "EXPECTED.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(qa), f"EXPECTED.csv has {len(rows)} cases, classify gave {len(qa)}"
    for row in rows:
        record = qa[row["case"]]
        got = (json.dumps(record.ooni_blocking).strip('"'), json.dumps(record.ooni_accessible))
        wanted = (row["ooni_blocking"], row["ooni_accessible"])
        assert got == wanted, f"{row['case']}: OONI blocking/accessible {wanted}, printed {got}"


def test_qa_throttling_cases_get_a_verdict(qa: dict[str, ClassifiedRecord]) -> None:
    # METHODS.md §11 #22 wants `throttled`, which no rule gives yet: they are not judged.
    for case in sorted(QA_NOT_JUDGED):
        assert qa[case].verdict is not None and qa[case].error is None, qa[case]


def test_fastpath_fixtures_give_a_verdict_or_a_clear_error(tmp_path: Path) -> None:
    require(FASTPATH)
    config = tmp_path / "probe.toml"
    config.write_text("", encoding="utf-8")
    files = sorted(FASTPATH.glob("*.json"))
    proc = probe("classify", "--json", *map(str, files), config=config)
    assert proc.returncode == 1, f"some fixtures are malformed: expected exit 1\n{proc.stderr}"
    by_file: dict[str, list[ClassifiedRecord]] = {}
    for record in _records(proc):
        by_file.setdefault(Path(record.file).name, []).append(record)
    assert sorted(by_file) == [p.name for p in files], "every file gives at least one record"
    for path in files:
        content = json.loads(path.read_text(encoding="utf-8"))
        keys = content.get("test_keys", False) if isinstance(content, dict) else False
        is_measurement = keys is None or isinstance(keys, dict)  # null: a measurement of nothing
        web = is_measurement and content.get("test_name") == "web_connectivity"
        for record in by_file[path.name]:
            if web:
                assert record.error is None and record.verdict is not None, (
                    f"{path.name}: a web_connectivity measurement must get a verdict: {record}"
                )
            else:
                assert record.verdict is None and record.agreement == "error", record
                assert (record.error or "").startswith(("line ", "record ")), record.error


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("tor.json", "record 1: test_name 'tor', not web_connectivity"),
        ("signal_022.json", "line 1: test_name 'signal', not web_connectivity"),
        ("detector_query_ww_BR_2018.json", "record 911: no test_keys"),
        ("fingerprints_dns.json", "record 1: not an OONI measurement: no test_name"),
    ],
)
def test_fastpath_errors_say_what_is_wrong(tmp_path: Path, name: str, error: str) -> None:
    require(FASTPATH)
    config = tmp_path / "probe.toml"
    config.write_text("", encoding="utf-8")
    proc = probe("classify", "--json", str(FASTPATH / name), config=config)
    assert proc.returncode == 1, proc.stderr
    errors = [r.error for r in _records(proc)]
    assert error in errors, f"{name}: expected the error {error!r}, got {errors[-3:]}"


def test_json_lines_gzip_mix(tmp_path: Path, empty_config: Path) -> None:
    tor = {**CLASSIC_HTTPS, "test_name": "tor"}
    content = line(CLASSIC_HTTPS) + line(CLASSIC_HTTPS)[:100] + b"\n" + b"42\n" + line(tor)
    path = tmp_path / "day.jsonl.gz"
    path.write_bytes(gzip.compress(content + line(CLASSIC_HTTPS)))
    proc = probe("classify", "--json", str(path), config=empty_config)
    assert proc.returncode == 1, proc.stderr
    got = [(r.record, r.agreement.value, (r.error or "").split(" (")[0]) for r in _records(proc)]
    assert got == [
        (1, "agree", ""),
        (2, "error", "line 2: not JSON"),
        (3, "error", "line 3: a number, not an object"),
        (4, "error", "line 4: test_name 'tor', not web_connectivity"),
        (5, "agree", ""),
    ], got
    assert "5 records: 2 agree, 0 differ, 3 errors" in proc.stderr, proc.stderr


def test_table_and_exit_0_when_every_record_is_read(tmp_path: Path, empty_config: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(CLASSIC_HTTPS), encoding="utf-8")
    proc = probe("classify", str(path), config=empty_config)
    assert proc.returncode == 0, proc.stderr
    assert "accessible" in proc.stdout and "agree" in proc.stdout, proc.stdout
    assert "1 record: 1 agree, 0 differ, 0 errors" in proc.stdout, proc.stdout


def test_table_prints_hostile_text_as_itself(tmp_path: Path, empty_config: Path) -> None:
    path = tmp_path / "markup.jsonl"
    path.write_bytes(line({**CLASSIC_HTTPS, "input": "[/]"}) + line({"test_name": "[bold]x"}))
    proc = probe("classify", str(path), config=empty_config)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "[/]" in proc.stdout and "[bold]x" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    "argv",
    [["classify"], ["classify", "/nonexistent/m.json"], ["classify", "--fingerprints", "/no.csv"]],
)
def test_usage_errors_exit_2(empty_config: Path, argv: list[str]) -> None:
    proc = probe(*argv, config=empty_config)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == "", proc.stderr


def test_a_bad_fingerprints_file_is_named(tmp_path: Path, empty_config: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,fingerprint,file\n", encoding="utf-8")
    good = tmp_path / "m.json"
    good.write_text(json.dumps(CLASSIC_HTTPS), encoding="utf-8")
    proc = probe("classify", "--fingerprints", str(bad), str(good), config=empty_config)
    assert proc.returncode == 2, proc.stderr
    assert "bad.csv" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
