"""Where things live by default, and how private files are made: no pydantic here, so the
daemon's supervisor can use it."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import BinaryIO


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


# --- private files (issue 18) ----------------------------------------------------------------
# The store, the key pair, the consent, a config that may hold a token and exported bundles are
# the operator's alone, whatever the umask: files 0600, directories 0700. A directory or file
# that already exists with wider rights is tightened, with a warning naming it.

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

_logger = logging.getLogger("probe.files")


def _tighten(path: Path, allowed: int) -> None:
    """Remove from `path` every permission bit outside `allowed`, warning when there were any."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & ~allowed:
        return
    try:
        os.chmod(path, mode & allowed)
    except OSError as exc:
        _logger.warning("%s is mode %04o, readable by others, and cannot be tightened: %s",
                        path, mode, exc.strerror or exc)  # fmt: skip
        return
    _logger.warning("%s was mode %04o, readable by others: tightened to %04o",
                    path, mode, mode & allowed)  # fmt: skip


def private_directory(path: Path) -> Path:
    """Return `path`, a directory made (with its missing parents) 0700, or tightened to 0700."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Return `path`, created empty with mode 0600 if absent, else tightened to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        _tighten(path, PRIVATE_FILE_MODE)
    return path


def open_private(path: Path) -> BinaryIO:
    """Return `path` opened for writing (truncated), mode 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, fsync, rename), mode 0600."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open_private(temporary) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
