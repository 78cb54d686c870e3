"""Issue 18: years 0999, 1970 and 2999 were accepted (0999 stored as `999-…`, out of time
order), and a naive time in an aware manifest or an offset at the calendar's edge answered
`500 internal_error`, which a probe retries forever; `probe collector ingest` printed a
traceback on such a bundle and skipped the rest of the file.

Now every time must carry a UTC offset and lie between `measured_not_before` (2019) and
`max_ahead` (a day) past the collector's clock: a 4xx, nothing stored; and `ingest` reports
such a bundle in one line and goes on with the next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from collector.harness import make_records, run_cli, seal

from probe.ship.identity import Identity

from .conftest import Snapshot, StartCollector, new_identity

AWARE = "2026-11-01T12:00:00Z"
# name: (the record's measurement_start_time, manifest overrides, status, code)
CASES: dict[str, tuple[str, dict[str, Any], int, str]] = {
    "year 0999": ("0999-06-01T00:00:00Z", {"first_measured_at": "0999-01-01T00:00:00Z"},
                  422, "implausible_time"),
    "year 1970": ("1970-01-01T00:00:00Z", {"first_measured_at": "1970-01-01T00:00:00Z"},
                  422, "implausible_time"),
    "year 2999": ("2999-01-01T00:00:00Z", {"last_measured_at": "2999-12-31T00:00:00Z"},
                  422, "implausible_time"),
    "naive record in an aware manifest": ("2026-11-01T12:00:00", {}, 422, "implausible_time"),
    "naive manifest": (AWARE, {"created_at": "2026-11-01T12:00:00"}, 400, "invalid_manifest"),
    "naive and aware bounds": (AWARE, {"first_measured_at": "2026-10-01T00:00:00"}, 400,
                               "invalid_manifest"),
    "the calendar's first day, east of UTC": (
        "0001-01-01T00:30:00+05:00", {"first_measured_at": "0001-01-01T00:00:00+05:00"},
        422, "implausible_time"),
    "the calendar's last day, west of UTC": (
        "9999-12-31T23:00:00-05:00", {"last_measured_at": "9999-12-31T23:59:59-05:00"},
        422, "implausible_time"),
    "a day and an hour ahead": ("2026-11-01T12:00:00Z", {"created_at": "2999-01-01T00:00:00Z"},
                                422, "implausible_time"),
}  # fmt: skip


def _bundle(identity: Identity, moment: str, **manifest: Any) -> bytes:
    line = make_records(1)[0].model_dump_json()
    line = line.replace(make_records(1)[0].measurement_start_time.isoformat()
                        .replace("+00:00", "Z"), moment)  # fmt: skip
    assert moment in line
    return seal(identity, line.encode() + b"\n", **manifest)


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return new_identity(tmp_path_factory.mktemp("probe"), "probe")


def test_implausible_and_naive_times_are_refused_never_500(
    hostile_collector: StartCollector, identity: Identity
) -> None:
    collector = hostile_collector()
    before = Snapshot.of(collector)
    for case, (moment, manifest, status, code) in CASES.items():
        answer = collector.upload(_bundle(identity, moment, **manifest))
        assert (answer.status_code, answer.json()["error"]) == (status, code), (case, answer.text)
    assert Snapshot.of(collector) == before
    since = collector.client.get("/api/v1/measurements", params={"since": "0001-01-01T00:00+05:00"})
    assert (since.status_code, since.json()["error"]) == (422, "invalid_request")


def test_ingest_reports_each_bad_bundle_in_one_line_and_goes_on(
    tmp_path: Path, identity: Identity
) -> None:
    good = [seal(identity, r.model_dump_json().encode() + b"\n") for r in make_records(2)]
    bad = [_bundle(identity, moment, **manifest) for moment, manifest, _, _ in CASES.values()]
    export = tmp_path / "carried.bundles"
    export.write_bytes(good[0] + b"".join(bad) + good[1])
    result = run_cli("ingest", str(export), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + len(CASES), result.stdout
    assert lines[0].startswith("bundle 1 ") and "accepted" in lines[0]
    assert lines[-1].startswith(f"bundle {len(CASES) + 2} ") and "accepted" in lines[-1]
    for line, (case, (_, _, _, code)) in zip(lines[1:-1], CASES.items(), strict=True):
        assert f"rejected ({code})" in line, (case, line)
