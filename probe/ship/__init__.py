"""Getting results out: the probe's identity (its Ed25519 key pair) and, later, signed bundles.

Modules:
    identity  create_identity(), load_identity(): the key pair under data_dir and the probe id
"""

from probe.ship.identity import (
    Identity,
    create_identity,
    load_identity,
    record_consent,
    require_consent,
)

__all__ = ["Identity", "create_identity", "load_identity", "record_consent", "require_consent"]
