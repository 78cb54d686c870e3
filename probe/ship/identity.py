"""The probe's Ed25519 key pair: it signs bundles, and its fingerprint is the probe id.

The private key is written with mode 0600 by an exclusive create, so it is never readable by
anyone but the service user, not even for an instant, and an existing key is never overwritten.
The other files here are 0600 too and the directory 0700, whatever the umask (issue 18).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from probe.errors import ConfigError
from probe.paths import private_directory, write_private

PRIVATE_KEY_FILE = "probe.key"
PUBLIC_KEY_FILE = "probe.pub"


@dataclass(frozen=True)
class Identity:
    private_key: Ed25519PrivateKey
    public_key_raw: bytes

    @property
    def probe_id(self) -> str:
        """SHA-256 of the raw 32-byte public key, hex: stable, and says nothing else."""
        return hashlib.sha256(self.public_key_raw).hexdigest()


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


def create_identity(data_dir: Path) -> tuple[Identity, bool]:
    """Return the identity under `data_dir`, creating it first if absent (and whether it did)."""
    path = data_dir / PRIVATE_KEY_FILE
    private_directory(data_dir)
    if path.exists():
        return load_identity(data_dir), False
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    public = key.public_key().public_bytes(
        encoding=serialization.Encoding.OpenSSH, format=serialization.PublicFormat.OpenSSH
    )
    write_private(data_dir / PUBLIC_KEY_FILE, public + b" probe\n")
    return Identity(key, _raw_public(key)), True


def load_identity(data_dir: Path) -> Identity:
    """Return the identity under `data_dir`; ConfigError (run `probe init`) when absent or bad."""
    path = data_dir / PRIVATE_KEY_FILE
    try:
        pem = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"no probe key at {path}: run `probe init` first") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the probe key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by other users: chmod 600 {path}")
    return Identity(key, _raw_public(key))


CONSENT_FILE = "consent.json"


def record_consent(data_dir: Path, notice_version: str) -> Path:
    """Write when (and to which notice) the operator consented; returns the file."""
    import json
    from datetime import UTC, datetime

    path = data_dir / CONSENT_FILE
    consent = {"notice": notice_version, "given_at": datetime.now(UTC).isoformat()}
    write_private(path, (json.dumps(consent) + "\n").encode())
    return path


def require_consent(data_dir: Path) -> None:
    """ConfigError unless `probe init` recorded the operator's consent under `data_dir`."""
    if not (data_dir / CONSENT_FILE).exists():
        raise ConfigError(
            f"no consent recorded in {data_dir}: run `probe init` (it explains what is collected"
            " and the risks) before measuring on a schedule"
        )
