"""Issue 18: an Ed25519 public key of small order (the identity point) was accepted, and then
one signature verifies any manifest. Every small-order point (all 8) and the non-canonical
encodings are refused, at registration and in a bundle's manifest, with `weak_key`."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from collector.harness import make_records, seal

from probe.ship.identity import Identity
from probe.ship.keys import check_public_key

from .conftest import Snapshot, StartCollector, new_identity

# The eight points of order 1, 2, 4 and 8, canonical (libsodium's blocklist, sign bits added).
SMALL_ORDER = {
    "identity (order 1)": "01" + "00" * 31,
    "order 2": "ec" + "ff" * 30 + "7f",
    "order 4": "00" * 32,
    "order 4, x negated": "00" * 31 + "80",
    "order 8 (a)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8 (a), x negated": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "order 8 (b)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8 (b), x negated": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
}
NON_CANONICAL = {
    "y = p (0 written past the modulus)": "ed" + "ff" * 30 + "7f",
    "y = p + 1 (the identity past the modulus)": "ee" + "ff" * 30 + "7f",
    "the identity with x's sign set (-0)": "01" + "00" * 30 + "80",
    "y = 2^255 - 1": "ff" * 31 + "7f",
}
# (R = the identity, S = 0): with the identity as key, [S]B = R + [k]A holds for any message.
FORGED_SIGNATURE = bytes.fromhex("01" + "00" * 31) + bytes(32)


@pytest.mark.parametrize("name", sorted(SMALL_ORDER | NON_CANONICAL))
def test_the_key_check_refuses_it(name: str) -> None:
    with pytest.raises(Exception, match="point") as raised:
        check_public_key(bytes.fromhex((SMALL_ORDER | NON_CANONICAL)[name]))
    assert getattr(raised.value, "code", None) == "weak_key"


def test_real_keys_pass(tmp_path: Path) -> None:
    for number in range(20):
        check_public_key(new_identity(tmp_path, f"p{number}").public_key_raw)


def test_weak_keys_are_refused_by_the_collector(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    collector = hostile_collector()
    before = Snapshot.of(collector)
    nonce = collector.client.post("/api/v1/probes/challenge").json()["nonce"]
    lines = make_records(1)[0].model_dump_json().encode() + b"\n"
    holder = new_identity(tmp_path, "holder")  # seal() needs an identity: its key is replaced
    for name, key_hex in (SMALL_ORDER | NON_CANONICAL).items():
        key = bytes.fromhex(key_hex)
        encoded = base64.b64encode(key).decode()
        answer = collector.client.post("/api/v1/probes", json={
            "public_key": encoded, "nonce": nonce,
            "signature": base64.b64encode(FORGED_SIGNATURE).decode()})  # fmt: skip
        assert (answer.status_code, answer.json()["error"]) == (403, "weak_key"), name
        data = _forged(holder, lines, key)
        answer = collector.upload(data)
        assert (answer.status_code, answer.json()["error"]) == (403, "weak_key"), name
    assert Snapshot.of(collector) == before


def _forged(holder: Identity, lines: bytes, key: bytes) -> bytes:
    """A bundle whose manifest names `key` (and its probe id), signed with FORGED_SIGNATURE."""
    sealed = seal(holder, lines, public_key=base64.b64encode(key).decode(),
                  probe_id=hashlib.sha256(key).hexdigest())  # fmt: skip
    magic, manifest, _, payload = sealed.split(b"\n", 3)
    return b"\n".join((magic, manifest, base64.b64encode(FORGED_SIGNATURE), payload))
