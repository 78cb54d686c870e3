"""Issue 18: one stored record of 30 MiB made `probe report --collector-dir` fail with a DuckDB
CSV error for every period that contained it.

A collector now refuses such records, but one may be stored already (by a collector of before
the fix): the report reads around it. A record too long, or whose fact would carry a text too
long, is skipped unread, counted, and named by its measurement id in the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from collector.harness import bundle_of, make_records
from probe_cli import run_probe

from probe.collector import CollectorStore, ingest
from probe.ship.bundle import Limits

from .conftest import new_identity

# What a collector of before issue 18 took: no record or field cap.
OLD_LIMITS = Limits(max_uncompressed_bytes=256 << 20, max_record_bytes=256 << 20,
                    max_field_bytes=256 << 20)  # fmt: skip


def test_a_report_survives_any_stored_record(tmp_path: Path) -> None:
    identity = new_identity(tmp_path, "probe")
    good = make_records(6)
    huge = make_records(1, start=6)[0].model_copy(
        update={"input": "https://example.org/" + "a" * (30 << 20)}
    )
    long_input = make_records(1, start=7)[0].model_copy(  # past DuckDB's 2 MB CSV line
        update={"input": "https://example.org/" + "a" * (3 << 20)}
    )
    odd = make_records(1, start=8)[0].model_copy(
        update={"probe_network_name": 'quote " comma , newline \n nul \x00 end'}
    )
    data_dir = tmp_path / "collector"
    with CollectorStore.open(data_dir) as store:
        for records in (good[:3], [huge], [long_input], [odd], good[3:]):
            raw = bundle_of(records, identity).to_bytes()
            ingest(store, raw, limits=OLD_LIMITS, register_open=True, via="file")
    done = run_probe("report", "--collector-dir", str(data_dir), "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    scope = json.loads(done.stdout)["scope"]
    assert scope["skipped_records"] == 2, scope
    reasons = " ".join(scope["skipped_reasons"])
    assert str(huge.measurement_id) in reasons and "left unread" in reasons, reasons
    assert str(long_input.measurement_id) in reasons and "input" in reasons, reasons
    assert scope["measurements"] == 7, scope  # the six good ones and the odd one
