"""OONI measurement → our observations: classic (0.4) shapes, hostile content, and how our
verdict is compared with OONI's."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from decide.test_real_data import FINGERPRINTS, SHARED, _ooni, _packaged
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.decide import DecisionContext, endpoint_verdict
from probe.models.ooni import Agreement, agreement
from probe.models.results import Blocking, Verdict
from probe.observe.ooni import OoniFormatError, convert, to_test_keys

from .measurements import CLASSIC_HTTPS, Json, measurement, require

B, A, D, U = Verdict.BLOCKED, Verdict.ACCESSIBLE, Verdict.SERVICE_DOWN, Verdict.INCONCLUSIVE
FASTPATH = SHARED / "data" / "ooni" / "fastpath"


def _verdict(made: Json, fingerprints: bool = False) -> tuple[Verdict, Blocking | None, list[str]]:
    endpoint, keys = to_test_keys(made)
    known = _packaged() + (_ooni("http") + _ooni("dns") if fingerprints else ())
    result = endpoint_verdict(endpoint, keys, DecisionContext(fingerprints=known))
    return result.verdict, result.blocking, result.reasons


def _redirect(url: str, location: str, code: int = 302) -> Json:
    return {
        "failure": None,
        "request": {"url": url},
        "response": {"code": code, "headers": {"Location": location}, "body": ""},
    }


def _failed(url: str, failure: str) -> Json:
    return {"failure": failure, "request": {"url": url}, "response": {"code": 0}}


PAGE = CLASSIC_HTTPS["test_keys"]["requests"][0]

# Hand-made classic (0.4) records: name → (test keys replaced, expected verdict, blocking).
CLASSIC_CASES: dict[str, tuple[Json, Verdict, Blocking | None]] = {
    "works": ({}, A, None),
    "redirect_then_nxdomain": (
        {
            "requests": [
                _failed("https://www.example.org/", "dns_nxdomain_error"),
                _redirect("https://example.org/", "https://www.example.org/"),
            ]
        },
        B,
        Blocking.DNS_NXDOMAIN,
    ),
    "redirect_then_refused": (
        {
            "requests": [
                _failed("https://www.example.org/", "connection_refused"),
                _redirect("https://example.org/", "https://www.example.org/"),
            ]
        },
        B,
        Blocking.TCP_REFUSED,
    ),
    "sni_reset": (
        {
            "tls_handshakes": [
                {
                    "address": "93.184.215.14:443",
                    "server_name": "example.org",
                    "failure": "connection_reset",
                }
            ],
            "requests": [_failed("https://example.org/", "connection_reset")],
        },
        B,
        Blocking.TLS_RESET,
    ),
    # Before 0.4 no tls_handshakes were written: the first request's result implies one.
    "no_handshakes_recorded_page": ({"tls_handshakes": None}, A, None),
    "no_handshakes_recorded_reset": (
        {"tls_handshakes": None, "requests": [_failed("https://example.org/", "connection_reset")]},
        B,
        Blocking.TLS_RESET,
    ),
    "helper_unreachable": ({"control_failure": "connection_reset"}, A, None),
    "dns_hijack_to_bogon": (
        {
            "queries": [
                {
                    "engine": "system",
                    "hostname": "example.org",
                    "query_type": "A",
                    "answers": [{"answer_type": "A", "ipv4": "10.10.34.36"}],
                }
            ],
            "tcp_connect": [
                {
                    "ip": "10.10.34.36",
                    "port": 443,
                    "status": {"success": False, "failure": "generic_timeout_error"},
                }
            ],
            "tls_handshakes": None,
            "requests": [_failed("https://example.org/", "generic_timeout_error")],
        },
        B,
        Blocking.DNS_HIJACK,
    ),
}


@pytest.mark.parametrize("name", sorted(CLASSIC_CASES))
def test_classic_records(name: str) -> None:
    replaced, verdict, blocking = CLASSIC_CASES[name]
    got = _verdict(measurement(**replaced))
    assert got[:2] == (verdict, blocking), (
        f"{name}: (verdict, blocking) expected {(verdict, blocking)}, got {got}"
    )


def test_control_failure_drops_the_empty_control() -> None:
    # OONI writes a zero-valued control when the helper failed (fastpath web_connectivity_null).
    made = measurement(
        control_failure="connection_refused",
        control={"tcp_connect": None, "http_request": {"status_code": 0}, "dns": {"addrs": None}},
    )
    _, keys = to_test_keys(made)
    assert keys.control is None and keys.control_failure == "connection_refused"


def test_a_chain_that_starts_elsewhere_than_the_input_is_noted() -> None:
    # measurement-kit records only the last request (fastpath web_connectivity_no_body: input
    # http://www.nmrc.org/, one request for https://www.nmrc.org/): the reader says so.
    made = measurement()
    made["input"] = "http://example.org/"
    notes = convert(made).notes
    assert any("not the input http://example.org/" in n for n in notes), notes
    assert not any("not the input" in n for n in convert(measurement()).notes)


def test_old_helper_cnames_are_not_addresses() -> None:
    made = measurement()
    made["test_keys"]["control"]["dns"]["addrs"] = ["example.org.cdn.test", "93.184.215.14"]
    _, keys = to_test_keys(made)
    assert keys.control is not None and keys.control.dns.addrs == ["93.184.215.14"]


def test_base64_values_are_decoded() -> None:
    # Non-UTF-8 values are {"format": "base64", "data": …} (df-001); OONI's pipeline accepts
    # them without padding (fastpath web_connectivity_b64_incorrect).
    location = {"format": "base64", "data": "aHR0cDovLzE5Mi4wLjIuMS9ibG9ja2Vk"}
    page = copy.deepcopy(PAGE)
    page["response"]["headers"] = {"Location": location}
    page["response"]["body"] = {"format": "base64", "data": "aGk"}
    _, keys = to_test_keys(measurement(requests=[page]))
    response = keys.requests[0].response
    assert response is not None
    assert response.headers["Location"] == "http://192.0.2.1/blocked"
    assert response.x_body_length == 2


@pytest.mark.parametrize(
    ("name", "change", "error"),
    [
        ("port", ("tcp_connect", 0, "port", 70000), "test_keys.tcp_connect[0]: '93.184.215.14'"),
        ("ip", ("tcp_connect", 0, "ip", "evil"), "test_keys.tcp_connect[0]: 'evil'"),
        ("answer", ("queries", 0, "answers", [{"answer_type": "A", "ipv4": "1.2.3"}]),
         "test_keys.queries[0].answers[0]: '1.2.3' is not an A address"),
        ("header", ("requests", 0, "response", {"code": 200, "headers": {"X": {"a": 1}}}),
         "test_keys.requests[0].response.headers.X: should be a string or OONI's"),
        ("body", ("requests", 0, "response", {"code": 200, "body": {"format": "base64",
                                                                  "data": "%%"}}),
         "test_keys.requests[0].response.body: not valid base64"),
        ("handshake", ("tls_handshakes", 0, "address", "nowhere"),
         "test_keys.tls_handshakes[0].address: 'nowhere' is not an ip:port address"),
        ("control", ("control", "tcp_connect", {"1.1.1.1:80": {"failure": None}}),
         "test_keys.control.tcp_connect['1.1.1.1:80'].status: Field required"),
        ("blocking", ("blocking", 1), "test_keys.blocking: should be a string, a boolean or null"),
    ],
)  # fmt: skip
def test_malformed_content_is_named(name: str, change: tuple[Any, ...], error: str) -> None:
    made = copy.deepcopy(CLASSIC_HTTPS)
    *path, key, value = change
    target: Any = made["test_keys"]
    for step in path:
        target = target[step]
    target[key] = value
    with pytest.raises(OoniFormatError) as caught:
        to_test_keys(made)
    assert str(caught.value).startswith(error), f"{name}: expected {error!r}, got {caught.value}"


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("not_object", [1], "an array, not an object"),
        ("no_test_name", {"input": "x"}, "not an OONI measurement: no test_name"),
        ("other_test", {**CLASSIC_HTTPS, "test_name": "tor"}, "test_name 'tor', not web_"),
        ("no_input", {**CLASSIC_HTTPS, "input": None}, "input is null"),
        ("list_input", {**CLASSIC_HTTPS, "input": ["a"]}, "input is an array, not a URL"),
        ("bad_url", {**CLASSIC_HTTPS, "input": "ftp://x/"}, "input 'ftp://x/': unsupported"),
        ("no_test_keys", {k: v for k, v in CLASSIC_HTTPS.items() if k != "test_keys"},
         "no test_keys"),
    ],
)  # fmt: skip
def test_what_is_not_a_measurement_is_named(name: str, value: object, error: str) -> None:
    with pytest.raises(OoniFormatError) as caught:
        to_test_keys(value)  # type: ignore[arg-type]
    assert str(caught.value).startswith(error), f"{name}: expected {error!r}, got {caught.value}"


def test_null_test_keys_is_a_measurement_of_nothing() -> None:
    # OONI publishes `"test_keys": null` when the experiment recorded nothing: the record is
    # read (its envelope is real), nothing was observed, and the verdict says so.
    endpoint, keys = to_test_keys({**CLASSIC_HTTPS, "test_keys": None})
    assert not keys.queries and not keys.tcp_connect and not keys.requests, keys
    result = endpoint_verdict(endpoint, keys, DecisionContext())
    assert result.verdict is Verdict.INCONCLUSIVE, result


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


PATHS = [p for p in _paths(CLASSIC_HTTPS) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(PATHS), replacement=_JSON)
def test_any_corruption_is_an_error_or_a_verdict(where: tuple[Any, ...], replacement: Any) -> None:
    made = copy.deepcopy(CLASSIC_HTTPS)
    target: Any = made
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = replacement
    try:
        endpoint, keys = to_test_keys(made)
    except OoniFormatError:
        return
    result = endpoint_verdict(endpoint, keys, DecisionContext(fingerprints=_packaged()))
    assert result.verdict in Verdict


# agreement(): OONI's published pair against ours (docs/ooni-agreement.md).
AGREEMENT_CASES = [
    ("dns", False, B, Blocking.DNS_HIJACK, Agreement.AGREE),
    ("dns", False, B, Blocking.TLS_RESET, Agreement.METHOD_DIFFERS),
    ("dns", False, A, None, Agreement.DIFFER),
    ("tcp_ip", False, B, Blocking.TCP_TIMEOUT, Agreement.AGREE),
    ("http-failure", False, B, Blocking.TCP_REFUSED, Agreement.AGREE),
    ("http-failure", False, B, Blocking.HTTP_DIFF, Agreement.METHOD_DIFFERS),
    ("http-failure", False, U, None, Agreement.DIFFER),
    ("http-diff", False, B, Blocking.HTTP_BLOCKPAGE, Agreement.AGREE),
    ("http-diff", False, Verdict.THROTTLED, Blocking.THROTTLING, Agreement.METHOD_DIFFERS),
    (False, True, A, None, Agreement.AGREE),
    (False, True, U, None, Agreement.DIFFER),
    (False, False, D, None, Agreement.AGREE),
    (False, False, Verdict.NETWORK_OUTAGE, None, Agreement.DIFFER),
    (None, None, U, None, Agreement.AGREE),
    (None, None, A, None, Agreement.OONI_UNDETERMINED),
    ("censored", False, B, Blocking.DNS_HIJACK, Agreement.OONI_UNKNOWN),
    (True, False, B, Blocking.DNS_HIJACK, Agreement.OONI_UNKNOWN),
    (False, None, A, None, Agreement.OONI_UNKNOWN),
]


@pytest.mark.parametrize(
    ("blocking", "accessible", "verdict", "method", "expected"), AGREEMENT_CASES
)
def test_agreement(
    blocking: object, accessible: object, verdict: Verdict, method: Blocking | None,
    expected: Agreement,
) -> None:  # fmt: skip
    got = agreement(blocking, accessible, verdict, method)
    assert got is expected, f"OONI {blocking}/{accessible} vs {verdict} {method}: got {got}"


def test_ooni_false_negative_20250527233111_ID_kominfo_redirect() -> None:
    # 20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3 (0.4.3): archive.org redirected
    # to Kominfo's lamanlabuh.aduankonten.id block page; OONI's header match called it
    # accessible, the redirect matches fingerprint ooni.id_lamanlabuh_kominfo.
    path = FASTPATH / "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json"
    require(path)
    require(FINGERPRINTS)
    made = json.loads(path.read_text(encoding="utf-8"))
    assert made["test_keys"]["accessible"] is True
    verdict, blocking, reasons = _verdict(made, fingerprints=True)
    assert (verdict, blocking) == (B, Blocking.HTTP_BLOCKPAGE), reasons
    assert "ooni.id_lamanlabuh_kominfo" in reasons[0], reasons
