"""`probe check --explain`: the rules that decided each target, in order (issue 22)."""

from __future__ import annotations

from rich.console import Console

from probe.cli.explain import NOT_RECORDED, explanation
from probe.models.results import Blocking, EndpointResult, TargetResult, TestKeys, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind

ENDPOINT = Endpoint(kind=EndpointKind.WEB, host="x.example", port=443, url="https://x.example/")
RULES = [
    "target.endpoint_blocked",
    "target.first_blocked_method",
    "packets.reset_to_syn",
    "packets.censor_in_path",
    "target.packets_reset_to_syn",
]


def _result(rules: list[str], endpoint_rules: list[str]) -> TargetResult:
    endpoint = EndpointResult(
        endpoint=ENDPOINT, verdict=Verdict.BLOCKED, blocking=Blocking.TCP_REFUSED,
        reasons=["connects were refused"], rules=endpoint_rules, test_keys=TestKeys(),
    )  # fmt: skip
    return TargetResult(
        input="x.example", verdict=Verdict.BLOCKED, blocking=Blocking.TCP_RESET,
        reasons=["1 of 1 endpoints blocked", "the censor sits at hop 1", "a fourth reason"],
        rules=rules, endpoints=[endpoint],
        target=Target(input="x.example", kind=TargetKind.DOMAIN, name="x.example",
                      endpoints=[ENDPOINT]),
        measurement_start_time="2026-12-06T00:00:00Z", test_runtime=0.1, software_version="t",
    )  # fmt: skip


def _printed(result: TargetResult) -> str:
    console = Console(record=True, width=400)
    console.print(explanation([result]))
    return console.export_text()


def test_the_rules_come_in_order_with_every_reason() -> None:
    text = _printed(_result(RULES, ["tcp.connect_refused", "endpoint.first_blocked"]))
    assert "decided by: " + " → ".join(RULES) in text, text
    assert "decided by: tcp.connect_refused → endpoint.first_blocked" in text, text
    assert "- a fourth reason" in text, "every reason, not the table's first three"
    # A step that adds no sentence of its own is described from its row.
    assert "target.packets_reset_to_syn: a RST answered the SYN short of the destination" in text
    assert "target.first_blocked_method: the method is the first blocked endpoint's" in text


def test_a_record_older_than_rule_ids_says_so() -> None:
    text = _printed(_result([], []))
    assert text.count(f"decided by: {NOT_RECORDED}") == 2, text


def test_records_without_rules_still_load() -> None:
    # A 0.6.0 record has no `rules`: it loads, with none.
    old = _result(RULES, RULES).model_dump(mode="json")
    del old["rules"]
    del old["endpoints"][0]["rules"]
    old["data_format_version"] = "0.6.0"
    loaded = TargetResult.model_validate(old)
    assert loaded.rules == [] and loaded.endpoints[0].rules == []
