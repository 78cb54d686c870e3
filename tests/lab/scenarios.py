"""The lab's scenario table: what the censor does, and what `probe check` must say.

One entry per scenario, keyed by name, listing only what distinguishes it. Every scenario checks
`TARGETS` (unless it names its own); a target not in `expect` must come out `accessible`, so
each run also proves that unaffected targets stay accessible. docs/lab.md is generated from this
table (`python -m lab.docs > docs/lab.md`, a test keeps it current).

Rule strings are appended to our chains in the ISP namespace (hop 1; `border_iptables`: on the
border router, hop 2; `internet_iptables`: in the internet namespace, where a platform's own
failure lives); `{twitter}`, `{helper}`… are addresses from lab/world.py, `{client_link}` the
ISP's interface towards the client.

Scenarios with `PACKETS` in their config also run the probe's packet tests (issue 8) and inspect
their evidence: the TTLs and IP-IDs the lab's topology and injectors give (lab/world.py: the
servers are at hop 4, the border's own packets leave with TTL 255; lab/inject.py: forged packets
carry TTL 64 and IP-ID 0x1337).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from . import world
from .netns import Censor
from .world import BOGON_ANSWER, FORGED_IP_ID, FORGED_TTL

ACCESSIBLE = ("accessible", None)
OUTAGE = ("network_outage", None)
DOWN = ("service_down", None)
UNSURE = ("inconclusive", None)
THROTTLED = ("throttled", "throttling")
WHITELISTED = ("blocked", "whitelisting")


def blocked(method: str) -> tuple[str, str | None]:
    return ("blocked", method)


# Twitter/X is the lab's censored platform: the platform target covers its 8 endpoints.
TWITTER_NAMES = ("twitter.com", "x.com", "t.co", "twimg.com")
TARGETS = ("twitter", "youtube.com", "http://www.azattyq.org/", "bbc.com", "kaspi.kz")
EVERYTHING = dict.fromkeys(TARGETS, OUTAGE)
FORGED_ANSWER = "192.0.2.66"  # routable in the lab, and nothing answers there
THROTTLING_TARGETS = ("twitter", "bbc.com")  # throughput scenarios: a platform and a page
SNI_MARK = "0x22"  # connmark of connections whose ClientHello names Twitter (sni_throttled)


def sni(
    action: str, names: tuple[str, ...] = TWITTER_NAMES, extra: str = "", chain: str = "LAB-FWD"
) -> tuple[str, ...]:
    """Return rules applying `action` to ClientHellos (port 443) that carry one of `names`."""
    return tuple(
        f"{chain} -p tcp --dport 443 -m string --string {name} --algo bm {extra} {action}".replace(
            "  ", " "
        )
        for name in names
    )


THROUGHPUT = {"throughput": {"enabled": True}}
# The probe's packet tests (raw sockets, CenTrace-style traces), with lab-sized timings.
PACKETS = {
    "packets": {
        "enabled": True,
        "probe_interval_s": 0.05,
        "hop_timeout_s": 1.0,
        "max_ttl": 8,
        "max_silent_hops": 3,
        "dns_listen_s": 1.0,
    }
}
# Connections whose ClientHello (from the client) names Twitter get the connmark SNI_MARK.
MARK_TWITTER_SNI = sni(
    f"-j CONNMARK --set-mark {SNI_MARK}", extra="-i {client_link}", chain="mangle LAB-MARK"
)


def shaper(rate: str, select: str, queue_bytes: int = 192 << 10) -> tuple[str, ...]:
    """Return tc commands (ISP namespace) shaping what goes to the client down to `rate`.

    `select` picks the shaped packets: "all"; "classify" (those an iptables CLASSIFY rule puts
    in class 1:1); or a u32 selector such as "match ip src {twitter}/32". The rest passes
    unshaped (htb's direct queue). The class queues at most `queue_bytes` and drops the excess,
    like a policer; htb's default queue (1000 packets) would add seconds of delay. The default
    holds a whole client receive window (netns.CLIENT_TCP_RMEM): one download alone is never
    dropped, so its rate is flat (a retransmission timeout would stall it for 200 ms).
    """
    default = " default 1" if select == "all" else ""
    commands = [
        f"qdisc add dev {{client_link}} root handle 1: htb{default}",
        f"class add dev {{client_link}} parent 1: classid 1:1 htb rate {rate} ceil {rate}",
        f"qdisc add dev {{client_link}} parent 1:1 handle 10: bfifo limit {queue_bytes}",
    ]
    if select not in ("all", "classify"):
        commands.append(
            f"filter add dev {{client_link}} parent 1: protocol ip prio 1 u32 {select} flowid 1:1"
        )
    return tuple(commands)


def isp_lie(suffixes: tuple[str, ...], action: str, **more: str) -> dict[str, Any]:
    """Return scenario state making the ISP resolver lie for `suffixes` ("nxdomain",
    "servfail", "drop" or "answer" with `address=`)."""
    return {"isp_dns": {"rules": [{"suffixes": list(suffixes), "action": action, **more}]}}


def http_block(mode: str) -> dict[str, Any]:
    """Return scenario state making the transparent proxy block azattyq.org ("page" or
    "redirect")."""
    return {"intercept": {"http_block": {"hosts": ["azattyq.org"], "mode": mode}}}


RST = "-j REJECT --reject-with tcp-reset"
# Issue 17's page scenarios: Facebook's cleartext page, beside a cleartext page left alone.
FACEBOOK_HTTP = "http://www.facebook.com/"
PAGE_TARGETS = (FACEBOOK_HTTP, "http://www.azattyq.org/")
DIVERT_FACEBOOK = (
    "nat LAB-PRE -p tcp -d {facebook} --dport 80 -j DNAT --to-destination {interceptor}"
)
# Segments from Facebook's port 80 that carry data (over 60 bytes: a SYN-ACK with options is 60):
# dropped on the border, so that only the injected answer reaches the client (no race).
PAGE_DATA_FROM_FACEBOOK = (
    "LAB-FWD -p tcp -s {facebook} --sport 80 -m length --length 61:65535 -j DROP"
)
DIVERT_AZATTYQ = "nat LAB-PRE -p tcp -d {azattyq} --dport 80 -j DNAT --to-destination {interceptor}"


@dataclass(frozen=True)
class Step:
    """A further `probe check` in the same scenario; `censor` None keeps the censor as it is."""

    expect: dict[str, tuple[str, str | None]]
    targets: tuple[str, ...]
    censor: Censor | None = None
    does: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    does: str  # what the censor (or the world) does, for docs/lab.md
    censor: Censor
    expect: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    targets: tuple[str, ...] = TARGETS
    then: tuple[Step, ...] = ()
    mentions: dict[str, str] = field(default_factory=dict)  # target → text its reasons hold
    # More checks on the records: returns problems (e.g. "the DoT queries did fail").
    inspect: Callable[[list[dict[str, Any]]], list[str]] | None = None
    methods: str = ""  # METHODS.md §11 case numbers
    gap: str = ""  # what the probe cannot tell yet, honestly stated


DOT = {"resolver": {"servers": ["system", "tls://{public_resolver}"]}}


def dot_queries(expect_failure: str | None) -> Callable[[list[dict[str, Any]]], list[str]]:
    """Return a check that every DoT A query ended with `expect_failure` (None: succeeded)."""

    def check(records: list[dict[str, Any]]) -> list[str]:
        failures = {
            query["failure"]
            for record in records
            for endpoint in record["endpoints"]
            for query in endpoint["test_keys"]["queries"]
            if query["engine"] == "dot" and query["query_type"] == "A"
        }
        if failures != {expect_failure}:
            return [f"DoT query failures: expected {{{expect_failure!r}}}, got {failures}"]
        return []

    return check


def pages_cut(target: str) -> Callable[[list[dict[str, Any]]], list[str]]:
    """Return a check that `target`'s reasons name pages cut by the timeout while arriving."""

    def check(records: list[dict[str, Any]]) -> list[str]:
        reasons = next((r["reasons"] for r in records if r["input"] == target), [])
        if not any("pages cut by the timeout while arriving" in r for r in reasons):
            return [f"{target}: no page was cut while arriving: {reasons}"]
        return []

    return check


def network_state(state: str) -> Callable[[list[dict[str, Any]]], list[str]]:
    """Return a check that every record's network assessment names `state`."""

    def check(records: list[dict[str, Any]]) -> list[str]:
        states = {(r.get("network") or {}).get("state") for r in records}
        if states != {state}:
            return [f"network state: expected {{{state!r}}}, got {states}"]
        return []

    return check


# Packet evidence (issue 8) -------------------------------------------------------------------
# What the client sees of each sender's IP TTL: a packet loses one per router it crosses.
SERVER_TTL = world.LINUX_TTL - (world.SERVER_HOP - 1)  # 61: the servers are at hop 4
ISP_TTL = world.LINUX_TTL  # 64: the ISP's own packets (hop 1) reach the client directly
BORDER_TTL = world.BORDER_TTL - 1  # 254: the border's own packets (hop 2) cross the ISP
BORDER_FORGED_TTL = FORGED_TTL - 1  # 63: the injector's packets at the border cross the ISP

Records = list[dict[str, Any]]
Inspect = Callable[[Records], list[str]]


def _packets(records: Records, target: str) -> dict[str, Any]:
    record = next((r for r in records if r["input"] == target), None)
    return ((record or {}).get("packets")) or {}


def _ttls(packets: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(p["ip_ttl"], p["ip_id"]) for p in packets]


def _first_reaction(trace: dict[str, Any]) -> dict[str, Any] | None:
    return next((h for h in trace["hops"] if h["reaction"] != "none"), None)


def _hop(trace: dict[str, Any], ttl: int) -> dict[str, Any]:
    return next((h for h in trace["hops"] if h["ttl"] == ttl), {})


def _describe_traces(traces: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{t['trigger']}{' control' if t['control'] else ''} {t['name']!r} → "
        + ", ".join(f"{h['ttl']}:{h['icmp_from']}/{h['reaction']}" for h in t["hops"])
        + f" ({t['stopped']})"
        for t in traces
    )


def _trace_found(
    traces: list[dict[str, Any]],
    trigger: str,
    reaction: str,
    ttl: int,
    icmp: dict[int, str],
    control: bool = False,
) -> bool:
    """Whether a trace of `trigger` first reacted with `reaction` at `ttl`, its hops' ICMP
    coming from `icmp` (ttl → address)."""
    for trace in traces:
        if trace["trigger"] != trigger or trace["control"] != control:
            continue
        first = _first_reaction(trace)
        if first is None or (first["ttl"], first["reaction"]) != (ttl, reaction):
            continue
        if all(_hop(trace, hop).get("icmp_from") == address for hop, address in icmp.items()):
            return True
    return False


def dns_injection_evidence(target: str = "twitter") -> Inspect:
    """The injector at the border: its forged answers (TTL 63, its IP-ID) race the resolver's
    (TTL 61), a host that runs no DNS server gets one too, and a DNS trace first meets it at
    hop 2 (the border: the injector sees the query whose TTL expires there)."""

    def check(records: Records) -> list[str]:
        packets = _packets(records, target)
        problems = []
        probes = packets.get("dns", [])
        forged = (BORDER_FORGED_TTL, FORGED_IP_ID)
        resolver = [p for p in probes if p["role"] == "resolver"]

        def raced(replies: list[dict[str, Any]]) -> bool:
            fakes = [
                r["t"]
                for r in replies
                if (r["ip_ttl"], r["ip_id"]) == forged
                and any(a.get("ipv4") == FORGED_ANSWER for a in r["answers"])
            ]
            genuine = [r["t"] for r in replies if r["ip_ttl"] == SERVER_TTL]
            return bool(fakes and genuine and min(fakes) < max(genuine))

        if not any(raced(p["replies"]) for p in resolver):
            problems.append(
                f"{target}: no resolver probe with the forged reply (TTL/IP-ID {forged}, answer"
                f" {FORGED_ANSWER}) and the genuine one later (TTL {SERVER_TTL}): "
                + str([_ttls(p["replies"]) for p in resolver])
            )
        silent = [p for p in probes if p["role"] == "silent_host"]
        if not any(
            p["resolver_address"] == world.HELPER_ADDRESS
            and any((r["ip_ttl"], r["ip_id"]) == forged for r in p["replies"])
            for p in silent
        ):
            problems.append(
                f"{target}: no silent-host probe of {world.HELPER_ADDRESS} got a forged reply: "
                + str([(p["resolver_address"], _ttls(p["replies"])) for p in silent])
            )
        traces = packets.get("traces", [])
        if not _trace_found(traces, "dns_query", "dns_reply", 2, {2: world.BORDER_ADDRESS}):
            problems.append(
                f"{target}: no DNS trace first answered at hop 2 ({world.BORDER_ADDRESS}): "
                + _describe_traces(traces)
            )
        return problems

    return check


def border_reset_evidence(target: str = "twitter") -> Inspect:
    """The border resets ClientHellos naming the target: the RST has the border's TTL (254) while
    the SYN-ACK has the server's (61); a trace of the ClientHello is reset at TTL 3 (the hop
    after ICMP from the border at TTL 2: a router acts on what it forwards), a control trace
    reaches the server at TTL 4."""

    def check(records: Records) -> list[str]:
        packets = _packets(records, target)
        problems = []
        probes = packets.get("tcp", [])
        if not any(
            (p.get("syn_ack") or {}).get("ip_ttl") == SERVER_TTL
            and any("R" in q["flags"] and q["ip_ttl"] == BORDER_TTL for q in p["packets"])
            for p in probes
        ):
            problems.append(
                f"{target}: no TCP probe with a SYN-ACK of TTL {SERVER_TTL} and a RST of TTL"
                f" {BORDER_TTL}: "
                + str(
                    [
                        (
                            (p.get("syn_ack") or {}).get("ip_ttl"),
                            p["packets"] and _ttls(p["packets"]),
                        )
                        for p in probes
                    ]
                )
            )
        traces = packets.get("traces", [])
        if not _trace_found(traces, "tls_client_hello", "reset", 3, {2: world.BORDER_ADDRESS}):
            problems.append(
                f"{target}: no ClientHello trace reset at TTL 3 after ICMP from the border"
                f" ({world.BORDER_ADDRESS}) at TTL 2: " + _describe_traces(traces)
            )
        if not any(
            t["control"]
            and (_first_reaction(t) or {}).get("ttl") == world.SERVER_HOP
            and (_first_reaction(t) or {}).get("reaction") == "data"
            for t in traces
        ):
            problems.append(
                f"{target}: no control trace answered with data by the server at TTL"
                f" {world.SERVER_HOP}: " + _describe_traces(traces)
            )
        return problems

    return check


def isp_syn_reset_evidence(target: str = "twitter") -> Inspect:
    """The ISP resets SYNs: a SYN trace is reset at TTL 2 (ICMP from the ISP at TTL 1), and the
    RST has the ISP's TTL (64: it crosses no router)."""

    def check(records: Records) -> list[str]:
        packets = _packets(records, target)
        problems = []
        traces = packets.get("traces", [])
        if not _trace_found(traces, "syn", "reset", 2, {1: world.ISP_CLIENT_SIDE}):
            problems.append(
                f"{target}: no SYN trace reset at TTL 2 after ICMP from the ISP"
                f" ({world.ISP_CLIENT_SIDE}) at TTL 1: " + _describe_traces(traces)
            )
        resets = [
            q
            for p in packets.get("tcp", [])
            for q in ([p["syn_ack"]] if p.get("syn_ack") else []) + p["packets"]
            if "R" in q["flags"]
        ]
        resets += [
            h["reaction_packet"]
            for t in traces
            for h in t["hops"]
            if h["reaction"] == "reset" and h.get("reaction_packet")
        ]
        if not resets or any(r["ip_ttl"] != ISP_TTL for r in resets):
            problems.append(
                f"{target}: expected RSTs with the ISP's TTL {ISP_TTL}, got {_ttls(resets)}"
            )
        return problems

    return check


def injected_page_evidence(target: str = "http://www.azattyq.org/") -> Inspect:
    """The injector at the border answers the HTTP request: the data packets have its TTL (63)
    while the SYN-ACK has the server's (61)."""

    def check(records: Records) -> list[str]:
        probes = _packets(records, target).get("tcp", [])
        if not any(
            (p.get("syn_ack") or {}).get("ip_ttl") == SERVER_TTL
            and any(
                q["payload_bytes"] > 0 and q["ip_ttl"] == BORDER_FORGED_TTL for q in p["packets"]
            )
            for p in probes
        ):
            return [
                f"{target}: no TCP probe with a SYN-ACK of TTL {SERVER_TTL} and data of TTL"
                f" {BORDER_FORGED_TTL}: "
                + str(
                    [((p.get("syn_ack") or {}).get("ip_ttl"), _ttls(p["packets"])) for p in probes]
                )
            ]
        return []

    return check


def _scenarios() -> list[Scenario]:
    twitter_lie = partial(isp_lie, TWITTER_NAMES)
    forge_twitter = Censor(
        iptables=(
            "nat LAB-PRE -p tcp -d {twitter} --dport 443 -j DNAT --to-destination {interceptor}",
            "nat LAB-PRE -p tcp -d {youtube} --dport 443 -j DNAT --to-destination {interceptor}",
        ),
        state={"intercept": {"tls_forge": ["twitter"]}},
    )
    return [
        Scenario(
            "clean_network",
            "nothing; an IDN name typed in capitals is measured too, a DoT resolver beside"
            " the system one, and the throughput test (nothing may be called throttled)",
            Censor(config=DOT | THROUGHPUT),
            targets=(*TARGETS, "ИСПЫТАНИЕ.kz", "whatsapp"),
            inspect=dot_queries(None),
            methods="1",
        ),
        Scenario(
            "large_page",
            "bbc.com serves a 32 MiB page (the probe reads 8 MiB and records 512 KiB)",
            Censor(state={"sites": {"bbc": {"page_bytes": 32 << 20}}}),
            methods="1",
        ),
        Scenario(
            "dot_blocked",
            "DNS over TLS (port 853) is dropped; the system resolver still works",
            Censor(iptables=("LAB-FWD -p tcp --dport 853 -j DROP",), config=DOT),
            inspect=dot_queries("generic_timeout_error"),
            methods="27",
        ),
        Scenario(
            "whatsapp_chat_port_blocked",
            "WhatsApp's chat port 5222 is dropped; 443 still works (the app falls back)",
            Censor(iptables=("LAB-FWD -p tcp -d {whatsapp} --dport 5222 -j DROP",)),
            targets=(*TARGETS, "whatsapp"),
            methods="9",
        ),
        Scenario(
            "whatsapp_blocked",
            "every packet to WhatsApp's address is dropped (its web client and e1–e16 on 443"
            " and 5222)",
            Censor(iptables=("LAB-FWD -d {whatsapp} -j DROP",)),
            {"whatsapp": blocked("tcp_timeout")},
            targets=(*TARGETS, "whatsapp"),
            methods="9",
        ),
        Scenario(
            "redirect_then_refused",
            "http://youtube.com/ redirects to https://www.youtube.com/, and SYNs to YouTube's"
            " port 443 get a RST",
            Censor(
                iptables=(f"LAB-FWD -p tcp --syn -d {{youtube}} --dport 443 {RST}",),
                state={"redirects": {"youtube.com": "https://www.youtube.com/"}},
            ),
            {"http://youtube.com/": blocked("tcp_refused")},
            targets=("http://youtube.com/", "bbc.com"),
            methods="10",
        ),
        Scenario(
            "broken_redirect_to_probe",
            "azattyq.org answers the probe's address (only) with a 302 whose Location has an"
            " empty host",
            Censor(state={"sites": {"azattyq": {"broken_redirect_for": "{public}"}}}),
            {"http://www.azattyq.org/": blocked("http_diff")},
            methods="17",
        ),
        Scenario(
            "resolver_nxdomain",
            "the ISP resolver answers NXDOMAIN for Twitter's names",
            Censor(state=twitter_lie("nxdomain")),
            {"twitter": blocked("dns_nxdomain")},
            methods="2",
        ),
        Scenario(
            "resolver_bogon",
            f"the ISP resolver answers the bogon {BOGON_ANSWER} for Twitter's names",
            Censor(state=twitter_lie("answer", address=BOGON_ANSWER)),
            {"twitter": blocked("dns_hijack")},
            methods="3",
        ),
        Scenario(
            "resolver_blockpage_address",
            "the ISP resolver answers its block page server's address for YouTube",
            Censor(state=isp_lie(("youtube.com",), "answer", address="{blockpage}")),
            {"youtube.com": blocked("dns_hijack")},
            methods="3, 16",
        ),
        Scenario(
            "ghost_dns",
            "a dead domain (NXDOMAIN everywhere) gets the block page's address from the ISP",
            Censor(state=isp_lie(("rutracker.org",), "answer", address="{blockpage}")),
            {"rutracker.org": blocked("dns_hijack")},
            targets=(*TARGETS, "rutracker.org"),
            methods="6",
        ),
        Scenario(
            "resolver_servfail_target",
            "the ISP resolver answers SERVFAIL for Twitter's names only",
            Censor(state=twitter_lie("servfail")),
            {"twitter": blocked("dns_failure")},
            methods="8",
        ),
        Scenario(
            "resolver_answers_transparent_proxy",
            "the ISP resolver points YouTube at an on-net proxy that serves the genuine site"
            " and certificate",
            Censor(state=isp_lie(("youtube.com",), "answer", address="{interceptor}")),
            methods="4",
        ),
        Scenario(
            "resolver_answers_untrusted_host",
            "the ISP resolver points Twitter's names at a server whose certificate chains to an"
            " untrusted root (the captive portal's)",
            Censor(state=twitter_lie("answer", address="{portal}")),
            {"twitter": blocked("dns_hijack")},
            methods="5",
        ),
        Scenario(
            "spoofed_dns_and_sni_reset",
            "the ISP resolver answers Facebook's address for Twitter's names, and ClientHellos"
            " naming Twitter are reset too",
            Censor(iptables=sni(RST), state=twitter_lie("answer", address="{facebook}")),
            {"twitter": blocked("dns_hijack")},
            methods="12",
        ),
        Scenario(
            "redirect_then_nxdomain",
            "youtube.com redirects to www.youtube.com, a name the ISP resolver answers NXDOMAIN"
            " for (youtube.com itself resolves)",
            Censor(
                state={
                    "redirects": {"youtube.com": "https://www.youtube.com/"},
                    **isp_lie(("www.youtube.com",), "nxdomain"),
                }
            ),
            {"youtube.com": blocked("dns_nxdomain")},
            methods="2",
        ),
        Scenario(
            "redirect_loop_everywhere",
            "bbc.com redirects to itself forever, for everyone",
            Censor(state={"redirects": {"bbc.com": "https://bbc.com/{{next}}"}}),
            {"bbc.com": DOWN},
            methods="18",
        ),
        Scenario(
            "dns_injection",
            "an on-path injector on the border router (hop 2) forges answers to queries for"
            " Twitter's names sent to any address abroad (a public resolver, and hosts that run"
            " no DNS server); the genuine answer arrives later. Packet tests: forged replies"
            " carry the injector's TTL and IP-ID, a DNS trace meets it at hop 2",
            Censor(
                state={"dns": {"delay_s": dict.fromkeys(TWITTER_NAMES, 0.2)}},
                inject=("dns", "any", FORGED_ANSWER, *TWITTER_NAMES),
                inject_at="border",
                config={
                    "resolver": {"servers": ["udp://{public_resolver}"], "late_reply_window_s": 0.6}
                }
                | PACKETS,
            ),
            {"twitter": blocked("dns_injection")},
            mentions={"twitter": "hop 2"},
            inspect=dns_injection_evidence(),
            methods="7",
        ),
        Scenario(
            "ip_blackhole",
            "every packet to Twitter's address is dropped",
            Censor(iptables=("LAB-FWD -d {twitter} -j DROP",)),
            {"twitter": blocked("tcp_timeout")},
            methods="9",
        ),
        Scenario(
            "tcp_reset_to_syn",
            "SYNs to Twitter's address are answered with a forged RST at the ISP. Packet tests:"
            " the RST has the ISP's TTL, not the server's; a SYN trace is reset at hop 2",
            Censor(iptables=(f"LAB-FWD -p tcp --syn -d {{twitter}} {RST}",), config=PACKETS),
            {"twitter": blocked("tcp_reset")},
            inspect=isp_syn_reset_evidence(),
            methods="9",
        ),
        Scenario(
            "tls_sni_reset",
            "ClientHellos naming Twitter are answered with RST (string match on the SNI)",
            Censor(iptables=sni(RST)),
            {"twitter": blocked("tls_reset")},
            methods="11",
        ),
        Scenario(
            "tls_sni_reset_border",
            "the border router (hop 2), not the ISP, answers ClientHellos naming Twitter with RST"
            " (string match on the SNI); its resets carry its own TTL (255, a Cisco-like box)."
            " Packet tests: the RST's TTL differs from the SYN-ACK's, a ClientHello trace is"
            " reset after the border's hop, a control trace reaches the server at hop 4",
            Censor(border_iptables=sni(RST), config=PACKETS),
            {"twitter": blocked("tls_reset")},
            mentions={"twitter": "hop 2"},
            inspect=border_reset_evidence(),
            methods="11",
        ),
        Scenario(
            "tls_sni_drop",
            "ClientHellos naming Twitter are silently dropped (Kazakhstan 2023 style)",
            Censor(iptables=sni("-j DROP")),
            {"twitter": blocked("tls_timeout")},
            methods="13",
        ),
        Scenario(
            "http_host_reset",
            "HTTP requests naming azattyq.org are answered with RST (string match on the Host)",
            Censor(
                iptables=(
                    f"LAB-FWD -p tcp --dport 80 -m string --string azattyq.org --algo bm {RST}",
                )
            ),
            {"http://www.azattyq.org/": blocked("http_reset")},
            methods="14",
        ),
        Scenario(
            "http_blockpage",
            "a transparent proxy (DNAT) answers HTTP requests for azattyq.org with the block page",
            Censor(
                iptables=(DIVERT_AZATTYQ,),
                state=http_block("page"),
            ),
            {"http://www.azattyq.org/": blocked("http_blockpage")},
            methods="15",
        ),
        Scenario(
            "http_injected_blockpage",
            "an on-path injector (scapy) on the border router (hop 2) answers HTTP requests for"
            " azattyq.org with the block page, racing the genuine response, which arrives later."
            " Packet tests: the injected data carries the injector's TTL, not the server's",
            Censor(
                state={"sites": {"azattyq": {"delay_s": 1.0}}},
                inject=("http", "azattyq.org"),
                inject_at="border",
                config=PACKETS,
            ),
            {"http://www.azattyq.org/": blocked("http_blockpage")},
            inspect=injected_page_evidence(),
            methods="15",
        ),
        Scenario(
            "http_redirect_to_blockpage",
            "the transparent proxy answers azattyq.org with a 302 to the ISP's block page",
            Censor(
                iptables=(DIVERT_AZATTYQ,),
                state=http_block("redirect"),
            ),
            {"http://www.azattyq.org/": blocked("http_blockpage")},
            methods="15",
        ),
        Scenario(
            "tls_interception_untrusted",
            "HTTPS to Twitter and YouTube is diverted (DNAT) to an interception box that forges"
            " certificates for Twitter's names only (root not trusted); YouTube passes through",
            forge_twitter,
            {"twitter": blocked("tls_mitm")},
            methods="23",
        ),
        Scenario(
            "tls_interception_root_installed",
            "the same interception, with its root installed in the probe's trust store",
            Censor(
                iptables=forge_twitter.iptables,
                state=forge_twitter.state,
                config={"tls": {"ca_bundle": "{trust_mitm}"}},
            ),
            {"twitter": blocked("tls_mitm")},
            methods="23",
        ),
        Scenario(
            "throttled_platform",
            "tc (htb + u32) shapes everything from Twitter's address to 4 Mbit/s, whatever the"
            " SNI (the rest of the link is unshaped)",
            Censor(tc=shaper("4mbit", "match ip src {twitter}/32"), config=THROUGHPUT),
            {"twitter": THROTTLED},
            targets=THROTTLING_TARGETS,
            mentions={"twitter": "the platform's address"},
            methods="22",
        ),
        Scenario(
            "sni_throttled",
            "connections whose ClientHello names Twitter are marked (iptables string match +"
            " CONNMARK) and their packets to the client shaped to 4 Mbit/s (CLASSIFY into a tc"
            " htb class); another SNI to the same address runs at full speed",
            Censor(
                iptables=(
                    *MARK_TWITTER_SNI,
                    # This kernel has neither the `fw` classifier nor u32's `match mark` (tc
                    # accepts it and matches everything): iptables picks the htb class itself.
                    f"mangle LAB-MARK -o {{client_link}} -m connmark --mark {SNI_MARK}"
                    " -j CLASSIFY --set-class 1:1",
                ),
                tc=shaper("4mbit", "classify"),
                config=THROUGHPUT,
            ),
            {"twitter": THROTTLED},
            targets=THROTTLING_TARGETS,
            mentions={"twitter": "keyed on the server name (SNI)"},
            methods="22",
        ),
        Scenario(
            "sni_policed",
            "a policer as Russia's on Twitter in 2021: connections whose ClientHello names"
            " Twitter are marked (string match + CONNMARK), and each one's packets to the client"
            " above 20 kB/s (160 kbit/s) are dropped (iptables hashlimit per connection), not"
            " queued. Twitter's pages crawl and are cut by the timeout while arriving; another"
            " SNI to the same address is fast",
            Censor(
                iptables=(
                    *MARK_TWITTER_SNI,
                    f"LAB-FWD -o {{client_link}} -m connmark --mark {SNI_MARK} -m hashlimit"
                    " --hashlimit-name sni_policer --hashlimit-mode dstip,dstport"
                    " --hashlimit-above 20kb/s --hashlimit-burst 20kb -j DROP",
                ),
                # 5 s downloads (the default): at 160 kbit/s a plateau bin of 8 packets lasts
                # 0.6 s, and the plateau needs 4 of them after the burst.
                config={"throughput": {"enabled": True, "duration_s": 5.0}},
            ),
            {"twitter": THROTTLED},
            targets=THROTTLING_TARGETS,
            mentions={"twitter": "keyed on the server name (SNI)"},
            inspect=pages_cut("twitter"),
            methods="22",
        ),
        Scenario(
            "congested_link",
            "everything to the client is shaped to 2 Mbit/s (tc htb): every site is slow alike,"
            " targets and controls (longer timeouts, and retries only after 8 s, so that the"
            " pages still load)",
            Censor(
                tc=shaper("2mbit", "all", queue_bytes=64 << 10),  # 0.25 s of queue
                config={
                    # 1 s downloads (not the lab's 1.5 s): no plateau to judge when all is slow.
                    "throughput": {"enabled": True, "duration_s": 1.0},
                    "timeouts": {"dns": 3, "connect": 3, "tls": 3, "http": 10},
                    "control": {"helper_timeout_s": 8},
                    # Attempts overlap: a retry while the first attempt still loads would
                    # double what the slow link carries.
                    "measure": {"retry_backoff_s": 8},
                },
            ),
            targets=THROTTLING_TARGETS,
            mentions={"twitter": "the network is slow"},
            methods="22",
        ),
        Scenario(
            "full_outage",
            "everything is dropped at the ISP, its resolver included (a shutdown)",
            Censor(iptables=("LAB-FWD -j DROP", "LAB-IN -i {client_link} -j DROP")),
            EVERYTHING,
            methods="30",
        ),
        Scenario(
            "isp_resolver_failing",
            "the ISP resolver answers SERVFAIL for every name",
            Censor(state={"isp_dns": {"mode": "servfail"}}),
            EVERYTHING,
        ),
        Scenario(
            "platform_down",
            "Twitter's servers are down for everyone: connections to its address fail from the"
            " client (RST) and from the helper (timeout)",
            Censor(internet_iptables=(f"LAB-IN -p tcp -d {{twitter}} {RST}",)),
            {"twitter": DOWN},
            methods="31",
        ),
        Scenario(
            "platform_server_error",
            "Twitter answers 503 to everyone",
            Censor(state={"sites": {"twitter": {"status": 503}}}),
            {"twitter": DOWN},
            methods="31",
        ),
        Scenario(
            "server_refuses_probe",
            "Twitter itself answers 403 to the probe's address only, over its genuine certificate",
            Censor(state={"sites": {"twitter": {"refuse_from": "{public}"}}}),
            {"twitter": UNSURE},
            methods="20",
        ),
        Scenario(
            "lossy_link",
            "5% of packets in each direction are dropped at random at the ISP",
            Censor(iptables=("LAB-FWD -m statistic --mode random --probability 0.05 -j DROP",)),
            methods="26",
        ),
        Scenario(
            "controls_unreachable_bogon",
            "the helper and DoH are unreachable while the resolver answers a bogon for Twitter",
            Censor(
                iptables=("LAB-FWD -d {helper} -j DROP", "LAB-FWD -d {doh} -j DROP"),
                state=twitter_lie("answer", address=BOGON_ANSWER),
            ),
            # Domain targets stay accessible over verified HTTPS; their http:// twins and the
            # cleartext-only azattyq.org cannot be compared (inconclusive, §11 #21).
            {"twitter": blocked("dns_hijack"), "http://www.azattyq.org/": UNSURE},
            methods="21, 27",
        ),
        Scenario(
            "doh_blocked",
            "the DoH control resolver is unreachable; nothing else is touched",
            Censor(iptables=("LAB-FWD -d {doh} -j DROP",)),
            methods="27",
        ),
        Scenario(
            "captive_portal",
            "every HTTP request is redirected to a login page and HTTPS gets the portal's"
            " untrusted certificate",
            Censor(
                iptables=(
                    "nat LAB-PRE -i {client_link} -p tcp --dport 80 -j DNAT --to-destination"
                    " {portal}",
                    "nat LAB-PRE -i {client_link} -p tcp --dport 443 -j DNAT --to-destination"
                    " {portal}",
                )
            ),
            dict.fromkeys(TARGETS, UNSURE),
            methods="24",
        ),
        Scenario(
            "broken_ipv6",
            "every name has an AAAA record, and the client has no IPv6 route",
            Censor(state={"dns": {"ipv6": True}}),
            methods="25",
        ),
        Scenario(
            "blocking_after_first_request",
            "the first ClientHello naming twitter.com passes; every later one within a minute is"
            " reset (iptables `recent`)",
            Censor(
                iptables=(
                    *sni(
                        RST,
                        ("twitter.com",),
                        "-m recent --name after_n --rcheck --seconds 60 --hitcount 1",
                    ),
                    *sni("-m recent --name after_n --set", ("twitter.com",)),
                ),
                # No late-reply window: the first attempt is over before a second one starts,
                # so a check sends exactly one ClientHello (one connection per attempt).
                config={"resolver": {"late_reply_window_s": 0}},
            ),
            {"https://twitter.com/": ACCESSIBLE},
            targets=("https://twitter.com/", "https://bbc.com/"),
            then=(
                Step(
                    {"https://twitter.com/": blocked("tls_reset")},
                    ("https://twitter.com/", "https://bbc.com/"),
                    does="a second check within the minute",
                ),
            ),
        ),
        Scenario(
            "time_window_blocking",
            "ClientHellos naming Twitter are reset only inside a daily time window"
            " (iptables `time`): first inside the window, then with the window moved away",
            Censor(iptables=sni(RST, extra="-m time --utc {window_now}")),
            {"twitter": blocked("tls_reset")},
            then=(
                Step(
                    {},
                    TARGETS,
                    Censor(iptables=sni(RST, extra="-m time --utc {window_later}")),
                    does="the same rule, its window later in the day",
                ),
            ),
            methods="28",
        ),
        Scenario(
            "residual_blocking",
            "a ClientHello naming twitter.com gets a RST, and then every connection to that"
            " address is reset for a minute (GFW-style residual blocking)",
            Censor(
                iptables=(
                    f"LAB-FWD -p tcp -d {{twitter}} -m recent --name residual --rdest --rcheck"
                    f" --seconds 60 {RST}",
                    *sni(f"-m recent --name residual --rdest --set {RST}", ("twitter.com",)),
                )
            ),
            {"https://twitter.com/": blocked("tls_reset")},
            targets=("https://twitter.com/", "https://bbc.com/"),
            mentions={"https://twitter.com/": "residual blocking"},
            then=(
                Step(
                    {"https://x.com/": blocked("tcp_refused")},
                    ("https://x.com/", "https://bbc.com/"),
                    does="then x.com, on the same address with an SNI the censor does not match",
                ),
            ),
            methods="32",
        ),
        Scenario(
            "whitelist_domestic_only",
            "only domestic destinations are reachable: everything abroad is dropped, the"
            " helper and the DoH resolver included (Kazakhstan, January 2022)",
            Censor(iptables=("LAB-FWD -i {client_link} -j DROP",)),
            {t: WHITELISTED for t in TARGETS if t != "kaspi.kz"},
            mentions={"twitter": "domestic sites loaded"},
            inspect=network_state("whitelisted"),
            methods="29",
        ),
        Scenario(
            "whitelist_allow_list",
            "only domestic sites, Wikipedia and the control infrastructure are reachable",
            Censor(
                iptables=(
                    "LAB-FWD -i {client_link} -d {wikipedia} -j ACCEPT",
                    "LAB-FWD -i {client_link} -d {helper} -j ACCEPT",
                    "LAB-FWD -i {client_link} -d {doh} -j ACCEPT",
                    "LAB-FWD -i {client_link} -j DROP",
                )
            ),
            {
                "twitter": blocked("tcp_timeout"),
                "youtube.com": blocked("tcp_timeout"),
                "http://www.azattyq.org/": blocked("tcp_timeout"),
                "bbc.com": blocked("tcp_timeout"),
            },
            mentions={"twitter": "whitelisting"},
            methods="29",
        ),
        # Issue 17: cases nobody tuned for. Written before the fix; each has neighbours above
        # that must not change (full_outage, isp_resolver_failing, captive_portal, doh_blocked,
        # resolver_nxdomain, whitelist_allow_list).
        Scenario(
            "whitelist_no_domestic_controls",
            "everything abroad is dropped and no domestic control site is configured: only a"
            " domestic target of the same run (kaspi.kz) shows that the network still works",
            Censor(
                iptables=("LAB-FWD -i {client_link} -j DROP",),
                config={"control": {"domestic_sites": []}},
            ),
            {"twitter.com": WHITELISTED},
            targets=("twitter.com", "https://kaspi.kz/"),
            mentions={"twitter.com": "loaded in the same run"},
            methods="29",
        ),
        Scenario(
            "shutdown_domestic_too",
            "everything is dropped at the ISP except its resolver: domestic sites fail too (a"
            " shutdown, not a whitelist)",
            Censor(
                iptables=(
                    "LAB-FWD -i {client_link} -j DROP",
                    "LAB-IN -i {client_link} -p tcp -j DROP",
                )
            ),
            EVERYTHING,
            inspect=network_state("outage"),
            methods="30",
        ),
        Scenario(
            "captive_portal_valid_certificate",
            "a captive portal behind a certificate the probe trusts, for the portal's own name:"
            " every HTTP request gets its login form and every HTTPS connection its certificate"
            " (ssl_invalid_hostname); the helper is let through (a walled garden), so cleartext"
            " pages can be compared with the control's",
            Censor(
                iptables=(
                    "nat LAB-PRE -i {client_link} -p tcp -d {helper} -j RETURN",
                    "nat LAB-PRE -i {client_link} -p tcp --dport 80 -j DNAT --to-destination"
                    " {portal_valid}",
                    "nat LAB-PRE -i {client_link} -p tcp --dport 443 -j DNAT --to-destination"
                    " {portal_valid}",
                )
            ),
            dict.fromkeys((*TARGETS, "http://kaspi.kz/"), UNSURE),
            targets=(*TARGETS, "http://kaspi.kz/"),
            mentions={"http://kaspi.kz/": "captive portal"},
            inspect=network_state("intercepted"),
            methods="24",
        ),
        Scenario(
            "doh_names_nxdomain_helper_unreachable",
            "the ISP resolver answers NXDOMAIN for Twitter's names and for the DoH resolver's own"
            " name (blocking DoH providers by name), and the helper is unreachable: the failed"
            " DoH lookup is no control's NXDOMAIN",
            Censor(
                iptables=("LAB-FWD -d {helper} -j DROP",),
                state=isp_lie((*TWITTER_NAMES, world.DOH_NAME), "nxdomain"),
                config={"control": {"doh": [f"https://{world.DOH_NAME}/dns-query"]}},
            ),
            {"twitter": UNSURE, "http://www.azattyq.org/": UNSURE},
            methods="2, 21, 27",
        ),
        Scenario(
            "doh_by_name_reachable",
            "neighbour: the DoH resolver is reached by name and the ISP resolver answers NXDOMAIN"
            " for Twitter's names only; the helper is unreachable, the DoH control answers",
            Censor(
                iptables=("LAB-FWD -d {helper} -j DROP",),
                state=twitter_lie("nxdomain"),
                config={"control": {"doh": [f"https://{world.DOH_NAME}/dns-query"]}},
            ),
            {"twitter": blocked("dns_nxdomain"), "http://www.azattyq.org/": UNSURE},
            methods="2, 21",
        ),
        # Issue 17: page identity, not page likeness (cleartext pages that are not the target's).
        Scenario(
            "http_injected_redirect_to_ip",
            "an on-path injector on the border router (hop 2) answers GET http://www.facebook.com/"
            " with a 302 to a bare IP (http://<block page address>/blocked, a notice that names"
            " nothing a fingerprint or a phrase knows); the genuine response is dropped on the"
            " border",
            Censor(
                border_iptables=(PAGE_DATA_FROM_FACEBOOK,),
                inject=("http_redirect", "http://{blockpage}/blocked", "www.facebook.com"),
                inject_at="border",
            ),
            {FACEBOOK_HTTP: blocked("http_diff")},
            targets=PAGE_TARGETS,
            mentions={FACEBOOK_HTTP: "198.51.100.80 (an IP literal), where the control's fetch"},
            methods="15",
        ),
        Scenario(
            "http_transparent_proxy_ru_page",
            "port 80 of Facebook's address is diverted (DNAT) to a box serving a short Russian"
            " block page with 200 and only common headers (other wording than the ISP's page, no"
            " marker: no fingerprint matches)",
            Censor(
                iptables=(DIVERT_FACEBOOK,),
                state={
                    "intercept": {"http_block": {"hosts": ["facebook.com"], "mode": "short_ru"}}
                },
            ),
            {FACEBOOK_HTTP: blocked("http_blockpage")},
            targets=PAGE_TARGETS,
            mentions={FACEBOOK_HTTP: "carries block-page phrases"},
            methods="15",
        ),
        Scenario(
            "site_error_page_to_probe",
            "Facebook's own server answers the probe's address (only) with its error page (403,"
            " the same address and Server header as for the control, the site's own script)",
            Censor(state={"sites": {"facebook": {"error_page_for": "{public}"}}}),
            {FACEBOOK_HTTP: UNSURE},
            targets=PAGE_TARGETS,
            mentions={FACEBOOK_HTTP: "came from the site's own server"},
            methods="20",
        ),
        Scenario(
            "http_redirects_to_https",
            "http://www.facebook.com/ redirects to https://www.facebook.com/ for everyone",
            Censor(state={"redirects": {"http://www.facebook.com": "https://www.facebook.com/"}}),
            targets=PAGE_TARGETS,
            methods="1",
        ),
    ]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in _scenarios()}
