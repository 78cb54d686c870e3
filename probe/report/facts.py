"""Flatten stored measurements into facts, the only thing the report engine reads.

Works on the JSON of a `StoredResult` as the store, a bundle or a collector holds it: records
were validated when they were stored or received, so this reads fields without building the
model (about ten times faster), and a record without the fields it needs is skipped with a
reason rather than guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from probe.models.reports import LIST_SEPARATOR, MeasurementFact
from probe.models.results import NetworkState, Verdict

if TYPE_CHECKING:
    from probe.models.ooni import ClassifiedRecord

FACT_COLUMNS: tuple[str, ...] = tuple(MeasurementFact.model_fields)
_VERDICTS = frozenset(v.value for v in Verdict)
_AFFECTED = frozenset({Verdict.BLOCKED.value, Verdict.THROTTLED.value})
_STATES = frozenset(s.value for s in NetworkState)

FactRow = tuple[str | int, ...]
# Issue 18: one 30 MiB record made the engine's CSV reader fail for its whole period. A record
# longer than this is skipped unread, and so is one whose fact would carry a longer text: a
# fact row then stays far below DuckDB's 2 MB CSV line limit whatever a record holds.
MAX_RECORD_BYTES = 8 << 20
MAX_FACT_TEXT_CHARS = 32 << 10


class UnreadableRecord(ValueError):
    """A record lacks what a fact needs."""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _joined(values: Iterable[str]) -> str:
    # The separator never appears inside a value: URLs escape "|", methods are identifiers.
    return LIST_SEPARATOR.join(dict.fromkeys(v.replace(LIST_SEPARATOR, "%7C") for v in values if v))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(text: str) -> int:
    """Return the Unix time of an ISO 8601 timestamp in whole milliseconds (naive = UTC).

    Milliseconds, not seconds: a round of targets shares its second, and the windows need
    the order in which a probe saw things.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MILLISECOND


def _state(network: object) -> str:
    """Return the network state of a record's `network` assessment ("" when absent)."""
    state = network.get("state") if isinstance(network, dict) else None
    return state if isinstance(state, str) and state in _STATES else ""


def _label(endpoint: dict[str, Any]) -> str:
    url = endpoint.get("url")
    if isinstance(url, str) and url:
        return url
    return f"{endpoint.get('host', '?')}:{endpoint.get('port', '?')}"


def fact_row(record: dict[str, Any], probe_id: str) -> FactRow:
    """Return the fact of one stored record, in FACT_COLUMNS order.

    Raises UnreadableRecord naming the first missing or malformed field.
    """
    try:
        verdict = record["verdict"]
        if verdict not in _VERDICTS:
            raise UnreadableRecord(f"unknown verdict {verdict!r}")
        target = record["target"]
        measured = epoch_ms(record["measurement_start_time"])
        endpoints = record.get("endpoints") or []
        controls = record.get("controls") or []
        affected = [e for e in endpoints if e.get("verdict") in _AFFECTED]
        loaded = [_text(c.get("url")) for c in controls if c.get("success") is True]
        return _bounded(
            (
                _text(record.get("measurement_id")) or f"{probe_id}:{measured}:{record['input']}",
                probe_id,
                measured,
                _text(record.get("probe_asn")) or "AS0",
                _text(record.get("probe_network_name")),
                _text(record.get("probe_cc")) or "ZZ",
                _text(target.get("platform")) or _text(target["name"]),
                _text(record["input"]),
                verdict,
                _text(record.get("blocking")),
                _joined(_text(e.get("blocking")) for e in affected),
                _joined(_label(e.get("endpoint") or {}) for e in affected),
                len(controls),
                len(loaded),
                _joined(loaded),
                _state(record.get("network")),
            )
        )
    except UnreadableRecord:
        raise
    except KeyError as exc:
        raise UnreadableRecord(f"missing field {exc.args[0]!r}") from exc
    except (TypeError, AttributeError, ValueError, OverflowError) as exc:
        raise UnreadableRecord(f"malformed record: {exc}") from exc


def _bounded(row: FactRow) -> FactRow:
    """`row`, or UnreadableRecord naming the first text longer than MAX_FACT_TEXT_CHARS."""
    for name, value in zip(FACT_COLUMNS, row, strict=True):
        if isinstance(value, str) and len(value) > MAX_FACT_TEXT_CHARS:
            raise UnreadableRecord(f"{name} is {len(value)} characters, more than a fact holds"
                                   f" ({MAX_FACT_TEXT_CHARS})")  # fmt: skip
    return row


@dataclass
class Skipped:
    """Records that gave no fact, counted with a few example reasons."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        """Count one skipped record; keep the first reasons for the report."""
        self.count += 1
        if len(self.reasons) < 10:
            self.reasons.append(f"{where}: {reason}")


def facts_from_json(
    lines: Iterable[tuple[str, str, str | bytes | None]], skipped: Skipped
) -> Iterator[FactRow]:
    """Yield the facts of (where, probe_id, record JSON) triples, counting unreadable ones.

    `where` names the record (its measurement id); a record of None (left unread by its
    source) or longer than MAX_RECORD_BYTES is skipped without being parsed.
    """
    for where, probe_id, text in lines:
        try:
            if text is None or len(text) > MAX_RECORD_BYTES:
                raise UnreadableRecord(f"longer than {MAX_RECORD_BYTES} bytes, left unread")
            record = json.loads(text)
            if not isinstance(record, dict):
                raise UnreadableRecord("not a JSON object")
            yield fact_row(record, probe_id)
        except (UnreadableRecord, ValueError, RecursionError) as exc:
            skipped.add(where, str(exc))


def classified_fact_row(record: ClassifiedRecord, platform_of: Callable[[str], str]) -> FactRow:
    """Return the fact of one OONI measurement re-classified by `probe classify`.

    OONI probes are anonymous: the probe id is the OONI report id (one per run of OONI Probe),
    and there are no control sites on the probe's path (OONI's test has none). Raises
    UnreadableRecord for a record that could not be classified.
    """
    if record.verdict is None or not record.input or not record.measurement_start_time:
        raise UnreadableRecord(record.error or "not classified")
    try:
        measured = epoch_ms(record.measurement_start_time.replace(" ", "T"))
    except ValueError as exc:
        raise UnreadableRecord(f"measurement_start_time: {exc}") from exc
    host = (urlsplit(record.input).hostname or record.input).lower()
    blocking = record.blocking.value if record.blocking else ""
    affected = record.verdict.value in _AFFECTED
    probe_id = f"ooni:{record.report_id}" if record.report_id else "ooni"
    return (
        # Without OONI's uid, the file and the record number tell measurements apart: the
        # report id, input and time alone collapsed 27 of 50 QA measurements (issue 20,
        # tests/report/test_cli.py::test_ooni_measurements_through_classify_into_a_report).
        record.measurement_uid
        or f"{probe_id}:{record.input}:{measured}:{Path(record.file).name}:{record.record}",
        probe_id,
        measured,
        record.probe_asn or "AS0",
        record.probe_network_name or "",
        record.probe_cc or "ZZ",
        platform_of(host),
        record.input,
        record.verdict.value,
        blocking,
        blocking if affected else "",
        record.input if affected else "",
        0,
        0,
        "",
        "",
    )


def fact_of(row: FactRow) -> MeasurementFact:
    """Return the validated model of a fact row (tests and --json use it)."""
    return MeasurementFact.model_validate(dict(zip(FACT_COLUMNS, row, strict=True)))
