"""Issue 18: what the probe keeps on disk is its operator's alone, whatever the umask.

With umask 022 and a data directory that already exists with mode 0755, the results database
was world-readable and `probe init` wrote the config (which may come to hold a token) 0644.
Files the probe creates are 0600, directories 0700, and an existing one is tightened with a
warning naming it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probe.models.results import TargetResult, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind
from probe.paths import private_directory, write_private
from probe.ship.identity import create_identity
from probe.ship.outbox import export_outbox, seal
from probe.store.sqlite import STORE_FILE, ResultStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def open_data_dir(tmp_path: Path) -> Path:
    """A data directory that already exists, world-readable, as a volunteer may have made it."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    return data


def test_probe_init_makes_every_file_private(tmp_path: Path, open_data_dir: Path) -> None:
    config = tmp_path / "etc" / "probe.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}
    done = subprocess.run(
        [sys.executable, "-m", "probe", "init", "--yes", "--config", str(config),
         "--data-dir", str(open_data_dir)],
        capture_output=True, text=True, check=False, timeout=120, env=env, umask=0o022,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert mode(open_data_dir) == 0o700
    assert f"{open_data_dir} was mode 0755" in done.stderr, "the tightening is not silent"
    assert mode(config) == 0o600, "the config may hold a token"
    assert mode(config.parent) == 0o700
    for name in ("probe.key", "probe.pub", "consent.json", STORE_FILE):
        assert mode(open_data_dir / name) == 0o600, name


def _result() -> TargetResult:
    endpoint = Endpoint(
        kind=EndpointKind.WEB, host="example.org", port=80, url="http://example.org/"
    )
    target = Target(
        input="example.org", kind=TargetKind.DOMAIN, name="example.org", endpoints=[endpoint]
    )
    return TargetResult(
        input="example.org", verdict=Verdict.ACCESSIBLE, target=target,
        measurement_start_time=datetime.now(UTC), test_runtime=0.1, software_version="t",
    )  # fmt: skip


def test_the_store_its_wal_and_an_export_are_private(
    tmp_path: Path, open_data_dir: Path, umask_022: None
) -> None:
    identity, _ = create_identity(open_data_dir)
    with ResultStore.open(open_data_dir) as store:
        store.add_result(_result(), "job")
        # While the store is open, SQLite's companions exist: same mode as the database.
        for name in (STORE_FILE, STORE_FILE + "-wal", STORE_FILE + "-shm"):
            assert mode(open_data_dir / name) == 0o600, name
        seal(store, identity, max_records=10, max_bytes=1 << 20)
        out = tmp_path / "carried.bundles"
        export_outbox(store, out, include_exported=True)
    assert mode(out) == 0o600
    assert mode(open_data_dir) == 0o700


def test_an_existing_readable_store_is_tightened_with_a_warning(
    open_data_dir: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    database = open_data_dir / STORE_FILE
    ResultStore.open(open_data_dir).close()
    database.chmod(0o644)
    open_data_dir.chmod(0o755)
    with caplog.at_level("WARNING", logger="probe.files"):
        ResultStore.open(open_data_dir, create=False).close()
    assert mode(database) == 0o600 and mode(open_data_dir) == 0o700
    named = {str(open_data_dir), str(database)}
    assert named <= {str(r.args[0]) for r in caplog.records if r.args}, caplog.text


def test_write_private_replaces_a_readable_file(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old")
    target.chmod(0o644)
    write_private(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o600


def test_a_new_directory_and_its_parents_are_private(tmp_path: Path, umask_022: None) -> None:
    made = private_directory(tmp_path / "a" / "b")
    assert mode(made) == 0o700
