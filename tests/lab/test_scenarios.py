"""Every scenario of the lab table: real packets through a real censoring router, the real CLI.

For each scenario the ISP's censor is put in place, `probe check --json` runs in the client
namespace, and every target's verdict and blocking method is compared with the table; targets
the table does not name must come out accessible. The probe's public address (the ISP's SNAT
address, which the helper sees and echoes) must not appear anywhere in the output.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from probe.config import load_settings
from probe.decide import DecisionContext, endpoint_verdict, network_assessment, target_verdict
from probe.models.results import TargetResult
from probe.runner import load_fingerprints

from . import world
from .netns import Lab
from .scenarios import ACCESSIBLE, SCENARIOS, Scenario


def _redecide(lab: Lab, records: list[dict[str, Any]]) -> list[str]:
    """Return where the verdict cannot be reproduced from the stored record alone.

    The record (scrubbed, as printed, stored and uploaded) must carry all the evidence for its
    verdict: re-running the pure decide functions on it, with the configuration the probe ran
    with, must give the same verdicts. `probe classify` and the collector rely on this.
    """
    settings = load_settings(lab.run_dir / "probe.toml", {})
    fingerprints = load_fingerprints(settings)
    problems = []
    for raw in records:
        result = TargetResult.model_validate(raw)
        context = DecisionContext(
            routable=tuple(settings.network.routable),
            fingerprints=fingerprints,
            controls=tuple(result.controls),
        )
        endpoints = [endpoint_verdict(e.endpoint, e.test_keys, context) for e in result.endpoints]
        loaded = result.network.loaded_targets if result.network is not None else []
        network = network_assessment(result.controls, loaded)
        if network != result.network:
            problems.append(f"{result.input}: the record's network state cannot be reproduced")
        decision = target_verdict(
            result.target, endpoints, context, result.throughput, result.packets, network
        )
        verdict, blocking = decision.verdict, decision.blocking
        if (verdict, blocking) != (result.verdict, result.blocking):
            problems.append(
                f"{result.input}: the record says {result.verdict}/{result.blocking}, re-deciding"
                f" it gives {verdict}/{blocking}"
            )
        rules = [list(decision.rules), *(e.rules for e in endpoints)]
        if rules != [result.rules, *(e.rules for e in result.endpoints)]:
            problems.append(f"{result.input}: rules {result.rules} re-decided as {rules}")
    return problems


PUBLIC_ADDRESS = re.compile(rf"(?<![\d.]){re.escape(world.PUBLIC_ADDRESS)}(?![\d])")


def _describe(record: dict[str, Any]) -> str:
    endpoints = "; ".join(
        f"{e['endpoint']['url'] if e['endpoint'].get('url') else e['endpoint']}: {e['verdict']}"
        f"/{e['blocking']} ({' | '.join(e['reasons'][:2])})"
        for e in record["endpoints"]
    )
    return f"reasons={record['reasons'][:3]} endpoints=[{endpoints}]"


def _judge(
    lab: Lab,
    name: str,
    step: str,
    targets: tuple[str, ...],
    expect: dict[str, tuple[str, str | None]],
    records: list[dict[str, Any]],
    output: str,
    mentions: dict[str, str] | None = None,
) -> None:
    mentions = mentions or {}
    by_input = {r["input"]: r for r in records}
    problems = []
    for target in targets:
        record = by_input.get(target)
        if record is None:
            problems.append(f"{target}: no result")
            continue
        wanted = expect.get(target, ACCESSIBLE)
        got = (record["verdict"], record["blocking"])
        if got != wanted:
            problems.append(
                f"{target}: expected verdict/blocking {wanted}, got {got}; {_describe(record)}"
            )
    for target, text in mentions.items():
        reasons = by_input.get(target, {}).get("reasons", [])
        if not any(text in reason for reason in reasons):
            problems.append(f"{target}: expected reasons mentioning {text!r}, got {reasons}")
    problems += _redecide(lab, records)
    if PUBLIC_ADDRESS.search(output):
        problems.append(f"the probe's public address {world.PUBLIC_ADDRESS} is in the output")
    assert not problems, f"scenario {name} ({step}):\n" + "\n".join(problems)


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=list(SCENARIOS))
def test_scenario(lab: Lab, scenario: Scenario) -> None:
    lab.reset()
    lab.apply(scenario.censor)
    records, output = lab.check(list(scenario.targets))
    _judge(
        lab,
        scenario.name,
        "first check",
        scenario.targets,
        scenario.expect,
        records,
        output,
        scenario.mentions,
    )
    if scenario.inspect is not None:
        problems = scenario.inspect(records)
        assert not problems, f"scenario {scenario.name}:\n" + "\n".join(problems)
    for number, step in enumerate(scenario.then, start=2):
        if step.censor is not None:
            lab.reset()
            lab.apply(step.censor)
        records, output = lab.check(list(step.targets))
        _judge(
            lab,
            scenario.name,
            f"check {number}: {step.does}",
            step.targets,
            step.expect,
            records,
            output,
        )
