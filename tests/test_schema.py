"""The committed JSON Schemas match the models.

Regenerate: python -m probe.models.schema docs/schema
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.models.schema import SCHEMAS, render_schema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schema"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.exists(), f"{path} missing: run python -m probe.models.schema docs/schema"
    assert path.read_text(encoding="utf-8") == render_schema(SCHEMAS[name]), (
        f"{path.name} is stale: run python -m probe.models.schema docs/schema"
    )
