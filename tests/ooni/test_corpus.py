"""The corpus of real OONI measurements (tests/data/ooni-corpus, and the shared OONI backend
fixtures it references): every record is read by the real `probe classify`, every record has
its provenance and a ground-truth label, our accuracy stays above its floor, and
docs/ooni-agreement.md's per-source table is current. The shared records are read through
PROBE_SHARED_DIR; without them the tests that need them skip, saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from decide.test_real_data import FINGERPRINTS

from probe.models.ooni import ClassifiedRecord
from probe.models.results import Verdict

from .corpus import (
    COMMIT,
    CORPUS,
    EXCLUDED_SOURCES,
    GROUND_TRUTH,
    LABELS,
    PAGE,
    SHARED_OONI,
    Scored,
    accuracy,
    classified,
    corpus_files,
    labels,
    missing_shared,
    scored,
)
from .corpus_page import render
from .measurements import probe, require

# Floors, raised as verdict fixes land: 13/16 right with the reader alone; 14/16 with page
# identity (issue 17, not tuned on the corpus: the ID record's redirect to the Kominfo block page
# on another domain); 15/16 with tls.certificate_fails_control_fetch_failed (derived from the IR
# record web_connectivity_null2, so that record no longer counts as unseen); exactly right
# (method too) on 13/16; OONI's published pair is right on 10/16.
MIN_VERDICT_ACCURACY = 15 / 16
MIN_EXACT_ACCURACY = 13 / 16


def _require_shared() -> None:
    if missing := missing_shared():
        pytest.skip(
            f"shared OONI data not found under {SHARED_OONI} (set PROBE_SHARED_DIR to the "
            f"shared directory): {len(missing)} labelled records, e.g. {missing[0]}"
        )


@pytest.fixture(scope="module")
def records() -> dict[str, list[ClassifiedRecord]]:
    _require_shared()
    return classified()


@pytest.fixture(scope="module")
def items(records: dict[str, list[ClassifiedRecord]]) -> list[Scored]:
    require(FINGERPRINTS)
    return scored(records, classified(ooni_fingerprints=True))


def test_every_file_is_labelled_and_every_label_has_a_file() -> None:
    files = {p.name for p in corpus_files()}
    labelled = [label.file for label in labels()]
    assert len(labelled) == len(set(labelled)), f"{LABELS.name}: a file is labelled twice"
    here = {label.file for label in labels() if not label.is_shared}
    assert files == here, f"unlabelled: {sorted(files - here)}; no file: {sorted(here - files)}"


def test_shared_records_are_referenced_not_copied() -> None:
    shared = [label for label in labels() if label.is_shared]
    for label in shared:
        assert label.path.name == Path(label.row["source_path"]).name, (
            f"{label.file}: the shared file must be the one its provenance names"
        )
        assert not (CORPUS / label.path.name).exists(), f"{label.file}: copied into the corpus"
    _require_shared()
    shared_bytes = {label.path.read_bytes(): label.file for label in shared}
    copies = [p.name for p in corpus_files() if p.read_bytes() in shared_bytes]
    assert not copies, f"shared records copied into the corpus: {copies}"


def test_every_label_has_provenance_and_a_ground_truth() -> None:
    for label in labels():
        row = label.row
        for key in ("source_repo", "source_path", "country", "test_version", "why"):
            assert row[key].strip(), f"{label.file}: {key} is empty"
        assert COMMIT.fullmatch(row["source_commit"]), f"{label.file}: source_commit not a sha"
        assert row["source_repo"].lower() not in EXCLUDED_SOURCES, (
            f"{label.file}: {row['source_repo']} is reserved for the independent check"
        )
        assert label.truth in GROUND_TRUTH, f"{label.file}: ground truth {label.truth}"
        assert row["edited_by_source"] in {"yes", "no"}, f"{label.file}: edited_by_source"
        assert not label.edited or row["edits"].strip(), f"{label.file}: say what was edited"
        assert not label.methods or label.truth is Verdict.BLOCKED, (
            f"{label.file}: methods given for a {label.truth} record"
        )


def test_labels_match_what_the_records_say(records: dict[str, list[ClassifiedRecord]]) -> None:
    for label in labels():
        record = records[label.file][0]
        row = label.row
        assert record.probe_cc == row["country"], f"{label.file}: probe_cc {record.probe_cc}"
        assert record.test_version == row["test_version"], f"{label.file}: test_version"
        published = json.dumps(record.ooni_blocking).strip('"')
        assert published == row["ooni_blocking"], f"{label.file}: ooni_blocking {published}"
        accessible = json.dumps(record.ooni_accessible)
        assert accessible == row["ooni_accessible"], f"{label.file}: ooni_accessible {accessible}"


def test_the_real_cli_reads_every_record(
    tmp_path: Path, records: dict[str, list[ClassifiedRecord]]
) -> None:
    config = tmp_path / "probe.toml"
    config.write_text("", encoding="utf-8")
    files = [str(label.path) for label in labels()]
    proc = probe("classify", "--json", *files, config=config)
    assert "Traceback" not in proc.stderr, proc.stderr
    got = [ClassifiedRecord.model_validate_json(line) for line in proc.stdout.splitlines()]
    unreadable = [(r.file, r.error) for r in got if r.error is not None]
    assert not unreadable, f"unreadable records: {unreadable}"
    assert proc.returncode == 0, proc.stderr
    assert len(got) == len(files), f"expected one record per file, got {len(got)}"
    in_process = {label.path.name: records[label.file][0] for label in labels()}
    from_cli = {Path(r.file).name: r for r in got}
    in_process = {k: (r.verdict, r.blocking) for k, r in in_process.items()}
    from_cli = {k: (r.verdict, r.blocking) for k, r in from_cli.items()}
    assert from_cli == in_process, "the generated table must be what the CLI prints"


def test_our_accuracy_stays_above_its_floor(items: list[Scored]) -> None:
    wrong = [
        f"{s.label.file}: {s.record.verdict} ({s.record.blocking}) vs {s.label.truth}: "
        + (s.record.reasons[0] if s.record.reasons else "")
        for s in items
        if not s.ours[1]
    ]
    assert accuracy(items, "ours", exact=False) >= MIN_VERDICT_ACCURACY, wrong
    assert accuracy(items, "ours", exact=True) >= MIN_EXACT_ACCURACY, wrong


def test_we_are_right_at_least_as_often_as_ooni(items: list[Scored]) -> None:
    ours, ooni = accuracy(items, "ours", exact=False), accuracy(items, "ooni", exact=False)
    assert ours >= ooni, f"our verdict is right on {ours:.0%} of the corpus, OONI's on {ooni:.0%}"


def test_committed_page_is_current(items: list[Scored]) -> None:
    committed = PAGE.read_text(encoding="utf-8")
    assert render(committed, items) == committed, (
        f"{PAGE} is stale: run `PYTHONPATH=tests .venv/bin/python -m ooni.corpus`"
    )
