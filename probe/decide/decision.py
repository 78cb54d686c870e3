"""Decision: a verdict, its blocking method, its reasons and the rules that made it (issue 22).

One type for an endpoint's decision (decide/verdict.py) and a target's (decide/target.py,
decide/packets.py): each step returns a new Decision with its rule's id appended, so the
record says which rows decided it, in the order applied (`TargetResult.rules`,
`EndpointResult.rules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from probe.decide.rules import Rule
from probe.decide.steps import StepRule
from probe.models.results import Blocking, Verdict


@dataclass(frozen=True)
class Decision:
    """A verdict with its blocking method, reasons and the ids of the rules that made it."""

    verdict: Verdict
    blocking: Blocking | None = None
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()


def decided(rule: Rule[Any], reasons: Iterable[str], *, cited: Iterable[str] = ()) -> Decision:
    """Return the decision a table rule makes: its verdict and method, `reasons`, and the ids
    of the findings it cites followed by its own."""
    return Decision(rule.verdict, rule.blocking, tuple(reasons), (*cited, rule.id))


def stepped(
    before: Decision,
    rule: StepRule[Any],
    reasons: Iterable[str],
    *,
    blocking: Blocking | None,
    verdict: Verdict | None = None,
    cited: Iterable[str] = (),
) -> Decision:
    """Return `before` after the step `rule`: the rule's verdict and method where it sets them,
    else `verdict` (adopted; by default `before`'s) and `blocking` (adopted or kept: the
    caller says which); `reasons`; and the rule ids with the cited findings' and the rule's
    own appended."""
    if rule.verdict is not None:
        verdict = rule.verdict
    return Decision(
        verdict=verdict if verdict is not None else before.verdict,
        blocking=rule.blocking if rule.blocking is not None else blocking,
        reasons=tuple(reasons),
        rules=(*before.rules, *cited, rule.id),
    )


def said(rule: StepRule[Any], facts: Mapping[str, str]) -> list[str]:
    """Return the sentence a step adds to the reasons: its rendered reason, or none."""
    return [rule.render(facts)] if rule.adds_reason else []
