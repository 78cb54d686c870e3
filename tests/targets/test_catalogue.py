"""The packaged catalogue loads and matches METHODS §7; a broken catalogue names file and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import probe
from probe.config import DEFAULT_CONTROL_SITES
from probe.errors import TargetError
from probe.models.targets import EndpointKind
from probe.targets import Catalogue, load_catalogue

PACKAGED = Path(probe.__file__).resolve().parent / "data" / "platforms.toml"
CONFIGS_LINK = Path(probe.__file__).resolve().parent.parent / "configs" / "platforms.toml"
MAX_ENDPOINTS = 40  # one platform check runs all of them; keep it a few dozen at most

# METHODS §7: ASNs every platform must expect (a subset: the catalogue may list more).
EXPECTED_ASNS = {
    "twitter": {13414, 35995, 54888, 63179},
    "youtube": {15169, 36040},
    "whatsapp": {32934},
    "skype": {8075, 12076},
    "instagram": {32934, 63293, 54115, 34825},
    "facebook": {32934, 63293, 54115, 34825},
    "telegram": {62041, 62014, 59930, 44907, 211157},
    "signal": set(),
}

# METHODS §7 and the brief: endpoints every platform must have (labels).
REQUIRED_ENDPOINTS = {
    "twitter": {"https://twitter.com/", "https://x.com/", "https://api.twitter.com/",
                "https://t.co/", "https://abs.twimg.com/", "https://pbs.twimg.com/"},
    "youtube": {"https://www.youtube.com/", "https://youtube.com/", "https://m.youtube.com/",
                "https://i.ytimg.com/", "https://youtubei.googleapis.com/"},
    "whatsapp": {"https://web.whatsapp.com/", "https://v.whatsapp.net/v2/register"},
    "skype": {"https://teams.microsoft.com/", "https://teams.live.com/",
              "https://login.microsoftonline.com/", "https://web.skype.com/"},
    "instagram": {"https://www.instagram.com/"},
    "facebook": {"https://www.facebook.com/", "b-api.facebook.com:443", "b-graph.facebook.com:443",
                 "edge-mqtt.facebook.com:443", "external.xx.fbcdn.net:443",
                 "scontent.xx.fbcdn.net:443", "star.c10r.facebook.com:443"},
    "telegram": {"https://web.telegram.org/"}
    | {f"{ip}:{port}" for ip in ("149.154.175.50", "149.154.167.51", "149.154.175.100",
                                 "149.154.167.91", "149.154.171.5", "95.161.76.100")
       for port in (80, 443)},
    "signal": {"https://chat.signal.org/", "https://storage.signal.org/",
               "https://cdsi.signal.org/", "https://sfu.voip.signal.org/",
               "uptime.signal.org:443"},
}  # fmt: skip


def test_every_platform_of_the_brief_is_there(catalogue: Catalogue) -> None:
    assert set(catalogue.names) == set(EXPECTED_ASNS)


@pytest.mark.parametrize("name", sorted(EXPECTED_ASNS))
def test_platform_endpoints(catalogue: Catalogue, name: str) -> None:
    platform = catalogue.get(name)
    assert platform is not None
    endpoints = catalogue.endpoints(platform)
    labels = [e.label for e in endpoints]
    assert 0 < len(endpoints) <= MAX_ENDPOINTS, f"{name}: {len(endpoints)} endpoints"
    assert len(set(labels)) == len(labels), f"{name}: duplicate endpoints"
    assert REQUIRED_ENDPOINTS[name] <= set(labels), REQUIRED_ENDPOINTS[name] - set(labels)
    assert EXPECTED_ASNS[name] <= set(platform.asns), f"{name}: asns {platform.asns}"
    for endpoint in endpoints:
        assert (endpoint.url is not None) == (endpoint.kind is EndpointKind.WEB), endpoint


def test_whatsapp_has_the_32_ooni_tcp_endpoints(catalogue: Catalogue) -> None:
    platform = catalogue.get("whatsapp")
    assert platform is not None
    tcp = {(e.host, e.port) for e in catalogue.endpoints(platform) if e.kind is EndpointKind.TCP}
    assert tcp == {(f"e{n}.whatsapp.net", port) for n in range(1, 17) for port in (443, 5222)}


def test_skype_note_tells_of_the_retirement(catalogue: Catalogue) -> None:
    platform = catalogue.get("skype")
    assert platform is not None and platform.note is not None
    assert "retired" in platform.note and "5 May 2025" in platform.note
    assert "Teams" in platform.note


def test_control_sites_match_the_settings_default(catalogue: Catalogue) -> None:
    assert catalogue.control_sites == DEFAULT_CONTROL_SITES


@pytest.mark.parametrize(
    ("name", "platform"),
    [("twitter", "twitter"), ("X", "twitter"), ("  Twitter.COM ", "twitter"), ("TG", "telegram"),
     ("teams", "skype"), ("messenger", "facebook"), ("nope", None)],
)  # fmt: skip
def test_lookup_by_name_or_alias_ignores_case(
    catalogue: Catalogue, name: str, platform: str | None
) -> None:
    found = catalogue.get(name)
    assert (found.name if found else None) == platform


@pytest.mark.parametrize(
    ("host", "platform"),
    [("twitter.com", "twitter"), ("pbs.twimg.com", "twitter"), ("e7.whatsapp.net", "whatsapp"),
     ("149.154.167.51", "telegram"), ("scontent.xx.fbcdn.net", "facebook"), ("kaspi.kz", None)],
)  # fmt: skip
def test_platform_for_host(catalogue: Catalogue, host: str, platform: str | None) -> None:
    found = catalogue.platform_for_host(host)
    assert (found.name if found else None) == platform


def test_configs_symlink_resolves_to_the_packaged_file() -> None:
    assert CONFIGS_LINK.is_symlink()
    assert not os.path.isabs(os.readlink(CONFIGS_LINK)), "the link must be relative"
    assert CONFIGS_LINK.resolve() == PACKAGED


def test_loading_by_path_equals_the_packaged_default(catalogue: Catalogue) -> None:
    loaded = load_catalogue(CONFIGS_LINK)
    assert loaded.platforms == catalogue.platforms
    assert loaded.control_sites == catalogue.control_sites
    assert loaded.source == str(CONFIGS_LINK)


GOOD_PLATFORM = '[platforms.demo]\ntitle = "Demo"\nurls = ["https://demo.example/"]\n'

DEMO = '[platforms.demo]\ntitle = "Demo"\n'
OTHER = '[platforms.other]\ntitle = "Other"\n'

# case → (TOML text, what the message must say after the file name)
BROKEN = {
    "unknown_platform_key": (
        GOOD_PLATFORM + 'colour = "red"\n',
        "platforms.demo.colour: unknown key (known: aliases",
    ),
    "unknown_top_level_key": ("version = 2\n" + GOOD_PLATFORM, "version: unknown top-level key"),
    "unknown_controls_key": (
        "[controls]\nurls = []\n" + GOOD_PLATFORM,
        "controls.urls: unknown key",
    ),
    "control_site_not_a_url": (
        '[controls]\nsites = ["gopher://x.example/"]\n',
        "controls.sites[0]: 'gopher://x.example/': unsupported scheme",
    ),
    "domestic_not_a_table": (
        "[controls]\ndomestic = 3\n",
        "controls.domestic: must be a table of country = [URLs]",
    ),
    "domestic_bad_country": (
        '[controls.domestic]\nkz = ["https://kaspi.kz/"]\n',
        "controls.domestic.kz: not an ISO 3166 code",
    ),
    "domestic_bad_url": (
        '[controls.domestic]\nKZ = ["ftp://kaspi.kz/"]\n',
        "controls.domestic.KZ[0]: 'ftp://kaspi.kz/': unsupported scheme",
    ),
    "missing_title": (
        '[platforms.demo]\nurls = ["https://demo.example/"]\n',
        "platforms.demo.title: Field required",
    ),
    "wrong_type": (
        DEMO + 'urls = "https://demo.example/"\n',
        "platforms.demo.urls: Input should be a valid list",
    ),
    "wrong_item_type": (
        DEMO + "urls = [1]\n",
        "platforms.demo.urls[0]: Input should be a valid string",
    ),
    "name_key": (
        GOOD_PLATFORM + 'name = "other"\n',
        "platforms.demo.name: the name is the table key",
    ),
    "upper_case_name": (
        '[platforms.Demo]\ntitle = "Demo"\nurls = ["https://demo.example/"]\n',
        "platforms.Demo: the name must be lower-case",
    ),
    "bad_url": (
        DEMO + 'urls = ["ftp://demo.example/"]\n',
        "platforms.demo.urls[0]: 'ftp://demo.example/': unsupported scheme",
    ),
    "tcp_without_port": (
        GOOD_PLATFORM + 'tcp_endpoints = ["demo.example"]\n',
        "platforms.demo.tcp_endpoints[0]: 'demo.example': no port",
    ),
    "duplicate_endpoint": (
        DEMO + 'urls = ["https://demo.example/", "HTTPS://Demo.example"]\n',
        "platforms.demo.urls[1]: 'HTTPS://Demo.example' is listed twice",
    ),
    "no_endpoints": (DEMO, "platforms.demo: no urls and no tcp_endpoints"),
    "bad_alias": (GOOD_PLATFORM + 'aliases = ["Demo App"]\n', "platforms.demo.aliases[0]"),
    "alias_twice": (
        GOOD_PLATFORM
        + 'aliases = ["d"]\n'
        + OTHER
        + 'aliases = ["d"]\nurls = ["https://o.example/"]\n',
        "platforms.other: name 'd' is already used by platforms.demo",
    ),
    "host_in_two_platforms": (
        GOOD_PLATFORM + OTHER + 'urls = ["http://demo.example/"]\n',
        "platforms.other: host 'demo.example' also belongs to platforms.demo",
    ),
    "asn_repeated": (GOOD_PLATFORM + "asns = [13414, 13414]\n", "platforms.demo.asns[1]: 13414"),
    "asn_zero": (GOOD_PLATFORM + "asns = [0]\n", "platforms.demo.asns[0]: 0 is not a valid ASN"),
    "platforms_not_a_table": ("platforms = 3\n", "platforms: must be a table"),
    "invalid_toml": ("[platforms.demo\n", "invalid TOML"),
}


@pytest.mark.parametrize(("text", "reason"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_catalogue_names_file_and_key(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "platforms.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TargetError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert reason in message, f"expected {reason!r} in {message!r}"


def test_minimal_catalogue_loads(tmp_path: Path) -> None:
    path = tmp_path / "platforms.toml"
    path.write_text(GOOD_PLATFORM, encoding="utf-8")
    catalogue = load_catalogue(path)
    assert catalogue.names == ["demo"]
    assert catalogue.control_sites == ()


def test_missing_catalogue_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(TargetError, match=r"absent\.toml: cannot read the catalogue"):
        load_catalogue(path)


def test_domestic_control_sites_per_country(catalogue: Catalogue) -> None:
    """Kazakhstan's domestic control sites ship; a country without a list has none."""
    kz = catalogue.domestic_sites("KZ")
    assert kz and all(url.startswith("https://") for url in kz), kz
    assert catalogue.domestic_sites("kz") == kz, "country codes are case-insensitive"
    assert catalogue.domestic_sites("DE") == ()
