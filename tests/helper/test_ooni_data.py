"""Real OONI control requests and responses (wc05 QA measurements) parse with our models.

The data is read from PROBE_SHARED_DIR (default: <repo>/../shared) and never copied here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from probe.helper.app import parse_request
from probe.models.control import ControlRequest, ControlResponse

REPO = Path(__file__).resolve().parents[2]
QA_DIR = "data/ooni/wc05_qa"


def _shared_dir() -> Path:
    return Path(os.environ.get("PROBE_SHARED_DIR", str(REPO.parent / "shared")))


def _load() -> dict[str, dict[str, Any]]:
    """Return the test keys of every QA measurement, by scenario name."""
    folder = _shared_dir() / QA_DIR
    if not folder.is_dir():
        return {}
    keys = {}
    for path in sorted(folder.glob("*.json")):
        test_keys = json.loads(path.read_text(encoding="utf-8"))["test_keys"]
        assert isinstance(test_keys, dict), path
        keys[path.stem] = test_keys
    return keys


MEASUREMENTS = _load()
WITH_REQUEST = [name for name, keys in MEASUREMENTS.items() if keys.get("x_control_request")]
WITH_CONTROL = [name for name, keys in MEASUREMENTS.items() if keys.get("control")]
needs_data = pytest.mark.skipif(
    not MEASUREMENTS,
    reason=f"no OONI QA measurements in {_shared_dir() / QA_DIR} (set PROBE_SHARED_DIR)",
)


@needs_data
def test_only_control_failure_scenarios_lack_a_control() -> None:
    missing = sorted(set(MEASUREMENTS) - set(WITH_CONTROL))
    assert missing and all(name.startswith("controlFailure") for name in missing), missing
    assert set(WITH_REQUEST) == set(MEASUREMENTS), "every measurement records its request"


@needs_data
@pytest.mark.parametrize("name", WITH_REQUEST)
def test_the_helper_accepts_every_real_control_request(name: str) -> None:
    raw = MEASUREMENTS[name]["x_control_request"]
    request, target = parse_request(json.dumps(raw).encode())
    assert request.http_request == raw["http_request"]
    assert request.tcp_connect == (raw["tcp_connect"] or [])
    assert target.scheme in ("http", "https")


# Go sends an empty slice as null: `"tcp_connect": null` when the probe resolved nothing
# (websiteDownNXDOMAIN); the model maps it to [].


@needs_data
@pytest.mark.parametrize("name", WITH_REQUEST)
def test_real_control_request_validates_as_our_model(name: str) -> None:
    raw = MEASUREMENTS[name]["x_control_request"]
    request = ControlRequest.model_validate_json(json.dumps(raw))
    assert request.tcp_connect == (raw["tcp_connect"] or [])


@needs_data
@pytest.mark.parametrize("name", WITH_CONTROL)
def test_real_control_response_parses(name: str) -> None:
    raw = MEASUREMENTS[name]["control"]
    response = ControlResponse.model_validate_json(json.dumps(raw))
    assert set(response.tcp_connect) == set(raw["tcp_connect"])
    assert response.http_request.status_code == raw["http_request"]["status_code"]
    assert response.dns.addrs == (raw["dns"]["addrs"] or [])
    for ip, info in raw.get("ip_info", {}).items():  # older helpers sent no ip_info
        assert response.ip_info[ip].flags == info["flags"], f"{name}: {ip}"
    # What we send back must look like what OONI's helper sent: same keys at the top level.
    ours = json.loads(response.model_dump_json())
    assert set(raw) <= set(ours), f"{name}: keys OONI has and we lack"


def test_data_folder_is_not_in_the_repository() -> None:
    assert not any(REPO.glob("**/wc05_qa")), "OONI data must be read from PROBE_SHARED_DIR"
