"""Getting results out: the probe's identity, signed bundles, the outbox and the upload.

Ship never interprets a record: it packs what the store holds, byte for byte, and moves it.

Modules:
    identity  create_identity(), load_identity(): the key pair under data_dir and the probe id
    bundle    pack, frame, sign, parse, verify and unpack bundles (shared with the collector)
    keys      check_public_key(): no small-order or non-canonical key; registration_message()
    lines     a payload inflated line by line under the record cap; field and time checks
    outbox    seal(): stored results → bundles in the outbox; export_outbox() for hand-carrying
    upload    upload_outbox(): one pass over the outbox, collectors rotated, backoff recorded
"""

from probe.ship.identity import (
    Identity,
    create_identity,
    load_identity,
    record_consent,
    require_consent,
)

__all__ = ["Identity", "create_identity", "load_identity", "record_consent", "require_consent"]
