"""An estimate of the traffic one result cost, for the daily data budget (metered VPSes).

The probe cannot count its own bytes on the wire without privileges, so each observation is
priced at a typical size; bodies are counted as received. The estimate errs high.
"""

from __future__ import annotations

from probe.models.results import TargetResult

DNS_QUERY_BYTES = 300  # query + answer over UDP
DOH_QUERY_BYTES = 2_000  # the same inside HTTPS (headers, framing; handshake amortised)
TCP_CONNECT_BYTES = 400  # SYN, SYN-ACK, ACK, FIN exchange
TLS_HANDSHAKE_BYTES = 7_000  # ClientHello + a certificate chain
HTTP_REQUEST_BYTES = 1_200  # request and response headers
CONTROL_BYTES = 6_000  # a helper round trip (its answer carries its own measurement)
CONTROL_SITE_BYTES = 20_000  # one control-site fetch (DNS, TCP, TLS, a capped page)
PACKET_PROBE_BYTES = 2_000  # one TCP probe or TTL-limited trigger (a ClientHello, its answer)


def estimate_bytes(result: TargetResult) -> int:
    """Return the estimated bytes sent and received to measure `result`."""
    total = len(result.controls) * CONTROL_SITE_BYTES
    for endpoint in result.endpoints:
        keys = endpoint.test_keys
        total += len(keys.queries) * DNS_QUERY_BYTES + len(keys.x_doh) * DOH_QUERY_BYTES
        total += len(keys.tcp_connect) * TCP_CONNECT_BYTES
        total += len(keys.tls_handshakes) * TLS_HANDSHAKE_BYTES
        for request in keys.requests:
            total += HTTP_REQUEST_BYTES
            if request.response is not None:
                total += request.response.x_body_length
        if keys.x_control_request is not None:
            total += CONTROL_BYTES
    if result.throughput is not None:  # its downloads are counted as received: exact
        test = result.throughput
        total += len(test.queries) * DNS_QUERY_BYTES
        for transfer in test.transfers:
            total += TCP_CONNECT_BYTES + TLS_HANDSHAKE_BYTES + HTTP_REQUEST_BYTES + transfer.bytes
    if result.packets is not None:
        evidence = result.packets
        total += len(evidence.dns) * 2 * DNS_QUERY_BYTES  # with the control queries
        total += len(evidence.tcp) * PACKET_PROBE_BYTES
        total += sum(len(trace.hops) for trace in evidence.traces) * PACKET_PROBE_BYTES
    return total
