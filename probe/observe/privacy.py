"""Scrub the probe's own addresses from a serialized record, as OONI does ("[scrubbed]").

String replacement over the whole JSON catches the address wherever it hides: headers, bodies,
DNS answers. Replacement respects address boundaries so 10.0.0.1 does not eat 10.0.0.10.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SCRUBBED = "[scrubbed]"


def _pattern(address: str) -> re.Pattern[str]:
    escaped = re.escape(address)
    if ":" in address:
        return re.compile(rf"(?<![0-9A-Fa-f:]){escaped}(?![0-9A-Fa-f:])", re.IGNORECASE)
    return re.compile(rf"(?<![0-9.]){escaped}(?![0-9]|\.[0-9])")


def scrub_text(text: str, addresses: Iterable[str]) -> str:
    """Return `text` with every occurrence of each address replaced by "[scrubbed]"."""
    for address in sorted(set(addresses), key=len, reverse=True):
        if address:
            text = _pattern(address).sub(SCRUBBED, text)
    return text
