"""docs/configuration.md, generated from the field descriptions of `Settings`
(`python -m probe.config > docs/configuration.md`; tests/test_config.py fails when it is stale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from probe.config.loading import Settings


def _default_text(field_info: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field_info.default_factory is not None:
        value = field_info.default_factory()
    elif field_info.default is PydanticUndefined:
        return "(required)"
    else:
        value = field_info.default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if value is None:
        return "(unset)"
    return f'"{value}"' if isinstance(value, str | Path) else str(value)


def render_reference() -> str:
    """Return docs/configuration.md, generated from the field descriptions of Settings."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `probe/config/` (`python -m probe.config > docs/configuration.md`);",
        "a test fails when this page is stale.",
        "",
        "One TOML file, given by `--config PATH` or `PROBE_CONFIG`. No file at all means the"
        " defaults below. Precedence: CLI flag > `PROBE_*` environment variable (`__` for"
        " nesting, e.g. `PROBE_TIMEOUTS__CONNECT=3`) > TOML file > default. Unknown or"
        " mistyped keys are errors that name the key. Durations accept seconds or strings"
        ' like `"500ms"`, `"30s"`, `"15m"`, `"24h"`.',
        "",
    ]
    for name, section in Settings.model_fields.items():
        model = section.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        lines += [f"## `[{name}]`", "", "| key | default | meaning |", "| --- | --- | --- |"]
        for key, info in model.model_fields.items():
            text = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{key}` | `{_default_text(info)}` | {text} |")
        lines.append("")
    return "\n".join(lines)
