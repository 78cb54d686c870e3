"""The one table that turns exceptions into OONI failure strings (df-007; probe-cli `netxlite`).

`failure_string(exc)` is total: any exception yields a string, an unknown one
`unknown_failure: <text>`. Async httpx and asyncio often raise wrappers with empty messages, so
the exception is classified by walking its `__cause__`/`__context__` chain down to an errno, an
OpenSSL verify code or reason, or a dnspython error. The vocabulary itself (`Failure`, with
`FAILURE_MEANINGS`) lives in probe/models/failures.py, where decide/ and helper/ read it too.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import sys
from collections.abc import Iterator, Mapping

import dns.exception

from probe.models.failures import Failure, unknown_failure

ERRNO_FAILURES: Mapping[int, str] = {
    errno.ECONNREFUSED: Failure.CONNECTION_REFUSED,
    errno.ECONNRESET: Failure.CONNECTION_RESET,
    # EPIPE means the peer had already answered one of our writes with a RST.
    errno.EPIPE: Failure.CONNECTION_RESET,
    errno.ECONNABORTED: Failure.CONNECTION_ABORTED,
    errno.ETIMEDOUT: Failure.TIMED_OUT,
    errno.EHOSTUNREACH: Failure.HOST_UNREACHABLE,
    errno.ENETUNREACH: Failure.NETWORK_UNREACHABLE,
    errno.ENETDOWN: Failure.NETWORK_DOWN,
    errno.ENETRESET: Failure.NETWORK_RESET,
    errno.EINTR: Failure.INTERRUPTED,
    errno.EADDRINUSE: Failure.ADDRESS_IN_USE,
    errno.EADDRNOTAVAIL: Failure.ADDRESS_NOT_AVAILABLE,
    errno.EAFNOSUPPORT: Failure.ADDRESS_FAMILY_NOT_SUPPORTED,
    errno.EISCONN: Failure.ALREADY_CONNECTED,
    errno.EBADF: Failure.BAD_FILE_DESCRIPTOR,
    errno.EALREADY: Failure.CONNECTION_ALREADY_IN_PROGRESS,
    errno.EINVAL: Failure.INVALID_ARGUMENT,
    errno.EMSGSIZE: Failure.MESSAGE_SIZE,
    errno.ENOBUFS: Failure.NO_BUFFER_SPACE,
    errno.ENOTCONN: Failure.NOT_CONNECTED,
    errno.EWOULDBLOCK: Failure.OPERATION_WOULD_BLOCK,
    errno.EACCES: Failure.PERMISSION_DENIED,
    errno.EPERM: Failure.PERMISSION_DENIED,
    errno.EPROTONOSUPPORT: Failure.PROTOCOL_NOT_SUPPORTED,
}

# OpenSSL X509_V_ERR_* codes, grouped as Go's x509 errors are (OONI's probes are written in Go).
_UNKNOWN_AUTHORITY_CODES = frozenset({2, 18, 19, 20, 21, 27, 28})
_INVALID_HOSTNAME_CODES = frozenset({62, 64})

_GAI_FAILURES: Mapping[int, str] = {
    socket.EAI_NONAME: Failure.DNS_NXDOMAIN_ERROR,
    socket.EAI_AGAIN: Failure.DNS_TEMPORARY_FAILURE,
    socket.EAI_FAIL: Failure.DNS_NON_RECOVERABLE_FAILURE,
    getattr(socket, "EAI_NODATA", socket.EAI_NONAME): Failure.DNS_NO_ANSWER,
    getattr(socket, "EAI_ADDRFAMILY", socket.EAI_NONAME): Failure.DNS_NO_ANSWER,
}

# Classes that say what happened even without an errno (asyncio raises some without one).
_CLASS_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, Failure.CONNECTION_REFUSED),
    (ConnectionResetError, Failure.CONNECTION_RESET),
    (BrokenPipeError, Failure.CONNECTION_RESET),
    (ConnectionAbortedError, Failure.CONNECTION_ABORTED),
    (EOFError, Failure.EOF_ERROR),  # asyncio.IncompleteReadError, dnspython's TCP reads
    (asyncio.CancelledError, Failure.INTERRUPTED),
    (
        dns.exception.FormError,
        Failure.DNS_SERVER_MISBEHAVING,
    ),  # also BadResponse and message errors
    (dns.exception.UnexpectedEnd, Failure.DNS_SERVER_MISBEHAVING),
    (dns.exception.TooBig, Failure.DNS_SERVER_MISBEHAVING),
)
# Errors of the libraries of the HTTP side (httpx, and anyio under httpcore) and of dnspython's
# resolver and query modules, by module and class name: looked up only once the module is
# loaded (none of its exceptions exists before), so that a check's first DNS query waits for
# none of these imports (≈ 40 ms for httpx and its stack, ≈ 40 ms for dns.resolver; issue 19).
_MODULE_FAILURES: tuple[tuple[str, str, str], ...] = (
    ("httpx", "TimeoutException", Failure.GENERIC_TIMEOUT_ERROR),
    ("anyio", "EndOfStream", Failure.EOF_ERROR),
    ("anyio", "ClosedResourceError", Failure.CONNECTION_ALREADY_CLOSED),
    ("dns.resolver", "NXDOMAIN", Failure.DNS_NXDOMAIN_ERROR),
    ("dns.resolver", "NoAnswer", Failure.DNS_NO_ANSWER),
    ("dns.resolver", "EmptyHostAnswers", Failure.DNS_NO_ANSWER),
    ("dns.resolver", "YXDOMAIN", Failure.DNS_SERVER_MISBEHAVING),
    ("dns.resolver", "NoNameservers", Failure.DNS_SERVER_MISBEHAVING),
    ("dns.query", "UnexpectedSource", Failure.DNS_SERVER_MISBEHAVING),
)

# httpx messages for a peer that closed (FIN) before or during the response.
_EOF_MESSAGES = ("server disconnected", "peer closed connection", "connection closed")
_MAX_CHAIN = 32

# What a network operation may raise: the measure layer records these as failures and lets
# anything else (a bug) propagate. SOCKET_ERRORS: the operations on our own sockets (DNS over
# UDP, TCP and TLS, connects, traces); NETWORK_ERRORS adds what httpx and anyio raise, for
# the code that speaks HTTP through httpx (the module imports httpx when first asked for it).
SOCKET_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes TimeoutError, ssl.SSLError and socket.gaierror
    EOFError,
    dns.exception.DNSException,
)
_HTTP_ERRORS = (
    ("httpx", "HTTPError"), ("httpx", "StreamError"), ("httpx", "InvalidURL"),
    ("anyio", "EndOfStream"), ("anyio", "BrokenResourceError"), ("anyio", "ClosedResourceError"),
)  # fmt: skip
_MAX_TEXT = 200


def __getattr__(name: str) -> tuple[type[BaseException], ...]:
    """`NETWORK_ERRORS`, built (importing httpx and anyio) when first asked for (PEP 562)."""
    if name != "NETWORK_ERRORS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    errors = SOCKET_ERRORS + tuple(
        getattr(importlib.import_module(module), cls) for module, cls in _HTTP_ERRORS
    )
    globals()["NETWORK_ERRORS"] = errors
    return errors


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
        return unknown_failure(type(exc).__name__)


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
        return _GAI_FAILURES.get(exc.errno or 0, Failure.DNS_SERVER_MISBEHAVING)
    if isinstance(exc, TimeoutError) and exc.errno != errno.ETIMEDOUT:
        return Failure.GENERIC_TIMEOUT_ERROR  # asyncio.timeout and socket.timeout
    if isinstance(exc, dns.exception.Timeout):
        return Failure.GENERIC_TIMEOUT_ERROR
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno in ERRNO_FAILURES:
        return ERRNO_FAILURES[exc.errno]
    for cls, failure in _CLASS_FAILURES:
        if isinstance(exc, cls):
            return failure
    return _module_failure(exc)


def _loaded_class(module_name: str, class_name: str) -> type[BaseException] | None:
    """Return the class if its module is loaded (else no exception of it can exist)."""
    module = sys.modules.get(module_name)
    found = getattr(module, class_name, None) if module is not None else None
    return found if isinstance(found, type) else None


def _module_failure(exc: BaseException) -> str | None:
    """Return the failure for an error of httpx, anyio, or dnspython's resolver or query
    module, else None."""
    for module_name, class_name, failure in _MODULE_FAILURES:
        cls = _loaded_class(module_name, class_name)
        if cls is not None and isinstance(exc, cls):
            return failure
    return None


def _verify_failure(verify_code: int) -> str:
    """Return the failure for an OpenSSL X509_V_ERR_* code."""
    if verify_code in _UNKNOWN_AUTHORITY_CODES:
        return Failure.SSL_UNKNOWN_AUTHORITY
    if verify_code in _INVALID_HOSTNAME_CODES:
        return Failure.SSL_INVALID_HOSTNAME
    return Failure.SSL_INVALID_CERTIFICATE  # expired (10), not yet valid (9), bad signature, …


def _ssl_failure(exc: ssl.SSLError) -> str:
    """Return the failure for a TLS error other than certificate verification."""
    reason = (getattr(exc, "reason", None) or "").upper()
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError) or "UNEXPECTED_EOF" in reason:
        return Failure.EOF_ERROR
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return Failure.SSL_UNKNOWN_AUTHORITY
    return Failure.SSL_FAILED_HANDSHAKE


def _weak_failure(chain: list[BaseException]) -> str:
    """Return the failure when no link is specific: httpx's wording, else unknown_failure."""
    protocol_error = _loaded_class("httpx", "RemoteProtocolError")
    for link in chain:
        text = _text(link).lower()
        if (
            protocol_error is not None
            and isinstance(link, protocol_error)
            and text.startswith(_EOF_MESSAGES)
        ):
            return Failure.EOF_ERROR
    described = next((link for link in chain if _text(link)), chain[0])
    name = type(described).__name__
    text = _text(described)
    return unknown_failure(f"{name}: {text}") if text else unknown_failure(name)


def _text(exc: BaseException) -> str:
    """Return the exception's message on one line, bounded."""
    try:
        text = str(exc)
    except Exception:
        return ""
    return " ".join(text.split())[:_MAX_TEXT]
