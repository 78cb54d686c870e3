"""OONI web_connectivity measurements as `probe classify` reads them, and what it prints.

Input records mirror OONI's data format (df-000 envelope, df-001 requests, df-002 queries,
df-005 tcp_connect, df-006 tls_handshakes) for every web_connectivity version: 0.0.x–0.3
(ooniprobe-legacy, measurement-kit), 0.4 ("classic") and 0.5 ("LTE"). They are validated
strictly (no string silently becomes a number); unknown fields are ignored, OONI's `null` for an
empty list or map reads as empty, and a field an older probe did not write (a handshake's
`address` before 0.4.2, a connect's `status`, a request's `request`) is optional: the
conversion notes what it could not use (`notes`), it never rejects the record for it.
`ClassifiedRecord` is one line of `probe classify --json`: OONI's own `blocking`/`accessible`
as published, beside our verdict and the reader's notes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from probe.models._base import Record
from probe.models.results import DNS_BLOCKING, Blocking, Finding, Verdict

T = TypeVar("T")


def _null_as_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _null_as_empty_dict(value: Any) -> Any:
    return {} if value is None else value


NullableList = Annotated[list[T], BeforeValidator(_null_as_empty_list)]
NullableDict = Annotated[dict[str, T], BeforeValidator(_null_as_empty_dict)]


class _OoniRecord(BaseModel):
    """A record from OONI: strict types, unknown (and future `x_`) fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


class OoniBinary(_OoniRecord):
    """A body or header value that is not UTF-8, as OONI encodes it."""

    format: Literal["base64"]
    data: str


def _described(expected: str) -> WrapValidator:
    """Return a validator that names what was `expected` instead of each union member's error."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("ooni_type", f"should be {expected}") from None

    return WrapValidator(validate)


MaybeBinary = Annotated[
    str | OoniBinary, _described('a string or OONI\'s {"format": "base64", "data": …}')
]
# OONI writes a header as a [name, value] JSON array: a tuple is read from a list here only.
HeaderPair = Annotated[tuple[str, MaybeBinary], Strict(False)]


class OoniAnswer(_OoniRecord):
    """One answer record of a lookup (df-002 `answers[]`)."""

    answer_type: str = ""
    ipv4: str | None = None
    ipv6: str | None = None
    hostname: str | None = None
    asn: int | None = None


class OoniQuery(_OoniRecord):
    """One DNS lookup (df-002 `queries[]`)."""

    hostname: str
    query_type: str = "A"
    engine: str | None = None
    resolver_address: str | None = None
    answers: NullableList[OoniAnswer] = Field(default_factory=list)
    failure: str | None = None
    t: float | None = None
    tags: NullableList[str] = Field(default_factory=list)
    transaction_id: int | None = None


class OoniTcpStatus(_OoniRecord):
    success: bool
    failure: str | None = None


class OoniTcpConnect(_OoniRecord):
    """One TCP connect (df-005 `tcp_connect[]`)."""

    ip: str
    port: int
    status: OoniTcpStatus | None = None
    t: float | None = None
    tags: NullableList[str] = Field(default_factory=list)
    transaction_id: int | None = None


class OoniTlsHandshake(_OoniRecord):
    """One TLS handshake (df-006 `tls_handshakes[]`); 0.4.0/0.4.1 wrote no `address`."""

    address: str | None = None
    server_name: str | None = None
    failure: str | None = None
    no_tls_verify: bool | None = None
    t: float | None = None
    tags: NullableList[str] = Field(default_factory=list)
    transaction_id: int | None = None


class OoniHttpRequest(_OoniRecord):
    url: str = ""


class OoniHttpResponse(_OoniRecord):
    code: int | None = None
    headers: NullableDict[MaybeBinary] = Field(default_factory=dict)
    headers_list: NullableList[HeaderPair] = Field(default_factory=list)
    body: MaybeBinary | None = None
    body_is_truncated: bool | None = None


class OoniHttpTransaction(_OoniRecord):
    """One request of a redirect chain (df-001 `requests[]`, newest first)."""

    address: str | None = None
    failure: str | None = None
    request: OoniHttpRequest | None = None
    response: OoniHttpResponse | None = None
    t: float | None = None
    tags: NullableList[str] = Field(default_factory=list)
    transaction_id: int | None = None


class OoniTestKeys(_OoniRecord):
    """The web_connectivity test keys we read; `control` is checked by ControlResponse."""

    queries: NullableList[OoniQuery] = Field(default_factory=list)
    tcp_connect: NullableList[OoniTcpConnect] = Field(default_factory=list)
    tls_handshakes: NullableList[OoniTlsHandshake] = Field(default_factory=list)
    requests: NullableList[OoniHttpTransaction] = Field(default_factory=list)
    control: dict[str, Any] | None = None
    control_failure: str | None = None
    client_resolver: str | None = None
    blocking: Annotated[str | bool | None, _described("a string, a boolean or null")] = None
    accessible: bool | None = None


class OoniMeasurement(_OoniRecord):
    """One web_connectivity measurement (df-000 envelope); other tests are refused earlier."""

    test_name: Literal["web_connectivity"]
    test_version: str = ""
    input: str
    measurement_start_time: str | None = None
    probe_asn: str | None = None
    probe_cc: str | None = None
    resolver_ip: str | None = None
    report_id: str | None = None
    measurement_uid: str | None = None
    test_keys: OoniTestKeys
    notes: list[str] = Field(
        default_factory=list,
        description="What the reader could not use (set by the reader, never read from OONI).",
    )


class Agreement(StrEnum):
    """How our verdict compares with OONI's `blocking`/`accessible` (docs/ooni-agreement.md)."""

    AGREE = "agree"
    METHOD_DIFFERS = "method_differs"
    DIFFER = "differ"
    OONI_UNDETERMINED = "ooni_undetermined"
    OONI_UNKNOWN = "ooni_unknown"
    ERROR = "error"


_TCP = frozenset({Blocking.TCP_TIMEOUT, Blocking.TCP_REFUSED, Blocking.TCP_RESET})
_FETCH = frozenset({Blocking.TLS_RESET, Blocking.TLS_TIMEOUT, Blocking.TLS_MITM,
                    Blocking.HTTP_RESET, Blocking.HTTP_TIMEOUT})  # fmt: skip

# OONI's `blocking` string → our blocking methods that name the same interference. OONI calls a
# connect failure after a redirect `http-failure` (METHODS.md §11 #10), so TCP counts there too.
OONI_BLOCKING_METHODS: dict[str, frozenset[Blocking]] = {
    "dns": DNS_BLOCKING,
    "tcp_ip": _TCP,
    "http-failure": _TCP | _FETCH,
    "http-diff": frozenset({Blocking.HTTP_DIFF, Blocking.HTTP_BLOCKPAGE}),
}
# OONI's `blocking: false` with `accessible` → our verdict that means the same.
OONI_NOT_BLOCKED: dict[bool, Verdict] = {True: Verdict.ACCESSIBLE, False: Verdict.SERVICE_DOWN}


def agreement(
    ooni_blocking: object, ooni_accessible: object, verdict: Verdict, blocking: Blocking | None
) -> Agreement:
    """Return how our (verdict, blocking) compares with OONI's published pair.

    OONI null (undetermined) agrees with our `inconclusive` and is `ooni_undetermined` against
    anything else; a blocking string agrees with `blocked` by one of its methods, and is
    `method_differs` against another method or `throttled`; false/true agrees with
    `accessible`, false/false with `service_down`; any other pair is outside OONI's vocabulary
    (`ooni_unknown`).
    """
    if ooni_blocking is None:
        if verdict is Verdict.INCONCLUSIVE:
            return Agreement.AGREE
        return Agreement.OONI_UNDETERMINED
    if isinstance(ooni_blocking, str):
        methods = OONI_BLOCKING_METHODS.get(ooni_blocking)
        if methods is None:
            return Agreement.OONI_UNKNOWN
        if verdict not in (Verdict.BLOCKED, Verdict.THROTTLED):
            return Agreement.DIFFER
        return Agreement.AGREE if blocking in methods else Agreement.METHOD_DIFFERS
    if ooni_blocking is False and isinstance(ooni_accessible, bool):
        expected = OONI_NOT_BLOCKED[ooni_accessible]
        return Agreement.AGREE if verdict is expected else Agreement.DIFFER
    return Agreement.OONI_UNKNOWN


class ClassifiedRecord(Record):
    """One OONI measurement re-classified by our verdict engine (`probe classify --json`).

    Either `verdict` is set (the record was read) or `error` says why the record could not be
    read, with `agreement` = "error". Envelope fields are OONI's, as published.
    """

    file: str = Field(description="The file the record came from, as given.")
    record: int = Field(
        description="Line number in JSON Lines, element number in a JSON array, 1 for a single"
        " measurement, 0 when the file itself could not be read."
    )
    input: str | None = None
    measurement_start_time: str | None = Field(
        default=None, description='OONI\'s UTC "YYYY-MM-DD hh:mm:ss", as published.'
    )
    probe_asn: str | None = None
    probe_cc: str | None = None
    probe_network_name: str | None = None
    report_id: str | None = None
    measurement_uid: str | None = None
    test_version: str | None = None
    ooni_blocking: str | bool | None = Field(
        default=None, description="OONI's test_keys.blocking as published (string, false, null)."
    )
    ooni_accessible: bool | None = Field(
        default=None, description="OONI's test_keys.accessible as published."
    )
    verdict: Verdict | None = None
    blocking: Blocking | None = None
    reasons: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    agreement: Agreement
    error: str | None = Field(default=None, description="Why the record could not be read.")
    notes: list[str] = Field(
        default_factory=list,
        description="What the record lacks or what the reader could not use, one sentence each"
        " (an envelope field an older probe did not write, a handshake without an address, a"
        " request to an address only the test helper resolved): the verdict rests on the rest.",
    )
