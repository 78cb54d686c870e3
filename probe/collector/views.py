"""Reading the live index: the "now" matrix, windows since a moment, a page's report, an
incident's evidence. Windows come from the kept spans through the report's own functions
(report/windows.py), so they are the report's windows; nothing here reads history wholesale."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from probe import __version__
from probe.collector.live import BUCKET_MS, LiveIndex
from probe.collector.spans import SQLITE, good_between, stored_spans
from probe.models.live import LiveCell, LiveIncident, LiveNow, LiveState
from probe.models.reports import (
    Claim,
    FailureWindow,
    Incident,
    Report,
    ReportScope,
    TimelineCell,
    WindowKind,
)
from probe.report import plots
from probe.report.build import assess_claims
from probe.report.windows import Span, failure_windows, incidents, merge_overlapping, moment

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(when: datetime) -> int:
    return int((when - _EPOCH).total_seconds() * 1000)


class SqliteEngine:
    """The report's Engine over the live index (its `facts` table): for the claim queries."""

    dialect = SQLITE

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def query(self, text: str) -> list[tuple[object, ...]]:
        return self._db.execute(text).fetchall()


def names(index: LiveIndex) -> dict[str, str]:
    """ASN → the operator's name last seen."""
    return {str(n): str(v) for n, v in index.db.execute("SELECT * FROM live_networks")}


def incident_id(incident: Incident) -> str:
    return f"{incident.network}/{incident.platform}/{epoch_ms(incident.start)}"


def _merged(index: LiveIndex, kind: str, since_ms: int, where: str, params: Sequence[object]
            ) -> list[Span]:  # fmt: skip
    """The spans of `kind` ending at or after `since_ms`, with the partition's good facts inside
    each merged window set as the report counts them (windows.good_meanwhile)."""
    found = _whole(index, kind, stored_spans(index.db, kind, since_ms, where, params), since_ms)
    bounds = {id(span): b for span, b in found}
    out: list[Span] = []
    for group in merge_overlapping(span for span, _ in found):
        first = min(bounds[id(s)][:2] for s in group)
        last = max(bounds[id(s)][2:] for s in group)
        meanwhile = good_between(index.db, kind, group[0].key, first, last)
        out += [replace(s, first_seen_good=0, last_seen_good=meanwhile) for s in group]
    return out


def _whole(
    index: LiveIndex, kind: str, found: list[tuple[Span, tuple[int, str, int, str]]],
    since_ms: int,
) -> list[tuple[Span, tuple[int, str, int, str]]]:  # fmt: skip
    """Add the spans that end before `since_ms` but belong to a window that ends after it:
    per partition, those that end at or after its earliest span's start, until none is new."""
    by_key: dict[tuple[str, ...], int] = {}
    for span, (start, _, _, _) in found:
        by_key[span.key] = min(start, by_key.get(span.key, start))
    for key, earliest in by_key.items():
        bound = since_ms
        while earliest < bound:
            terms = " AND k1 = ?" + (" AND k2 = ?" if len(key) > 1 else "")
            more = stored_spans(index.db, kind, earliest, terms + " AND end_t < ?",
                                [*key, bound])  # fmt: skip
            found += more
            bound = earliest
            earliest = min([earliest, *(b[0] for _, b in more)])
    return found


@dataclass
class Windows:
    """The windows ending at or after a moment."""

    incidents: list[Incident] = field(default_factory=list)
    outages: list[FailureWindow] = field(default_factory=list)
    platform_down: list[FailureWindow] = field(default_factory=list)
    whitelisting: list[FailureWindow] = field(default_factory=list)


def windows(
    index: LiveIndex, since_ms: int, network: str | None = None, platform: str | None = None
) -> Windows:
    """Return the windows that end at or after `since_ms`, of one network or platform if given."""
    with index.lock:
        spans: dict[str, list[Span]] = {}
        for kind in ("incident", "network_outage", "whitelisting", "platform_down"):
            where, params = "", []
            if network is not None and kind != "platform_down":
                where, params = " AND k1 = ?", [network]
            if platform is not None:
                if kind == "incident":
                    where, params = where + " AND k2 = ?", [*params, platform]
                elif kind == "platform_down":
                    where, params = " AND k1 = ?", [platform]
            spans[kind] = _merged(index, kind, since_ms, where, params)
        known = names(index)
    found = Windows(
        incidents=incidents(spans["incident"], known),
        outages=failure_windows(spans["network_outage"], WindowKind.NETWORK_OUTAGE),
        platform_down=failure_windows(spans["platform_down"], WindowKind.PLATFORM_DOWN),
        whitelisting=failure_windows(spans["whitelisting"], WindowKind.WHITELISTING),
    )
    cut = moment(max(since_ms, 0))  # the look-back took in spans of other windows too: drop those
    found.incidents = [w for w in found.incidents if w.end >= cut]
    for name in ("outages", "platform_down", "whitelisting"):
        setattr(found, name, [w for w in getattr(found, name) if w.end >= cut])
    if network is not None:  # a platform down seen elsewhere only is not this network's
        found.platform_down = [w for w in found.platform_down if network in w.networks]
    if platform is not None:
        found.outages = [w for w in found.outages if platform in w.platforms]
        found.whitelisting = [w for w in found.whitelisting if platform in w.platforms]
    return found


def now(index: LiveIndex, at: datetime, stale_after_s: int) -> LiveNow:
    """Return the matrix of the latest state per network × platform."""
    at_ms = epoch_ms(at)
    with index.lock:
        rows = index.db.execute(
            "SELECT s.network, s.platform, s.state, s.blocking, s.since_ms, s.last_ms,"
            " (SELECT COUNT(*) FROM live_probe_state p WHERE p.network = s.network AND"
            "  p.platform = s.platform AND p.state = s.state AND p.t_ms >= s.since_ms)"
            " FROM live_state s ORDER BY s.network, s.platform"
        ).fetchall()
        known = names(index)
    open_incidents = {
        (i.network, i.platform): i for i in windows(index, at_ms - stale_after_s * 1000).incidents
    }
    cells = []
    for network, platform, state, blocking, since_ms, last_ms, probes in rows:
        stale = at_ms - int(last_ms) > stale_after_s * 1000
        incident = open_incidents.get((str(network), str(platform)))
        cells.append(LiveCell(
            network=str(network), network_name=known.get(str(network), ""),
            platform=str(platform),
            state=LiveState.NO_RECENT_DATA if stale else LiveState(str(state)),
            blocking="" if stale else str(blocking), since=moment(int(since_ms)),
            last_measured=moment(int(last_ms)), probes=int(probes),
            incident=None if incident is None else f"/incident/{incident_id(incident)}",
        ))  # fmt: skip
    return LiveNow(
        generated_at=at, stale_after_s=stale_after_s,
        networks=sorted({c.network for c in cells}), platforms=sorted({c.platform for c in cells}),
        cells=cells,
    )  # fmt: skip


def live_incidents(found: Windows) -> list[LiveIncident]:
    return [
        LiveIncident(incident_id=incident_id(i), path=f"/incident/{incident_id(i)}", incident=i)
        for i in found.incidents
    ]


def claims(index: LiveIndex) -> list[Claim]:
    with index.lock:
        rows = index.db.execute("SELECT claim FROM live_claims ORDER BY claim_id").fetchall()
    return [Claim.model_validate_json(str(r[0])) for r in rows]


def assessed(index: LiveIndex, chosen: Sequence[Claim]) -> list:  # type: ignore[type-arg]
    with index.lock:
        return assess_claims(SqliteEngine(index.db), chosen)  # type: ignore[arg-type]


def report(
    index: LiveIndex, since: datetime, until: datetime, *, network: str | None = None,
    platform: str | None = None,
) -> Report:  # fmt: skip
    """Return a Report of the last days (one network or platform) for the report's plots."""
    since_ms, until_ms = epoch_ms(since), epoch_ms(until)
    where = ""
    params: list[object] = [since_ms - since_ms % BUCKET_MS, until_ms]
    for column, value in (("network", network), ("platform", platform)):
        if value is not None:
            where += f" AND {column} = ?"
            params.append(value)
    with index.lock:
        rows = index.db.execute(
            "SELECT network, platform, bucket_ms, shown, n FROM live_buckets"
            f" WHERE bucket_ms >= ? AND bucket_ms < ?{where} ORDER BY network, platform,"
            " bucket_ms, shown",
            params,
        ).fetchall()
    cells: dict[tuple[str, str, int], dict[str, int]] = {}
    for net, plat, bucket, shown, n in rows:
        cells.setdefault((net, plat, bucket), {})[shown] = n
    found = windows(index, since_ms, network, platform)
    known = names(index)
    chosen = [c for c in claims(index) if _concerns(c, network, platform, known)]
    total = sum(sum(c.values()) for c in cells.values())
    shown = {k[0] for k in cells}
    scope = ReportScope(
        source="live", since=since, until=until, measurements=total,
        networks=sorted(shown), platforms=sorted({k[1] for k in cells}),
        network_names={k: v for k, v in sorted(known.items()) if k in shown},
    )  # fmt: skip
    return Report(
        generated_at=until, software_version=__version__, engine="live", scope=scope,
        bucket_seconds=BUCKET_MS // 1000, incidents=found.incidents, outages=found.outages,
        platform_down=found.platform_down, whitelisting=found.whitelisting,
        claims=[a for a in assessed(index, chosen) if epoch_ms(a.claim.end) >= since_ms],
        timeline=[_cell(key, counts) for key, counts in sorted(cells.items())],
    )  # fmt: skip


# A timeline cell is made once for what it holds (its lane, hour and counts) and kept across
# renderings: a page redrawn after a few arrivals makes only the cells they changed.
_CellKey = tuple[str, str, int, tuple[tuple[str, int], ...]]
_CELLS: dict[_CellKey, TimelineCell] = {}
_MAX_CELLS = 200_000


def _cell(key: tuple[str, str, int], counts: dict[str, int]) -> TimelineCell:
    network, platform, bucket = key
    held = (network, platform, bucket, tuple(counts.items()))
    cell = _CELLS.get(held)
    if cell is None:
        if len(_CELLS) >= _MAX_CELLS:
            _CELLS.clear()
        cell = _CELLS[held] = TimelineCell.model_construct(
            network=network, platform=platform, start=moment(bucket), counts=counts
        )
    return cell


def forget() -> None:
    """Forget the cells kept from earlier renderings (and the plots' text of them)."""
    _CELLS.clear()
    plots.forget()


def _concerns(claim: Claim, network: str | None, platform: str | None, known: dict[str, str]
              ) -> bool:  # fmt: skip
    if platform is not None and claim.platforms and platform not in claim.platforms:
        return False
    if network is not None and claim.network:
        said = claim.network.lower()
        return said == network.lower() or said in known.get(network, "").lower()
    return True


@dataclass(frozen=True)
class Evidence:
    """One measurement behind an incident."""

    seq: int
    measured_at: datetime
    verdict: str
    blocking: str
    methods: str
    input: str
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]


MAX_EVIDENCE = 200


def evidence(index: LiveIndex, incident: Incident) -> tuple[list[Evidence], int]:
    """Return the incident's blocked or throttled measurements (at most MAX_EVIDENCE, oldest
    first) with their rule ids and reasons, and how many there are in all."""
    args = (incident.network, incident.platform, epoch_ms(incident.start), epoch_ms(incident.end))
    bad = "{t}verdict IN ('blocked', 'throttled') AND {t}blocking != 'whitelisting'"
    with index.lock:
        ((total,),) = index.db.execute(
            "SELECT COUNT(*) FROM facts WHERE network = ? AND platform = ? AND t_ms >= ?"
            f" AND t_ms <= ? AND {bad.format(t='')}", args,
        ).fetchall()  # fmt: skip
        rows = index.db.execute(
            "SELECT f.seq, f.t_ms, f.verdict, f.blocking, f.methods, f.input, m.record"
            " FROM facts f JOIN src.measurements m ON m.seq = f.seq WHERE f.network = ? AND"
            " f.platform = ? AND f.t_ms >= ? AND f.t_ms <= ?"
            f" AND {bad.format(t='f.')} ORDER BY f.t_ms, f.measurement_id LIMIT ?",
            (*args, MAX_EVIDENCE),
        ).fetchall()
    return [_evidence(row) for row in rows], int(total)


def _evidence(row: tuple[object, ...]) -> Evidence:
    seq, t_ms, verdict, blocking, methods, input_, record = row
    data = json.loads(str(record))
    rule_ids: dict[str, None] = {}
    for endpoint in data.get("endpoints") or []:
        for finding in endpoint.get("findings") or []:
            if finding.get("verdict") in ("blocked", "throttled") and finding.get("rule_id"):
                rule_ids[str(finding["rule_id"])] = None
    return Evidence(
        int(str(seq)), moment(int(str(t_ms))), str(verdict), str(blocking), str(methods),
        str(input_), tuple(rule_ids), tuple(str(r) for r in data.get("reasons") or []),
    )  # fmt: skip


# Withheld from a measurement served publicly unless the operator sets show_probes: the packet
# evidence (router addresses on the volunteer's side), the resolver, the volunteer's own
# annotations and job name.
PRIVATE_FIELDS = ("packets", "resolver_ip", "annotations", "job")


def measurement_json(index: LiveIndex, seq: int, show_probes: bool) -> str | None:
    """Return one measurement's record as served publicly: no probe id, and none of
    PRIVATE_FIELDS (named in `x_withheld`), unless `show_probes`."""
    with index.lock:
        row = index.db.execute(
            "SELECT m.probe_id, m.record FROM facts f JOIN src.measurements m ON m.seq = f.seq"
            " WHERE f.seq = ?", (seq,),
        ).fetchone()  # fmt: skip
    if row is None:
        return None
    data = json.loads(str(row[1]))
    data.pop("probe_id", None)
    if show_probes:
        data["probe_id"] = str(row[0])
    else:  # what could place a volunteer more precisely than the network (docs/privacy.md)
        removed = [key for key in PRIVATE_FIELDS if data.pop(key, None) not in (None, {}, "")]
        data["x_withheld"] = removed
    return json.dumps(data, indent=1, sort_keys=True)


__all__ = [
    "Evidence",
    "SqliteEngine",
    "Windows",
    "assessed",
    "claims",
    "epoch_ms",
    "evidence",
    "forget",
    "incident_id",
    "live_incidents",
    "measurement_json",
    "names",
    "now",
    "report",
    "windows",
]
