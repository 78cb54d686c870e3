"""Render docs/lab.md from the scenario table: `python -m lab docs > docs/lab.md`."""

from __future__ import annotations

from . import world
from .netns import Censor
from .scenarios import SCENARIOS, TARGETS, Scenario
from .world import FORGED_IP_ID, FORGED_TTL

_TOPOLOGY = "\n".join(
    (
        f"client {world.CLIENT_ADDRESS} ── {world.ISP_CLIENT_SIDE} ISP {world.ISP_TRANSIT}"
        f" ── {world.BORDER_ISP_SIDE} border {world.BORDER_TRANSIT}",
        f"    ── {world.TRANSIT_BORDER_SIDE} transit {world.TRANSIT_UPLINK}"
        f" ── {world.INTERNET_TRANSIT} internet (servers)",
        "",
        "hop  router    ICMP time-exceeded from   TTL of what it originates, as the client sees it",
        f"1    ISP       {world.ISP_CLIENT_SIDE:<25} {world.LINUX_TTL}",
        f"2    border    {world.BORDER_ADDRESS:<25} {world.BORDER_TTL - 1} ({world.BORDER_TTL},"
        " a Cisco-like box)",
        f"3    transit   {world.TRANSIT_ADDRESS:<25} {world.LINUX_TTL - 2}",
        f"4    servers   —                         {world.LINUX_TTL - 3}",
    )
)
INTRO = f"""# The censorship lab

Generated from `tests/lab/scenarios.py` (`scripts/lab.sh docs > docs/lab.md`); a test fails when
this page is stale.

The lab runs the real `probe check` and `probe helper`, unmodified, in network namespaces that the
tests create and always remove. Packets cross a real censoring router: iptables/nftables rules
(DROP, REJECT with tcp-reset, string matches on the TLS SNI and the HTTP Host, `recent` and `time`
matches for stateful and scheduled blocking, DNAT to a transparent interception box), tc shaping,
a resolver the ISP controls, and scapy injectors that forge DNS answers and HTTP responses racing
the genuine ones. Most censors sit at the ISP (hop 1); some sit on the border router (hop 2), so
that the probe's packet tests (issue 8: IP TTL and IP-ID of what answers it, CenTrace-style traces
with the trigger sent at IP TTL 1, 2, 3…) have a censor to find that is not the first hop.

```
{_TOPOLOGY}
```

- **client**: runs `probe check --json`; its resolv.conf names the ISP resolver
  ({world.ISP_RESOLVER}).
- **ISP** (hop 1; most censors act here): routes and SNATs the client to its public
  address {world.PUBLIC_ADDRESS} (which must never appear in the probe's output: every
  scenario checks), runs the ISP resolver (forwarding to the authoritative server, lying when
  the scenario says), the block page ({world.BLOCKPAGE_ADDRESS}, `{world.BLOCKPAGE_NAME}`), a
  captive portal ({world.PORTAL_ADDRESS}), the interception box
  ({world.INTERCEPTOR_ADDRESS}: SNI-selective certificate forgery with a root named like
  Kazakhstan's, and a transparent HTTP proxy) and the domestic sites (198.51.100.0/24).
- **border** (hop 2): the country's border router; censors placed here (`border_iptables`, an
  injector with `inject_at="border"` sniffing its link to the ISP) act on the client's traffic
  after the ISP's SNAT, and the ISP's conntrack takes their answers back to the client. What the
  border originates (iptables resets, ICMP) has IP TTL {world.BORDER_TTL}, unlike the Linux
  servers' {world.LINUX_TTL}.
- **transit** (hop 3): a plain router abroad.
- **internet** (hop 4): the platforms, news and control sites (203.0.113.0/24, pages of
  {world.PAGE_BYTES // 1024} KiB, and an object of {world.OBJECT_BYTES >> 20} MiB at any path
  with a file extension, for the throughput test), an authoritative DNS server
  ({world.AUTHORITATIVE_ADDRESS}), a public resolver ({world.PUBLIC_RESOLVER}), DoH
  ({world.DOH_ADDRESS}, keeping connections open between queries as public resolvers do) and
  `probe helper` ({world.HELPER_ADDRESS}, HTTPS) as the control vantage
  point.

Certificates come from a lab CA passed with `[tls] ca_bundle`; the lab ranges are declared with
`[network] routable`; the ISP's block page is added with `[blockpages] fingerprints`, as an
operator would add their country's page. No namespace has a route to anything outside the lab.
The probe runs with short timeouts (1.5 s for DNS, connect and TLS, 4 s for HTTP and for the
helper, attempts at 0, 0.3 and 0.9 s) so that a scenario waits only for the probe's own timeouts.
The throughput test is off except in the scenarios that turn it on; there it runs 2 repeats of
1.5 s downloads. The client's TCP receive buffer is capped at 128 KiB (`tcp_rmem`), so one shaped
download never overflows the ISP's 192 KiB queue: the policer's plateau stays flat, as a real
policer's does once TCP has converged. `scripts/lab.sh record` re-records the throughput tests
that tests/decide/test_throughput.py judges offline.

Besides the verdicts in the table, every check asserts two properties of the printed record:
the probe's public address appears nowhere in it, and re-running the pure verdict functions on
the record alone (as `probe classify` and the collector will) gives the same verdicts.

The probe's packet tests are off (`[packets] enabled = false`) except in the scenarios that turn
them on; there they run with 1 s per hop and the checks also inspect the packet evidence. The
routers send ICMP time-exceeded without rate limit. The injectors' forged packets carry a
fingerprint: IP TTL {FORGED_TTL} (so {FORGED_TTL - 1} at the client from the border) and IP-ID
{FORGED_IP_ID:#x}. `tests/lab/test_packets_lab.py` proves the hops, TTLs and IP-IDs with scapy
from the client namespace, independently of the probe.

## Running it

- `scripts/lab.sh` runs every scenario (`scripts/lab.sh -k tls_sni` runs some); the README's test
  command runs them too when it runs as root with network namespaces, iptables and scapy, and
  says why they were skipped otherwise (under `PROBE_TEST_STRICT=1`, as in CI, a skip fails).
- `scripts/lab.sh up` builds the lab and keeps it running for manual checks;
  `scripts/lab.sh clean` removes the namespaces, processes and run directories of lab runs whose
  process is gone (every run also does this first). The lab changes nothing outside its
  namespaces: its iptables rules and tc qdiscs live inside them and go with them.

## Adding a scenario

1. Add an entry to `_scenarios()` in `tests/lab/scenarios.py`. It needs a name, one sentence on
   what the censor does (shown below), a `Censor` and the expected verdict of every target it
   affects. A `Censor` can hold iptables rules for our chains (`LAB-FWD`, `LAB-IN`, `nat LAB-PRE`,
   `mangle LAB-MARK`) at the ISP (`iptables`), on the border (`border_iptables`) or at the
   servers (`internet_iptables`), tc commands, server behaviour in `state`, an injector (at the
   ISP or, with `inject_at="border"`, on the border) and probe settings in `config`.
2. `scripts/lab.sh -k NAME` runs it, and `scripts/lab.sh docs > docs/lab.md` updates this page.
3. If the probe gets it wrong, fix the probe; the verdict rules have unit tests in `tests/decide`.
   Never weaken the expectation. A limitation we cannot fix yet goes into `gap`, and is then
   listed under "Known gaps".

## Scenarios

Each scenario checks the targets `{"`, `".join(TARGETS)}` unless it names its own. A target
not listed under "expected" must come out `accessible`: every run also proves that the targets the
censor leaves alone stay accessible. "Censor at" says where the censor acts (ISP, hop 1, or
border, hop 2; "—": nowhere, the world itself misbehaves). "§11" refers to the scenario
catalogue in METHODS.md.
"""


def censor_at(censor: Censor) -> str:
    """Return where `censor` acts: "ISP", "border", both, or "—" (only the world misbehaves)."""
    places = []
    isp_state = {"isp_dns", "intercept"} & set(censor.state)
    if censor.iptables or censor.tc or isp_state or (censor.inject and censor.inject_at == "isp"):
        places.append("ISP")
    if censor.border_iptables or (censor.inject and censor.inject_at == "border"):
        places.append("border")
    return " + ".join(places) or "—"


def _expected(expect: dict[str, tuple[str, str | None]], targets: tuple[str, ...] = ()) -> str:
    if not expect:
        return "all accessible"
    if set(expect) == set(targets) and len(set(expect.values())) == 1:
        verdict, blocking = next(iter(expect.values()))
        return f"every target {verdict}" + (f" ({blocking})" if blocking else "")
    parts = []
    for target, (verdict, blocking) in expect.items():
        parts.append(f"`{target}` {verdict}" + (f" ({blocking})" if blocking else ""))
    return "; ".join(parts)


def _row(scenario: Scenario) -> list[str]:
    rows = [
        f"| `{scenario.name}` | {censor_at(scenario.censor)} | {scenario.does}"
        f" | {_expected(scenario.expect, scenario.targets)}{_targets(scenario.targets)}"
        f" | {scenario.methods or '—'} |"
    ]
    for number, step in enumerate(scenario.then, start=2):
        expected = _expected(step.expect, step.targets) + _targets(step.targets)
        at = censor_at(step.censor) if step.censor is not None else ""
        rows.append(f"| ↳ check {number} | {at} | {step.does} | {expected} | |")
    return rows


def _targets(targets: tuple[str, ...]) -> str:
    if targets == TARGETS:
        return ""
    return " — targets: " + ", ".join(f"`{t}`" for t in targets)


def render() -> str:
    """Return docs/lab.md."""
    lines = [
        INTRO,
        "| scenario | censor at | what the censor (or the world) does | expected | §11 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for scenario in SCENARIOS.values():
        lines += _row(scenario)
    gaps = [s for s in SCENARIOS.values() if s.gap]
    lines += ["", f"{len(SCENARIOS)} scenarios.", "", "## Known gaps", ""]
    lines += [f"- `{s.name}`: {s.gap}." for s in gaps] or ["None at the moment."]
    return "\n".join(lines) + "\n"
