"""The only stage that touches the network: it records what happened and never judges it.

measure/ owns every socket, TLS handshake, DNS query and HTTP exchange of a check, and the one
table that turns exceptions into OONI failure strings. It must never decide whether something
is blocked (decide/ does), never read settings itself (values arrive as arguments), never let an
httpx, dnspython or ssl exception escape as a measurement result (a network failure is data), and
never use the OS trust store.

The package exports its modules (not names) so that importing one light module, such as
`_clock`, does not pull in httpx, dnspython and cryptography.

Modules:
    failures  failure_string(): exceptions → OONI failure strings (df-007)
    dns       parse_resolver(), resolve(): UDP (late replies), TCP, DoT, DoH with rcodes
    tcp       connect(): one TCP connect
    tls       TrustStore, handshake(), open_tls(), summarize_certificate(): verified handshakes
    http      make_client(), request(), user_agent(): one pinned GET, bounded body
    control   query_helpers(): the test-helper client, staggered, bounded
    plan      one endpoint end to end: resolve → connect/handshake → fetch → control
    throughput  measure_throughput(): capped downloads of a target's object and its references
    packets   measure_packets(): raw-socket captures (IP TTL, IP-ID) of answers, TTL-limited traces
"""

__all__ = ["control", "dns", "failures", "http", "packets", "plan", "tcp", "throughput", "tls"]
