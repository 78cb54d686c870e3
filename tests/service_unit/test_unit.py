"""The daemon's unit, systemd/probe.service (issue 4): systemd accepts it without a warning, its
sandbox keeps the exposure score measured when it was written, and it keeps every hardening
directive the issue names.

`systemd-analyze verify` and `systemd-analyze security --offline=yes` read a unit file without a
running systemd (in CI and in containers systemd is installed but is not PID 1). `verify` insists
that ExecStart's binary exists, so it checks a copy whose ExecStart is this environment's `probe`
instead of /opt/probe/bin/probe; it does not look up `User=probe`, so no user is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "probe.service"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"
INSTALLED_PROBE = "/opt/probe/bin/probe"
EXEC_START = f"{INSTALLED_PROBE} daemon --config /etc/probe/probe.toml"

# `systemd-analyze security --offline=yes` on systemd 252 (Debian 12) gave 1.6 "OK" when the unit
# was written. What remains is the probe's job (the host network, raw and packet sockets, which
# IPAddressDeny= and PrivateUsers= cannot allow), the rtc read access ProtectClock= itself adds,
# and MemoryDenyWriteExecute= (left off: see the unit). Loosening the sandbox fails this test.
MAX_EXPOSURE = 1.6
MIN_SYSTEMD_FOR_OFFLINE = 252

# Directive → the exact value issue 4 asks for (the last assignment wins, as in systemd).
HARDENING = {
    "Service": {
        "Type": "notify",
        "NotifyAccess": "main",
        "User": "probe",
        "Group": "probe",
        "StateDirectory": "probe",
        "StateDirectoryMode": "0700",
        "ConfigurationDirectory": "probe",
        "ReadOnlyPaths": "/etc/probe",
        "Restart": "on-failure",
        "RestartSec": "30s",
        "RestartPreventExitStatus": "2",
        "WatchdogSec": "120s",
        "TimeoutStopSec": "20s",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "UMask": "0077",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "ProtectProc": "invisible",
        "ProcSubset": "pid",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "SystemCallErrorNumber": "EPERM",
        "SystemCallArchitectures": "native",
        "MemoryHigh": "192M",
        "MemoryMax": "256M",
    },
    "Unit": {"StartLimitIntervalSec": "10min", "StartLimitBurst": "5"},
}
ADDRESS_FAMILIES = {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET"}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Return section → key → every value assigned, in order (systemd keys repeat).

    An empty assignment (`Key=`) resets the list, as systemd does for list settings.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert section is not None and sep, f"{UNIT.name}:{number}: not `Key=value`: {raw!r}"
        values = section.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()
    return sections


def _words(values: list[str]) -> set[str]:
    return {word for value in values for word in value.split()}


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""}
    return subprocess.run(
        argv, capture_output=True, encoding="utf-8", errors="replace", env=env, timeout=60
    )


def installed_copy(unit: Path, directory: Path) -> Path:
    """Return a copy of `unit` whose ExecStart runs this environment's `probe` script."""
    probe = Path(sys.executable).parent / "probe"
    if not probe.exists():
        found = shutil.which("probe")
        if found is None:
            pytest.skip("the `probe` console script is not installed: pip install -e .")
        probe = Path(found)
    text = unit.read_text(encoding="utf-8")
    assert INSTALLED_PROBE in text
    copy = directory / unit.name
    copy.write_text(text.replace(INSTALLED_PROBE, str(probe)), encoding="utf-8")
    return copy


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    return installed_copy(UNIT, tmp_path)


def test_verify_passes_without_warnings(systemd_analyze: str, unit_copy: Path) -> None:
    proc = _run([systemd_analyze, "verify", str(unit_copy)])
    # verify exits 0 even for an unknown key or an invalid value, so its stderr is the verdict.
    # It also loads the units ours depends on (network-online.target, …) and reports problems in
    # the host's unit files, which are not ours: only lines naming our file or unit count.
    ours = [
        line
        for line in proc.stderr.splitlines()
        if str(unit_copy) in line or unit_copy.name in line
    ]
    assert proc.returncode == 0, f"systemd-analyze verify exited {proc.returncode}:\n{proc.stderr}"
    assert ours == [], "systemd-analyze verify warned about the unit:\n" + "\n".join(ours)


def _systemd_version(systemd_analyze: str) -> int:
    first = _run([systemd_analyze, "--version"]).stdout.splitlines()[0]  # "systemd 252 (252.38-…)"
    match = re.match(r"systemd (\d+)", first)
    assert match, f"unexpected `systemd-analyze --version` output: {first!r}"
    return int(match.group(1))


def test_security_exposure_within_threshold(systemd_analyze: str, unit_copy: Path) -> None:
    version = _systemd_version(systemd_analyze)
    if version < MIN_SYSTEMD_FOR_OFFLINE:
        pytest.skip(f"systemd-analyze security --offline needs systemd ≥ 252, found {version}")
    proc = _run([systemd_analyze, "security", "--offline=yes", "--no-pager", str(unit_copy)])
    assert proc.returncode == 0, f"systemd-analyze security failed:\n{proc.stderr}"
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", proc.stdout)
    assert match, f"no overall exposure level in:\n{proc.stdout}"
    exposure = float(match.group(1))
    exposed = "\n".join(line for line in proc.stdout.splitlines() if line.startswith("✗"))
    assert exposure <= MAX_EXPOSURE, (
        f"exposure {exposure} > {MAX_EXPOSURE}: the sandbox was loosened; exposed:\n{exposed}"
    )


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [(section, key, value) for section, keys in HARDENING.items() for key, value in keys.items()],
)
def test_hardening_directive(
    unit: dict[str, dict[str, list[str]]], section: str, key: str, expected: str
) -> None:
    values = unit.get(section, {}).get(key, [])
    assert values, f"[{section}] {key}= is missing; expected {expected!r}"
    assert values[-1] == expected, f"[{section}] {key}: expected {expected!r}, got {values[-1]!r}"


def test_exec_start_is_the_documented_install(unit: dict[str, dict[str, list[str]]]) -> None:
    assert unit["Service"]["ExecStart"] == [EXEC_START]
    doc = DEPLOYMENT_DOC.read_text(encoding="utf-8")
    for step in (
        "install -m 0644 systemd/probe.service /etc/systemd/system/",
        "--shell /usr/sbin/nologin probe",
    ):
        assert step in doc, f"docs/deployment.md lost the step {step!r}"


@pytest.mark.parametrize("key", ["AmbientCapabilities", "CapabilityBoundingSet"])
def test_capabilities_are_net_raw_only(unit: dict[str, dict[str, list[str]]], key: str) -> None:
    assert _words(unit["Service"].get(key, [])) == {"CAP_NET_RAW"}


def test_address_families(unit: dict[str, dict[str, list[str]]]) -> None:
    assert _words(unit["Service"].get("RestrictAddressFamilies", [])) == ADDRESS_FAMILIES


def test_system_call_filter(unit: dict[str, dict[str, list[str]]]) -> None:
    # The allow list systemd recommends for services, then the groups taken out of it.
    filters = unit["Service"].get("SystemCallFilter", [])
    assert filters == ["@system-service", "~@privileged @resources"]
