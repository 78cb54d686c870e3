"""Hand-made OONI measurements (no OONI data is copied here) and the shared-data locations."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from probe_cli import run_probe

ROOT = Path(__file__).resolve().parents[2]

Json = dict[str, Any]

# A classic (0.4.3) measurement of a working https site, as a probe-cli of 2025 writes it.
CLASSIC_HTTPS: Json = {
    "test_name": "web_connectivity",
    "test_version": "0.4.3",
    "input": "https://example.org/",
    "measurement_start_time": "2025-05-27 23:31:08",
    "probe_asn": "AS64500",
    "probe_cc": "ZZ",
    "report_id": "20250527T233104Z_webconnectivity_ZZ_64500_n1_abcdefghijklmnop",
    "resolver_ip": "192.0.2.53",
    "test_keys": {
        "queries": [
            {
                "engine": "system",
                "hostname": "example.org",
                "query_type": "A",
                "resolver_address": "",
                "answers": [{"answer_type": "A", "ipv4": "93.184.215.14", "asn": 15133}],
                "failure": None,
                "tags": None,
            }
        ],
        "tcp_connect": [
            {
                "ip": "93.184.215.14",
                "port": 443,
                "status": {"success": True, "failure": None, "blocked": False},
            }
        ],
        "tls_handshakes": [
            {"address": "93.184.215.14:443", "server_name": "example.org", "failure": None}
        ],
        "requests": [
            {
                "failure": None,
                "request": {"url": "https://example.org/", "method": "GET"},
                "response": {
                    "code": 200,
                    "headers": {"Content-Type": "text/html"},
                    "headers_list": [["Content-Type", "text/html"]],
                    "body": "<html><title>Example Domain</title></html>",
                    "body_is_truncated": False,
                },
            }
        ],
        "control_failure": None,
        "control": {
            "tcp_connect": {"93.184.215.14:443": {"status": True, "failure": None}},
            "tls_handshake": {"93.184.215.14:443": {"server_name": "example.org", "status": True}},
            "dns": {"failure": None, "addrs": ["93.184.215.14"]},
            "http_request": {
                "status_code": 200,
                "body_length": 42,
                "title": "Example Domain",
                "headers": {"Content-Type": "text/html"},
                "failure": None,
            },
            "ip_info": None,
        },
        "blocking": False,
        "accessible": True,
    },
}


def measurement(**test_keys: object) -> Json:
    """Return a copy of CLASSIC_HTTPS with some test keys replaced."""
    made = copy.deepcopy(CLASSIC_HTTPS)
    made["test_keys"].update(test_keys)
    return made


def line(value: object) -> bytes:
    """Return `value` as one line of JSON Lines."""
    return json.dumps(value).encode() + b"\n"


def probe(*argv: str, config: Path) -> subprocess.CompletedProcess[str]:
    """Run the real `probe` with an empty config and no other environment."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent), "PROBE_CONFIG": str(config)}
    return run_probe(*argv, env=env, timeout_s=300)


def require(path: Path) -> None:
    """Skip, saying why, when the shared data directory is absent."""
    if not path.exists():
        pytest.skip(
            f"shared data not found at {path} (set PROBE_SHARED_DIR to the shared directory)"
        )
