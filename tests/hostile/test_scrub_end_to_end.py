"""Issue 18, replayed end to end: a page echoes the probe's public address in Latin-1 and gzip'd,
in several spellings; the address reaches neither `probe check --json`, nor the store, nor a
signed bundle.

The probe runs as a real subprocess against loopback servers and the real helper behind a
reverse proxy (tests/helper/reverse_proxy.py) that stands in for the internet: it tells the
helper, a trusted proxy, that the probe came from 203.0.113.77, its "public address". The helper
echoes it, the probe accepts it (203.0.113.0/24 is declared routable, so the echo is plausible),
and every record is scrubbed of it. Without the echo the same pages keep the address, which shows
the search below finds what it looks for.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helper import conftest as helper_fixtures
from helper.conftest import StartHelper
from helper.loopback import Internet, RunningHelper, loopback_probe_toml
from helper.reverse_proxy import ReverseProxy
from servers import ServerLoop, respond

from probe.models.results import TargetResult
from probe.ship.bundle import Limits, iter_bundles, unpack_records
from probe.ship.identity import create_identity
from probe.ship.outbox import export_outbox, seal
from probe.store.sqlite import ResultStore

internet = helper_fixtures.internet
start_helper = helper_fixtures.start_helper

PUBLIC = "203.0.113.77"
SPELLINGS = [PUBLIC, "203-0-113-77", "77.113.0.203", "203%2E0%2E113%2E77", "3405803853"]
PAGE = (
    "<html><head><title>Quelle est mon adresse IP ?</title></head><body>"
    f"<p>Votre adresse : {PUBLIC} (café)</p><p>Hôte : host-203-0-113-77.isp.example</p>"
    "<p>PTR : 77.113.0.203.in-addr.arpa</p><a href='/?ip=203%2E0%2E113%2E77'>lien</a>"
    "<p>décimal : 3405803853</p></body></html>"
).encode("latin-1")


def every_decoding(value: Any) -> list[str]:
    """Return every string of a serialized record, base64 values also decoded (and inflated)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in every_decoding(item)]
    if not isinstance(value, dict):
        return []
    found = [text for k, v in value.items() for text in (k, *every_decoding(v))]
    if value.get("format") == "base64":
        raw = base64.b64decode(value["data"])
        found.append((gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("latin-1"))
    return found


def traces(record: str) -> list[str]:
    """Return the spellings of the public address found anywhere in a serialized record."""
    texts = every_decoding(json.loads(record))
    return sorted({s for s in SPELLINGS for text in texts if s in text})


@pytest.fixture
def pages(internet: Internet) -> list[str]:
    internet.http.route(
        "/hostile/latin1",
        respond(PAGE, content_type="text/html; charset=iso-8859-1",
                headers=[("X-Your-Address", "host-203-0-113-77")]),
    )  # fmt: skip
    internet.http.route(
        "/hostile/gzip-raw", respond(gzip.compress(PAGE), content_type="application/gzip")
    )
    return [internet.url("/hostile/latin1"), internet.url("/hostile/gzip-raw")]


@pytest.fixture
def echoing_helper(
    internet: Internet, start_helper: StartHelper, server_loop: ServerLoop
) -> Iterator[str]:
    """The real helper behind a proxy that says the probe came from PUBLIC; its URL."""
    helper = start_helper(internet.settings(helper={"trusted_proxies": ["127.0.0.1/32"]}))
    upstream = helper.url.split("//")[1].strip("/")
    with ReverseProxy(server_loop, upstream, client_as=PUBLIC) as proxy:
        yield f"http://{proxy.address}/"


def check(tmp_path: Path, internet: Internet, helper_url: str, urls: list[str]) -> list[str]:
    """Run `probe check --json` on `urls`; return the printed records."""
    toml = loopback_probe_toml(internet.dns.address, internet.ca_bundle, [helper_url], [])
    toml = toml.replace(
        'routable = ["127.0.0.1/32"]', 'routable = ["127.0.0.1/32", "203.0.113.0/24"]'
    )
    config = tmp_path / "probe.toml"
    config.write_text(toml, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "probe", "check", "--json", "--config", str(config), *urls],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def stored_and_bundled(tmp_path: Path, printed: list[str]) -> tuple[list[str], list[str]]:
    """Store the printed records, seal them into a signed bundle and export it, as `probe
    bundle export` does; return the stored records and those read back from the file."""
    data = tmp_path / "data"
    identity, _ = create_identity(data)
    with ResultStore.open(data) as store:
        for line in printed:
            store.add_result(TargetResult.model_validate_json(line), "e2e")
        stored = [record for _, record in store.iter_record_texts()]
        seal(store, identity, max_records=100, max_bytes=1 << 24)
        export_outbox(store, tmp_path / "carried.bundles", include_exported=True)
    with (tmp_path / "carried.bundles").open("rb") as carried:
        bundles = list(iter_bundles(carried, Limits()))
    assert bundles and not any(isinstance(b, Exception) for b in bundles), bundles
    bundled = [
        r.model_dump_json() for b in bundles if not isinstance(b, Exception)
        for r in unpack_records(b, Limits())
    ]  # fmt: skip
    return stored, bundled


def test_the_public_address_reaches_no_output(
    tmp_path: Path, internet: Internet, pages: list[str], echoing_helper: str
) -> None:
    printed = check(tmp_path, internet, echoing_helper, pages)
    assert len(printed) == 2
    for line in printed:
        record = TargetResult.model_validate_json(line)
        control = record.endpoints[0].test_keys.control
        assert control is not None and control.x_client_address == "[scrubbed]"
        assert traces(line) == [], f"printed: {traces(line)} survived in {record.input}"
    stored, bundled = stored_and_bundled(tmp_path, printed)
    assert len(stored) == len(bundled) == 2
    for where, texts in (("stored", stored), ("bundled", bundled)):
        for text in texts:
            assert traces(text) == [], f"{where}: {traces(text)} survived"


def test_without_the_echo_the_address_survives(
    tmp_path: Path, internet: Internet, pages: list[str], start_helper: StartHelper
) -> None:
    """The negative control: a helper that sees only 127.0.0.1 gives the probe nothing to
    scrub, and the search finds every spelling (so the test above can fail)."""
    helper: RunningHelper = start_helper(internet.settings())
    printed = check(tmp_path, internet, helper.url, pages[:1])
    assert traces(printed[0]) == sorted(SPELLINGS)
