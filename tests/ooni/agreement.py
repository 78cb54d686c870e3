"""The generated parts of docs/ooni-agreement.md: how OONI's `blocking` maps onto our verdicts,
and our verdict beside OONI's for every web_connectivity QA measurement of the shared data.

Regenerate (rewrites the page between its markers):
    PYTHONPATH=tests .venv/bin/python -m ooni.agreement
tests/ooni/test_agreement_doc.py fails when the committed page differs from what the code gives.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from decide.test_real_data import FINGERPRINTS, QA, QA_NOT_JUDGED, _ooni, _packaged

from probe.cli.classify import classify_file, summary
from probe.decide import DecisionContext
from probe.models.ooni import OONI_BLOCKING_METHODS, OONI_NOT_BLOCKED, Agreement, ClassifiedRecord

PAGE = Path(__file__).resolve().parents[2] / "docs" / "ooni-agreement.md"

# Why our verdict is not OONI's (or, for the throttling cases, not METHODS.md §11's): one line
# each, citing §11's row. A test checks every such case has one, and no other case does.
WHY: dict[str, str] = {
    "cloudflareCAPTCHAWithHTTP": "§11 #20: the server itself refused the probe (a 503 with"
    " Cloudflare's challenge page, which our fingerprints mark benign) while the helper got 200:"
    " a server-side refusal, not interference. OONI's page comparison sees only a difference.",
    "cloudflareCAPTCHAWithHTTPS": "§11 #20: over verified TLS the server itself answered 503"
    " (its challenge page) while the helper got 200: a server-side refusal, so inconclusive."
    " OONI accepts any final https response as accessible (probe#2661).",
    "redirectWithBrokenLocationForHTTP": "§11 #17: blocked either way. The probe got a response"
    " the helper did not, a 302 whose Location has no host: a page that differs (http_diff), not"
    " a failed fetch. OONI's client fails on the Location, hence http-failure (probe#2628).",
    "redirectWithBrokenLocationForHTTPS": "§11 #17: over verified TLS only the server can have"
    " sent the broken redirect, so it is no evidence of interference: inconclusive. OONI"
    " reports its client's failure on the Location as http-failure.",
    "throttlingWithHTTP": "Not judged: §11 #22 wants throttled when the target runs at most"
    " 0.1× its references over repeats; one OONI record has neither repeats nor a reference"
    " download (and no bytes_received_cumulative samples). The response began (200) and its"
    " body was still arriving at the timeout: a slow transfer, not a block"
    " (`http.body_timeout`), so inconclusive. `probe check` runs its throughput test here.",
    "throttlingWithHTTPS": "Not judged: as throttlingWithHTTP, for the SNI: the 200 response"
    " began and its body was cut by the timeout (`http.body_timeout`).",
}

_BEGIN = "<!-- BEGIN GENERATED {name}: PYTHONPATH=tests python -m ooni.agreement -->\n"
_END = "<!-- END GENERATED {name} -->\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _published(value: object) -> str:
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _ours(record: ClassifiedRecord) -> str:
    if record.verdict is None:
        return f"error: {record.error}"
    method = f" ({record.blocking.value})" if record.blocking else ""
    return f"{record.verdict.value}{method}"


def mapping_table() -> str:
    """Return the Markdown table of OONI's published pairs and the verdicts that agree."""
    rows = ["| OONI blocking / accessible | agrees with our verdict |", "|---|---|"]
    for name, methods in OONI_BLOCKING_METHODS.items():
        listed = ", ".join(sorted(m.value for m in methods))
        rows.append(f"| `{name}` / false | blocked, by {listed} |")
    for accessible, verdict in OONI_NOT_BLOCKED.items():
        rows.append(f"| false / {_published(accessible)} | {verdict.value} |")
    rows.append("| null / any | inconclusive |")
    return "\n".join(rows) + "\n"


def classified() -> dict[str, ClassifiedRecord]:
    """Return our record for every QA case, with our fingerprints and OONI's, by case name."""
    context = DecisionContext(fingerprints=_packaged() + _ooni("http") + _ooni("dns"))
    found: dict[str, ClassifiedRecord] = {}
    for path in sorted(QA.glob("*.json")):
        for record in classify_file(path, context):
            found[path.stem] = record
    return found


def agreement_table(records: dict[str, ClassifiedRecord]) -> str:
    """Return the Markdown table of every QA case in EXPECTED.csv's order, and the counts."""
    with (QA / "EXPECTED.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lines = [
        "| # | case | input | simulated condition | OONI | ours | agreement | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    counts: Counter[str] = Counter()
    for number, row in enumerate(rows, 1):
        record = records[row["case"]]
        counts[record.agreement.value] += 1
        cells = [
            str(number),
            f"`{row['case']}`",
            record.input or "",
            row["simulated_condition"],
            f"{_published(record.ooni_blocking)}/{_published(record.ooni_accessible)}",
            _ours(record),
            record.agreement.value,
            WHY.get(row["case"], ""),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + summary(counts).replace("records", "cases") + ".\n"


def needs_why(records: dict[str, ClassifiedRecord]) -> set[str]:
    """Return the cases that need a line in WHY: we differ from OONI, or §11 does not judge."""
    return {c for c, r in records.items() if r.agreement is not Agreement.AGREE} | QA_NOT_JUDGED


def render(page: str, records: dict[str, ClassifiedRecord]) -> str:
    """Return `page` with its generated sections replaced by what the code gives today."""
    for name, body in (("mapping", mapping_table()), ("table", agreement_table(records))):
        begin, end = _BEGIN.format(name=name), _END.format(name=name)
        start = page.find(begin)
        stop = page.find(end, start)
        if start < 0 or stop < 0:
            raise ValueError(f"{PAGE.name}: no section {begin.strip()} … {end.strip()}")
        page = page[: start + len(begin)] + body + page[stop:]
    return page


if __name__ == "__main__":
    if not QA.exists() or not FINGERPRINTS.exists():
        sys.exit(f"shared data not found at {QA.parent} (set PROBE_SHARED_DIR)")
    PAGE.write_text(render(PAGE.read_text(encoding="utf-8"), classified()), encoding="utf-8")
    print(f"wrote {PAGE}")
