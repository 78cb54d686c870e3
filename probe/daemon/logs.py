"""Log lines on stdout that journald and log shippers can parse: logfmt or JSON.

Every line has `level`, `event` and the event's fields; use `log(event, **fields)`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER = logging.getLogger("probe.daemon")


def _logfmt_value(value: object) -> str:
    text = str(value)
    if text == "" or any(c in ' ="\\' or not c.isprintable() for c in text):
        return json.dumps(text)
    return text


class _Formatter(logging.Formatter):
    def __init__(self, style: str) -> None:
        super().__init__()
        self._json = style == "json"

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        if record.name != LOGGER.name:
            fields["logger"] = record.name
            fields["message"] = record.getMessage()
        fields.update(getattr(record, "fields", {}))
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        if self._json:
            return json.dumps(fields, default=str)
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items())


def setup_logging(style: str = "logfmt", stream: TextIO | None = None) -> None:
    """Log lines to `stream` (stdout by default; the daemon's workers use stderr)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(_Formatter(style))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # APScheduler logs every start and finish at INFO: our own run events say more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def set_format(style: str) -> None:
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_Formatter(style))


def log(event: str, level: int = logging.INFO, **fields: object) -> None:
    LOGGER.log(level, event, extra={"event": event, "fields": fields})


def log_recovered(row: dict[str, Any]) -> None:
    """A held result finally written (disk full, then space again)."""
    log("store.recovered", job=row["job"], input=row["input"])
