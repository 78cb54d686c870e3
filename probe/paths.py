"""Where things live by default: no pydantic here, so the daemon's supervisor can use it."""

from __future__ import annotations

import os
from pathlib import Path


def default_config_path() -> Path:
    """Where the daemon's config lives when no --config is given.

    `PROBE_CONFIG`, else systemd's $CONFIGURATION_DIRECTORY/probe.toml, else
    /etc/probe/probe.toml for root, else $XDG_CONFIG_HOME/probe/probe.toml.
    """
    if chosen := os.environ.get("PROBE_CONFIG"):
        return Path(chosen)
    if systemd := os.environ.get("CONFIGURATION_DIRECTORY"):
        return Path(systemd.split(":")[0]) / "probe.toml"
    if os.geteuid() == 0:
        return Path("/etc/probe/probe.toml")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "probe" / "probe.toml"


def default_data_dir() -> Path:
    """systemd's $STATE_DIRECTORY, else /var/lib/probe for root, else $XDG_DATA_HOME/probe."""
    if systemd := os.environ.get("STATE_DIRECTORY"):
        return Path(systemd.split(":")[0])
    if os.geteuid() == 0:
        return Path("/var/lib/probe")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "probe"
