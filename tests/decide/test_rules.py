"""One hand-made measurement per rule id: the rule fires, and the endpoint verdict follows.

Cases are keyed by rule id and list only what distinguishes them; the builders fill in a working
https://example.com/ (METHODS.md §11 numbers the scenario where there is one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from probe.decide.evidence import NetworkEvidence
from probe.decide.rules import ALL_RULES, NETWORK_RULES, first_match
from probe.decide.tls import tls_finding
from probe.decide.verdict import DecisionContext
from probe.models.control import ControlTcpConnect, ControlTlsHandshake
from probe.models.results import Blocking, TestKeys, Verdict
from probe.models.targets import Endpoint

from .builders import (
    HOST,
    IP,
    OTHER_IP,
    PAGE,
    certificate,
    connect,
    context,
    control,
    fetch,
    fingerprint_csv,
    handshake,
    http,
    http_chain,
    https,
    https_chain,
    judge,
    keys,
    query,
    redirect,
    site,
    tcp,
    tls_step,
)
from .test_page_rules import PAGE_CASES

V6 = "2606:2800:220:1:248:1893:25c8:1946"
BITLY = "67.199.248.11"
TIMEOUT = "generic_timeout_error"
NX = "dns_nxdomain_error"
BLOCKPAGE_CSV = fingerprint_csv(
    "test.nat_body,nat,,body,contains,This site is blocked by order,8,KZ,test,,",
    "test.vague,vbw,,body,contains,Доступ ограничен,2,KZ,test,,",
    "test.dns_ip,isp,,dns,full,134.17.0.7,5,BY,test,,",
    "test.fp_challenge,fp,,body,contains,<title>Just a moment...</title>,10,,test,,",
)
CHALLENGE = "<html><head><title>Just a moment...</title></head><body>captcha</body></html>"
BLOCK_PAGE = "<html><head><title>Blocked</title></head><body>Доступ ограничен</body></html>"
OTHER_HEADERS = (("Content-Type", "text/html"), ("X-Censor", "1"))


def control_refusing(ip: str, failure: str = "connection_reset", *, connects: bool = True) -> Any:
    """Return the helper's answer, its handshake on `ip`:443 (a probe-only answer) failing."""
    base = control()
    return base.model_copy(
        update={
            "tcp_connect": {
                **base.tcp_connect,
                f"{ip}:443": ControlTcpConnect(
                    status=connects, failure=None if connects else "generic_timeout_error"
                ),
            },
            "tls_handshake": {
                **base.tls_handshake,
                f"{ip}:443": ControlTlsHandshake(server_name=HOST, status=False, failure=failure),
            },
        }
    )


def old_helper(http_failure: str | None = None, *, connects: bool = True) -> Any:
    """Return an OONI helper's answer of before 0.4.2: connects, no TLS handshakes."""
    base = control(http_failure=http_failure)
    tcp = {k: ControlTcpConnect(status=connects) for k in base.tcp_connect}
    return base.model_copy(update={"tls_handshake": {}, "tcp_connect": tcp})


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    keys: TestKeys
    verdict: Verdict
    blocking: Blocking | None = None
    reason: str = ""
    ctx: DecisionContext | None = None


def attempts(n: int, *build: object) -> list[object]:
    """Return the observations of `n` identical attempts; builders take `attempt=`."""
    return [[b(a) for b in build] for a in range(1, n + 1)]  # type: ignore[operator]


def nx_lookup(a: int = 1, *, failure: str = NX, host: str = HOST, depth: int = 0) -> list[object]:
    rcode = "NXDOMAIN" if failure == NX else None
    return [
        query([], qtype=qt, failure=failure, rcode=rcode, attempt=a, host=host, depth=depth)
        for qt in ("A", "AAAA")
    ]


def redirect_then(
    failure: str, *, dns: bool = False, scheme: str = "https", operation: str | None = None
) -> TestKeys:
    """bit.ly redirects to www.example.com, where the probe fails (METHODS.md §11 #2, #10, #11)."""
    target = f"{scheme}://www.example.com/"
    chain: list[object] = [
        query([BITLY], host="bit.ly"),
        tls_step(BITLY),
        redirect("https://bit.ly/x", target),
    ]
    if dns:
        chain.append(nx_lookup(failure=failure, host="www.example.com", depth=1))
    else:
        chain += [
            query([IP], host="www.example.com", depth=1),
            fetch(target, failure=failure, depth=1, operation=operation),
        ]
    return keys(chain, control=control([BITLY]))


def mitm_chain(issuer: str) -> list[object]:
    forged = certificate(issuer=issuer, spki="bb" * 32)  # a MITM box has its own key
    return [query([IP]), tls_step(IP, chain=[forged]), fetch()]


CASES: dict[str, Case] = {
    # DNS
    "dns.no_lookups": Case(https(), keys(connect()), Verdict.INCONCLUSIVE, None, "no DNS lookup"),
    "dns.late_reply_inconsistent": Case(
        https(),
        keys(query([IP], late=[["5.6.7.8"]]), tls_step(), fetch(), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_INJECTION,
        "one reply agrees with the control",
    ),
    "dns.late_reply_differs": Case(
        https(),
        keys(
            query([OTHER_IP], late=[[IP]]),
            tls_step(OTHER_IP, TIMEOUT),
            control_failure="connection_reset",
        ),
        Verdict.BLOCKED,
        Blocking.DNS_INJECTION,
        "two different replies to one query",
    ),
    "dns.blockpage_ip": Case(
        https(),
        keys(query(["134.17.0.7"]), tls_step("134.17.0.7", tcp_failure=TIMEOUT), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_HIJACK,
        "134.17.0.7 (test.dns_ip), a known block-page",
        context(fingerprints=BLOCKPAGE_CSV),
    ),
    "dns.bogon_in_control_too": Case(  # §11 #18 localhostWithHTTPS
        https(),
        keys(
            query(["127.0.0.1"]),
            tls_step("127.0.0.1", tcp_failure="connection_refused"),
            control=control(["127.0.0.1"], ports=(), http_failure="unknown_error"),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "and so did the control",
    ),
    "dns.bogon_not_in_control": Case(  # §11 #3 dnsBlockingBOGON
        https(),
        keys(
            query(["10.10.34.35"]), tls_step("10.10.34.35", tcp_failure=TIMEOUT), control=control()
        ),
        Verdict.BLOCKED,
        Blocking.DNS_HIJACK,
        "answered 10.10.34.35, a bogon; the control resolved",
    ),
    "dns.nxdomain_everywhere": Case(  # §11 #18 websiteDownNXDOMAIN
        https(),
        keys(
            nx_lookup(),
            control=control(dns_failure="dns_name_error", http_failure="dns_lookup_error"),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "does not exist: NXDOMAIN",
    ),
    "dns.no_answer_everywhere": Case(  # §11 #18 websiteDownNoAddrs
        https(),
        keys(
            nx_lookup(failure="dns_no_answer"),
            control=control([], ports=(), http_failure="dns_lookup_error"),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "has no address for anyone",
    ),
    "dns.ghost_answer": Case(  # §11 #6 ghostDNSBlockingWithHTTPS
        https(),
        keys(
            query(["83.224.65.41"]),
            tls_step("83.224.65.41", tcp_failure="connection_refused"),
            control=control(
                [],
                extra_ips=["83.224.65.41"],
                dns_failure="dns_name_error",
                tcp_failure="connection_refused_error",
                http_failure="dns_lookup_error",
            ),
        ),
        Verdict.BLOCKED,
        Blocking.DNS_HIJACK,
        "ghost DNS",
    ),
    "dns.nxdomain_control_resolved": Case(  # §11 #2 dnsBlockingNXDOMAIN
        https(),
        keys(attempts(3, nx_lookup), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_NXDOMAIN,
        "answered NXDOMAIN for example.com in every attempt",
    ),
    "dns.empty_answer_control_resolved": Case(
        https(),
        keys(attempts(2, lambda a: nx_lookup(a, failure="dns_no_answer")), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_NXDOMAIN,
        "returned no address",
    ),
    "dns.nxdomain_no_control": Case(
        https(),
        keys(nx_lookup(), control_failure=TIMEOUT),
        Verdict.INCONCLUSIVE,
        None,
        "no control resolver answered to compare",
    ),
    "dns.failure_everywhere": Case(
        https(),
        keys(
            nx_lookup(failure="dns_servfail_error"),
            control=control(dns_failure="dns_server_failure", http_failure="dns_lookup_error"),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "the control failed too (dns_server_failure)",
    ),
    "dns.failure_other_names_resolve": Case(  # §11 #8
        https(),
        keys(attempts(3, lambda a: nx_lookup(a, failure=TIMEOUT)), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_FAILURE,
        "while the control sites resolved",
    ),
    "dns.failure_unverified": Case(
        https(),
        keys(nx_lookup(failure=TIMEOUT), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "no control site shows",
        context(sites=False),
    ),
    "dns.mismatch_service_answered": Case(
        tcp(),
        keys(
            query(["5.6.7.8"], host="e1.whatsapp.net"),
            connect("5.6.7.8", 5222),
            control=control(["157.240.1.1"], ports=(5222,)),
        ),
        Verdict.ACCESSIBLE,
        None,
        "the service accepted the connection",
    ),
    "dns.inconsistent_answer": Case(  # §11 #5 badSSLWithUnknownAuthorityWithInconsistentDNS
        https(),
        keys(query(["5.6.7.8"]), tls_step("5.6.7.8", "ssl_unknown_authority"), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_HIJACK,
        "answered 5.6.7.8: not among the control's answers",
    ),
    # Issue 17: an anycast relay or a CDN refusing unknown clients — the answer's handshake
    # fails from the control too, which proves nothing about the answer.
    "dns.answer_unverifiable": Case(
        https(),
        keys(
            query(["5.6.7.8"]),
            tls_step("5.6.7.8", "connection_reset"),
            control=control_refusing("5.6.7.8"),
        ),
        Verdict.INCONCLUSIVE,
        None,
        "failed the same way from the control",
    ),
    "dns.validated_by_certificate": Case(  # §11 #4 dnsHijackingToProxyWithHTTPSURL
        https(),
        keys(https_chain("5.6.7.8"), control=control()),
        Verdict.ACCESSIBLE,
        None,
        "a verified TLS handshake for example.com succeeded there",
    ),
    "dns.consistent": Case(
        https(),
        keys(https_chain(), control=control()),
        Verdict.ACCESSIBLE,
        None,
        "agree with the control",
    ),
    "dns.no_control": Case(  # §11 #21 controlFailureWithSuccessfulHTTPSWebsite
        https(),
        keys(https_chain(), control_failure="connection_reset"),
        Verdict.ACCESSIBLE,
        None,
        "no control resolver answered",
    ),
    # TCP
    "tcp.connected": Case(
        tcp(),
        keys(query(["157.240.1.1"], host="e1.whatsapp.net"), connect("157.240.1.1", 5222)),
        Verdict.ACCESSIBLE,
        None,
        "connected to 157.240.1.1:5222",
    ),
    "tcp.only_ipv6_unreachable": Case(  # §11 #25 with no IPv4 at all
        https(),
        keys(
            query([V6], qtype="AAAA"),
            tls_step(V6, tcp_failure="network_unreachable"),
            control=control([V6]),
        ),
        Verdict.INCONCLUSIVE,
        None,
        "the probe has no IPv6",
    ),
    "tcp.control_failed_too": Case(  # §11 #31 / websiteDownTCPConnect
        https(),
        keys(
            query([IP]),
            tls_step(tcp_failure=TIMEOUT),
            control=control(tcp_failure=TIMEOUT, http_failure=TIMEOUT),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "the control could not connect either",
    ),
    "tcp.no_control": Case(
        https(),
        keys(query([IP]), tls_step(tcp_failure=TIMEOUT), control_failure=TIMEOUT),
        Verdict.INCONCLUSIVE,
        None,
        "no control shows whether",
    ),
    "tcp.connect_timeout": Case(  # §11 #9 tcpBlockingConnectTimeout
        https(),
        keys(
            attempts(
                3,
                lambda a: query([IP], attempt=a),
                lambda a: tls_step(tcp_failure=TIMEOUT, attempt=a),
            ),
            control=control(),
        ),
        Verdict.BLOCKED,
        Blocking.TCP_TIMEOUT,
        "connects timed out",
    ),
    "tcp.connect_refused": Case(
        http(),
        keys(query([IP]), connect(IP, 80, "connection_refused"), control=control(ports=(80, 443))),
        Verdict.BLOCKED,
        Blocking.TCP_REFUSED,
        "connects were refused",
    ),
    "tcp.connect_reset": Case(
        tcp(),
        keys(
            query(["157.240.1.1"], host="e1.whatsapp.net"),
            connect("157.240.1.1", 5222, "connection_reset"),
            control=control(["157.240.1.1"], ports=(5222,)),
        ),
        Verdict.BLOCKED,
        Blocking.TCP_RESET,
        "connects were reset",
    ),
    "tcp.host_unreachable": Case(
        tcp(),
        keys(
            query(["157.240.1.1"], host="e1.whatsapp.net"),
            connect("157.240.1.1", 5222, "host_unreachable"),
            control=control(["157.240.1.1"], ports=(5222,)),
        ),
        Verdict.BLOCKED,
        Blocking.TCP_REFUSED,
        "ICMP unreachable",
    ),
    "tcp.other_failure": Case(
        https(),
        keys(query([IP]), tls_step(tcp_failure="permission_denied"), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "names no blocking method",
    ),
    # TLS
    "tls.known_interception_issuer": Case(  # §8 KZ 2019, root installed
        https(),
        keys(mitm_chain("CN=Security Certificate,C=KZ"), control_failure=TIMEOUT),
        Verdict.BLOCKED,
        Blocking.TLS_MITM,
        "known interception authority",
    ),
    "tls.control_failed_too": Case(  # §11 #19 badSSLWithExpiredCertificate
        https(),
        keys(
            query([IP]),
            tls_step(IP, "ssl_invalid_certificate"),
            control=control(tls_failure="ssl_invalid_certificate", http_failure="unknown_error"),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "the site's own TLS is broken",
    ),
    # Corpus: web_connectivity_null2 (IR, 0.4.1): an old helper keeps no handshake; it
    # connected to the same address and its fetch failed.
    "tls.certificate_fails_control_fetch_failed": Case(
        https(),
        keys(
            query([IP]),
            tls_step(IP, "ssl_invalid_certificate"),
            control=old_helper(http_failure="unknown_error"),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "the site's own certificate is broken",
    ),
    "tls.no_control": Case(
        https(),
        keys(query([IP]), tls_step(IP, "connection_reset"), control_failure=TIMEOUT),
        Verdict.INCONCLUSIVE,
        None,
        "no control shows whether example.com serves TLS",
    ),
    "tls.untrusted_chain_control_ok": Case(  # §11 #23 without the root installed
        https(),
        keys(query([IP]), tls_step(IP, "ssl_unknown_authority"), control=control()),
        Verdict.BLOCKED,
        Blocking.TLS_MITM,
        "did not verify (93.184.216.34:443 ssl_unknown_authority)",
    ),
    "tls.handshake_reset": Case(  # §11 #11
        https(),
        keys(
            attempts(
                2,
                lambda a: query([IP], attempt=a),
                lambda a: tls_step(IP, "connection_reset", attempt=a),
            ),
            control=control(),
        ),
        Verdict.BLOCKED,
        Blocking.TLS_RESET,
        "were cut",
    ),
    "tls.reset_then_address_refused": Case(  # §11 #32, seen in the lab (residual_blocking)
        https(),
        keys(
            query([IP]),
            tls_step(IP, "connection_reset"),
            query([IP], attempt=2),
            tls_step(tcp_failure="connection_refused", attempt=2),
            query([IP], attempt=3),
            tls_step(tcp_failure="connection_refused", attempt=3),
            control=control(),
        ),
        Verdict.BLOCKED,
        Blocking.TLS_RESET,
        "residual blocking",
    ),
    "tls.handshake_timeout": Case(  # §11 #13 (KZ 2023 style)
        https(),
        keys(query([IP]), tls_step(IP, TIMEOUT), control=control()),
        Verdict.BLOCKED,
        Blocking.TLS_TIMEOUT,
        "timed out after connecting",
    ),
    "tls.other_failure": Case(
        https(),
        keys(query([IP]), tls_step(IP, "ssl_failed_handshake"), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "names no blocking method",
    ),
    "tls.certificate_differs_from_control": Case(  # §11 #23 root installed, unknown issuer
        https(),
        keys(
            mitm_chain("CN=Corporate Inspection CA,O=Some Proxy"),
            control=control(certificate_seen=certificate()),
        ),
        Verdict.BLOCKED,
        Blocking.TLS_MITM,
        "issued by 'CN=Corporate Inspection CA,O=Some Proxy' here",
    ),
    "tls.verified": Case(
        https(),
        keys(https_chain(), control=control()),
        Verdict.ACCESSIBLE,
        None,
        "verified (93.184.216.34:443)",
    ),
    # the fetch chain
    "http.control_failed_too": Case(
        https(),
        keys(
            query([IP]), tls_step(), fetch(failure=TIMEOUT), control=control(http_failure=TIMEOUT)
        ),
        Verdict.SERVICE_DOWN,
        None,
        "the control could not fetch the page either",
    ),
    "http.no_control": Case(
        https(),
        keys(query([IP]), tls_step(), fetch(failure="connection_reset"), control_failure=TIMEOUT),
        Verdict.INCONCLUSIVE,
        None,
        "no control fetched the page",
    ),
    "dns.redirect_nxdomain": Case(  # §11 #2 redirectWithConsistentDNSAndThenNXDOMAIN
        https("bit.ly"),
        redirect_then(NX, dns=True),
        Verdict.BLOCKED,
        Blocking.DNS_NXDOMAIN,
        "the redirect target of https://bit.ly/x got NXDOMAIN",
    ),
    "dns.redirect_failure": Case(
        https("bit.ly"),
        redirect_then(TIMEOUT, dns=True),
        Verdict.BLOCKED,
        Blocking.DNS_FAILURE,
        "the lookup of the redirect target",
    ),
    "http.connect_refused": Case(  # §11 #10
        https("bit.ly"),
        redirect_then("connection_refused"),
        Verdict.BLOCKED,
        Blocking.TCP_REFUSED,
        "was refused",
    ),
    "http.hop_certificate_untrusted": Case(
        https("bit.ly"),
        redirect_then("ssl_unknown_authority"),
        Verdict.BLOCKED,
        Blocking.TLS_MITM,
        "did not verify (ssl_unknown_authority)",
    ),
    "http.hop_tls_reset": Case(  # §11 #11 …ThenConnectionResetForHTTPS
        https("bit.ly"),
        redirect_then("eof_error"),
        Verdict.BLOCKED,
        Blocking.TLS_RESET,
        "the TLS connection for https://www.example.com/",
    ),
    "http.hop_connect_timeout": Case(  # §11 #9 after a redirect: the SYN is dropped
        https("bit.ly"),
        redirect_then(TIMEOUT, operation="connect"),
        Verdict.BLOCKED,
        Blocking.TCP_TIMEOUT,
        "timed out while connecting",
    ),
    "http.hop_connect_reset": Case(  # a RST answers the SYN after a redirect
        https("bit.ly"),
        redirect_then("connection_reset", operation="connect"),
        Verdict.BLOCKED,
        Blocking.TCP_RESET,
        "was reset while connecting",
    ),
    "http.hop_tls_timeout": Case(  # §11 #13 …ThenTimeoutForHTTPS
        https("bit.ly"),
        redirect_then(TIMEOUT),
        Verdict.BLOCKED,
        Blocking.TLS_TIMEOUT,
        "timed out while the control fetched the page",
    ),
    "http.connection_reset": Case(  # §11 #14 httpBlockingConnectionReset
        http(),
        keys(
            query([IP]),
            connect(IP, 80),
            fetch(f"http://{HOST}/", failure="connection_reset"),
            control=control(ports=(80, 443)),
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_RESET,
        "was cut after it was sent",
    ),
    "http.response_timeout": Case(  # §11 #14 …ThenTimeoutForHTTP
        https("bit.ly"),
        redirect_then(TIMEOUT, scheme="http"),
        Verdict.BLOCKED,
        Blocking.HTTP_TIMEOUT,
        "no response for http://www.example.com/ (redirect 1)",
    ),
    "http.body_timeout": Case(  # §11 #22 throttlingWithHTTPS: the body crawled past the timeout
        https(),
        keys(
            query([IP]),
            tls_step(),
            fetch().model_copy(update={"failure": TIMEOUT, "x_failed_operation": "read"}),
            control=control(),
        ),
        Verdict.INCONCLUSIVE,
        None,
        "began (HTTP 200) but its body was still arriving",
    ),
    "http.other_failure": Case(
        https(),
        keys(query([IP]), tls_step(), fetch(failure="http_request_failed"), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "names no blocking method",
    ),
    # the final page
    "http.blockpage_fingerprint": Case(  # §11 #15 with a fingerprint
        http(),
        keys(
            http_chain(body="<h1>This site is blocked by order</h1>"),
            control=control(ports=(80, 443)),
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_BLOCKPAGE,
        "test.nat_body (body of http://example.com/)",
        context(fingerprints=BLOCKPAGE_CSV),
    ),
    "http.https_blockpage_server_side": Case(  # a site's own geo-block page over verified TLS
        https(),
        keys(
            https_chain(status=451, body="<h1>This site is blocked by order</h1>"),
            control=control(),
        ),
        Verdict.INCONCLUSIVE,
        None,
        "only the server or its CDN can have sent it",
        context(fingerprints=BLOCKPAGE_CSV),
    ),
    "http.both_server_error": Case(
        https(),
        keys(https_chain(status=503), control=control(status=502)),
        Verdict.SERVICE_DOWN,
        None,
        "the server answered 503 here and 502 to the control",
    ),
    "http.redirects_everywhere": Case(  # §11 #18 redirectWithMoreThanTenRedirectsAndHTTPS
        https(),
        keys(
            query([IP]),
            tls_step(),
            [
                redirect(f"https://{HOST}/{d}", f"https://{HOST}/{d + 1}", depth=d)
                for d in range(11)
            ],
            control=control(http_failure="unknown_failure: stopped after 10 redirects"),
        ),
        Verdict.SERVICE_DOWN,
        None,
        "never reached a page",
    ),
    "http.weak_blockpage_and_diff": Case(
        http(),
        keys(
            http_chain(body=BLOCK_PAGE), control=control(ports=(80, 443), headers={"X-Site": "1"})
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_BLOCKPAGE,
        "vague block-page fingerprint test.vague",
        context(fingerprints=BLOCKPAGE_CSV),
    ),
    "http.https_server_refusal": Case(  # §11 #20 cloudflareCAPTCHAWithHTTPS
        https(),
        keys(https_chain(status=503, body=CHALLENGE), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "a server-side refusal",
        context(fingerprints=BLOCKPAGE_CSV),
    ),
    "http.https_accepted": Case(
        https(),
        keys(https_chain(), control=control()),
        Verdict.ACCESSIBLE,
        None,
        "over a verified TLS connection",
    ),
    "http.no_control_cleartext": Case(  # §11 #21 controlFailureWithSuccessfulHTTPWebsite
        http(),
        keys(http_chain(), control_failure="connection_reset"),
        Verdict.INCONCLUSIVE,
        None,
        "no control fetched the page to compare",
    ),
    "http.server_refusal": Case(  # §11 #20 cloudflareCAPTCHAWithHTTP
        http(),
        keys(http_chain(status=503, body=CHALLENGE), control=control(ports=(80, 443))),
        Verdict.INCONCLUSIVE,
        None,
        "the server's own refusal (test.fp_challenge)",
        context(fingerprints=BLOCKPAGE_CSV),
    ),
    "http.control_status_not_comparable": Case(
        http(),
        keys(http_chain(), control=control(ports=(80, 443), status=403, headers={})),
        Verdict.INCONCLUSIVE,
        None,
        "the control got status 403",
    ),
    # the probe's own network
    "network.no_observations": Case(
        https(), keys(), Verdict.INCONCLUSIVE, None, "nothing was measured"
    ),
    "network.captive_portal_suspected": Case(  # §11 #24
        https(),
        keys(query([IP]), tls_step(IP, "ssl_invalid_hostname"), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "captive portal",
        context(
            site("before", False, "tls", "ssl_invalid_hostname"),
            site("before", False, "tls", "ssl_unknown_authority"),
        ),
    ),
    "network.resolver_down": Case(
        https(),
        keys(nx_lookup(failure=TIMEOUT), control_failure="dns_lookup_error"),
        Verdict.NETWORK_OUTAGE,
        None,
        "the local DNS is down",
        context(site("before", False, "dns"), site("after", False, "dns")),
    ),
    "network.control_sites_failed": Case(  # §11 #30
        https(),
        keys(query([IP]), tls_step(tcp_failure=TIMEOUT), control_failure=TIMEOUT),
        Verdict.NETWORK_OUTAGE,
        None,
        "the failure is not particular to this target",
        context(site("before", False), site("after", False)),
    ),
    "network.sandwich_changed": Case(
        https(),
        keys(query([IP]), tls_step(tcp_failure=TIMEOUT), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "loaded before the targets and failed after",
        context(site("before"), site("after", False)),
    ),
    "network.no_complete_attempt": Case(
        https(),
        keys(query([IP]), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "none of the 1 attempts ran to a result",
    ),
    "network.mixed_failures": Case(
        https(),
        keys(
            query([IP]),
            tls_step(tcp_failure=TIMEOUT),
            query([IP], attempt=2),
            tls_step(IP, "connection_reset", attempt=2),
            control=control(),
        ),
        Verdict.INCONCLUSIVE,
        None,
        "failed at different steps (tcp, tls)",
    ),
}

# Rules a measurement cannot reach through endpoint_verdict, tested on their own function.
# Judged on their own: tls_finding and the network table directly, the throughput rules in
# test_throughput.py over recorded download time series, the packet rules in test_packets.py.
DIRECT = {"tls.not_reached", "network.healthy"} | {
    r.id for r in ALL_RULES if r.id.startswith(("throughput.", "packets."))
}
# The cleartext page's identity rules (issue 17) have their cases in test_page_rules.py.
DIRECT |= set(PAGE_CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires(rule_id: str) -> None:
    case = CASES[rule_id]
    result = judge(case.endpoint, case.keys, case.ctx)
    fired = {f.rule_id: f for f in result.findings}
    assert rule_id in fired, f"{rule_id}: rule_id expected among findings, got {sorted(fired)}"
    reasons = " | ".join(fired[rule_id].reasons)
    assert case.reason in reasons, (
        f"{rule_id}: reasons expected to contain {case.reason!r}, got {reasons!r}"
    )
    assert result.verdict is case.verdict, (
        f"{rule_id}: verdict expected {case.verdict}, got {result.verdict} ({result.reasons})"
    )
    assert result.blocking is case.blocking, (
        f"{rule_id}: blocking expected {case.blocking}, got {result.blocking} ({result.reasons})"
    )
    assert result.reasons, f"{rule_id}: reasons expected non-empty, got []"


def test_tls_not_reached() -> None:
    found = tls_finding(HOST, [], None, failed=False)
    assert (found.rule_id, found.verdict) == ("tls.not_reached", Verdict.INCONCLUSIVE), (
        f"tls.not_reached: got {found.rule_id} {found.verdict}"
    )


def test_network_healthy() -> None:
    rule = first_match(NETWORK_RULES, NetworkEvidence(has_observations=True, succeeded=True))
    assert rule.id == "network.healthy", f"network.healthy: rule_id expected, got {rule.id}"


def test_every_endpoint_rule_has_a_case() -> None:
    # target.* rules: tests/decide/test_target.py; state.*: tests/decide/test_network.py.
    endpoint_rules = {r.id for r in ALL_RULES if not r.id.startswith(("target.", "state."))}
    missing = endpoint_rules - set(CASES) - DIRECT
    assert not missing, f"rules without a unit test: {sorted(missing)}"
    unknown = set(CASES) - endpoint_rules
    assert not unknown, f"cases for unknown rule ids: {sorted(unknown)}"


def test_page_constant_is_sane() -> None:
    assert "Example Domain" in PAGE
    assert handshake().failure is None


@pytest.mark.parametrize(
    ("operation", "blocking"),
    [
        ("connect", Blocking.TCP_RESET),
        ("tls_handshake", Blocking.TLS_RESET),
        ("read", Blocking.HTTP_RESET),
        (None, Blocking.TLS_RESET),  # no operation recorded: an https redirect hop reads as TLS
    ],
)
def test_the_recorded_operation_decides_the_layer_of_a_cut_hop(
    operation: str | None, blocking: Blocking
) -> None:
    result = judge(https("bit.ly"), redirect_then("connection_reset", operation=operation))
    assert result.blocking is blocking, (
        f"operation {operation}: blocking expected {blocking}, "
        f"got {result.blocking} {result.reasons}"
    )


def test_refused_before_the_cut_is_not_residual_blocking() -> None:
    # Residual blocking follows a trigger: connects refused *before* the handshake that was cut
    # are an unstable path (or a server restarting), and stay inconclusive.
    measured = keys(
        query([IP]),
        tls_step(tcp_failure="connection_refused"),
        query([IP], attempt=2),
        tls_step(IP, "connection_reset", attempt=2),
        control=control(),
    )
    result = judge(https(), measured, DecisionContext())
    assert result.verdict is Verdict.INCONCLUSIVE, (
        f"refused then cut: verdict expected inconclusive, got {result.verdict} ({result.reasons})"
    )


def test_residual_blocking_needs_the_control() -> None:
    measured = keys(
        query([IP]),
        tls_step(IP, "connection_reset"),
        query([IP], attempt=2),
        tls_step(tcp_failure="connection_refused", attempt=2),
        control=None,
    )
    result = judge(https(), measured, DecisionContext())
    assert result.verdict is not Verdict.BLOCKED, (
        f"no control: verdict expected not blocked, got {result.verdict} ({result.reasons})"
    )


# dns.answer_unverifiable's neighbours: each keeps dns_hijack (issue 17).
UNVERIFIABLE_NEIGHBOURS = {
    # A chain to an unknown root: no public service presents one (§11 #5).
    "unknown_root_here": (
        tls_step("5.6.7.8", "ssl_unknown_authority"),
        control_refusing("5.6.7.8"),
    ),
    # The helper's handshake there succeeded: only the probe's failed (§11 #12).
    "control_handshake_ok": (
        tls_step("5.6.7.8", "connection_reset"),
        control(extra_ips=["5.6.7.8"]),
    ),
    # Lab spoofed_dns_and_sni_reset (§11 #12): the answer is another site's address; the probe's
    # handshake is reset (the SNI filter) while the control gets that site's own certificate.
    "failures_differ": (
        tls_step("5.6.7.8", "connection_reset"),
        control_refusing("5.6.7.8", "ssl_invalid_hostname"),
    ),
    # The helper could not even connect: an in-country box, not a relay that answers everyone.
    "control_never_connected": (
        tls_step("5.6.7.8", "connection_reset"),
        control_refusing("5.6.7.8", "generic_timeout_error", connects=False),
    ),
}


@pytest.mark.parametrize("name", sorted(UNVERIFIABLE_NEIGHBOURS))
def test_unverifiable_answer_neighbours(name: str) -> None:
    step, helper = UNVERIFIABLE_NEIGHBOURS[name]
    result = judge(https(), keys(query(["5.6.7.8"]), step, control=helper))
    assert (result.verdict, result.blocking) == (Verdict.BLOCKED, Blocking.DNS_HIJACK), (
        f"{name}: expected blocked/dns_hijack, got {result.verdict}/{result.blocking}:"
        f" {result.reasons}"
    )


def test_unverifiable_answer_is_never_service_down() -> None:
    """The control's failures were on addresses only the probe's resolver gave: not the site."""
    result = judge(
        https(),
        keys(
            query(["5.6.7.8"]),
            tls_step("5.6.7.8", "ssl_invalid_hostname"),
            control=control_refusing("5.6.7.8", "ssl_invalid_hostname"),
        ),
    )
    assert result.verdict is Verdict.INCONCLUSIVE, result.reasons
    assert "proves nothing about the answer" in result.reasons[0], result.reasons


def test_unverifiable_answer_reset_on_both_sides() -> None:
    """A relay that resets every unknown client: the same reset here and for the control."""
    result = judge(
        https(),
        keys(
            query(["5.6.7.8"]),
            tls_step("5.6.7.8", "connection_reset"),
            control=control_refusing("5.6.7.8", "connection_reset"),
        ),
    )
    assert result.verdict is Verdict.INCONCLUSIVE, result.reasons


# tls.certificate_fails_control_fetch_failed's neighbours (issue 17).
FETCH_FAILED_NEIGHBOURS = {
    # The old helper fetched the page: an untrusted chain here only is interception (§11 #23).
    "control_fetched": (
        tls_step(IP, "ssl_unknown_authority"),
        old_helper(),
        (Verdict.BLOCKED, Blocking.TLS_MITM),
    ),
    # The old helper could not even connect there: nothing says what the address serves.
    "control_never_connected": (
        tls_step(IP, "ssl_invalid_certificate"),
        old_helper("unknown_error", connects=False),
        (Verdict.INCONCLUSIVE, None),
    ),
    # A reset is no certificate: the fetch failing too says nothing about the site's TLS.
    "reset_not_certificate": (
        tls_step(IP, "connection_reset"),
        old_helper("unknown_error"),
        (Verdict.INCONCLUSIVE, None),
    ),
}


@pytest.mark.parametrize("name", sorted(FETCH_FAILED_NEIGHBOURS))
def test_certificate_fails_control_fetch_failed_neighbours(name: str) -> None:
    step, helper, expected = FETCH_FAILED_NEIGHBOURS[name]
    result = judge(https(), keys(query([IP]), step, control=helper))
    assert (result.verdict, result.blocking) == expected, (
        f"{name}: expected {expected}, got {result.verdict}/{result.blocking}: {result.reasons}"
    )
