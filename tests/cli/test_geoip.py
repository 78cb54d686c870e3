"""`probe geoip update` against a loopback server: fetch, verify, swap in atomically (issue 20:
every result was AS0/ZZ after a default install)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helper.loopback import write_asn_database
from probe_cli import run_probe

from probe.config import Settings
from probe.geoip import asn_db_path, installed_path, month_urls
from probe.observe.asn import AsnDatabase

GOOD = {"1.1.1.0/24": 13335, "8.8.8.0/24": 15169, "203.0.113.0/24": 9198}


class Served:
    """A loopback HTTP server answering the paths of `files`, 404 otherwise."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _database(tmp_path: Path, networks: dict[str, int], name: str = "db.mmdb") -> bytes:
    path = tmp_path / name
    write_asn_database(path, networks)
    return gzip.compress(path.read_bytes())


def _home(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "probe.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[geoip]\nupdate_url = "{url}/asn-{{year}}-{{month}}.mmdb.gz"\n',
        encoding="utf-8",
    )
    return config


def _month(offset: int) -> str:
    return month_urls("{year}-{month}", datetime.now(UTC))[offset]


def test_update_installs_a_verified_database(served: Served, tmp_path: Path) -> None:
    served.files[f"/asn-{_month(0)}.mmdb.gz"] = _database(tmp_path, GOOD)
    config = _home(tmp_path, served.url)
    done = run_probe("geoip", "update", "--config", str(config))
    assert done.returncode == 0, done.stderr
    installed = tmp_path / "data" / "geoip" / "asn.mmdb"
    assert f"wrote {installed} (" in done.stderr and "CC BY 4.0" in done.stdout
    settings = Settings(storage={"data_dir": str(tmp_path / "data")})
    assert asn_db_path(settings) == installed == installed_path(settings)
    database = AsnDatabase(installed)
    try:
        assert database.asn("203.0.113.7")[0] == 9198
    finally:
        database.close()


def test_last_month_when_this_month_is_not_out(served: Served, tmp_path: Path) -> None:
    served.files[f"/asn-{_month(-1)}.mmdb.gz"] = _database(tmp_path, GOOD)
    done = run_probe("geoip", "update", "--config", str(_home(tmp_path, served.url)))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html>not found</html>", "not a MaxMind-format database"),
        (gzip.compress(b"\x00" * 100), "not a MaxMind-format database"),
        (b"\x1f\x8bbroken", "not valid gzip"),
        (None, "should be AS13335"),  # a real database of the wrong networks
        (b"", "HTTP 404"),
    ],
)
def test_a_bad_download_leaves_the_installed_database(
    served: Served, tmp_path: Path, body: bytes | None, said: str
) -> None:
    config = _home(tmp_path, served.url)
    installed = tmp_path / "data" / "geoip" / "asn.mmdb"
    installed.parent.mkdir(parents=True)
    write_asn_database(installed, GOOD)
    before = installed.read_bytes()
    if body is None:
        body = _database(tmp_path, {"1.1.1.0/24": 1, "8.8.8.0/24": 2}, "wrong.mmdb")
    if body:
        served.files[f"/asn-{_month(0)}.mmdb.gz"] = body
    done = run_probe("geoip", "update", "--config", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr
    assert installed.read_bytes() == before
    assert sorted(p.name for p in installed.parent.iterdir()) == ["asn.mmdb"]


def test_auto_refreshes_only_an_old_installed_database(served: Served, tmp_path: Path) -> None:
    """The daemon's monthly pass (`probe geoip update --auto`, probe/daemon/geoip.py)."""
    import asyncio
    import os
    import time

    from probe.daemon.geoip import refresh_once

    config = _home(tmp_path, served.url)
    installed = tmp_path / "data" / "geoip" / "asn.mmdb"
    none = run_probe("geoip", "update", "--auto", "--config", str(config))
    assert none.returncode == 0 and "none installed" in none.stdout and not installed.exists()
    installed.parent.mkdir(parents=True)
    write_asn_database(installed, GOOD)
    fresh = run_probe("geoip", "update", "--auto", "--config", str(config))
    assert fresh.returncode == 0 and "not fetched" in fresh.stdout, fresh.stdout + fresh.stderr
    newer = dict(GOOD, **{"198.51.100.0/24": 64501})
    served.files[f"/asn-{_month(0)}.mmdb.gz"] = _database(tmp_path, newer)
    month_ago = time.time() - 31 * 86400
    os.utime(installed, (month_ago, month_ago))
    assert asyncio.run(refresh_once(config)) == 0
    database = AsnDatabase(installed)
    try:
        assert database.asn("198.51.100.1")[0] == 64501
    finally:
        database.close()
