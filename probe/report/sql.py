"""The report's SQL: one text for DuckDB and ClickHouse, with a thin dialect for what differs.

Portable by construction: times are integer milliseconds (no timestamp functions), lists are
"|"-joined text (no arrays), nothing is NULL in the facts table, and only standard window
functions, CASE, COUNT/SUM/MIN/MAX and LEFT JOIN are used. What differs between the engines
is in `Dialect`: string literals, distinct-concatenation, temporary tables and one setting.
Values are never interpolated from user input except through `Dialect.text`/`integer`.
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.models.reports import LIST_SEPARATOR
from probe.models.results import Blocking, NetworkState, Verdict

FACT_TYPES: dict[str, str] = {
    "measurement_id": "text",
    "probe_id": "text",
    "t_ms": "int64",
    "network": "text",
    "network_name": "text",
    "cc": "text",
    "platform": "text",
    "input": "text",
    "verdict": "text",
    "blocking": "text",
    "methods": "text",
    "endpoints": "text",
    "controls_total": "int32",
    "controls_ok": "int32",
    "control_sites_ok": "text",
    "network_state": "text",
}
# Columns added to the facts after their first format, with the value a facts file written
# before them stands for (`probe report --save-facts` files are kept for later reports).
LATER_COLUMNS: dict[str, str] = {"network_state": ""}
METHODS: tuple[str, ...] = tuple(b.value for b in Blocking)


@dataclass(frozen=True)
class Dialect:
    """What the report's SQL needs that DuckDB and ClickHouse spell differently."""

    name: str
    types: dict[str, str]
    backslash_escapes: bool  # ClickHouse reads \ in a string literal as an escape
    distinct_concat: str  # format with {column} and {sep}
    join_setting: str  # appended to queries with outer joins

    def text(self, value: str) -> str:
        """Return `value` as a string literal of this dialect."""
        if self.backslash_escapes:
            value = value.replace("\\", "\\\\").replace("'", "\\'")
        else:
            value = value.replace("'", "''")
        return f"'{value}'"

    def integer(self, value: int) -> str:
        """Return an integer literal (refusing anything that is not an int)."""
        return str(int(value))

    def concat_distinct(self, column: str) -> str:
        """Return an aggregate joining the distinct values of `column` with "|"."""
        return self.distinct_concat.format(column=column, sep=self.text(LIST_SEPARATOR))

    def column_types(self) -> str:
        """Return the facts table's column list with this dialect's types."""
        return ", ".join(f"{name} {self.types[kind]}" for name, kind in FACT_TYPES.items())


DUCKDB = Dialect(
    name="duckdb",
    types={"text": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER"},
    backslash_escapes=False,
    distinct_concat="coalesce(string_agg(DISTINCT {column}, {sep}), '')",
    join_setting="",
)
CLICKHOUSE = Dialect(
    name="clickhouse",
    types={"text": "String", "int64": "Int64", "int32": "Int32"},
    backslash_escapes=True,
    distinct_concat="arrayStringConcat(groupUniqArray({column}), {sep})",
    # Unmatched LEFT JOIN columns are NULL, as in SQL, not the type's default value.
    join_setting=" SETTINGS join_use_nulls = 1",
)


def in_list(dialect: Dialect, values: tuple[str, ...]) -> str:
    """Return "(v1, v2, …)" of string literals."""
    return "(" + ", ".join(dialect.text(v) for v in values) + ")"


_WHITELISTING = Blocking.WHITELISTING.value


@dataclass(frozen=True)
class Match:
    """Which measurements a window rule takes: every condition given must hold.

    `verdicts`: one of these verdicts; `blocking` / `not_blocking`: the target's blocking method
    is / is not one of these; `states`: the network's state was one of these.
    """

    verdicts: tuple[str, ...] = ()
    blocking: tuple[str, ...] = ()
    not_blocking: tuple[str, ...] = ()
    states: tuple[str, ...] = ()

    def sql(self, dialect: Dialect) -> str:
        """Return the condition as SQL over the facts table's columns."""
        terms = [
            f"{column} {'NOT ' * negated}IN {in_list(dialect, values)}"
            for column, values, negated in (
                ("verdict", self.verdicts, False),
                ("blocking", self.blocking, False),
                ("blocking", self.not_blocking, True),
                ("network_state", self.states, False),
            )
            if values
        ]
        return "(" + (" AND ".join(terms) or "1 = 1") + ")"

    def matches(self, verdict: str, blocking: str, state: str) -> bool:
        """Return whether one measurement's verdict, blocking and state meet the condition."""
        return (
            (not self.verdicts or verdict in self.verdicts)
            and (not self.blocking or blocking in self.blocking)
            and blocking not in self.not_blocking
            and (not self.states or state in self.states)
        )


@dataclass(frozen=True)
class WindowSpec:
    """Which measurements open a window (bad), which close it (good), partitioned by what."""

    partition: tuple[str, ...]
    bad: Match
    good: Match
    members: str  # the column whose distinct values say who took part (platforms, networks)
    details: str = "endpoints"  # the column whose distinct values the window lists


# Blocking by a method of the platform's own; whitelisting is the network's (WHITELISTING).
INCIDENTS = WindowSpec(
    partition=("network", "platform"),
    bad=Match(
        verdicts=(Verdict.BLOCKED.value, Verdict.THROTTLED.value), not_blocking=(_WHITELISTING,)
    ),
    good=Match(verdicts=(Verdict.ACCESSIBLE.value,)),
    members="input",
)
# The network worked whenever a measurement got an answer from anything: blocked counts too,
# whitelisting included (domestic destinations loaded).
OUTAGES = WindowSpec(
    partition=("network",),
    bad=Match(verdicts=(Verdict.NETWORK_OUTAGE.value,)),
    good=Match(
        verdicts=(
            Verdict.ACCESSIBLE.value,
            Verdict.BLOCKED.value,
            Verdict.THROTTLED.value,
            Verdict.SERVICE_DOWN.value,
        )
    ),
    members="platform",
)
# The platform was up whenever the control vantage point reached it: blocked counts too, but
# not whitelisting (nothing abroad was reached: it says nothing about the platform).
PLATFORM_DOWN = WindowSpec(
    partition=("platform",),
    bad=Match(verdicts=(Verdict.SERVICE_DOWN.value,)),
    good=Match(
        verdicts=(Verdict.ACCESSIBLE.value, Verdict.BLOCKED.value, Verdict.THROTTLED.value),
        not_blocking=(_WHITELISTING,),
    ),
    members="network",
)
# The network admitted only allow-listed destinations while targets failed by whitelisting; it
# was lifted when the network's state was normal again (a control site abroad loaded). Other
# states (outage, intercepted, none) neither open nor close it.
WHITELISTING = WindowSpec(
    partition=("network",),
    bad=Match(verdicts=(Verdict.BLOCKED.value,), blocking=(_WHITELISTING,)),
    good=Match(states=(NetworkState.NORMAL.value,), not_blocking=(_WHITELISTING,)),
    members="platform",
    details="control_sites_ok",
)


def period(dialect: Dialect, since: int, until: int) -> str:
    """Return the WHERE condition of the report period [since, until), in milliseconds."""
    return f"t_ms >= {dialect.integer(since)} AND t_ms < {dialect.integer(until)}"


def windows_query(dialect: Dialect, spec: WindowSpec, since: int, until: int) -> str:
    """Return the query for the windows of one kind, one row per (partition, probe, window).

    Per probe, in time order, each `good` measurement starts a new island (a running count of
    good measurements); the `bad` measurements of one island form one window, bounded by that
    island's good measurement (before) and the next island's (after). `seen_good` counts the
    good measurements of the whole partition (every probe) so far: its rise across a window is
    how many good measurements other probes made inside it. Columns: the partition, probe_id,
    island, start_t, end_t, n, throttled, per-method counts (m_<method>), the distinct endpoint
    methods, the distinct `details` (endpoints, or control sites) and members, good_before,
    good_after, first_seen_good, last_seen_good. A spec's bad and good never overlap.
    """
    part = ", ".join(spec.partition)
    bad, good = spec.bad.sql(dialect), spec.good.sql(dialect)
    same = " AND ".join(f"{{a}}.{c} = s.{c}" for c in (*spec.partition, "probe_id"))
    method_sums = ", ".join(
        f"SUM(CASE WHEN blocking = {dialect.text(m)} THEN 1 ELSE 0 END) AS m_{m}" for m in METHODS
    )
    method_cols = ", ".join(f"s.m_{m}" for m in METHODS)
    return f"""
WITH runs AS (
    SELECT {part}, probe_id, t_ms, verdict, blocking, methods,
           {spec.details} AS details, {spec.members} AS member,
           CASE WHEN {bad} THEN 1 ELSE 0 END AS bad,
           SUM(CASE WHEN {good} THEN 1 ELSE 0 END) OVER (
               PARTITION BY {part}, probe_id ORDER BY t_ms, measurement_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island,
           SUM(CASE WHEN {good} THEN 1 ELSE 0 END) OVER (
               PARTITION BY {part} ORDER BY t_ms, measurement_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seen_good
    FROM facts
    WHERE {period(dialect, since, until)} AND ({bad} OR {good})
),
spans AS (
    SELECT {part}, probe_id, island, MIN(t_ms) AS start_t, MAX(t_ms) AS end_t, COUNT(*) AS n,
           SUM(CASE WHEN verdict = {dialect.text(Verdict.THROTTLED.value)} THEN 1 ELSE 0 END)
               AS throttled,
           {method_sums},
           {dialect.concat_distinct("methods")} AS all_methods,
           {dialect.concat_distinct("details")} AS all_endpoints,
           {dialect.concat_distinct("member")} AS members,
           MIN(seen_good) AS first_seen_good, MAX(seen_good) AS last_seen_good
    FROM runs WHERE bad = 1
    GROUP BY {part}, probe_id, island
),
goods AS (
    SELECT {part}, probe_id, island, MIN(t_ms) AS t_ms
    FROM runs WHERE bad = 0
    GROUP BY {part}, probe_id, island
)
SELECT {", ".join(f"s.{c}" for c in spec.partition)}, s.probe_id, s.island, s.start_t, s.end_t,
       s.n, s.throttled, {method_cols}, s.all_methods, s.all_endpoints,
       s.members, b.t_ms AS good_before, a.t_ms AS good_after,
       s.first_seen_good, s.last_seen_good
FROM spans s
LEFT JOIN goods b ON {same.format(a="b")} AND b.island = s.island
LEFT JOIN goods a ON {same.format(a="a")} AND a.island = s.island + 1
ORDER BY {", ".join(f"s.{c}" for c in spec.partition)}, s.start_t, s.probe_id
{dialect.join_setting}"""


def any_bad_query(dialect: Dialect, spec: WindowSpec, since: int, until: int) -> str:
    """Return one row, one column: 1 if any measurement in the period opens a window of `spec`,
    else 0 (a scan that stops at the first, before the window query's sorts)."""
    return f"""
SELECT COUNT(*) FROM (
    SELECT 1 AS found FROM facts WHERE {period(dialect, since, until)} AND {spec.bad.sql(dialect)}
    LIMIT 1
) AS first_bad"""


def names_query(dialect: Dialect, since: int, until: int) -> str:
    """Return (network, network_name, platform) triples present in the period, with counts."""
    return f"""
SELECT network, network_name, platform, COUNT(*) AS n
FROM facts WHERE {period(dialect, since, until)}
GROUP BY network, network_name, platform
ORDER BY network, network_name, platform"""


def scope_query(dialect: Dialect, since: int, until: int) -> str:
    """Return one row: measurements, probes, first and last time in the period."""
    return f"""
SELECT COUNT(*) AS n, COUNT(DISTINCT probe_id) AS probes, MIN(t_ms) AS first_t, MAX(t_ms) AS last_t
FROM facts WHERE {period(dialect, since, until)}"""


def timeline_query(
    dialect: Dialect, since: int, until: int, bucket_s: int, *, with_times: bool = False
) -> str:
    """Return measurement counts per (network, platform, bucket start in ms, verdict); blocked
    measurements of method whitelisting count under "whitelisting". `with_times` adds two
    columns: the first and the last measurement's t_ms in the row."""
    width = dialect.integer(bucket_s * 1000)
    verdict = (
        f"CASE WHEN {WHITELISTING.bad.sql(dialect)} THEN {dialect.text(_WHITELISTING)}"
        " ELSE verdict END"
    )
    times = ", MIN(t_ms) AS first_ms, MAX(t_ms) AS last_ms" if with_times else ""
    return f"""
SELECT network, platform, t_ms - (t_ms % {width}) AS bucket, {verdict} AS shown,
 COUNT(*) AS n{times}
FROM facts WHERE {period(dialect, since, until)}
GROUP BY network, platform, t_ms - (t_ms % {width}), {verdict}
ORDER BY network, platform, bucket, shown"""


def claim_filter(dialect: Dialect, network: str | None, platforms: tuple[str, ...]) -> str:
    """Return the extra WHERE terms of a claim: its network (ASN or name part), its platforms."""
    terms = []
    if network:
        pattern = "%" + network.lower().replace("%", "").replace("_", "") + "%"
        terms.append(
            f"(lower(network) = {dialect.text(network.lower())}"
            f" OR lower(network_name) LIKE {dialect.text(pattern)})"
        )
    if platforms:
        terms.append(f"platform IN {in_list(dialect, platforms)}")
    return "".join(f" AND {term}" for term in terms)


def claim_query(
    dialect: Dialect, since: int, until: int, network: str | None, platforms: tuple[str, ...]
) -> str:
    """Return the evidence rows of a claim's window, grouped so the rows stay few.

    Columns: network, platform, verdict, blocking, control_sites_ok (for blocked rows only),
    controls_failed_all (0/1), controls_up (0/1), network_state, n, probe_ids (distinct, joined).
    """
    affected = in_list(dialect, (Verdict.BLOCKED.value, Verdict.THROTTLED.value))
    return f"""
SELECT network, platform, verdict, blocking,
       CASE WHEN verdict IN {affected} THEN control_sites_ok ELSE '' END AS sites,
       CASE WHEN controls_total > 0 AND controls_ok = 0 THEN 1 ELSE 0 END AS controls_failed,
       CASE WHEN controls_ok > 0 THEN 1 ELSE 0 END AS controls_up, network_state,
       COUNT(*) AS n, {dialect.concat_distinct("probe_id")} AS probe_ids
FROM facts
WHERE {period(dialect, since, until)}{claim_filter(dialect, network, platforms)}
GROUP BY network, platform, verdict, blocking,
         CASE WHEN verdict IN {affected} THEN control_sites_ok ELSE '' END,
         CASE WHEN controls_total > 0 AND controls_ok = 0 THEN 1 ELSE 0 END,
         CASE WHEN controls_ok > 0 THEN 1 ELSE 0 END, network_state
ORDER BY network, platform, verdict, blocking, network_state"""
