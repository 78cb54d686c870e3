"""`probe check --explain`: each target's decision, the rules applied in order (issue 22).

Pure: records in, a rich renderable out. The rules come from the record (`TargetResult.rules`,
`EndpointResult.rules`); a step that adds no sentence of its own is described from its row
(decide/steps.py), the others speak through the reasons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Group
    from rich.text import Text

    from probe.models.results import EndpointResult, TargetResult

NOT_RECORDED = "not recorded (a record older than data format 0.7.0)"


def rules_text(rules: list[str]) -> Text:
    """Return "decided by: a → b → c", or say that the record predates rule ids."""
    from rich.text import Text

    line = Text("decided by: ", style="bold")
    line.append(" → ".join(rules) if rules else NOT_RECORDED)
    return line


def _described(rules: list[str]) -> list[str]:
    """Return "id: what the step did" for each step row that adds no sentence of its own."""
    from probe.decide.steps import STEP_RULES_BY_ID

    rows = [STEP_RULES_BY_ID[r] for r in dict.fromkeys(rules) if r in STEP_RULES_BY_ID]
    return [f"{row.id}: {row.reason}" for row in rows if not row.adds_reason]


def _decision(rules: list[str], reasons: list[str], indent: int) -> list[Any]:
    from rich.padding import Padding
    from rich.text import Text

    parts: list[Any] = [Padding(rules_text(rules), (0, 0, 0, indent))]
    parts += [Padding(Text(line, style="dim"), (0, 0, 0, indent + 2)) for line in _described(rules)]
    parts += [Padding(Text(f"- {reason}"), (0, 0, 0, indent)) for reason in reasons]
    return parts


def _endpoint(result: EndpointResult) -> list[Any]:
    from rich.padding import Padding
    from rich.text import Text

    from probe.cli.render import verdict_text

    line = Text(f"endpoint {result.endpoint.label}: ")
    blocking = result.blocking.value if result.blocking else None
    line.append_text(verdict_text(result.verdict.value, blocking))
    return [Padding(line, (0, 0, 0, 2)), *_decision(result.rules, result.reasons, 4)]


def explanation(results: list[TargetResult]) -> Group:
    """Return, per target, its verdict, the rules that decided it in the order applied, every
    reason, and the same for each of its endpoints."""
    from rich.console import Group
    from rich.text import Text

    from probe.cli.render import verdict_text

    parts: list[Any] = []
    for result in results:
        line = Text(result.input, style="bold")
        line.append("  ")
        blocking = result.blocking.value if result.blocking else None
        line.append_text(verdict_text(result.verdict.value, blocking))
        parts += [Text(""), line, *_decision(result.rules, result.reasons, 2)]
        for endpoint in result.endpoints:
            parts += _endpoint(endpoint)
    return Group(*parts)
