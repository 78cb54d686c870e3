"""Raw bundles on disk: `bundles/<id[:2]>/<bundle_id>.bundle`, each written durably.

A file is written under a temporary name, fsynced, renamed into place and its directory
fsynced, so once `write_bundle` returns the bundle survives a crash or power loss, and a reader
never sees half a file. A path is built only from a bundle_id that is a hex SHA-256 (checked
here again), never from anything a probe sent.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

BUNDLES_DIR = "bundles"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def fsync_dir(path: Path) -> None:
    """Make the entries of directory `path` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bundle_path(data_dir: Path, bundle_id: str) -> Path:
    """Return where the bytes of `bundle_id` live; ValueError unless it is a hex SHA-256."""
    if not _HEX64.fullmatch(bundle_id):
        raise ValueError(f"not a bundle id: {bundle_id!r}")
    return data_dir / BUNDLES_DIR / bundle_id[:2] / f"{bundle_id}.bundle"


def write_bundle(data_dir: Path, bundle_id: str, raw: bytes) -> Path:
    """Return the path (relative to `data_dir`) of `raw`, written durably; OSError if not.

    Writing the same bundle twice (two uploads at once) leaves one whole file: the bytes of a
    bundle_id are always the same bundle.
    """
    final = bundle_path(data_dir, bundle_id)
    directory = final.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fsync_dir(directory.parent)
    fd, temporary = tempfile.mkstemp(prefix=f".{bundle_id}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_dir(directory)
    return final.relative_to(data_dir)


__all__ = ["BUNDLES_DIR", "bundle_path", "fsync_dir", "write_bundle"]
