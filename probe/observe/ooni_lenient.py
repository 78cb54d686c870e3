"""What an older or partial OONI record lacks, noted instead of refused (before validation).

OONI's envelope and test keys grew over ten years: ooniprobe-legacy and measurement-kit wrote
no `measurement_start_time` at first, probe-cli ≤ 3.14 wrote no handshake address, the API's
metadata gives `probe_asn` as a number. `lenient()` takes one record's top-level object and
returns it with the envelope fields that are not strings dropped (a numeric ASN becomes "ASn"),
the legacy `tcp_connect` map ("ip:port" → status) made a list, and one note per field that is
missing or was dropped. The evidence itself (queries, connects, handshakes, requests, control)
is left to validation: a value there that cannot be read stays a clear error.
"""

from __future__ import annotations

from typing import Any

from probe.observe.ooni_entries import json_kind

Json = dict[str, Any]

# Envelope fields a reader of OONI data expects; a record without one still reads.
EXPECTED_ENVELOPE = ("measurement_start_time", "test_start_time", "test_runtime",
                     "test_version", "probe_asn", "probe_cc", "software_name",
                     "software_version", "report_id")  # fmt: skip
# Envelope fields our model reads as strings.
_STRING_ENVELOPE = ("test_version", "measurement_start_time", "probe_asn", "probe_cc",
                    "resolver_ip", "report_id", "measurement_uid")  # fmt: skip
# Test keys whose absence changes what can be judged.
EXPECTED_KEYS = {
    "queries": "no DNS lookups were recorded",
    "tcp_connect": "no TCP connects were recorded",
    "requests": "no HTTP requests were recorded",
    "control": "the test helper's answer (control) is missing",
}


def _envelope(record: Json, notes: list[str]) -> None:
    for name in EXPECTED_ENVELOPE:
        if name not in record:
            notes.append(f"envelope: no {name}")
    for name in _STRING_ENVELOPE:
        value = record.get(name)
        if value is None or isinstance(value, str):
            continue
        if name == "probe_asn" and isinstance(value, int) and not isinstance(value, bool):
            record[name] = f"AS{value}"
            notes.append(f"envelope: probe_asn {value} is a number, read as AS{value}")
            continue
        del record[name]
        notes.append(f"envelope: {name} is {json_kind(value)}, not a string: ignored")


def _legacy_connects(connects: Json, notes: list[str]) -> list[object]:
    """Return the list form of the legacy `tcp_connect` map {"ip:port": {"status": …}}."""
    found: list[object] = []
    for address, entry in connects.items():
        host, _, port = str(address).rpartition(":")
        status = entry.get("status") if isinstance(entry, dict) else None
        failure = entry.get("failure") if isinstance(entry, dict) else None
        if isinstance(status, bool):
            status = {"success": status, "failure": failure}
        item: Json = {"ip": host.strip("[]"), "port": int(port) if port.isdigit() else port}
        if status is not None:
            item["status"] = status
        found.append(item)
    notes.append("test_keys.tcp_connect is the legacy map of ip:port → status: read as a list")
    return found


def lenient(value: Json) -> tuple[Json, list[str]]:
    """Return a copy of one record, readable by an older probe's standards, and its notes."""
    record = dict(value)
    notes: list[str] = []
    record.pop("notes", None)  # ours, never OONI's
    _envelope(record, notes)
    keys = record.get("test_keys")
    if isinstance(keys, dict):
        keys = dict(keys)
        record["test_keys"] = keys
        for name, why in EXPECTED_KEYS.items():
            if name not in keys:
                notes.append(f"test_keys: no {name}: {why}")
        if isinstance(keys.get("tcp_connect"), dict):
            keys["tcp_connect"] = _legacy_connects(keys["tcp_connect"], notes)
    return record, notes
