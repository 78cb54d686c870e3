"""The tags of an observation: written and read here only (pure, no pydantic).

An observation's `tags` (OONI's field) say where in a check it was made: `attempt=N` (the retry,
from 1) and `depth=N` (the redirect depth, from 0) on every probe-side observation, and
`tls_validation` on the connects and handshakes that only validate an http:// URL's addresses
(port 443). OONI's web_connectivity 0.5 writes `depth=N` too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TLS_VALIDATION = "tls_validation"

_ATTEMPT = "attempt"
_DEPTH = "depth"
# A bounded number: a tag is input (OONI's records, other probes' uploads).
_NUMBER = re.compile(r"[0-9]{1,4}")


def observation_tags(attempt: int, depth: int, *extra: str) -> list[str]:
    """Return the tags of an observation made by `attempt` at redirect `depth`."""
    return [f"{_ATTEMPT}={attempt}", f"{_DEPTH}={depth}", *extra]


def _number(tags: Iterable[str], key: str) -> int | None:
    """Return N of the first tag `key=N` whose N is a number, None when there is none."""
    prefix = key + "="
    for tag in tags:
        if tag.startswith(prefix) and _NUMBER.fullmatch(tag, len(prefix)):
            return int(tag[len(prefix) :])
    return None


def attempt_of(tags: Iterable[str]) -> int:
    """Return the observation's attempt number (1 when untagged)."""
    found = _number(tags, _ATTEMPT)
    return 1 if found is None else found


def depth_of(tags: Iterable[str]) -> int:
    """Return the observation's redirect depth (0 when untagged)."""
    found = _number(tags, _DEPTH)
    return 0 if found is None else found


def has_depth_tag(tags: Iterable[str]) -> bool:
    """Return whether `tags` say the redirect depth."""
    return _number(tags, _DEPTH) is not None


def only_validates(tags: Iterable[str]) -> bool:
    """Return whether the observation only validates an address (http:// URL, port 443)."""
    return TLS_VALIDATION in tags
