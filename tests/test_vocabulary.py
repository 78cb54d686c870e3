"""The vocabularies are defined once, in probe/models/, and named everywhere else.

A failure string retyped as a literal outside models/ drifts from the one `measure` writes, and
a misspelt kind or stage in a rule makes a rule that never fires: these tests fail on both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.decide.evidence import HopEvidence, failure_kind
from probe.decide.rules import ALL_RULES, Rule
from probe.models.failures import (
    ALL_FAILURES,
    KNOWN_FAILURES,
    FailedOperation,
    Failure,
    FailureKind,
    HopStage,
    LegacyFailure,
    OoniFailure,
)
from probe.models.observations import HttpRequestRecord, HttpTransaction
from probe.models.tags import (
    TLS_VALIDATION,
    attempt_of,
    depth_of,
    has_depth_tag,
    observation_tags,
    only_validates,
)

PACKAGE = Path(__file__).resolve().parent.parent / "probe"
# The same word in another vocabulary: a worker's exit status, not a failure.
OTHER_MEANINGS = {("daemon/worker.py", "interrupted")}


def _failure_literals(source: str, rel: str) -> list[str]:
    """Return "file:line: text" for each literal in `source` that spells a known failure string,
    alone or as the start of an f-string (`f"unknown_failure: {x}"`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in KNOWN_FAILURES:
                found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                head = first.value.partition(":")[0]
                if head != first.value and head in KNOWN_FAILURES:
                    found.append((node.lineno, head))
    return [f"{rel}:{line}: {text!r}" for line, text in found if (rel, text) not in OTHER_MEANINGS]


OUTSIDE_MODELS = sorted(p for p in PACKAGE.rglob("*.py") if p.parent.name != "models")


def test_no_failure_string_is_spelt_outside_models() -> None:
    spelt = [
        hit
        for path in OUTSIDE_MODELS
        for hit in _failure_literals(
            path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE))
        )
    ]
    assert not spelt, "name the probe.models.failures member instead:\n" + "\n".join(spelt)


def test_the_scan_sees_a_literal() -> None:
    sample = 'X = "connection_reset"\nY = f"unknown_failure: {X}"\nZ = "reset"\n'
    assert _failure_literals(sample, "decide/x.py") == [
        "decide/x.py:1: 'connection_reset'",
        "decide/x.py:2: 'unknown_failure'",
    ]
    assert _failure_literals('S = "interrupted"\n', "daemon/worker.py") == []
    assert _failure_literals('S = "interrupted"\n', "daemon/other.py") != []


def test_the_vocabularies_do_not_overlap() -> None:
    ours = {f.value for f in Failure}
    oonis = {f.value for f in OoniFailure}
    legacy = {f.value for f in LegacyFailure}
    assert not (ours & oonis or ours & legacy or oonis & legacy)
    assert set(ALL_FAILURES) == ours
    assert KNOWN_FAILURES == ours | oonis | legacy


def test_every_failure_has_a_kind_and_every_kind_a_failure() -> None:
    kinds = {failure_kind(f) for f in KNOWN_FAILURES}
    assert kinds == set(FailureKind)
    assert failure_kind(None) is FailureKind.OTHER
    assert failure_kind("unknown_failure: ValueError: x") is FailureKind.OTHER


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (Failure.GENERIC_TIMEOUT_ERROR, FailureKind.TIMEOUT),
        (Failure.TIMED_OUT, FailureKind.TIMEOUT),
        (Failure.CONNECTION_REFUSED, FailureKind.REFUSED),
        (Failure.CONNECTION_RESET, FailureKind.RESET),
        (Failure.EOF_ERROR, FailureKind.EOF),
        (Failure.HOST_UNREACHABLE, FailureKind.UNREACHABLE),
        (Failure.SSL_UNKNOWN_AUTHORITY, FailureKind.UNTRUSTED),
        (Failure.DNS_NXDOMAIN_ERROR, FailureKind.NXDOMAIN),
        (OoniFailure.ANDROID_DNS_CACHE_NO_DATA, FailureKind.NXDOMAIN),
        (Failure.DNS_SERVFAIL_ERROR, FailureKind.DNS),
        (Failure.SSL_FAILED_HANDSHAKE, FailureKind.OTHER),
    ],
)
def test_failure_kinds(failure: str, kind: FailureKind) -> None:
    assert failure_kind(failure) is kind


RULES = PACKAGE / "decide" / "rules.py"
# Evidence fields and calls that hold a vocabulary member: never compared with a string.
_TYPED = {"kind", "stage", "operation", "reaction", "network_state", "failure_kind"}


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.Set | ast.List):
        return [s for item in node.elts for s in _strings(item)]
    return []


def _typed(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    return (isinstance(node, ast.Attribute) and node.attr in _TYPED) or (
        isinstance(node, ast.Name) and node.id in _TYPED
    )


def _string_comparisons(source: str, *, typed_only: bool) -> list[str]:
    """Return the comparisons in `source` with a string literal: all of them, or (typed_only)
    those against a kind, a stage, an operation, a reaction or a network state."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            spelt = [s for o in operands for s in _strings(o)]
            if spelt and (not typed_only or any(_typed(o) for o in operands)):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_rule_tables_compare_no_string() -> None:
    # A rule's matcher names members (FailureKind.RESET, HopStage.TLS, Reaction.RESET…): a
    # misspelt member fails at import, where a misspelt string would never match.
    assert _string_comparisons(RULES.read_text("utf-8"), typed_only=False) == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "decide").glob("*.py")), ids=lambda p: p.name)
def test_decide_compares_no_kind_or_stage_with_a_string(path: Path) -> None:
    assert _string_comparisons(path.read_text("utf-8"), typed_only=True) == []


def test_the_comparison_scan_sees_a_string() -> None:
    sample = 'a = e.kind == "nxdomian"\nb = failure_kind(f) in ("reset", "eof")\nc = x == "y"\n'
    assert len(_string_comparisons(sample, typed_only=True)) == 2
    assert len(_string_comparisons(sample, typed_only=False)) == 3


def _constants(value: object) -> list[object]:
    if isinstance(value, tuple | frozenset):
        return [c for item in value for c in _constants(item)]
    return [value]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.id)
def test_rule_helpers_capture_members(rule: Rule[object]) -> None:
    # `_tcp_kind("reset")` fails mypy; at run time the captured kinds and stages are members.
    cells = rule.matches.__closure__ or ()
    for value in (c for cell in cells for c in _constants(cell.cell_contents)):
        if isinstance(value, str):
            assert isinstance(value, FailureKind | HopStage), f"{rule.id}: bare {value!r}"


@pytest.mark.parametrize(
    ("operation", "is_https", "depth", "stage"),
    [
        (FailedOperation.CONNECT, True, 1, HopStage.CONNECT),
        (FailedOperation.TLS_HANDSHAKE, False, 0, HopStage.TLS),
        (FailedOperation.WRITE, True, 1, HopStage.HTTP),
        (FailedOperation.READ, True, 1, HopStage.HTTP),
        (None, True, 1, HopStage.TLS),
        (None, True, 0, HopStage.HTTP),
        (None, False, 2, HopStage.HTTP),
    ],
)
def test_hop_stages(
    operation: FailedOperation | None, is_https: bool, depth: int, stage: HopStage
) -> None:
    hop = HopEvidence(operation=operation, is_https=is_https, depth=depth)
    assert hop.stage is stage


def test_observation_tags_are_ooni_shaped() -> None:
    assert observation_tags(2, 0) == ["attempt=2", "depth=0"]
    assert observation_tags(1, 3, TLS_VALIDATION) == ["attempt=1", "depth=3", "tls_validation"]


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=0, max_value=9999))
def test_tags_read_back_what_was_written(attempt: int, depth: int) -> None:
    tags = observation_tags(attempt, depth)
    assert (attempt_of(tags), depth_of(tags), has_depth_tag(tags)) == (attempt, depth, True)
    assert not only_validates(tags)
    assert only_validates(observation_tags(attempt, depth, TLS_VALIDATION))


@pytest.mark.parametrize(
    "tags",
    [[], ["depth"], ["depth=", "attempt="], ["depth=x", "attempt=-1"], ["depth=12345"],
     ["xdepth=3", "attempt=1.5"], ["depth= 3", "attempt=+2"]],
)  # fmt: skip
def test_untagged_or_malformed_tags_read_as_the_defaults(tags: list[str]) -> None:
    assert (attempt_of(tags), depth_of(tags), has_depth_tag(tags)) == (1, 0, False)


def test_members_are_stored_as_their_strings() -> None:
    # StrEnum members in a record: the stored and uploaded JSON is the one plain strings give.
    request = HttpRequestRecord(url="https://example.test/")
    named = HttpTransaction(
        failure=Failure.CONNECTION_RESET,
        x_failed_operation=FailedOperation.TLS_HANDSHAKE,
        request=request,
        t0=0.0,
        t=0.1,
        tags=observation_tags(2, 1, TLS_VALIDATION),
    )
    plain = HttpTransaction(
        failure="connection_reset",
        x_failed_operation="tls_handshake",
        request=request,
        t0=0.0,
        t=0.1,
        tags=["attempt=2", "depth=1", "tls_validation"],
    )
    assert named.model_dump_json() == plain.model_dump_json()
    assert type(named.failure) is str and type(named.x_failed_operation) is str
