"""Configuration errors in the tool's own words (issue 20), not pydantic's sentences.

`describe(error, source)` turns every error of a settings `ValidationError` into one line:
what is wrong, where (the job or the `[section]`, the file) and the key path, and what to do,
e.g. "`every` is missing in job 1 of /etc/probe/probe.toml (key 'schedule.jobs.0.every'): add
it; docs/configuration.md lists every key".
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_REFERENCE = "docs/configuration.md lists every key"

# What a value of each expected type looks like in TOML, by pydantic's error type prefix.
_EXPECTED = {
    "int": "a whole number (no quotes)",
    "float": "a number (no quotes)",
    "bool": "true or false (no quotes)",
    "string": 'a string in quotes ("…")',
    "str": 'a string in quotes ("…")',
    "list": "a list ([…])",
    "tuple": "a list ([…])",
    "set": "a list ([…])",
    "dict": "a table ([section] or {…})",
    "model": "a table ([section] or {…})",
    "path": "a file path in quotes",
    "url": "a URL in quotes",
    "ip_v4_network": "a network such as 198.51.100.0/24",
    "ip_v6_network": "a network such as 2001:db8::/32",
}


def _place(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Return (the key as a person names it, the place it lives in: a job or a [section])."""
    parts = list(loc)
    if len(parts) >= 3 and parts[:2] == ["schedule", "jobs"] and isinstance(parts[2], int):
        place = f"job {parts[2] + 1} ([[schedule.jobs]])"
        rest = parts[3:]
    elif len(parts) > 1:
        place, rest = f"[{parts[0]}]", parts[1:]
    else:
        place, rest = "the top level", parts
    names = [str(p) for p in rest if not isinstance(p, int)]
    items = [p for p in rest if isinstance(p, int)]
    key = ".".join(names) if names else place
    if items:
        key += f" (item {items[-1] + 1})"
    return key, place


def _expected(kind: str) -> str | None:
    for prefix, text in _EXPECTED.items():
        if kind.startswith(prefix + "_") or kind == prefix:
            return text
    return None


def _one(item: Any, source: str) -> str:
    loc = tuple(item["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    key, place = _place(loc)
    kind = str(item["type"])
    where = f"in {place} of {source} (key '{path}')"
    if key == place:  # the job or the section as a whole (a model validator)
        key, where = place, f"of {source} (key '{path}')"
    if kind == "extra_forbidden":
        return f"unknown key '{path}' in {source}: check its spelling; {_REFERENCE}"
    if kind == "missing":
        return f"`{key}` is missing {where}: add it; {_REFERENCE}"
    value = item.get("input")
    shown = "" if isinstance(value, dict) else f", not {value!r}"
    expected = _expected(kind)
    if expected is not None and (kind.endswith("_type") or kind.endswith("_parsing")):
        return f"`{key}` {where} must be {expected}{shown}"
    message = (
        str(item.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    )
    if kind in ("value_error", "assertion_error"):
        return f"`{key}` {where}: {message}"
    text = message[:1].lower() + message[1:]
    return f"`{key}` {where}: {text}{shown}"


def describe(error: ValidationError, source: str) -> str:
    """Return every error of `error` in our words, one per line after the first."""
    where = source if source != "defaults" else "the environment (PROBE_*) or the flags"
    return "\n  ".join(_one(item, where) for item in error.errors())


__all__ = ["describe"]
