"""Every web_connectivity version reads: fields older probes did not write are notes, never a
rejection; LTE redirect chains are assembled by transaction order, whatever the lookups did.

Hand-made records (no OONI data is copied here), each shaped as the named probe writes it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.decide import DecisionContext, endpoint_verdict
from probe.models.ooni import ClassifiedRecord
from probe.models.results import Verdict
from probe.observe.ooni import OoniFormatError, convert

from .measurements import CLASSIC_HTTPS, Json, line, probe

IP = "93.184.215.14"


def _verdict(made: Json) -> tuple[Verdict, list[str], list[str]]:
    converted = convert(made)
    result = endpoint_verdict(converted.endpoint, converted.keys, DecisionContext())
    return result.verdict, result.reasons, converted.notes


def _classic(version: str, **changes: Any) -> Json:
    made = copy.deepcopy(CLASSIC_HTTPS)
    made["test_version"] = version
    made["test_keys"].update(changes)
    return made


def test_0_4_1_handshake_without_address_is_attributed_to_the_connect() -> None:
    # probe-cli ≤ 3.14 (web_connectivity 0.4.0/0.4.1) wrote no tls_handshakes[].address.
    made = _classic("0.4.1", tls_handshakes=[{"server_name": "example.org", "failure": None}])
    verdict, reasons, notes = _verdict(made)
    assert verdict is Verdict.ACCESSIBLE, reasons
    assert any("tls_handshakes[0] has no address: attributed to 93.184.215.14:443" in n
               for n in notes), notes  # fmt: skip


def test_0_4_0_handshake_for_a_redirect_host_is_left_out_with_a_note() -> None:
    made = _classic(
        "0.4.0",
        tls_handshakes=[
            {"server_name": "example.org", "failure": None},
            {"server_name": "www.example.org", "failure": None},
        ],
    )
    converted = convert(made)
    assert [h.address for h in converted.keys.tls_handshakes] == [f"{IP}:443"]
    assert any("tls_handshakes[1] has no address: left out (it is for www.example.org" in n
               for n in converted.notes), converted.notes  # fmt: skip


def test_handshake_address_comes_from_the_connect_of_its_transaction() -> None:
    made = _classic(
        "0.4.0",
        tcp_connect=[
            {"ip": "192.0.2.9", "port": 443, "status": {"success": True}, "transaction_id": 3},
            {"ip": IP, "port": 443, "status": {"success": True}, "transaction_id": 7},
        ],
        tls_handshakes=[{"server_name": "example.org", "failure": None, "transaction_id": 7}],
    )
    converted = convert(made)
    assert [h.address for h in converted.keys.tls_handshakes] == [f"{IP}:443"]


@pytest.mark.parametrize(
    "missing",
    ["measurement_start_time", "test_start_time", "test_runtime", "probe_asn", "probe_cc",
     "report_id", "test_version", "resolver_ip"],
)  # fmt: skip
def test_a_missing_envelope_field_is_a_note(missing: str) -> None:
    made = copy.deepcopy(CLASSIC_HTTPS)
    made.pop(missing, None)
    verdict, reasons, notes = _verdict(made)
    assert verdict is Verdict.ACCESSIBLE, reasons
    if missing != "resolver_ip":  # OONI's own envelope never had it before 2019
        assert f"envelope: no {missing}" in notes, notes


def test_a_numeric_asn_reads_as_as_number() -> None:
    made = {**copy.deepcopy(CLASSIC_HTTPS), "probe_asn": 4818, "probe_cc": ["MY"]}
    converted = convert(made)
    assert "envelope: probe_asn 4818 is a number, read as AS4818" in converted.notes
    assert "envelope: probe_cc is an array, not a string: ignored" in converted.notes


def test_legacy_records_read() -> None:
    # ooniprobe-legacy 0.0.x/0.1.x: no measurement_start_time, tcp_connect as an ip:port map,
    # headers as a map, no tls_handshakes, no resolver address.
    made = copy.deepcopy(CLASSIC_HTTPS)
    for key in ("measurement_start_time", "resolver_ip", "report_id"):
        made.pop(key)
    made["test_version"] = "0.0.1"
    made["input"] = "http://example.org/"
    keys = made["test_keys"]
    keys["tcp_connect"] = {f"{IP}:80": {"status": True, "failure": None}}
    keys.pop("tls_handshakes")
    keys["queries"][0].pop("engine")
    keys["requests"][0]["request"]["url"] = "http://example.org/"
    keys["requests"][0]["response"].pop("headers_list")
    keys["control"]["tcp_connect"] = {f"{IP}:80": {"status": True, "failure": None}}
    keys["control"].pop("tls_handshake")
    verdict, reasons, notes = _verdict(made)
    assert verdict is Verdict.ACCESSIBLE, reasons
    assert "test_keys.tcp_connect is the legacy map of ip:port → status: read as a list" in notes


def test_entries_without_status_or_request_read() -> None:
    keys = copy.deepcopy(CLASSIC_HTTPS["test_keys"])
    keys["tcp_connect"].append({"ip": "192.0.2.7", "port": 443})
    keys["requests"][0].pop("request")
    converted = convert({**CLASSIC_HTTPS, "test_keys": keys})
    assert "test_keys.tcp_connect[1] has no status: left out" in converted.notes
    assert converted.keys.requests[0].request.url == ""


def test_missing_test_keys_are_noted() -> None:
    keys = {k: v for k, v in CLASSIC_HTTPS["test_keys"].items() if k not in ("control",)}
    converted = convert({**CLASSIC_HTTPS, "test_keys": keys})
    assert "test_keys: no control: the test helper's answer (control) is missing" in (
        converted.notes
    )


# --- web_connectivity 0.5 ("LTE"): the redirect chain by transaction order -------------------


def _lte_flow(depth: int, transaction: int, ip: str = IP, port: int = 443) -> Json:
    tags = ["classic", "tcptls_experiment", f"depth={depth}", "fetch_body=true"]
    return {"ip": ip, "port": port, "status": {"success": True, "failure": None},
            "tags": tags, "transaction_id": transaction}  # fmt: skip


def _lte_request(url: str, code: int, depth: int | None, transaction: int, **extra: Any) -> Json:
    response: Json = {
        "code": code,
        "headers": extra.pop("headers", {}),
        "body": extra.pop("body", "<html><title>Example Domain</title></html>"),
    }
    tags = [f"depth={depth}"] if depth is not None else []
    return {"address": extra.pop("address", f"{IP}:443"), "failure": None,
            "request": {"url": url}, "response": response, "tags": tags,
            "transaction_id": transaction}  # fmt: skip


def _lte(input_url: str, queries: list[Json], requests: list[Json], flows: list[Json]) -> Json:
    made = copy.deepcopy(CLASSIC_HTTPS)
    made.update(test_version="0.5.28", input=input_url)
    keys = made["test_keys"]
    keys.update(queries=queries, requests=requests, tcp_connect=flows)
    keys["tls_handshakes"] = [
        {"address": f"{f['ip']}:{f['port']}", "server_name": "example.org", "failure": None,
         "tags": f["tags"], "transaction_id": f["transaction_id"]}
        for f in flows if f["port"] == 443
    ]  # fmt: skip
    return made


_LOOKUP = {"engine": "getaddrinfo", "hostname": "example.org", "query_type": "ANY",
           "answers": [{"answer_type": "A", "ipv4": IP}], "failure": None,
           "tags": ["classic", "depth=0"], "transaction_id": 10001}  # fmt: skip


def test_lte_same_host_redirect_without_a_new_lookup_keeps_the_final_page() -> None:
    # https://example.org/ → 301 https://example.org/home; no lookup at depth 1 (cached).
    made = _lte(
        "https://example.org/",
        [_LOOKUP],
        [
            _lte_request("https://example.org/home", 200, 1, 50002),
            _lte_request(
                "https://example.org/",
                301,
                0,
                50001,
                headers={"Location": "https://example.org/home"},
                body="",
            ),
        ],
        [_lte_flow(0, 50001), _lte_flow(1, 50002)],
    )
    converted = convert(made)
    assert [r.response.code for r in converted.keys.requests if r.response] == [200, 301]
    verdict, reasons, _ = _verdict(made)
    assert verdict is Verdict.ACCESSIBLE, reasons  # main said "the server itself answered 301"


def test_lte_ip_literal_host_needs_no_lookup() -> None:
    made = _lte(
        f"https://{IP}/",
        [],
        [_lte_request(f"https://{IP}/", 200, 0, 50001)],
        [_lte_flow(0, 50001)],
    )
    made["test_keys"]["control"]["dns"] = {"failure": None, "addrs": [IP]}
    converted = convert(made)
    assert len(converted.keys.requests) == 1 and len(converted.keys.tcp_connect) == 1
    assert converted.keys.tls_handshakes, "the handshake to the literal address is kept"
    verdict, reasons, _ = _verdict(made)
    assert verdict is Verdict.ACCESSIBLE, reasons  # main said "nothing was measured"


def test_lte_redirect_to_an_ip_literal_keeps_the_final_page() -> None:
    other = "198.51.100.20"
    made = _lte(
        "https://example.org/",
        [_LOOKUP],
        [
            _lte_request(f"http://{other}/page", 200, 1, 50002, address=f"{other}:80"),
            _lte_request(
                "https://example.org/",
                302,
                0,
                50001,
                headers={"Location": f"http://{other}/page"},
                body="",
            ),
        ],
        [_lte_flow(0, 50001), _lte_flow(1, 50002, ip=other, port=80)],
    )
    converted = convert(made)
    assert [r.request.url for r in converted.keys.requests] == [
        f"http://{other}/page",
        "https://example.org/",
    ]


def test_lte_without_depth_tags_orders_by_transaction() -> None:
    made = _lte(
        "https://example.org/",
        [_LOOKUP],
        [
            _lte_request(
                "https://example.org/",
                301,
                None,
                50001,
                headers={"Location": "https://example.org/home"},
                body="",
            ),
            _lte_request("https://example.org/home", 200, None, 50002),
        ],
        [_lte_flow(0, 50001)],
    )
    converted = convert(made)
    urls = [(r.request.url, r.tags) for r in converted.keys.requests]
    assert urls[0] == ("https://example.org/home", ["attempt=1", "depth=1"]), urls
    assert urls[1] == ("https://example.org/", ["attempt=1", "depth=0"]), urls


def test_lte_request_to_an_address_only_the_helper_resolved_is_a_note() -> None:
    made = _lte(
        "https://example.org/",
        [_LOOKUP],
        [_lte_request("https://example.org/", 200, 0, 50001, address="203.0.113.5:443")],
        [_lte_flow(0, 50001), _lte_flow(0, 50009, ip="203.0.113.5")],
    )
    converted = convert(made)
    assert converted.keys.requests == []
    assert any("203.0.113.5:443, which only the test helper or DoH resolved" in n
               for n in converted.notes), converted.notes  # fmt: skip
    assert "1 TCP connect(s) to addresses only the test helper or DoH resolved: left out" in (
        converted.notes
    )


# --- bad input stays a clear per-record error ---------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


_LTE_BASE = _lte(
    "https://example.org/",
    [_LOOKUP],
    [
        _lte_request("https://example.org/home", 200, 1, 50002),
        _lte_request(
            "https://example.org/",
            301,
            0,
            50001,
            headers={"Location": "https://example.org/home"},
            body="",
        ),
    ],
    [_lte_flow(0, 50001), _lte_flow(1, 50002)],
)
_DELETABLE = [
    (name, path)
    for name, base in (("classic", CLASSIC_HTTPS), ("lte", _LTE_BASE))
    for path in _paths(base)
    if path
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.lists(st.sampled_from(_DELETABLE), min_size=1, max_size=4))
def test_any_missing_field_is_a_verdict_or_a_named_error(
    where: list[tuple[str, tuple[Any, ...]]],
) -> None:
    base = CLASSIC_HTTPS if where[0][0] == "classic" else _LTE_BASE
    made = copy.deepcopy(base)
    for _, path in where:
        target: Any = made
        try:
            for step in path[:-1]:
                target = target[step]
            if isinstance(target, dict):
                target.pop(path[-1], None)
            elif isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target):
                target.pop(path[-1])
        except (KeyError, IndexError, TypeError):
            continue
    try:
        converted = convert(made)
    except OoniFormatError as exc:
        assert str(exc), "an error names what is wrong"
        return
    result = endpoint_verdict(converted.endpoint, converted.keys, DecisionContext())
    assert result.verdict in Verdict


def test_the_cli_reads_old_records_and_prints_their_notes(tmp_path: Path) -> None:
    config = tmp_path / "probe.toml"
    config.write_text("", encoding="utf-8")
    old = _classic("0.4.1", tls_handshakes=[{"server_name": "example.org", "failure": None}])
    old["probe_asn"] = 4818
    del old["measurement_start_time"]
    path = tmp_path / "old.jsonl"
    path.write_bytes(line(old) + line(_LTE_BASE))
    proc = probe("classify", "--json", str(path), config=config)
    assert proc.returncode == 0, proc.stderr
    got = [ClassifiedRecord.model_validate_json(text) for text in proc.stdout.splitlines()]
    assert [r.verdict for r in got] == [Verdict.ACCESSIBLE, Verdict.ACCESSIBLE], got
    assert got[0].probe_asn == "AS4818"
    assert "envelope: no measurement_start_time" in got[0].notes
    assert any("has no address: attributed" in n for n in got[0].notes), got[0].notes
