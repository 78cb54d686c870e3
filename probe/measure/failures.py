"""The one table that turns exceptions into OONI failure strings (df-007).

STUB: owned by the measure helper. `failure_string(exc)` must be total: any exception yields a
string, unknown ones `unknown_failure: <text>`.
"""

from __future__ import annotations


def failure_string(exc: BaseException) -> str:
    """Return the OONI failure string for `exc`."""
    raise NotImplementedError
