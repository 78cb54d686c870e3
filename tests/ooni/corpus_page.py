"""The generated section of docs/ooni-agreement.md for the corpus of real OONI measurements:
per source, per record, and the records where we or OONI are wrong (ooni/corpus.py scores
them; `PYTHONPATH=tests python -m ooni.corpus` rewrites the section)."""

from __future__ import annotations

from collections import Counter

from probe.models.ooni import ClassifiedRecord

from .corpus import Label, Scored

BEGIN = "<!-- BEGIN GENERATED corpus: PYTHONPATH=tests python -m ooni.corpus -->\n"
END = "<!-- END GENERATED corpus -->\n"
_MARK = {(True, True): "yes", (True, False): "verdict only", (False, False): "no"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _share(items: list[Scored], who: str, exact: bool) -> str:
    """Return "right/total" for `who` ("ours", "ours_fp" or "ooni")."""
    right = sum(getattr(s, who)[int(exact)] for s in items)
    return f"{right}/{len(items)}"


def _verdict(record: ClassifiedRecord) -> str:
    if record.verdict is None:
        return f"error: {record.error}"
    return record.verdict.value + (f" ({record.blocking.value})" if record.blocking else "")


def _truth(label: Label) -> str:
    methods = "|".join(sorted(m.value for m in label.methods))
    return label.truth.value + (f" ({methods})" if methods else "")


def _published(record: ClassifiedRecord) -> str:
    def one(value: object) -> str:
        return "null" if value is None else str(value).lower()

    return f"{one(record.ooni_blocking)}/{one(record.ooni_accessible)}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def source_table(items: list[Scored]) -> str:
    """Return the per-source Markdown table, with a total row."""
    lines = [
        "| source | records | countries | test versions | ours right | ours exact "
        "| ours + OONI fingerprints right | exact | OONI right | OONI exact |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[Scored]] = {}
    for item in items:
        groups.setdefault(item.label.row["source_repo"], []).append(item)
    for source, group in [*sorted(groups.items()), ("**all**", items)]:
        countries = sorted({s.label.row["country"] for s in group})
        versions = sorted({s.label.row["test_version"] for s in group})
        shares = [
            _share(group, who, bool(exact))
            for who in ("ours", "ours_fp", "ooni")
            for exact in (0, 1)
        ]
        lines.append(
            _row([source, str(len(group)), ", ".join(countries), ", ".join(versions), *shares])
        )
    return "\n".join(lines) + "\n"


def record_table(items: list[Scored]) -> str:
    """Return the per-record Markdown table: ground truth, OONI, ours, our first reason."""
    lines = [
        "| file | input | cc / ASN | version | edited by source | ground truth | OONI | ours "
        "| ours right | with OONI fingerprints | OONI right | our first reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in items:
        row, record = s.label.row, s.record
        with_fp = _verdict(s.with_fingerprints)
        lines.append(
            _row(
                [
                    f"`{s.label.file}`",
                    record.input or "",
                    f"{row['country']} / {row['asn']}",
                    row["test_version"],
                    "yes" if s.label.edited else "no",
                    _truth(s.label),
                    _published(record),
                    _verdict(record),
                    _MARK[s.ours],
                    "same" if with_fp == _verdict(record) else f"{with_fp}: {_MARK[s.ours_fp]}",
                    _MARK[s.ooni],
                    record.reasons[0] if record.reasons else "",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def wrong_lists(items: list[Scored]) -> str:
    """Return the records where our verdict, then OONI's, is not the ground truth's."""
    ours = [
        f"- `{s.label.file}` ({s.label.row['country']}): ground truth {_truth(s.label)}, "
        f"ours {_verdict(s.record)}: {_cell(s.record.reasons[0] if s.record.reasons else '')}"
        for s in items
        if not s.ours[0]
    ]
    ooni = [
        f"- `{s.label.file}` ({s.label.row['country']}): ground truth {_truth(s.label)}, "
        f"OONI {_published(s.record)} (category: {s.label.row['category'].replace('_', ' ')})"
        for s in items
        if not s.ooni[0]
    ]
    return (
        "Where our verdict is wrong:\n\n"
        + ("\n".join(ours) or "- none")
        + "\n\nWhere OONI's published verdict is wrong:\n\n"
        + ("\n".join(ooni) or "- none")
        + "\n"
    )


def section(items: list[Scored]) -> str:
    """Return the generated corpus section: per source, per record, the wrong ones, counts."""
    counts = Counter(s.record.agreement.value for s in items)
    unread = sum(1 for s in items if s.record.verdict is None)
    return (
        source_table(items)
        + "\n"
        + record_table(items)
        + "\n"
        + wrong_lists(items)
        + f"\n{len(items)} records, {unread} unreadable; agreement with OONI: "
        + ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        + ".\n"
    )


def render(page: str, items: list[Scored]) -> str:
    """Return `page` with its corpus section replaced by what the code gives today."""
    start = page.find(BEGIN)
    stop = page.find(END, start)
    if start < 0 or stop < 0:
        raise ValueError(f"ooni-agreement.md: no section {BEGIN.strip()} … {END.strip()}")
    return page[: start + len(BEGIN)] + section(items) + page[stop:]
