"""Settings: defaults, TOML, precedence, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.config import (
    DEFAULT_CONNECT_TIMEOUT_S,
    format_duration,
    load_settings,
    parse_duration,
    render_reference,
)
from probe.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_CONFIG", raising=False)
    monkeypatch.delenv("PROBE_TIMEOUTS__CONNECT", raising=False)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_need_no_file() -> None:
    settings = load_settings()
    assert settings.timeouts.connect == DEFAULT_CONNECT_TIMEOUT_S
    assert settings.resolver.servers == ["system"]
    assert settings.control.helpers, "default helpers must exist so `probe check` works anywhere"


def test_issue_example_config_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[resolver]
servers = ["system", "udp://192.0.2.53", "tcp://192.0.2.53:5353", "tls://192.0.2.53", "https://dns.example/dns-query"]
[control]
helpers = ["https://helper.example.org"]
doh = ["https://dns.example/dns-query"]
sites = ["https://www.wikipedia.org/", "https://example.com/"]
[tls]
ca_bundle = "/path/roots.pem"
[network]
routable = ["198.51.100.0/24"]
[timeouts]
dns = 4
connect = "8s"
tls = 8
http = 15
[geoip]
asn_db = "/path/asn.mmdb"
""",
    )
    settings = load_settings(path)
    assert str(settings.network.routable[0]) == "198.51.100.0/24"
    assert settings.timeouts.connect == 8.0
    assert settings.tls.ca_bundle == Path("/path/roots.pem")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[timeout]\nconnect = 1\n", "unknown key 'timeout'"),
        ("[timeouts]\nconect = 1\n", "unknown key 'timeouts.conect'"),
        ("[timeouts]\nconnect = 'soon'\n", "'timeouts.connect'"),
        ("[timeouts]\nconnect = 0\n", "'timeouts.connect'"),
        ("[resolver]\nservers = ['ftp://x']\n", "'resolver.servers'"),
        ("[network]\nroutable = ['300.1.2.0/24']\n", "'network.routable"),
        ("[timeouts\n", "invalid TOML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, named: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert named in str(caught.value), f"expected {named!r} in {caught.value}"
    assert str(path) in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_precedence_flag_over_env_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "[timeouts]\nconnect = 2\n")
    assert load_settings(path).timeouts.connect == 2.0
    monkeypatch.setenv("PROBE_TIMEOUTS__CONNECT", "3")
    assert load_settings(path).timeouts.connect == 3.0
    assert load_settings(path, {"timeouts": {"connect": 5}}).timeouts.connect == 5.0


def test_probe_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "[timeouts]\nhttp = 7\n")
    monkeypatch.setenv("PROBE_CONFIG", str(path))
    assert load_settings().timeouts.http == 7.0


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_durations_format_and_parse_back(count: int, unit: str) -> None:
    seconds = parse_duration(f"{count}{unit}")
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "5x", "-3s", "fast", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_configuration_reference_is_current() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_reference(), "run: python -m probe.config > docs/configuration.md"


# Issue 20: pydantic's sentences ("Field required", "Input should be a valid integer") became
# the tool's own, naming the job or the section, the file, the key path and what to do.
@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[[schedule.jobs]]\nname = "a"\ntargets = ["x"]\n',
         "`every` is missing in job 1 ([[schedule.jobs]]) of {path} (key 'schedule.jobs.0.every'):"
         " add it"),
        ("[measure]\nattempts = 'x'\n",
         "`attempts` in [measure] of {path} (key 'measure.attempts') must be a whole number"),
        ("timeouts = 3\n", "`timeouts` in the top level of {path} (key 'timeouts') must be"),
        ("[control]\nhelpers = 'http://x'\n", "must be a list"),
        ("[daemon]\nlog_format = 'xml'\n", "input should be 'logfmt' or 'json', not 'xml'"),
        ("[storage]\nmin_free_bytes = -1\n", "greater than or equal to 0, not -1"),
        ("[timeouts]\nconnect = 'soon'\n", "`connect` in [timeouts] of {path}"),
        ('[[schedule.jobs]]\nname = "a"\nevery = "1m"\n', "neither targets nor input_file"),
    ],
)  # fmt: skip
def test_config_errors_are_in_our_words(tmp_path: Path, text: str, said: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert said.format(path=path) in message, message
    assert "Input should" not in message and "Field required" not in message


def test_every_error_type_the_settings_raise_is_worded() -> None:
    """Every pydantic error type reachable from the settings gets our wording (no
    "Input should", no "Field required"), whatever the value."""
    from pydantic import ValidationError

    from probe.config import Settings
    from probe.config_errors import describe

    bad: list[dict[str, object]] = [
        {"timeouts": {"connect": [1]}}, {"measure": {"attempts": 1.5}},
        {"throughput": {"enabled": "perhaps"}}, {"control": {"helpers": [3]}},
        {"storage": {"data_dir": 3}}, {"schedule": {"jobs": [{}]}}, {"geoip": []},
    ]  # fmt: skip
    for data in bad:
        with pytest.raises(ValidationError) as caught:
            Settings(**data)  # type: ignore[arg-type]
        text = describe(caught.value, "f.toml")
        assert "Input should" not in text and "Field required" not in text, (data, text)
        assert "f.toml (key '" in text, (data, text)
