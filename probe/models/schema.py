"""Export the JSON Schema of every wire record to docs/schema/.

Regenerate with `python -m probe.models.schema docs/schema`; tests/test_schema.py fails when the
committed files differ from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from probe.models.bundles import (
    BundleManifest,
    BundleReceipt,
    CollectedMeasurement,
    CollectorErrorBody,
    ProbeRegistration,
)
from probe.models.control import ControlRequest, ControlResponse
from probe.models.live import LiveIncidents, LiveNow
from probe.models.ooni import ClassifiedRecord
from probe.models.reports import MeasurementFact, Report
from probe.models.results import TargetResult
from probe.models.stored import RunRecord, StoredResult

SCHEMAS: dict[str, type[BaseModel]] = {
    "target-result": TargetResult,
    "control-request": ControlRequest,
    "control-response": ControlResponse,
    "stored-result": StoredResult,
    "run-record": RunRecord,
    "bundle-manifest": BundleManifest,
    "bundle-receipt": BundleReceipt,
    "collector-error": CollectorErrorBody,
    "probe-registration": ProbeRegistration,
    "collected-measurement": CollectedMeasurement,
    "measurement-fact": MeasurementFact,
    "report": Report,
    "classified-record": ClassifiedRecord,
    "live-now": LiveNow,
    "live-incidents": LiveIncidents,
}


def render_schema(model: type[BaseModel]) -> str:
    """Return the model's JSON Schema as stable, indented text."""
    return (
        json.dumps(model.model_json_schema(mode="serialization"), indent=2, sort_keys=True) + "\n"
    )


def export(directory: Path) -> list[Path]:
    """Return the paths written: one `<name>.schema.json` per wire record."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render_schema(model), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in export(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schema")):
        print(written_path)
