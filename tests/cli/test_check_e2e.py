"""`probe check` end to end, as a real subprocess, against loopback servers and a real helper.

Two resolvers stand in for the two sides: the "ISP" resolver the probe uses (the shared
`dns_server`) and a "public" resolver the helper uses. Everything listens on 127.0.0.1; only
127.0.0.1 is declared routable, so 127.0.0.2 plays the bogon a censor answers with.
TCP/TLS/HTTP interference needs a censoring router in between: that is the lab (tests/lab).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helper.loopback import RunningHelper, loopback_helper_settings, loopback_probe_toml
from servers import (
    DnsEntry,
    DnsServer,
    HttpServer,
    ServerLoop,
    TestPki,
    closed_port,
    paced,
    streamed,
)

from probe.models.results import TargetResult

OK = "e2e-ok.site.test"
NX = "e2e-nx.site.test"
BOGON = "e2e-bogon.site.test"
GONE = "e2e-gone.site.test"
CONTROL = "e2e-control.site.test"

ISP_ZONE = {
    OK: DnsEntry(a=("127.0.0.1",)),
    CONTROL: DnsEntry(a=("127.0.0.1",)),
    NX: DnsEntry(rcode="NXDOMAIN"),
    BOGON: DnsEntry(a=("127.0.0.2",)),
    GONE: DnsEntry(rcode="NXDOMAIN"),
}
PUBLIC_ZONE = {
    OK: DnsEntry(a=("127.0.0.1",)),
    CONTROL: DnsEntry(a=("127.0.0.1",)),
    NX: DnsEntry(a=("127.0.0.1",)),
    BOGON: DnsEntry(a=("127.0.0.1",)),
    GONE: DnsEntry(rcode="NXDOMAIN"),
}


@pytest.fixture(scope="module")
def public_dns(server_loop: ServerLoop) -> Iterator[DnsServer]:
    server = DnsServer(server_loop)
    server.start()
    for name, entry in PUBLIC_ZONE.items():
        server.zone.set(name, entry)
    yield server
    server.close()


@pytest.fixture(scope="module")
def isp_dns(dns_server: DnsServer) -> DnsServer:
    for name, entry in ISP_ZONE.items():
        dns_server.zone.set(name, entry)
    return dns_server


@pytest.fixture(scope="module")
def helper(public_dns: DnsServer, pki: TestPki) -> Iterator[RunningHelper]:
    running = RunningHelper(loopback_helper_settings(public_dns.address, pki.ca_pem))
    yield running
    running.close()


def _config(
    tmp_path: Path, isp_dns: DnsServer, pki: TestPki, helpers: list[str], sites: list[str]
) -> Path:
    toml = loopback_probe_toml(isp_dns.address, pki.ca_pem, helpers, sites)
    path = tmp_path / "probe.toml"
    path.write_text(toml, encoding="utf-8")
    return path


def _check(
    config: Path, *targets: str, json_output: bool = True, explain: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "probe", "check", "--config", str(config), *targets]
    if json_output:
        argv.append("--json")
    if explain:
        argv.append("--explain")
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def _results(proc: subprocess.CompletedProcess[str]) -> dict[str, TargetResult]:
    assert proc.returncode == 0, proc.stderr
    results = [TargetResult.model_validate_json(line) for line in proc.stdout.splitlines()]
    return {r.input: r for r in results}


def _expect(
    results: dict[str, TargetResult], target: str, verdict: str, blocking: str | None
) -> None:
    got = results[target]
    assert (got.verdict.value, got.blocking) == (verdict, blocking), (
        f"{target}: expected {verdict}/{blocking}, "
        f"got {got.verdict.value}/{got.blocking}: {got.reasons}"
    )
    assert got.reasons, f"{target}: a verdict needs reasons"


def test_one_run_names_each_outcome(
    tmp_path: Path, isp_dns: DnsServer, pki: TestPki, helper: RunningHelper,
    https_server: HttpServer, http_server: HttpServer,
) -> None:  # fmt: skip
    config = _config(
        tmp_path, isp_dns, pki, [helper.url], [https_server.url("/page", host=CONTROL)]
    )
    targets = {
        "ok_https": (https_server.url("/page", host=OK), "accessible", None),
        "ok_http": (http_server.url("/page", host=OK), "accessible", None),
        "nxdomain": (https_server.url("/page", host=NX), "blocked", "dns_nxdomain"),
        "bogon": (https_server.url("/page", host=BOGON), "blocked", "dns_hijack"),
        "gone": (https_server.url("/page", host=GONE), "service_down", None),
        "5xx": (https_server.url("/status/503", host=OK), "service_down", None),
        # hostile servers: a verdict, never a crash or a hang
        "redirect_loop": (https_server.url("/redirect-loop", host=OK), "service_down", None),
        "gzip_bomb": (https_server.url("/bomb", host=OK), "accessible", None),
    }
    results = _results(_check(config, *(url for url, _, _ in targets.values())))
    assert len(results) == len(targets)
    for url, verdict, blocking in targets.values():
        _expect(results, url, verdict, blocking)
    bogon = results[targets["bogon"][0]]
    assert any("127.0.0.2" in reason for reason in bogon.reasons), bogon.reasons
    ok = results[targets["ok_https"][0]]
    assert ok.test_helpers == [helper.url]
    assert ok.endpoints[0].test_keys.control is not None
    assert {c.phase for c in ok.controls} == {"before"}  # foreign and domestic sites
    assert all(c.success for c in ok.controls if c.scope == "foreign")  # KZ sites: offline
    bomb = results[targets["gzip_bomb"][0]].endpoints[0].test_keys.requests[0].response
    assert bomb is not None and bomb.body_is_truncated, "the bomb is read up to the limit only"
    nx = results[targets["nxdomain"][0]]
    assert {c.phase for c in nx.controls} == {"before", "after"}, "failing targets get a sandwich"
    assert ok.packets is None, "an accessible target gets no packet test"
    _assert_packet_evidence(bogon, isp_dns)
    _assert_rules(bogon)


def _assert_rules(bogon: TargetResult) -> None:
    """The record names the rules that decided it, in the order applied (issue 22)."""
    sharpened = "target.packets_not_run" if os.geteuid() != 0 else "target.packets_method_kept"
    assert bogon.rules[:2] == ["target.endpoint_blocked", "target.first_blocked_method"]
    assert bogon.rules[-1] == sharpened, bogon.rules
    decisive = bogon.endpoints[0].rules
    assert decisive == ["dns.bogon_not_in_control", "endpoint.first_blocked"], decisive


def _assert_packet_evidence(bogon: TargetResult, isp_dns: DnsServer) -> None:
    """As root, a blocked target carries its packets; otherwise the reason they are missing."""
    packets = bogon.packets
    assert packets is not None
    if os.geteuid() != 0:
        assert packets.skipped is not None and "CAP_NET_RAW" in packets.skipped
        assert any("packet evidence not collected" in r for r in bogon.reasons)
        return
    assert packets.skipped is None, packets.skipped
    resolver = next(p for p in packets.dns if p.role.value == "resolver")
    assert resolver.resolver_address == isp_dns.address.rsplit(":", 1)[0]
    [reply] = resolver.replies  # a resolver that lies, alone: one reply, with its IP header
    assert [a.ipv4 for a in reply.answers] == ["127.0.0.2"] and reply.ip_ttl == 64
    silent = next(p for p in packets.dns if p.role.value == "silent_host")
    assert silent.resolver_address == "127.0.0.3" and silent.replies == []
    assert any("no on-path injector seen" in r for r in bogon.reasons), bogon.reasons
    assert bogon.blocking == "dns_hijack", "a lying resolver is not an injection"
    assert [t.control for t in packets.traces] == [True, False]
    assert all(t.hops[0].reaction.value == "dns_reply" for t in packets.traces)


def test_scapy_is_imported_only_for_packet_tests(
    tmp_path: Path, isp_dns: DnsServer, pki: TestPki, helper: RunningHelper,
    https_server: HttpServer,
) -> None:  # fmt: skip
    """`probe check` of a target that loads never imports scapy; a blocked one (as root) does."""
    config = _config(
        tmp_path, isp_dns, pki, [helper.url], [https_server.url("/page", host=CONTROL)]
    )
    code = (
        "import sys\n"
        "from probe.cli.app import app\n"
        "sys.argv = ['probe', 'check', '--json', '--config', sys.argv[1], sys.argv[2]]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('SCAPY', any(m.split('.')[0] == 'scapy' for m in sys.modules))\n"
    )
    for target, imports in ((OK, False), (BOGON, os.geteuid() == 0)):
        url = https_server.url("/page", host=target)
        proc = subprocess.run(
            [sys.executable, "-c", code, str(config), url],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        assert proc.stdout.strip().splitlines()[-1] == f"SCAPY {imports}", (target, proc.stdout)


def test_bogon_is_still_recognised_without_any_control(
    tmp_path: Path, isp_dns: DnsServer, pki: TestPki, https_server: HttpServer
) -> None:
    dead_helper = f"http://127.0.0.1:{closed_port()}/"
    config = _config(
        tmp_path, isp_dns, pki, [dead_helper], [https_server.url("/page", host=CONTROL)]
    )
    bogon = https_server.url("/page", host=BOGON)
    nxdomain = https_server.url("/page", host=NX)
    results = _results(_check(config, bogon, nxdomain))
    _expect(results, bogon, "blocked", "dns_hijack")
    _expect(results, nxdomain, "inconclusive", None)
    assert results[nxdomain].endpoints[0].test_keys.control_failure


def test_everything_failing_is_a_network_outage(
    tmp_path: Path, isp_dns: DnsServer, pki: TestPki, helper: RunningHelper
) -> None:
    dead = closed_port()
    config = _config(tmp_path, isp_dns, pki, [helper.url], [f"https://{CONTROL}:{dead}/"])
    target = f"https://{OK}:{dead}/"
    results = _results(_check(config, target))
    _expect(results, target, "network_outage", None)


def test_table_output_and_a_bad_target_among_good_ones(
    tmp_path: Path,
    isp_dns: DnsServer,
    pki: TestPki,
    helper: RunningHelper,
    https_server: HttpServer,
) -> None:
    config = _config(
        tmp_path, isp_dns, pki, [helper.url], [https_server.url("/page", host=CONTROL)]
    )
    good = https_server.url("/page", host=OK)
    proc = _check(config, good, "ftp://bad.example/", json_output=False)
    assert proc.returncode == 2, "an invalid target is a usage error, reported after the others"
    assert "ftp://bad.example/" in proc.stderr
    assert "accessible" in proc.stdout
    assert OK in proc.stdout


def test_explain_prints_the_rules_that_decided(
    tmp_path: Path, isp_dns: DnsServer, pki: TestPki, helper: RunningHelper,
    https_server: HttpServer,
) -> None:  # fmt: skip
    config = _config(
        tmp_path, isp_dns, pki, [helper.url], [https_server.url("/page", host=CONTROL)]
    )
    proc = _check(config, https_server.url("/page", host=OK), json_output=False, explain=True)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # lines wrap at the terminal's width
    assert "decided by: target.all_accessible" in text, proc.stdout
    assert "→ endpoint.succeeded" in text, proc.stdout


SLOW = "e2e-slow.site.test"  # the "platform" whose SNI the server paces (a policer on the name)
PACED_BPS = 800_000


def test_a_page_slowed_on_its_name_is_throttled(
    tmp_path: Path, isp_dns: DnsServer, public_dns: DnsServer, pki: TestPki,
    https_server: HttpServer,
) -> None:  # fmt: skip
    """The page crawls for the probe (cut by its 3 s timeout while arriving), the helper gets it
    all, the same address with another SNI is fast: throttling keyed on the name, through the
    real CLI, with the evidence in the record."""
    for zone in (isp_dns, public_dns):
        zone.zone.set(SLOW, DnsEntry(a=("127.0.0.1",)))
    page = https_server.route("/e2e-paced", paced(PACED_BPS, {SLOW}, 400_000, "text/html"))
    page = page.replace("127.0.0.1", SLOW)
    fast = https_server.route("/e2e-fast.bin", streamed(64 << 20)).replace("127.0.0.1", CONTROL)
    settings = loopback_helper_settings(public_dns.address, pki.ca_pem)
    patient = settings.model_copy(
        update={"timeouts": settings.timeouts.model_copy(update={"http": 10})}
    )
    running = RunningHelper(patient)  # it fetches the whole slowed page (about 4 s)
    try:
        config = _config(tmp_path, isp_dns, pki, [running.url], [fast])
        with config.open("a", encoding="utf-8") as toml:
            toml.write(
                "[throughput]\npages = true\n"
                f"repeats = 2\nduration_s = 1.2\nmax_bytes = {4 << 20}\n"
                f"max_bytes_per_run = {32 << 20}\n"
                f'controls = ["{fast}"]\n'
            )
        results = _results(_check(config, page))
    finally:
        running.close()
    _expect(results, page, "throttled", "throttling")
    result = results[page]
    assert "keyed on the server name (SNI)" in result.reasons[0], result.reasons
    assert any("cut by the timeout while arriving" in r for r in result.reasons), result.reasons
    finding = result.endpoints[0].findings
    assert "http.body_timeout" in [f.rule_id for f in finding], finding
    assert result.throughput is not None and result.throughput.objects == [page]
    roles = {t.role.value for t in result.throughput.transfers}
    assert roles == {"target", "same_address", "control"}, roles


def test_the_helper_names_the_network_when_the_probe_has_no_database(
    tmp_path: Path, isp_dns: DnsServer, public_dns: DnsServer, pki: TestPki,
    https_server: HttpServer,
) -> None:  # fmt: skip
    """Issue 20: every result was AS0 after a default install; our helper's x_client_asn
    names the network when the probe has no ASN database of its own."""
    from helper.loopback import write_asn_database

    from probe.config import GeoipSettings

    database = tmp_path / "helper-asn.mmdb"
    write_asn_database(database, {"127.0.0.0/8": 64500})
    settings = loopback_helper_settings(public_dns.address, pki.ca_pem)
    running = RunningHelper(settings.model_copy(update={"geoip": GeoipSettings(asn_db=database)}))
    try:
        config = _config(
            tmp_path, isp_dns, pki, [running.url], [https_server.url("/page", host=CONTROL)]
        )
        url = https_server.url("/page", host=OK)
        (result,) = _results(_check(config, url)).values()
        assert result.probe_asn == "AS64500"
        table = _check(config, url, json_output=False)
        assert "as: AS64500" in table.stdout, table.stdout
    finally:
        running.close()


def test_a_check_ends_without_the_interpreter_teardown(
    tmp_path: Path, isp_dns: DnsServer, pki: TestPki, helper: RunningHelper,
    https_server: HttpServer,
) -> None:  # fmt: skip
    """Issue 19: once every result is printed, the CLI ends the process at once (probe/lean.py):
    the output is complete and the atexit handlers ran; the teardown (a module-level object's
    finaliser) did not."""
    config = _config(
        tmp_path, isp_dns, pki, [helper.url], [https_server.url("/page", host=CONTROL)]
    )
    code = (
        "import atexit, sys\n"
        "from probe.cli.app import main\n"
        "class Witness:\n"
        "    def __del__(self):\n"
        "        print('teardown', flush=True)\n"
        "witness = Witness()\n"
        "atexit.register(print, 'atexit')\n"
        "main(['check', '--json', '--config', sys.argv[1], sys.argv[2]])\n"
    )
    url = https_server.url("/page", host=OK)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(config), url],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    *records, last = proc.stdout.splitlines()
    assert last == "atexit", proc.stdout[-500:]
    assert [TargetResult.model_validate_json(r).input for r in records] == [url]
