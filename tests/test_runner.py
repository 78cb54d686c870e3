"""The runner's own duties: scrubbing the probe's addresses, loading fingerprints."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from probe.config import load_settings
from probe.errors import ConfigError
from probe.models.observations import HttpRequestRecord, HttpResponseRecord, HttpTransaction
from probe.models.results import EndpointResult, TargetResult, TestKeys, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind
from probe.runner import load_fingerprints, scrub

OURS = "198.51.100.23"


def _result_mentioning(address: str) -> TargetResult:
    endpoint = Endpoint(
        kind=EndpointKind.WEB, host="example.org", port=80, url="http://example.org/"
    )
    echo = HttpTransaction(
        address=f"{address}:80",
        request=HttpRequestRecord(url="http://example.org/", headers={"X-Forwarded-For": address}),
        response=HttpResponseRecord(code=200, body=f"<p>your address is {address}</p>"),
        t0=0.0,
        t=0.1,
    )
    return TargetResult(
        input="http://example.org/",
        verdict=Verdict.ACCESSIBLE,
        target=Target(
            input="http://example.org/",
            kind=TargetKind.URL,
            name="example.org",
            endpoints=[endpoint],
        ),
        endpoints=[
            EndpointResult(
                endpoint=endpoint, verdict=Verdict.ACCESSIBLE, test_keys=TestKeys(requests=[echo])
            )
        ],
        measurement_start_time=datetime.now(UTC),
        test_runtime=0.1,
        software_version="0",
    )


def test_scrub_removes_our_address_everywhere_and_keeps_the_record_valid() -> None:
    result = _result_mentioning(OURS)
    scrubbed = scrub(result, frozenset({OURS}))
    text = scrubbed.model_dump_json()
    assert OURS not in text
    assert text.count("[scrubbed]") == 3
    assert scrubbed.probe_ip == "127.0.0.1"


def test_scrub_without_known_addresses_is_the_identity() -> None:
    result = _result_mentioning(OURS)
    assert scrub(result, frozenset()) == result


def test_packaged_fingerprints_load() -> None:
    fingerprints = load_fingerprints(load_settings(None))
    assert any(f.name.startswith("probe.") for f in fingerprints)


def test_unreadable_fingerprint_file_is_a_config_error(tmp_path: Path) -> None:
    settings = load_settings(None, {"blockpages": {"fingerprints": [str(tmp_path / "nope.csv")]}})
    with pytest.raises(ConfigError, match=r"nope\.csv"):
        load_fingerprints(settings)


def test_malformed_fingerprint_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,scope\nx,nat\n", encoding="utf-8")
    settings = load_settings(None, {"blockpages": {"fingerprints": [str(bad)]}})
    with pytest.raises(ConfigError, match=r"bad\.csv"):
        load_fingerprints(settings)


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        ({}, ["https://kaspi.kz/", "https://egov.kz/", "https://www.gov.kz/"]),
        ({"country": "DE"}, []),
        ({"country": ""}, []),
        ({"domestic_sites": []}, []),
        ({"country": "DE", "domestic_sites": ["https://bank.example/"]}, ["https://bank.example/"]),
    ],
    ids=["default_kz", "country_without_list", "no_country", "explicitly_none", "configured"],
)
def test_domestic_sites(tmp_path: Path, control: dict[str, object], expected: list[str]) -> None:
    """The domestic control sites: configured, else the catalogue's for `[control] country`."""
    from probe.runner import domestic_sites

    lines = [f"{key} = {value!r}".replace("'", '"') for key, value in control.items()]
    path = tmp_path / "probe.toml"
    path.write_text("[control]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert domestic_sites(load_settings(path, {})) == expected


def test_country_must_be_an_iso_code(tmp_path: Path) -> None:
    path = tmp_path / "probe.toml"
    path.write_text('[control]\ncountry = "Kazakhstan"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="country"):
        load_settings(path, {})
