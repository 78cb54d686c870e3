"""Invariants over the rule tables, the package surface and the methodology document."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from typing import Any

import pytest

import probe.decide
from probe.decide import DEFAULT_INTERCEPTION_ISSUERS
from probe.decide.evidence import (
    DnsEvidence,
    HopEvidence,
    NetworkEvidence,
    NetworkStateEvidence,
    PageEvidence,
    TargetEvidence,
    TcpEvidence,
    TlsEvidence,
)
from probe.decide.packet_evidence import DnsPacketEvidence, TcpPacketEvidence, TraceEvidence
from probe.decide.rules import (
    ALL_RULES,
    DNS_PACKET_RULES,
    DNS_RULES,
    HOP_RULES,
    NETWORK_RULES,
    NETWORK_STATE_RULES,
    PAGE_RULES,
    TARGET_RULES,
    TCP_PACKET_RULES,
    TCP_RULES,
    TLS_RULES,
    TRACE_RULES,
    Rule,
)
from probe.decide.steps import ALL_STEP_RULES
from probe.decide.tls import issuer_matches
from probe.models.results import Blocking, Layer, Verdict

ROOT = Path(__file__).resolve().parents[2]
METHODOLOGY = ROOT / "docs" / "methodology.md"
TABLES: dict[str, tuple[tuple[Rule[Any], ...], Any]] = {
    "dns": (DNS_RULES, DnsEvidence),
    "tcp": (TCP_RULES, TcpEvidence),
    "tls": (TLS_RULES, TlsEvidence),
    "hop": (HOP_RULES, HopEvidence),
    "page": (PAGE_RULES, PageEvidence),
    "network": (NETWORK_RULES, NetworkEvidence),
    "state": (NETWORK_STATE_RULES, NetworkStateEvidence),
    "target": (TARGET_RULES, TargetEvidence),
    "dns_packets": (DNS_PACKET_RULES, DnsPacketEvidence),
    "tcp_packets": (TCP_PACKET_RULES, TcpPacketEvidence),
    "traces": (TRACE_RULES, TraceEvidence),
}
# Packet rules that sharpen a blocked target's reasons without naming a method of their own:
# an injected RST or the censor's hop is evidence about the method the endpoints found.
SHARPENING = {r.id for r in (*TCP_PACKET_RULES, *TRACE_RULES) if r.verdict is Verdict.BLOCKED}
# Target rules that take the method from the run's network state, not from the endpoints.
FROM_STATE = {"target.whitelisted_network"}


def test_rule_ids_are_unique() -> None:
    ids = [r.id for r in (*ALL_RULES, *ALL_STEP_RULES)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate rule ids: {duplicates}"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.id)
def test_rule_shape(rule: Rule[Any]) -> None:
    assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", rule.id), (
        f"{rule.id}: id expected layer.what_was_seen"
    )
    prefix = rule.id.split(".")[0]
    expected = Layer.NETWORK if prefix in ("target", "state") else Layer(prefix)
    assert rule.layer is expected, f"{rule.id}: layer expected {expected}, got {rule.layer}"
    assert rule.reason.strip(), f"{rule.id}: reason expected non-empty"
    if (rule.id.startswith("target.") and rule.id not in FROM_STATE) or rule.id in SHARPENING:
        assert rule.blocking is None, f"{rule.id}: takes the method from the endpoints"
    else:
        has_blocking = rule.verdict in (Verdict.BLOCKED, Verdict.THROTTLED)
        assert (rule.blocking is not None) == has_blocking, (
            f"{rule.id}: blocking expected iff blocked, got {rule.verdict} / {rule.blocking}"
        )
    if rule.self_evident:
        assert rule.verdict is Verdict.BLOCKED, f"{rule.id}: self-evident rules must block"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_reason_templates_cite_known_facts(name: str) -> None:
    table, evidence_type = TABLES[name]
    facts = set(evidence_type().facts())
    for rule in table:
        fields = {f for _, f, _, _ in string.Formatter().parse(rule.reason) if f}
        unknown = fields - facts
        assert not unknown, (
            f"{rule.id}: template fields expected in {sorted(facts)}, got {sorted(unknown)}"
        )


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_end_with_a_catch_all(name: str) -> None:
    table, evidence_type = TABLES[name]
    assert table[-1].matches(evidence_type()), (
        f"{name}: last rule {table[-1].id} must match anything"
    )


def test_every_blocking_value_is_reachable() -> None:
    reachable = {r.blocking for r in ALL_RULES if r.blocking is not None}
    missing = set(Blocking) - reachable - {Blocking.THROTTLING}  # throttling: a later issue
    assert not missing, f"Blocking values no rule produces: {sorted(m.value for m in missing)}"


def test_every_rule_id_is_documented() -> None:
    text = METHODOLOGY.read_text(encoding="utf-8")
    # The layer tables' rules, and the combining steps' (decide/steps.py, issue 22).
    ids = [r.id for r in (*ALL_RULES, *ALL_STEP_RULES)]
    missing = [i for i in ids if f"`{i}`" not in text]
    assert not missing, f"rule ids missing from docs/methodology.md: {missing}"


def test_every_verdict_and_blocking_value_is_documented() -> None:
    text = METHODOLOGY.read_text(encoding="utf-8")
    missing = [v.value for v in (*Verdict, *Blocking) if f"`{v.value}`" not in text]
    assert not missing, f"values missing from docs/methodology.md: {missing}"


def test_public_surface() -> None:
    assert sorted(probe.decide.__all__) == sorted(
        [
            "DEFAULT_INTERCEPTION_ISSUERS",
            "Decision",
            "DecisionContext",
            "Fingerprint",
            "cut_while_arriving",
            "endpoint_verdict",
            "may_be_throttled",
            "network_assessment",
            "outage_beyond_doubt",
            "parse_fingerprints",
            "target_verdict",
        ]
    )
    for name in probe.decide.__all__:
        assert hasattr(probe.decide, name), f"__all__ names {name}, which the package lacks"


def test_modules_named_in_the_docstring_exist() -> None:
    package = Path(probe.decide.__file__).parent
    doc = probe.decide.__doc__ or ""
    named = re.findall(r"^    ([a-z_]+)\s{2,}", doc, flags=re.MULTILINE)
    assert named, "the package docstring lists no modules"
    missing = [m for m in named if not (package / f"{m}.py").exists()]
    assert not missing, f"modules named in probe/decide/__init__.py but absent: {missing}"
    present = {p.stem for p in package.glob("*.py")} - {"__init__"}
    assert present == set(named), (
        f"modules not listed in the docstring: {sorted(present - set(named))}"
    )


def test_decide_uses_no_io_clock_or_randomness() -> None:
    banned = {
        "os",
        "time",
        "datetime",
        "random",
        "logging",
        "socket",
        "pathlib",
        "asyncio",
        "secrets",
    }
    for path in Path(probe.decide.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not set(names) & banned, f"{path.name} imports {set(names) & banned}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("open", "print"), f"{path.name} calls {node.func.id}()"


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        ("C=KZ, CN=Qaznet Trust Network", True),
        ("CN=Security Certificate,C=KZ", True),
        ("/C=KZ/CN=Security Certificate", True),
        ("CN=Security Certificate,C=US", False),
        ("C=KZ,O=ISCA,CN=Information Security Certification Authority", True),
        ("CN=НЕГІЗГІ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ,C=KZ", True),
        ("CN=R3,O=Let's Encrypt,C=US", False),
    ],
)
def test_known_interception_issuers(dn: str, expected: bool) -> None:
    got = any(issuer_matches(dn, entry) for entry in DEFAULT_INTERCEPTION_ISSUERS)
    assert got is expected, f"{dn}: interception match expected {expected}, got {got}"
