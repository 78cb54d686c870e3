"""Every refusal code the bundle reader or the collector can raise has its HTTP status."""

from __future__ import annotations

import ast
from pathlib import Path

from probe.collector.codes import STATUS_BY_CODE

PACKAGE = Path(__file__).resolve().parents[2] / "probe"
SOURCES = [*PACKAGE.glob("ship/*.py"), PACKAGE / "errors.py", *PACKAGE.glob("collector/*.py")]
RAISERS = {"BundleError", "SignatureError", "Refused", "error"}
# Built with an f-string in bundle.py's _read_line (f"{what}_too_large").
FORMATTED = {"manifest_too_large", "signature_too_large"}


def _name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _codes(path: Path) -> set[str]:
    """The string constants passed as a code: `BundleError(msg, "code")`, `Refused("code",
    msg)`, `super().__init__(msg, "code")`, and the errors' default codes."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "error":  # fmt: skip
            continue  # logger.error(...), not routes.error(code, detail)
        if isinstance(node, ast.Call) and _name(node) in RAISERS | {"__init__"}:
            position = 0 if _name(node) in ("Refused", "error") else 1
            arguments = [*node.args, *(k.value for k in node.keywords if k.arg == "code")]
            if len(arguments) > position:
                argument = arguments[position]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.add(argument.value)
        elif isinstance(node, ast.ClassDef) and node.name in RAISERS:
            for method in node.body:
                if isinstance(method, ast.FunctionDef) and method.name == "__init__":
                    defaults = method.args.defaults
                    found |= {str(d.value) for d in defaults if isinstance(d, ast.Constant)}
    return found


def test_every_code_has_a_status() -> None:
    codes = set().union(*(_codes(p) for p in SOURCES)) | FORMATTED
    assert {"invalid_bundle", "bad_signature", "payload_hash_mismatch", "unknown_probe",
            "body_too_large", "not_found"} <= codes, "the scan found the codes"  # fmt: skip
    codes.discard("unreadable")  # `probe collector ingest` only: a file, never a request
    missing = sorted(codes - set(STATUS_BY_CODE))
    assert not missing, f"codes without an HTTP status in probe/collector/codes.py: {missing}"
