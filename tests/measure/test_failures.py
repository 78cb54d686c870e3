"""failure_string(): the one exception → OONI failure table is total and says what happened."""

from __future__ import annotations

import asyncio
import errno
import inspect
import itertools
import os
import socket
import ssl
from collections.abc import Callable
from types import ModuleType

import dns.exception
import dns.message
import dns.query
import dns.resolver
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.measure import failures
from probe.measure.failures import ERRNO_FAILURES, failure_string
from probe.models.failures import (
    ALL_FAILURES,
    FAILURE_MEANINGS,
    UNKNOWN_FAILURE_PREFIX,
    Failure,
    unknown_failure,
)

UNKNOWN_PREFIX = "unknown_failure: "


def _documented(failure: str) -> bool:
    return failure in ALL_FAILURES or failure.startswith(UNKNOWN_PREFIX)


def _exception_classes(*modules: ModuleType) -> list[type[BaseException]]:
    return sorted(
        {
            obj
            for module in modules
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, BaseException)
        },
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def _instance(cls: type[BaseException]) -> BaseException:
    """Return an instance of `cls`, trying the constructor shapes httpx and dnspython use."""
    request = httpx.Request("GET", "https://example.test/")
    attempts: list[Callable[[], BaseException]] = [
        lambda: cls(),
        lambda: cls("boom"),
        lambda: cls(2),  # dns.xfr.TransferError(rcode)
        lambda: cls("boom", request=request),  # type: ignore[call-arg]
        lambda: cls("boom", request=request, response=httpx.Response(500, request=request)),  # type: ignore[call-arg]
    ]
    for attempt in attempts:
        try:
            return attempt()
        except Exception:
            continue
    raise AssertionError(f"cannot build {cls!r} for the test")


LIBRARY_EXCEPTIONS = _exception_classes(httpx, dns.exception, dns.resolver, dns.message, dns.query)


@pytest.mark.parametrize("cls", LIBRARY_EXCEPTIONS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_library_exception_maps_to_a_documented_string(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    for candidate in (exc, _wrapped(httpx.ConnectError(""), exc)):
        got = failure_string(candidate)
        assert isinstance(got, str) and _documented(got), f"{cls.__name__}: got {got!r}"


def _wrapped(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def _verify_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = code
    return exc


def _ssl_error(cls: type[ssl.SSLError], reason: str) -> ssl.SSLError:
    exc = cls(1, f"[SSL: {reason}] {reason.lower()}")
    exc.reason = reason  # type: ignore[misc]
    return exc


class _BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _cycle() -> BaseException:
    first, second = ValueError("first"), ValueError("second")
    first.__context__, second.__context__ = second, first
    return first


CASES: dict[str, tuple[Callable[[], BaseException], str]] = {
    "httpx_connect_timeout": (lambda: httpx.ConnectTimeout(""), "generic_timeout_error"),
    "httpx_read_timeout": (lambda: httpx.ReadTimeout(""), "generic_timeout_error"),
    "httpx_pool_timeout": (lambda: httpx.PoolTimeout(""), "generic_timeout_error"),
    "asyncio_timeout": (lambda: TimeoutError(), "generic_timeout_error"),
    "kernel_etimedout": (lambda: TimeoutError(errno.ETIMEDOUT, "timed out"), "timed_out"),
    "httpx_connect_refused": (
        lambda: _wrapped(httpx.ConnectError(""), ConnectionRefusedError(errno.ECONNREFUSED, "x")),
        "connection_refused",
    ),
    "httpx_read_reset_in_context": (
        lambda: _chain_context(httpx.ReadError(""), OSError(errno.ECONNRESET, "reset")),
        "connection_reset",
    ),
    "reset_without_errno": (lambda: ConnectionResetError("Connection lost"), "connection_reset"),
    "broken_pipe": (lambda: BrokenPipeError(errno.EPIPE, "pipe"), "connection_reset"),
    "server_disconnected": (
        lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
        "eof_error",
    ),
    "body_cut_short": (
        lambda: httpx.RemoteProtocolError("peer closed connection without sending complete body"),
        "eof_error",
    ),
    "incomplete_read": (lambda: asyncio.IncompleteReadError(b"", 10), "eof_error"),
    "ssl_eof": (lambda: ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "eof_error"),
    "ssl_wrong_version": (
        lambda: _ssl_error(ssl.SSLError, "WRONG_VERSION_NUMBER"),
        "ssl_failed_handshake",
    ),
    "ssl_alert": (
        lambda: _ssl_error(ssl.SSLError, "TLSV1_ALERT_PROTOCOL_VERSION"),
        "ssl_failed_handshake",
    ),
    # SSLError's errno is an SSL_ERROR_* code: 1 must not read as EPERM.
    "ssl_errno_is_not_posix": (lambda: ssl.SSLError(1, "x"), "ssl_failed_handshake"),
    "verify_expired": (lambda: _verify_error(10), "ssl_invalid_certificate"),
    "verify_not_yet_valid": (lambda: _verify_error(9), "ssl_invalid_certificate"),
    "verify_hostname": (lambda: _verify_error(62), "ssl_invalid_hostname"),
    "verify_ip_address": (lambda: _verify_error(64), "ssl_invalid_hostname"),
    "verify_self_signed": (lambda: _verify_error(18), "ssl_unknown_authority"),
    "verify_self_signed_chain": (lambda: _verify_error(19), "ssl_unknown_authority"),
    "verify_no_local_issuer": (lambda: _verify_error(20), "ssl_unknown_authority"),
    "verify_leaf_signature": (lambda: _verify_error(21), "ssl_unknown_authority"),
    "verify_inside_httpx": (
        lambda: _wrapped(httpx.ConnectError(""), _verify_error(62)),
        "ssl_invalid_hostname",
    ),
    "gai_noname": (lambda: socket.gaierror(socket.EAI_NONAME, "x"), "dns_nxdomain_error"),
    "gai_again": (lambda: socket.gaierror(socket.EAI_AGAIN, "x"), "dns_temporary_failure"),
    "gai_fail": (lambda: socket.gaierror(socket.EAI_FAIL, "x"), "dns_non_recoverable_failure"),
    "dns_nxdomain": (lambda: dns.resolver.NXDOMAIN(), "dns_nxdomain_error"),
    "dns_no_answer": (lambda: dns.resolver.NoAnswer(), "dns_no_answer"),
    "dns_timeout": (lambda: dns.exception.Timeout(), "generic_timeout_error"),
    "dns_lifetime_timeout": (
        lambda: dns.resolver.LifetimeTimeout(timeout=1.0, errors=[]),
        "generic_timeout_error",
    ),
    "dns_no_nameservers": (lambda: dns.resolver.NoNameservers(), "dns_server_misbehaving"),
    "dns_form_error": (lambda: dns.exception.FormError(), "dns_server_misbehaving"),
    "dns_short_header": (lambda: dns.message.ShortHeader(), "dns_server_misbehaving"),
    "dns_bad_response": (lambda: dns.query.BadResponse(), "dns_server_misbehaving"),
    "group": (
        lambda: ExceptionGroup("x", [OSError(errno.ECONNREFUSED, "refused")]),
        "connection_refused",
    ),
    "cancelled": (lambda: asyncio.CancelledError(), "interrupted"),
    "unknown_with_text": (
        lambda: ValueError("weird\n  thing"),
        "unknown_failure: ValueError: weird thing",
    ),
    "unknown_without_text": (lambda: httpx.ReadError(""), "unknown_failure: ReadError"),
    "broken_str": (lambda: _BrokenStr(), "unknown_failure: _BrokenStr"),
    "context_cycle": (_cycle, "unknown_failure: ValueError: first"),
}


def _chain_context(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__context__ = inner
    return outer


@pytest.mark.parametrize("case", CASES)
def test_failure_string(case: str) -> None:
    build, expected = CASES[case]
    got = failure_string(build())
    assert got == expected, f"{case}: expected {expected!r}, got {got!r}"


@pytest.mark.parametrize("code", sorted(ERRNO_FAILURES), ids=lambda c: errno.errorcode[c])
def test_each_errno(code: int) -> None:
    expected = ERRNO_FAILURES[code]
    plain = OSError(code, os.strerror(code))
    deep = _wrapped(httpx.ConnectError(""), _wrapped(OSError("wrapper"), plain))
    for candidate in (plain, deep):
        got = failure_string(candidate)
        assert got == expected, f"{errno.errorcode[code]}: expected {expected!r}, got {got!r}"


def test_every_errno_maps_to_a_documented_string() -> None:
    for code in errno.errorcode:
        got = failure_string(OSError(code, os.strerror(code)))
        assert _documented(got), f"{errno.errorcode[code]}: {got!r}"


def test_vocabulary_is_one_registry() -> None:
    # measure/failures.py defines no failure string of its own: it names models' members.
    own = {
        name: value
        for name, value in vars(failures).items()
        if isinstance(value, str) and not isinstance(value, Failure) and not name.startswith("__")
    }
    assert not own, own
    assert set(ALL_FAILURES) == {f.value for f in Failure}
    assert set(ERRNO_FAILURES.values()) <= set(ALL_FAILURES)
    assert all(FAILURE_MEANINGS[f].strip() for f in Failure)


def test_the_stored_strings_are_oonis() -> None:
    # The wire values: stored and uploaded records carry exactly these strings.
    assert Failure.CONNECTION_RESET == "connection_reset"
    assert Failure.GENERIC_TIMEOUT_ERROR == "generic_timeout_error"
    assert Failure.DNS_NXDOMAIN_ERROR == "dns_nxdomain_error"
    assert Failure.SSL_INVALID_HOSTNAME == "ssl_invalid_hostname"
    assert f"{Failure.EOF_ERROR}" == str(Failure.EOF_ERROR) == "eof_error"
    assert UNKNOWN_FAILURE_PREFIX == "unknown_failure: "
    assert unknown_failure("ValueError: x") == "unknown_failure: ValueError: x"


_EXCEPTION_TYPES = st.sampled_from(
    [OSError, ValueError, RuntimeError, httpx.ConnectError, httpx.ReadError, EOFError]
)


@st.composite
def _exceptions(draw: st.DrawFn) -> BaseException:
    links = [
        draw(_EXCEPTION_TYPES)(draw(st.text(max_size=20)))
        for _ in range(draw(st.integers(min_value=1, max_value=4)))
    ]
    for outer, inner in itertools.pairwise(links):
        if draw(st.booleans()):
            outer.__cause__ = inner
        else:
            outer.__context__ = inner
    first = links[0]
    if isinstance(first, OSError) and draw(st.booleans()):
        first.errno = draw(st.integers(min_value=-10, max_value=200))
    return first


@given(_exceptions())
def test_failure_string_is_total(exc: BaseException) -> None:
    assert _documented(failure_string(exc))
