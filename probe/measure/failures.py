"""The one table that turns exceptions into OONI failure strings (df-007; probe-cli `netxlite`).

`failure_string(exc)` is total: any exception yields a string, an unknown one
`unknown_failure: <text>`. Async httpx and asyncio often raise wrappers with empty messages, so
the exception is classified by walking its `__cause__`/`__context__` chain down to an errno, an
OpenSSL verify code or reason, or a dnspython error. `FAILURE_MEANINGS` is the documented
vocabulary; `ALL_FAILURES` is derived from it.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import sys
from collections.abc import Iterator, Mapping

import anyio
import dns.exception
import httpx

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

FAILURE_MEANINGS: Mapping[str, str] = {
    CONNECTION_REFUSED: "the peer (or a middlebox) answered the SYN with a RST",
    CONNECTION_RESET: "the connection was reset (RST) after it was established",
    CONNECTION_ABORTED: "the connection was aborted by the local stack",
    CONNECTION_ALREADY_CLOSED: "the connection was used after it had been closed",
    EOF_ERROR: "the peer closed the connection (FIN) before the exchange completed",
    GENERIC_TIMEOUT_ERROR: "our own deadline for the operation passed",
    TIMED_OUT: "the kernel gave up (ETIMEDOUT: unanswered retransmissions)",
    HOST_UNREACHABLE: "no route to the host (EHOSTUNREACH, often an ICMP reply)",
    NETWORK_UNREACHABLE: "no route to the network (ENETUNREACH)",
    NETWORK_DOWN: "the local network is down (ENETDOWN)",
    NETWORK_RESET: "the network dropped the connection on reset (ENETRESET)",
    INTERRUPTED: "the operation was interrupted or cancelled",
    DNS_NXDOMAIN_ERROR: "the resolver answered NXDOMAIN (no such name)",
    DNS_NO_ANSWER: "the resolver answered NOERROR without an address of the asked type",
    DNS_REFUSED_ERROR: "the resolver answered REFUSED",
    DNS_SERVFAIL_ERROR: "the resolver answered SERVFAIL",
    DNS_SERVER_MISBEHAVING: "the reply was malformed, mismatched or had an unexpected rcode",
    DNS_TEMPORARY_FAILURE: "getaddrinfo: temporary failure in name resolution (EAI_AGAIN)",
    DNS_NON_RECOVERABLE_FAILURE: "getaddrinfo: non-recoverable failure (EAI_FAIL)",
    DNS_REPLY_WITH_WRONG_QUERY_ID: "only replies with another query id or question arrived",
    SSL_INVALID_HOSTNAME: "the certificate does not name the host we asked for",
    SSL_UNKNOWN_AUTHORITY: "the chain does not lead to a root of our trust store",
    SSL_INVALID_CERTIFICATE: "the certificate is expired, not yet valid or otherwise invalid",
    SSL_FAILED_HANDSHAKE: "the TLS handshake failed (alert, protocol or version error)",
    HTTP_REQUEST_FAILED: "the HTTP server answered with an unexpected (non-2xx) status",
    JSON_PARSE_ERROR: "the body is not the JSON document the protocol requires",
    UNKNOWN_FAILURE: "anything else, followed by ': <text>'",
    ADDRESS_IN_USE: "EADDRINUSE",
    ADDRESS_NOT_AVAILABLE: "EADDRNOTAVAIL",
    ADDRESS_FAMILY_NOT_SUPPORTED: "EAFNOSUPPORT (for example no IPv6 on this host)",
    ALREADY_CONNECTED: "EISCONN",
    BAD_FILE_DESCRIPTOR: "EBADF",
    CONNECTION_ALREADY_IN_PROGRESS: "EALREADY",
    INVALID_ARGUMENT: "EINVAL",
    MESSAGE_SIZE: "EMSGSIZE",
    NO_BUFFER_SPACE: "ENOBUFS",
    NOT_CONNECTED: "ENOTCONN",
    OPERATION_WOULD_BLOCK: "EWOULDBLOCK/EAGAIN",
    PERMISSION_DENIED: "EACCES/EPERM (for example a local firewall)",
    PROTOCOL_NOT_SUPPORTED: "EPROTONOSUPPORT",
}
ALL_FAILURES: tuple[str, ...] = tuple(FAILURE_MEANINGS)

ERRNO_FAILURES: Mapping[int, str] = {
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ECONNRESET: CONNECTION_RESET,
    # EPIPE means the peer had already answered one of our writes with a RST.
    errno.EPIPE: CONNECTION_RESET,
    errno.ECONNABORTED: CONNECTION_ABORTED,
    errno.ETIMEDOUT: TIMED_OUT,
    errno.EHOSTUNREACH: HOST_UNREACHABLE,
    errno.ENETUNREACH: NETWORK_UNREACHABLE,
    errno.ENETDOWN: NETWORK_DOWN,
    errno.ENETRESET: NETWORK_RESET,
    errno.EINTR: INTERRUPTED,
    errno.EADDRINUSE: ADDRESS_IN_USE,
    errno.EADDRNOTAVAIL: ADDRESS_NOT_AVAILABLE,
    errno.EAFNOSUPPORT: ADDRESS_FAMILY_NOT_SUPPORTED,
    errno.EISCONN: ALREADY_CONNECTED,
    errno.EBADF: BAD_FILE_DESCRIPTOR,
    errno.EALREADY: CONNECTION_ALREADY_IN_PROGRESS,
    errno.EINVAL: INVALID_ARGUMENT,
    errno.EMSGSIZE: MESSAGE_SIZE,
    errno.ENOBUFS: NO_BUFFER_SPACE,
    errno.ENOTCONN: NOT_CONNECTED,
    errno.EWOULDBLOCK: OPERATION_WOULD_BLOCK,
    errno.EACCES: PERMISSION_DENIED,
    errno.EPERM: PERMISSION_DENIED,
    errno.EPROTONOSUPPORT: PROTOCOL_NOT_SUPPORTED,
}

# OpenSSL X509_V_ERR_* codes, grouped as Go's x509 errors are (OONI's probes are written in Go).
_UNKNOWN_AUTHORITY_CODES = frozenset({2, 18, 19, 20, 21, 27, 28})
_INVALID_HOSTNAME_CODES = frozenset({62, 64})

_GAI_FAILURES: Mapping[int, str] = {
    socket.EAI_NONAME: DNS_NXDOMAIN_ERROR,
    socket.EAI_AGAIN: DNS_TEMPORARY_FAILURE,
    socket.EAI_FAIL: DNS_NON_RECOVERABLE_FAILURE,
    getattr(socket, "EAI_NODATA", socket.EAI_NONAME): DNS_NO_ANSWER,
    getattr(socket, "EAI_ADDRFAMILY", socket.EAI_NONAME): DNS_NO_ANSWER,
}

# Classes that say what happened even without an errno (asyncio raises some without one).
_CLASS_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, CONNECTION_REFUSED),
    (ConnectionResetError, CONNECTION_RESET),
    (BrokenPipeError, CONNECTION_RESET),
    (ConnectionAbortedError, CONNECTION_ABORTED),
    (EOFError, EOF_ERROR),  # asyncio.IncompleteReadError, dnspython's TCP reads
    (anyio.EndOfStream, EOF_ERROR),
    (anyio.ClosedResourceError, CONNECTION_ALREADY_CLOSED),
    (asyncio.CancelledError, INTERRUPTED),
    (dns.exception.FormError, DNS_SERVER_MISBEHAVING),  # also BadResponse and message errors
    (dns.exception.UnexpectedEnd, DNS_SERVER_MISBEHAVING),
    (dns.exception.TooBig, DNS_SERVER_MISBEHAVING),
)
# dnspython's resolver and query errors, by module and class name: looked up only once the
# module is loaded (none of its exceptions exists before), so that the check never imports
# dns.resolver (≈ 40 ms of start-up, issue 19) for an except clause.
_DNS_MODULE_FAILURES: tuple[tuple[str, str, str], ...] = (
    ("dns.resolver", "NXDOMAIN", DNS_NXDOMAIN_ERROR),
    ("dns.resolver", "NoAnswer", DNS_NO_ANSWER),
    ("dns.resolver", "EmptyHostAnswers", DNS_NO_ANSWER),
    ("dns.resolver", "YXDOMAIN", DNS_SERVER_MISBEHAVING),
    ("dns.resolver", "NoNameservers", DNS_SERVER_MISBEHAVING),
    ("dns.query", "UnexpectedSource", DNS_SERVER_MISBEHAVING),
)

# httpx messages for a peer that closed (FIN) before or during the response.
_EOF_MESSAGES = ("server disconnected", "peer closed connection", "connection closed")
_MAX_CHAIN = 32

# What a network operation may raise: the measure layer records these as failures and lets
# anything else (a bug) propagate.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes TimeoutError, ssl.SSLError and socket.gaierror
    EOFError,
    httpx.HTTPError,
    httpx.StreamError,
    httpx.InvalidURL,
    dns.exception.DNSException,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
)
_MAX_TEXT = 200


def failure_string(exc: BaseException) -> str:
    """Return the OONI failure string for `exc` (never raises)."""
    try:
        chain = list(_chain(exc))
        for link in chain:
            found = _classify(link)
            if found is not None:
                return found
        return _weak_failure(chain)
    except Exception:  # total by contract: a broken __str__ must not escape
        return f"{UNKNOWN_FAILURE}: {type(exc).__name__}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield `exc` and its causes, contexts and group members, outermost first, once each."""
    queue = [exc]
    seen: set[int] = set()
    while queue and len(seen) < _MAX_CHAIN:
        link = queue.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        if isinstance(link, BaseExceptionGroup):
            queue.extend(link.exceptions)
        queue.extend(e for e in (link.__cause__, link.__context__) if e is not None)


def _classify(exc: BaseException) -> str | None:
    """Return the failure for one link when it says what happened by itself, else None."""
    # SSLError before OSError: its errno is an SSL_ERROR_* code, not a POSIX errno.
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _verify_failure(exc.verify_code)
    if isinstance(exc, ssl.SSLError):
        return _ssl_failure(exc)
    if isinstance(exc, socket.gaierror):
        return _GAI_FAILURES.get(exc.errno or 0, DNS_SERVER_MISBEHAVING)
    if isinstance(exc, TimeoutError) and exc.errno != errno.ETIMEDOUT:
        return GENERIC_TIMEOUT_ERROR  # asyncio.timeout and socket.timeout
    if isinstance(exc, httpx.TimeoutException | dns.exception.Timeout):
        return GENERIC_TIMEOUT_ERROR
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno in ERRNO_FAILURES:
        return ERRNO_FAILURES[exc.errno]
    for cls, failure in _CLASS_FAILURES:
        if isinstance(exc, cls):
            return failure
    return _dns_module_failure(exc)


def _dns_module_failure(exc: BaseException) -> str | None:
    """Return the failure for an error of dnspython's resolver or query module, else None."""
    for module_name, class_name, failure in _DNS_MODULE_FAILURES:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return failure
    return None


def _verify_failure(verify_code: int) -> str:
    """Return the failure for an OpenSSL X509_V_ERR_* code."""
    if verify_code in _UNKNOWN_AUTHORITY_CODES:
        return SSL_UNKNOWN_AUTHORITY
    if verify_code in _INVALID_HOSTNAME_CODES:
        return SSL_INVALID_HOSTNAME
    return SSL_INVALID_CERTIFICATE  # expired (10), not yet valid (9), bad signature, …


def _ssl_failure(exc: ssl.SSLError) -> str:
    """Return the failure for a TLS error other than certificate verification."""
    reason = (getattr(exc, "reason", None) or "").upper()
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError) or "UNEXPECTED_EOF" in reason:
        return EOF_ERROR
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return SSL_UNKNOWN_AUTHORITY
    return SSL_FAILED_HANDSHAKE


def _weak_failure(chain: list[BaseException]) -> str:
    """Return the failure when no link is specific: httpx's wording, else unknown_failure."""
    for link in chain:
        text = _text(link).lower()
        if isinstance(link, httpx.RemoteProtocolError) and text.startswith(_EOF_MESSAGES):
            return EOF_ERROR
    described = next((link for link in chain if _text(link)), chain[0])
    name = type(described).__name__
    text = _text(described)
    return f"{UNKNOWN_FAILURE}: {name}: {text}" if text else f"{UNKNOWN_FAILURE}: {name}"


def _text(exc: BaseException) -> str:
    """Return the exception's message on one line, bounded."""
    try:
        text = str(exc)
    except Exception:
        return ""
    return " ".join(text.split())[:_MAX_TEXT]
