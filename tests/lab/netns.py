"""Build, drive and tear down the lab: five network namespaces, their servers and `probe helper`.

`Lab.up()` creates plab<pid>-{client,isp,border,transit,internet}, links them in a chain with veth
pairs (client ── ISP ── border ── transit ── internet: the servers are 4 hops from the client, see
lab/world.py), starts the lab servers (`lab.serve`) and a real `probe helper`, and writes the
probe's configuration. `Lab.apply(censor)` puts a scenario in place (iptables in the ISP, border
and internet namespaces, tc at the ISP, the servers' scenario.json, an injector on the ISP's or the
border's link); `Lab.reset()` removes it. `Lab.check(targets)` runs the real
`probe check --json` in the client namespace. `Lab.down()` kills every process by group and
deletes the namespaces; `clean_leftovers()` does the same for runs whose pytest process is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pki, world

RUN_ROOT = Path("/tmp/probe-lab")
TESTS_DIR = Path(__file__).resolve().parent.parent
ROLES = ("client", "isp", "border", "transit", "internet")
ROUTERS = ("isp", "border", "transit")  # forward, and answer ICMP time-exceeded
CENSORING = ("isp", "border", "internet")  # where a Censor's iptables rules go (CHAINS below)
CHAINS = {  # our chains, flushed between scenarios; base rules (SNAT) live outside them
    ("filter", "FORWARD"): "LAB-FWD",
    ("filter", "INPUT"): "LAB-IN",
    ("nat", "PREROUTING"): "LAB-PRE",
    ("mangle", "FORWARD"): "LAB-MARK",
}
CLIENT_LINK = "cl-isp"  # the client's interface (towards the ISP)
ISP_CLIENT_LINK = "isp-c"  # the ISP's interface towards the client
ISP_UPLINK = "isp-up"  # towards the border
BORDER_ISP_LINK = "bd-isp"  # the border's interface towards the ISP (and the client)
BORDER_UPLINK = "bd-up"  # towards transit
TRANSIT_BORDER_LINK = "tr-bd"
TRANSIT_UPLINK = "tr-up"  # towards the internet
INTERNET_LINK = "net-tr"
# Where an injector runs, and the link it sniffs: the side facing the client.
INJECTOR_LINKS = {"isp": ISP_CLIENT_LINK, "border": BORDER_ISP_LINK}
CLIENT_TCP_RMEM = "4096 65536 131072"  # min, default, max receive buffer (bytes)


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def run(
    args: list[str], check: bool = True, timeout_s: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a command and return it; raise LabError naming it if it fails and `check`."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(args)} → {done.returncode}: {done.stderr.strip()}")
    return done


def prerequisites() -> str | None:
    """Return why the lab cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, iptables, tc)"
    for tool in ("ip", "iptables", "tc", "ss"):
        if shutil.which(tool) is None:
            return f"the lab needs `{tool}` (Debian: iproute2, iptables)"
    try:
        import scapy  # noqa: F401
    except ImportError:
        return "the lab needs scapy (pip install -e '.[test]')"
    probe_ns = f"{world.PREFIX}check{os.getpid()}"
    if run(["ip", "netns", "add", probe_ns], check=False).returncode != 0:
        return "`ip netns add` failed: network namespaces are unavailable"
    run(["ip", "netns", "del", probe_ns], check=False)
    return None


def _namespace_pids(name: str) -> list[int]:
    done = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in done.stdout.split()]


def _kill_namespace(name: str) -> None:
    for pid in _namespace_pids(name):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run(["ip", "netns", "del", name], check=False)
    shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)


def clean_leftovers() -> list[str]:
    """Remove namespaces, processes and run directories of lab runs whose owner is gone."""
    removed = []
    listing = run(["ip", "netns", "list"], check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        found = re.fullmatch(rf"{world.PREFIX}(?:check)?(\d+)(?:-\w+)?", name)
        if found and not Path(f"/proc/{found.group(1)}").exists():
            _kill_namespace(name)
            removed.append(name)
    if RUN_ROOT.exists():
        for directory in RUN_ROOT.iterdir():
            if directory.name.isdigit() and not Path(f"/proc/{directory.name}").exists():
                shutil.rmtree(directory, ignore_errors=True)
    return removed


@dataclass
class Censor:
    """What the ISP (or the border router; for platform-side failures, the internet) does.

    `iptables`, `border_iptables` and `internet_iptables` are argument strings for our chains in
    the ISP (hop 1), border (hop 2) and internet namespaces, e.g.
    "LAB-FWD -p tcp --dport 443 -m string --string twitter.com --algo bm -j DROP"; `{name}`
    placeholders are site keys (their address) and `{blockpage}` etc. (see `Lab.placeholders`).
    `tc` are `tc` argument strings run in the ISP namespace. `state` is merged into
    scenario.json (dns, isp_dns, sites, redirects, intercept). `inject` starts an on-path
    injector: ("dns", DESTINATIONS, ANSWER, SUFFIX...) or ("http", HOST...) (lab/inject.py), in
    the namespace `inject_at` ("isp": sniffing its client link; "border": its ISP-facing link).
    `config` overrides the probe's TOML sections for this scenario.
    """

    iptables: tuple[str, ...] = ()
    border_iptables: tuple[str, ...] = ()
    internet_iptables: tuple[str, ...] = ()
    tc: tuple[str, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)
    inject: tuple[str, ...] | None = None
    inject_at: str = "isp"
    config: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.inject_at not in INJECTOR_LINKS:
            raise ValueError(
                f"inject_at {self.inject_at!r}: expected one of {list(INJECTOR_LINKS)}"
            )


class Lab:
    """One lab run: its namespaces, processes and run directory."""

    def __init__(self) -> None:
        self.tag = f"{world.PREFIX}{os.getpid()}"
        self.run_dir = RUN_ROOT / str(os.getpid())
        self.processes: list[subprocess.Popen[bytes]] = []
        self.injector: subprocess.Popen[bytes] | None = None
        self.config: dict[str, dict[str, Any]] = {}
        self.placeholders = {s.key: s.address for s in world.SITES} | {
            "client": world.CLIENT_ADDRESS,
            "helper": world.HELPER_ADDRESS,
            "doh": world.DOH_ADDRESS,
            "blockpage": world.BLOCKPAGE_ADDRESS,
            "interceptor": world.INTERCEPTOR_ADDRESS,
            "portal": world.PORTAL_ADDRESS,
            "portal_valid": world.PORTAL_VALID_ADDRESS,
            "public_resolver": world.PUBLIC_RESOLVER,
            "public": world.PUBLIC_ADDRESS,
            "client_link": ISP_CLIENT_LINK,
            "uplink": ISP_UPLINK,
            "border_link": BORDER_ISP_LINK,
            "border": world.BORDER_ADDRESS,
            "trust_mitm": str(self.run_dir / "pki" / "lab-and-mitm-ca.pem"),
        }
        self.overrides: dict[str, dict[str, Any]] = {}

    def ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def exec(self, role: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace of `role`."""
        return run(["ip", "netns", "exec", self.ns(role), *args], check=check)

    # Building ------------------------------------------------------------------------------

    def up(self) -> None:
        """Create the namespaces, links, routes, base rules, PKI, servers and helper."""
        clean_leftovers()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(parents=True)
        pki.build(self.run_dir / "pki")
        bundle = b"".join(
            (self.run_dir / "pki" / f).read_bytes() for f in ("lab-ca.pem", "mitm-ca.pem")
        )
        (self.run_dir / "pki" / "lab-and-mitm-ca.pem").write_bytes(bundle)
        self._write_fingerprints()
        (self.run_dir / "scenario.json").write_text("{}")
        for role in ROLES:
            run(["ip", "netns", "add", self.ns(role)])
            self.exec(role, "ip", "link", "set", "lo", "up")
        self._links()
        self._addresses_and_routes()
        self._base_rules()
        resolv = Path("/etc/netns") / self.ns("client")
        resolv.mkdir(parents=True, exist_ok=True)
        (resolv / "resolv.conf").write_text(f"nameserver {world.ISP_RESOLVER}\n")
        helper_resolv = Path("/etc/netns") / self.ns("internet")
        helper_resolv.mkdir(parents=True, exist_ok=True)
        (helper_resolv / "resolv.conf").write_text(f"nameserver {world.PUBLIC_RESOLVER}\n")
        self._start_servers()
        self.config = self._probe_config()

    def _links(self) -> None:
        client, isp, border, transit, internet = (self.ns(role) for role in ROLES)
        veth = "ip link add {} netns {} type veth peer name {} netns {}"
        run(veth.format(CLIENT_LINK, client, ISP_CLIENT_LINK, isp).split())
        run(veth.format(ISP_UPLINK, isp, BORDER_ISP_LINK, border).split())
        run(veth.format(BORDER_UPLINK, border, TRANSIT_BORDER_LINK, transit).split())
        run(veth.format(TRANSIT_UPLINK, transit, INTERNET_LINK, internet).split())

    def _addresses_and_routes(self) -> None:
        self.exec("client", "ip", "addr", "add", f"{world.CLIENT_ADDRESS}/24", "dev", CLIENT_LINK)
        self.exec("client", "ip", "link", "set", CLIENT_LINK, "up")
        self.exec("client", "ip", "route", "add", "default", "via", world.ISP_CLIENT_SIDE)
        # A receive window of at most ~128 KiB bounds what one download has in flight, so a flow
        # shaped at the ISP (throttling scenarios) never overflows its queue there: no loss, no
        # retransmission timeouts, the flat plateau of a policer. Still Gbit/s on the fast path.
        self.exec("client", "sh", "-c", f"echo {CLIENT_TCP_RMEM} > /proc/sys/net/ipv4/tcp_rmem")
        self.exec("isp", "ip", "addr", "add", f"{world.ISP_CLIENT_SIDE}/24", "dev", ISP_CLIENT_LINK)
        self.exec("isp", "ip", "addr", "add", f"{world.ISP_RESOLVER}/32", "dev", ISP_CLIENT_LINK)
        for address in world.isp_addresses():
            self.exec("isp", "ip", "addr", "add", f"{address}/32", "dev", "lo")
        for address in world.internet_addresses():
            self.exec("internet", "ip", "addr", "add", f"{address}/32", "dev", "lo")
        # The chain's /30 links, both ends of each: (role, link, address).
        for role, link, address in (
            ("isp", ISP_UPLINK, world.ISP_TRANSIT),
            ("border", BORDER_ISP_LINK, world.BORDER_ISP_SIDE),
            ("border", BORDER_UPLINK, world.BORDER_TRANSIT),
            ("transit", TRANSIT_BORDER_LINK, world.TRANSIT_BORDER_SIDE),
            ("transit", TRANSIT_UPLINK, world.TRANSIT_UPLINK),
            ("internet", INTERNET_LINK, world.INTERNET_TRANSIT),
        ):
            self.exec(role, "ip", "addr", "add", f"{address}/{world.TRANSIT_PREFIX}", "dev", link)
            self.exec(role, "ip", "link", "set", link, "up")
        self.exec("isp", "ip", "link", "set", ISP_CLIENT_LINK, "up")
        # Abroad is up the chain, the domestic range (the client's public address) down it; the
        # client's own range never leaves the ISP (SNAT). TRANSIT_RANGE holds the routers' links
        # (the ISP's own servers talk from its uplink address): a router's connected /30s are
        # more specific than the route to the rest of it.
        for role, prefixes, via in (
            ("isp", (*world.INTERNET_RANGES, world.TRANSIT_RANGE), world.BORDER_ISP_SIDE),
            ("border", (*world.INTERNET_RANGES, world.TRANSIT_RANGE), world.TRANSIT_BORDER_SIDE),
            ("border", (world.DOMESTIC_RANGE,), world.ISP_TRANSIT),
            ("transit", world.INTERNET_RANGES, world.INTERNET_TRANSIT),
            ("transit", (world.DOMESTIC_RANGE, world.TRANSIT_RANGE), world.BORDER_TRANSIT),
            ("internet", (world.DOMESTIC_RANGE, world.TRANSIT_RANGE), world.TRANSIT_UPLINK),
        ):
            for prefix in prefixes:
                self.exec(role, "ip", "route", "add", prefix, "via", via)
        # /proc/sys/net is per namespace; writing it needs no procps (sysctl) on the machine.
        # Every router forwards and answers every expired packet with ICMP time-exceeded (no
        # rate limit: a trace sends a probe per TTL in quick succession).
        for role in ROUTERS:
            self._sysctl(role, "ip_forward", 1)
            self._sysctl(role, "icmp_ratelimit", 0)
        # The border is a Cisco-like box: what it originates (resets, ICMP) has IP TTL 255.
        self._sysctl("border", "ip_default_ttl", world.BORDER_TTL)

    def _sysctl(self, role: str, name: str, value: int) -> None:
        self.exec(role, "sh", "-c", f"echo {value} > /proc/sys/net/ipv4/{name}")

    def _base_rules(self) -> None:
        for role in CENSORING:
            for (table, parent), chain in CHAINS.items():
                self.exec(role, "iptables", "-t", table, "-N", chain)
                self.exec(role, "iptables", "-t", table, "-A", parent, "-j", chain)
        snat = f"-j SNAT --to-source {world.PUBLIC_ADDRESS}"
        self._iptables("isp", f"nat POSTROUTING -s {world.CLIENT_NET} -o {ISP_UPLINK} {snat}")
        # Connections the client opens to the ISP's own servers come from its public address too.
        self._iptables(
            "isp", f"nat POSTROUTING -s {world.CLIENT_NET} -d {world.DOMESTIC_RANGE} {snat}"
        )

    def _spawn(self, role: str, args: list[str], log: str) -> subprocess.Popen[bytes]:
        env = os.environ | {"PYTHONPATH": str(TESTS_DIR)}
        with open(self.run_dir / log, "wb") as output:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(role), *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def _wait_for(self, path: Path, what: str, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while not path.exists():
            if time.monotonic() > deadline:
                logs = "\n".join(
                    p.name + ": " + p.read_text()[-2000:] for p in self.run_dir.glob("*.log")
                )
                raise LabError(f"{what} did not start within {timeout_s} s\n{logs}")
            time.sleep(0.05)

    def _start_servers(self) -> None:
        for role in ("internet", "isp"):
            self._spawn(
                role,
                [sys.executable, "-m", "lab.serve", role, str(self.run_dir)],
                f"serve-{role}.log",
            )
        for role in ("internet", "isp"):
            self._wait_for(self.run_dir / f"ready-{role}", f"the {role} servers")
        helper_config = self.run_dir / "helper.toml"
        helper_config.write_text(_toml(self._helper_config()))
        self._spawn(
            "internet",
            [sys.executable, "-m", "probe", "helper", "--config", str(helper_config)],
            "helper.log",
        )
        deadline = time.monotonic() + 20
        while f"{world.HELPER_ADDRESS}:443" not in self.exec("internet", "ss", "-Hltn").stdout:
            if time.monotonic() > deadline:
                raise LabError(
                    "probe helper did not listen: "
                    + (self.run_dir / "helper.log").read_text()[-2000:]
                )
            time.sleep(0.1)

    def _helper_config(self) -> dict[str, dict[str, Any]]:
        pki_dir = self.run_dir / "pki"
        return {
            "resolver": {"servers": [f"udp://{world.PUBLIC_RESOLVER}"]},
            "tls": {"ca_bundle": str(pki_dir / "lab-ca.pem")},
            "network": {"routable": list(world.ROUTABLE)},
            # The helper's whole measurement must fit in the probe's helper_timeout_s (4 s).
            "timeouts": {"dns": 1.5, "connect": 1.5, "tls": 1.5, "http": 3},
            "helper": {
                # The helper shares the internet namespace with the sites it measures.
                "own_addresses_allowed": list(world.INTERNET_RANGES),
                "listen": f"{world.HELPER_ADDRESS}:443",
                "tls_cert": str(pki_dir / "helper.pem"),
                "tls_key": str(pki_dir / "helper.pem"),
            },
        }

    def _probe_config(self) -> dict[str, dict[str, Any]]:
        # Short timeouts: the probe's own timeouts are the only thing a scenario waits for.
        return {
            # The late-reply window stays below the retry backoff: an attempt whose page loaded
            # is over before the next one starts (one ClientHello per check).
            "resolver": {"servers": ["system"], "late_reply_window_s": 0.2},
            "control": {
                "helpers": [f"https://{world.HELPER_ADDRESS}/"],
                "doh": [f"https://{world.DOH_ADDRESS}/dns-query"],
                "sites": ["https://www.wikipedia.org/", "https://example.com/"],
                # The lab's own domestic site (the catalogue's Kazakh sites are not in the lab).
                "domestic_sites": [f"https://{world.SITES_BY_KEY['idn'].names[0]}/"],
                "helper_timeout_s": 4,
                "helper_overlap_s": 2,
            },
            "tls": {"ca_bundle": str(self.run_dir / "pki" / "lab-ca.pem")},
            "network": {"routable": list(world.ROUTABLE)},
            "timeouts": {"dns": 1.5, "connect": 1.5, "tls": 1.5, "http": 4},
            "measure": {"attempts": 3, "retry_backoff_s": 0.3},
            "blockpages": {"fingerprints": [str(self.run_dir / "fingerprints.csv")]},
            # Off unless a scenario turns it on (Censor(config={"throughput": {"enabled": True}})):
            # short transfers of the lab's large objects (world.OBJECT_BYTES, any path with an
            # extension), so a throttling scenario takes seconds.
            "throughput": {
                "enabled": False,
                # The throttling scenarios measure a page too (bbc.com): asked for, as
                # `probe check --throughput` does.
                "pages": True,
                "repeats": 2,
                # 1.5 s: the plateau after the first 20 % must hold 4 bins of 0.2 s (at 1.0 s,
                # 0.8 s minus the time to the first byte holds only 3).
                "duration_s": 1.5,
                "max_bytes": 8 << 20,
                "max_bytes_per_run": 256 << 20,  # a few tests at these caps
                "min_bytes": 64 << 10,
                "controls": [
                    "https://www.wikipedia.org/lab/large.bin",
                    "https://example.com/lab/large.bin",
                ],
                "innocuous_sni": "example.org",
                "objects_per_target": 1,
            },
            # Packet evidence (raw sockets, traces) only where a scenario turns it on
            # (scenarios.PACKETS): it adds seconds to every blocked target.
            "packets": {"enabled": False},
        }

    def _write_fingerprints(self) -> None:
        # The ISP's block page, as an operator would add their country's page (OONI's format).
        header = (
            "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
            "expected_countries,source,exp_url,notes"
        )
        rows = [
            f"lab_kz_dns,isp,,dns,full,{world.BLOCKPAGE_ADDRESS},10,KZ,lab,,",
            f"lab_kz_body,isp,,body,contains,{world.BLOCKPAGE_MARKER},10,KZ,lab,,",
        ]
        (self.run_dir / "fingerprints.csv").write_text("\n".join([header, *rows]) + "\n")

    # Scenarios -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Remove every scenario rule, shaper, injector and server behaviour."""
        self.stop_injector()
        for role in CENSORING:
            for (table, _), chain in CHAINS.items():
                self.exec(role, "iptables", "-t", table, "-F", chain)
        for link in (ISP_CLIENT_LINK, ISP_UPLINK):
            self.exec("isp", "tc", "qdisc", "del", "dev", link, "root", check=False)
        self.write_state({})
        self.overrides = {}

    def write_state(self, state: dict[str, Any]) -> None:
        target = self.run_dir / "scenario.json"
        scratch = target.with_suffix(".tmp")
        scratch.write_text(json.dumps(state))
        scratch.replace(target)

    def apply(self, censor: Censor) -> None:
        """Put `censor` in place on top of a reset lab."""
        self.placeholders |= _time_windows()
        for rule in censor.iptables:
            self._iptables("isp", rule)
        for rule in censor.border_iptables:
            self._iptables("border", rule)
        for rule in censor.internet_iptables:
            self._iptables("internet", rule)
        for command in censor.tc:
            self.exec("isp", "tc", *command.format(**self.placeholders).split())
        self.write_state(_fill(censor.state, self.placeholders))
        self.overrides = _fill(censor.config, self.placeholders)
        if censor.inject is not None:
            self.start_injector(_fill(censor.inject, self.placeholders), censor.inject_at)

    def _iptables(self, role: str, rule: str) -> None:
        words = rule.format(**self.placeholders).split()
        table = "filter"
        if words[0] in ("nat", "mangle", "filter"):
            table, words = words[0], words[1:]
        self.exec(role, "iptables", "-t", table, "-A", *words)

    def start_injector(self, args: list[str], at: str = "isp") -> None:
        """Start an injector in the namespace `at`, sniffing its link towards the client."""
        ready = self.run_dir / "ready-injector"
        ready.unlink(missing_ok=True)
        mode, *rest = args
        link = INJECTOR_LINKS[at]
        command = [sys.executable, "-m", "lab.inject", mode, link, str(ready), *rest]
        self.injector = self._spawn(at, command, "injector.log")
        self._wait_for(ready, f"the {mode} injector at the {at}", timeout_s=30)

    def stop_injector(self) -> None:
        if self.injector is not None:
            _kill_group(self.injector)
            self.processes.remove(self.injector)
            self.injector = None

    def check(
        self,
        targets: list[str],
        config: dict[str, dict[str, Any]] | None = None,
        timeout_s: float = 120,
    ) -> tuple[list[dict[str, Any]], str]:
        """Run `probe check --json` in the client namespace; return its records and raw output."""
        merged = {section: dict(values) for section, values in self.config.items()}
        for section, values in (config or self.overrides).items():
            merged.setdefault(section, {}).update(values)
        path = self.run_dir / "probe.toml"
        path.write_text(_toml(merged))
        done = self.probe("check", "--json", "--config", str(path), *targets, timeout_s=timeout_s)
        if done.returncode != 0:
            raise LabError(f"probe check exited {done.returncode}: {done.stderr[-3000:]}")
        records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        return records, done.stdout

    def probe(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the real `probe` CLI in the client namespace and return it (not checked)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}
        command = ["ip", "netns", "exec", self.ns("client"), sys.executable, "-m", "probe"]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=timeout_s, env=env
        )

    # Teardown ------------------------------------------------------------------------------

    def down(self) -> None:
        """Kill every lab process and delete the namespaces and the run directory."""
        for process in self.processes:
            _kill_group(process)
        self.processes.clear()
        for role in ROLES:
            _kill_namespace(self.ns(role))
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def _fill(value: Any, placeholders: dict[str, str]) -> Any:
    """Return `value` with `{name}` placeholders filled in every string it contains."""
    if isinstance(value, str):
        return value.format(**placeholders)
    if isinstance(value, dict):
        return {k: _fill(v, placeholders) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, placeholders) for v in value]
    return value


def _time_windows() -> dict[str, str]:
    """Return iptables `time` match arguments: a window around now, and one hours away."""
    now = time.time()

    def clock(offset_s: float) -> str:
        return time.strftime("%H:%M:%S", time.gmtime(now + offset_s))

    return {
        "window_now": f"--timestart {clock(-600)} --timestop {clock(600)}",
        "window_later": f"--timestart {clock(3 * 3600)} --timestop {clock(4 * 3600)}",
    }


def _toml(config: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"
