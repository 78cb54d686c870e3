"""What a configured value may be: durations, host names, HOST:PORT, networks; and the frozen
base every `[section]` model shares."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Return seconds for a duration like 30, "30s", "15m", "24h", "500ms"."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '15m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        raise ValueError(f"invalid duration {value!r}: use seconds or '30s', '15m', '24h'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """Return the shortest exact duration string for `seconds` (inverse of parse_duration)."""
    for unit in ("d", "h", "m", "s"):
        count = seconds / _UNIT_S[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds * 1000 == int(seconds * 1000) else f"{seconds}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]

_RESOLVER = re.compile(r"^(system|udp://\S+|tcp://\S+|tls://\S+|https://\S+)$")


class Section(BaseModel):
    """A `[section]` of the file: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_networks(value: Any) -> Any:
    if isinstance(value, list):
        try:
            return [
                ipaddress.ip_network(v, strict=False) if isinstance(v, str) else v for v in value
            ]
        except ValueError as exc:
            raise ValueError(str(exc)) from exc
    return value


# A DNS host name; HOST:PORT (an IPv6 address in brackets).
HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]{2,63}$"
)
LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
