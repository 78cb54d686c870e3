"""The failure vocabulary: OONI's failure strings (df-007; probe-cli `netxlite`), once.

`Failure` holds the strings `measure/failures.py` writes into an observation's `failure` (an
unknown error is `unknown_failure: <text>`, see `unknown_failure()`). `OoniFailure` holds the
strings only OONI's probes write, which we read in their records; `LegacyFailure` the coarser
names of OONI's legacy test-helper protocol, which our helper answers with and our probe reads.
`FailureKind` is the class of a failure the rules judge by, `FailedOperation` the step a
request failed in (`x_failed_operation`), `HopStage` where a fetch-chain hop failed.

The values are the wire strings, stored and uploaded as they are: never change one.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Failure(StrEnum):
    """A failure string the probe and its helper write (netxlite's names)."""

    # Connection
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    CONNECTION_ABORTED = "connection_aborted"
    CONNECTION_ALREADY_CLOSED = "connection_already_closed"
    EOF_ERROR = "eof_error"
    GENERIC_TIMEOUT_ERROR = "generic_timeout_error"
    TIMED_OUT = "timed_out"
    HOST_UNREACHABLE = "host_unreachable"
    NETWORK_UNREACHABLE = "network_unreachable"
    NETWORK_DOWN = "network_down"
    NETWORK_RESET = "network_reset"
    INTERRUPTED = "interrupted"
    # DNS
    DNS_NXDOMAIN_ERROR = "dns_nxdomain_error"
    DNS_NO_ANSWER = "dns_no_answer"
    DNS_REFUSED_ERROR = "dns_refused_error"
    DNS_SERVFAIL_ERROR = "dns_servfail_error"
    DNS_SERVER_MISBEHAVING = "dns_server_misbehaving"
    DNS_TEMPORARY_FAILURE = "dns_temporary_failure"
    DNS_NON_RECOVERABLE_FAILURE = "dns_non_recoverable_failure"
    DNS_REPLY_WITH_WRONG_QUERY_ID = "dns_reply_with_wrong_query_id"
    # TLS
    SSL_INVALID_HOSTNAME = "ssl_invalid_hostname"
    SSL_UNKNOWN_AUTHORITY = "ssl_unknown_authority"
    SSL_INVALID_CERTIFICATE = "ssl_invalid_certificate"
    SSL_FAILED_HANDSHAKE = "ssl_failed_handshake"
    # HTTP and other
    HTTP_REQUEST_FAILED = "http_request_failed"
    HTTP_UNEXPECTED_REDIRECT_URL = "http_unexpected_redirect_url"
    JSON_PARSE_ERROR = "json_parse_error"
    UNKNOWN_FAILURE = "unknown_failure"  # always followed by ": <text>"
    # Socket errors named as netxlite's errno table does (probe-cli netxlite/errno_linux.go).
    ADDRESS_IN_USE = "address_in_use"
    ADDRESS_NOT_AVAILABLE = "address_not_available"
    ADDRESS_FAMILY_NOT_SUPPORTED = "address_family_not_supported"
    ALREADY_CONNECTED = "already_connected"
    BAD_FILE_DESCRIPTOR = "bad_file_descriptor"
    CONNECTION_ALREADY_IN_PROGRESS = "connection_already_in_progress"
    INVALID_ARGUMENT = "invalid_argument"
    MESSAGE_SIZE = "message_size"
    NO_BUFFER_SPACE = "no_buffer_space"
    NOT_CONNECTED = "not_connected"
    OPERATION_WOULD_BLOCK = "operation_would_block"
    PERMISSION_DENIED = "permission_denied"
    PROTOCOL_NOT_SUPPORTED = "protocol_not_supported"


FAILURE_MEANINGS: Mapping[Failure, str] = {
    Failure.CONNECTION_REFUSED: "the peer (or a middlebox) answered the SYN with a RST",
    Failure.CONNECTION_RESET: "the connection was reset (RST) after it was established",
    Failure.CONNECTION_ABORTED: "the connection was aborted by the local stack",
    Failure.CONNECTION_ALREADY_CLOSED: "the connection was used after it had been closed",
    Failure.EOF_ERROR: "the peer closed the connection (FIN) before the exchange completed",
    Failure.GENERIC_TIMEOUT_ERROR: "our own deadline for the operation passed",
    Failure.TIMED_OUT: "the kernel gave up (ETIMEDOUT: unanswered retransmissions)",
    Failure.HOST_UNREACHABLE: "no route to the host (EHOSTUNREACH, often an ICMP reply)",
    Failure.NETWORK_UNREACHABLE: "no route to the network (ENETUNREACH)",
    Failure.NETWORK_DOWN: "the local network is down (ENETDOWN)",
    Failure.NETWORK_RESET: "the network dropped the connection on reset (ENETRESET)",
    Failure.INTERRUPTED: "the operation was interrupted or cancelled",
    Failure.DNS_NXDOMAIN_ERROR: "the resolver answered NXDOMAIN (no such name)",
    Failure.DNS_NO_ANSWER: "the resolver answered NOERROR without an address of the asked type",
    Failure.DNS_REFUSED_ERROR: "the resolver answered REFUSED",
    Failure.DNS_SERVFAIL_ERROR: "the resolver answered SERVFAIL",
    Failure.DNS_SERVER_MISBEHAVING: (
        "the reply was malformed, mismatched or had an unexpected rcode"
    ),
    Failure.DNS_TEMPORARY_FAILURE: "getaddrinfo: temporary failure in name resolution (EAI_AGAIN)",
    Failure.DNS_NON_RECOVERABLE_FAILURE: "getaddrinfo: non-recoverable failure (EAI_FAIL)",
    Failure.DNS_REPLY_WITH_WRONG_QUERY_ID: "only replies with another query id or question arrived",
    Failure.SSL_INVALID_HOSTNAME: "the certificate does not name the host we asked for",
    Failure.SSL_UNKNOWN_AUTHORITY: "the chain does not lead to a root of our trust store",
    Failure.SSL_INVALID_CERTIFICATE: (
        "the certificate is expired, not yet valid or otherwise invalid"
    ),
    Failure.SSL_FAILED_HANDSHAKE: "the TLS handshake failed (alert, protocol or version error)",
    Failure.HTTP_REQUEST_FAILED: "the HTTP server answered with an unexpected (non-2xx) status",
    Failure.HTTP_UNEXPECTED_REDIRECT_URL: "the fetch chain ended on a redirect it did not follow",
    Failure.JSON_PARSE_ERROR: "the body is not the JSON document the protocol requires",
    Failure.UNKNOWN_FAILURE: "anything else, followed by ': <text>'",
    Failure.ADDRESS_IN_USE: "EADDRINUSE",
    Failure.ADDRESS_NOT_AVAILABLE: "EADDRNOTAVAIL",
    Failure.ADDRESS_FAMILY_NOT_SUPPORTED: "EAFNOSUPPORT (for example no IPv6 on this host)",
    Failure.ALREADY_CONNECTED: "EISCONN",
    Failure.BAD_FILE_DESCRIPTOR: "EBADF",
    Failure.CONNECTION_ALREADY_IN_PROGRESS: "EALREADY",
    Failure.INVALID_ARGUMENT: "EINVAL",
    Failure.MESSAGE_SIZE: "EMSGSIZE",
    Failure.NO_BUFFER_SPACE: "ENOBUFS",
    Failure.NOT_CONNECTED: "ENOTCONN",
    Failure.OPERATION_WOULD_BLOCK: "EWOULDBLOCK/EAGAIN",
    Failure.PERMISSION_DENIED: "EACCES/EPERM (for example a local firewall)",
    Failure.PROTOCOL_NOT_SUPPORTED: "EPROTONOSUPPORT",
}
ALL_FAILURES: tuple[str, ...] = tuple(FAILURE_MEANINGS)

UNKNOWN_FAILURE_PREFIX = f"{Failure.UNKNOWN_FAILURE}: "


def unknown_failure(text: str) -> str:
    """Return the failure string of an error the vocabulary has no name for."""
    return UNKNOWN_FAILURE_PREFIX + text


class OoniFailure(StrEnum):
    """A failure string only OONI's probes write: read in their records, never written by us."""

    ANDROID_DNS_CACHE_NO_DATA = "android_dns_cache_no_data"  # NXDOMAIN on Android
    HTTP_INVALID_REDIRECT_LOCATION_HOST = "http_invalid_redirect_location_host"
    HTTP_INVALID_REDIRECT_URL = "http_invalid_redirect_url"


class LegacyFailure(StrEnum):
    """A failure name of OONI's legacy test-helper protocol (probe-cli `oohelperd`).

    The helper renames its failures to these in a control response (helper/legacy.py); the
    probe reads them there. `generic_timeout_error` passes through unrenamed.
    """

    DNS_NAME_ERROR = "dns_name_error"  # NXDOMAIN
    DNS_SERVER_FAILURE = "dns_server_failure"  # SERVFAIL, REFUSED, a misbehaving server
    DNS_LOOKUP_ERROR = "dns_lookup_error"  # the lookup of a redirect target failed
    CONNECTION_REFUSED_ERROR = "connection_refused_error"
    CONNECT_ERROR = "connect_error"
    UNKNOWN_ERROR = "unknown_error"


KNOWN_FAILURES: frozenset[str] = frozenset(
    (*ALL_FAILURES, *(f.value for f in OoniFailure), *(f.value for f in LegacyFailure))
)


class FailureKind(StrEnum):
    """The class of a failure string that the rules judge by (decide/evidence.failure_kind)."""

    TIMEOUT = "timeout"
    REFUSED = "refused"
    RESET = "reset"
    EOF = "eof"
    UNREACHABLE = "unreachable"
    UNTRUSTED = "untrusted"  # the certificate did not verify
    NXDOMAIN = "nxdomain"  # no such name, or no address
    DNS = "dns"  # any other DNS failure
    OTHER = "other"


class FailedOperation(StrEnum):
    """The step a request failed in (an HTTP transaction's `x_failed_operation`)."""

    DNS = "dns"
    CONNECT = "connect"
    TLS_HANDSHAKE = "tls_handshake"
    WRITE = "write"
    READ = "read"


class HopStage(StrEnum):
    """Where a failed hop of the fetch chain failed (decide/evidence.HopEvidence.stage)."""

    CONNECT = "connect"
    TLS = "tls"
    HTTP = "http"
