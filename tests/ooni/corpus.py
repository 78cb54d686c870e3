"""The corpus of real OONI measurements (tests/data/ooni-corpus): its labels, our verdict and
OONI's against the ground truth, and the generated per-source table of docs/ooni-agreement.md.

Regenerate the table (rewrites the page between its corpus markers):
    PYTHONPATH=tests .venv/bin/python -m ooni.corpus
tests/ooni/test_corpus.py fails when the committed page differs from what the code gives.

Scoring. A verdict is right when it is the ground truth's; it is exactly right when, for a
block, its method is also one the label allows (`ground_truth_methods`, "|"-separated; empty
means any). OONI's published pair is read in our vocabulary: a `blocking` string is `blocked`
by the methods OONI_BLOCKING_METHODS gives it, false/true `accessible`, false/false
`service_down`, null `inconclusive`. The corpus is classified as `probe classify` does out of
the box: our packaged fingerprints only (no OONI CSV).

Where a record lives. A `file` is a file of tests/data/ooni-corpus, or `shared:<path>` for a
file of the shared OONI data (`$PROBE_SHARED_DIR/data/ooni/<path>`, e.g.
`shared:fastpath/bug_352.json`, OONI's backend fixtures): the shared data is used in tests,
never copied into the repository. Without it the tests that need it skip, saying why (and fail
under PROBE_TEST_STRICT=1), and the table cannot be regenerated.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from decide.test_real_data import FINGERPRINTS, _ooni, _packaged

from probe.cli.classify import classify_file
from probe.decide import DecisionContext
from probe.models.ooni import OONI_BLOCKING_METHODS, ClassifiedRecord
from probe.models.results import Blocking, Verdict

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "ooni-corpus"
SHARED = Path(os.environ.get("PROBE_SHARED_DIR", ROOT.parent / "shared"))
SHARED_OONI = SHARED / "data" / "ooni"
SHARED_PREFIX = "shared:"
LABELS = CORPUS / "labels.csv"
PAGE = ROOT / "docs" / "ooni-agreement.md"
SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
GROUND_TRUTH = frozenset({Verdict.ACCESSIBLE, Verdict.BLOCKED, Verdict.SERVICE_DOWN,
                          Verdict.NETWORK_OUTAGE, Verdict.INCONCLUSIVE})  # fmt: skip
# Sources reserved for an independent check of issue 17: nothing may come from them.
EXCLUDED_SOURCES = frozenset({"ooni/explorer", "ooni/spec", "ooni/probe-cli",
                              "robottifranco/api-ooni"})  # fmt: skip
COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Label:
    """One row of labels.csv: where a measurement comes from and what really happened."""

    row: dict[str, str]

    @property
    def file(self) -> str:
        return self.row["file"]

    @property
    def is_shared(self) -> bool:
        return self.file.startswith(SHARED_PREFIX)

    @property
    def path(self) -> Path:
        """Return where the record is: in the corpus, or in the shared OONI data."""
        if self.is_shared:
            return SHARED_OONI / self.file.removeprefix(SHARED_PREFIX)
        return CORPUS / self.file

    @property
    def edited(self) -> bool:
        """Return whether the source's own authors edited the record (`edited_by_source`)."""
        return self.row["edited_by_source"].strip() == "yes"

    @property
    def truth(self) -> Verdict:
        return Verdict(self.row["ground_truth"])

    @property
    def methods(self) -> frozenset[Blocking]:
        text = self.row["ground_truth_methods"].strip()
        return frozenset(Blocking(m.strip()) for m in text.split("|") if m.strip())


def labels() -> list[Label]:
    """Return labels.csv's rows in file order."""
    with LABELS.open(encoding="utf-8", newline="") as handle:
        return [Label(row) for row in csv.DictReader(handle)]


def corpus_files() -> list[Path]:
    """Return the measurement files of the corpus, sorted."""
    return sorted(p for p in CORPUS.iterdir() if p.name.endswith(SUFFIXES))


def missing_shared() -> list[str]:
    """Return the labelled shared records that are not where PROBE_SHARED_DIR says."""
    return [label.file for label in labels() if label.is_shared and not label.path.exists()]


def classified(ooni_fingerprints: bool = False) -> dict[str, list[ClassifiedRecord]]:
    """Return our records for every labelled record, by its `file` (in-process, as the CLI
    does); the corpus files nobody labelled too, by name. With `ooni_fingerprints`, OONI's
    CSVs (shared data) are added to ours, as `probe classify --fingerprints` does."""
    extra = (*_ooni("http"), *_ooni("dns")) if ooni_fingerprints else ()
    context = DecisionContext(fingerprints=(*_packaged(), *extra))
    paths = {label.file: label.path for label in labels()}
    paths.update({p.name: p for p in corpus_files() if p.name not in paths})
    return {name: list(classify_file(path, context)) for name, path in paths.items()}


def ooni_reading(record: ClassifiedRecord) -> tuple[Verdict | None, frozenset[Blocking]]:
    """Return OONI's published (blocking, accessible) in our vocabulary; None if unreadable."""
    blocking, accessible = record.ooni_blocking, record.ooni_accessible
    if blocking is None:
        return Verdict.INCONCLUSIVE, frozenset()
    if isinstance(blocking, str):
        return Verdict.BLOCKED, OONI_BLOCKING_METHODS.get(blocking, frozenset())
    if blocking is False and accessible is not None:
        return (Verdict.ACCESSIBLE if accessible else Verdict.SERVICE_DOWN), frozenset()
    return None, frozenset()


def judged(
    label: Label, verdict: Verdict | None, methods: frozenset[Blocking]
) -> tuple[bool, bool]:
    """Return (the verdict is right, it is exactly right) against the label."""
    right = verdict is label.truth
    exact = right and (
        label.truth is not Verdict.BLOCKED or not label.methods or bool(methods & label.methods)
    )
    return right, exact


@dataclass(frozen=True)
class Scored:
    """One labelled record with our verdict (ours; with OONI's fingerprints added too) and
    OONI's, each judged."""

    label: Label
    record: ClassifiedRecord
    with_fingerprints: ClassifiedRecord
    ours: tuple[bool, bool]
    ours_fp: tuple[bool, bool]
    ooni: tuple[bool, bool]


def _ours(label: Label, record: ClassifiedRecord) -> tuple[bool, bool]:
    return judged(label, record.verdict, frozenset({record.blocking} - {None}))


def scored(
    records: dict[str, list[ClassifiedRecord]],
    with_fingerprints: dict[str, list[ClassifiedRecord]],
) -> list[Scored]:
    """Return every labelled record judged (a file's first record: one measurement a file)."""
    found = []
    for label in labels():
        record, record_fp = records[label.file][0], with_fingerprints[label.file][0]
        found.append(
            Scored(
                label,
                record,
                record_fp,
                _ours(label, record),
                _ours(label, record_fp),
                judged(label, *ooni_reading(record)),
            )
        )
    return found


def accuracy(items: list[Scored], who: str, exact: bool) -> float:
    """Return the share of `items` where `who` ("ours" or "ooni") is (exactly) right."""
    if not items:
        return 0.0
    return sum(getattr(s, who)[int(exact)] for s in items) / len(items)


if __name__ == "__main__":
    from ooni.corpus_page import render

    if not CORPUS.exists():
        sys.exit(f"no corpus at {CORPUS}")
    if missing := missing_shared():
        sys.exit(f"shared records not found under {SHARED_OONI} (set PROBE_SHARED_DIR): {missing}")
    if not FINGERPRINTS.exists():
        sys.exit(f"OONI's fingerprints not found at {FINGERPRINTS} (set PROBE_SHARED_DIR)")
    items = scored(classified(), classified(ooni_fingerprints=True))
    PAGE.write_text(render(PAGE.read_text(encoding="utf-8"), items), "utf-8")
    print(f"wrote {PAGE}")
