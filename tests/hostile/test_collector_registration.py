"""Issue 18: registration was open and unlimited (2,980 probes in 30 s from one address) and
asked for no proof of holding the key.

Now a registration carries the key's signature of a challenge the collector made, and one
address registers at most `max_registrations_per_client_per_hour` new probes (counted in
memory, never stored); an unknown probe's first upload counts against the same share.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from collector.harness import register

from probe.ship.keys import registration_message

from .conftest import Snapshot, StartCollector, big_field_bundle, from_address, new_identity

PER_HOUR = 5
ATTEMPTS = 15  # bounded: three times the hour's share


def _body(key: bytes, nonce: bytes, signature: bytes) -> dict[str, str]:
    encode = base64.b64encode
    return {"public_key": encode(key).decode(), "nonce": encode(nonce).decode(),
            "signature": encode(signature).decode()}  # fmt: skip


def test_one_address_registers_its_share_an_hour_then_429(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    collector = hostile_collector(max_registrations_per_client_per_hour=PER_HOUR)
    statuses = []
    for number in range(ATTEMPTS):
        answer = register(collector.client, new_identity(tmp_path, f"p{number}"))
        statuses.append((answer.status_code, answer.json().get("error")))
    assert statuses == [(201, None)] * PER_HOUR + [(429, "too_many_registrations")] * (
        ATTEMPTS - PER_HOUR
    ), statuses
    assert Snapshot.of(collector).counts["probes"] == PER_HOUR
    # Another address has a share of its own; a known probe re-registering costs nothing.
    with from_address(collector.url, "127.0.0.2") as other:
        assert register(other, new_identity(tmp_path, "elsewhere")).status_code == 201
    assert register(collector.client, new_identity(tmp_path, "p0")).status_code == 200
    # An unknown probe's first upload would register it: the same share, spent.
    upload = collector.upload(big_field_bundle(new_identity(tmp_path, "uploader"), 10))
    assert (upload.status_code, upload.json()["error"]) == (429, "too_many_registrations")
    assert Snapshot.of(collector).counts["probes"] == PER_HOUR + 1


def test_a_registration_must_prove_the_key(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    collector = hostile_collector()
    before = Snapshot.of(collector)
    probe, other = new_identity(tmp_path, "probe"), new_identity(tmp_path, "other")
    key = probe.public_key_raw
    nonce = base64.b64decode(collector.client.post("/api/v1/probes/challenge").json()["nonce"])
    forged_nonce = os.urandom(len(nonce))
    cases = {
        # The body of before issue 18: a bare key.
        "no proof": ({"public_key": base64.b64encode(key).decode()}, 422, "invalid_request"),
        "a nonce it did not give": (
            _body(key, forged_nonce, probe.private_key.sign(registration_message(forged_nonce,
                                                                                 key))),
            403, "bad_challenge",
        ),
        "signed by another key": (
            _body(key, nonce, other.private_key.sign(registration_message(nonce, key))),
            403, "bad_proof",
        ),
        "another message signed": (
            _body(key, nonce, probe.private_key.sign(nonce)), 403, "bad_proof",
        ),
    }  # fmt: skip
    for case, (body, status, code) in cases.items():
        answer = collector.client.post("/api/v1/probes", json=body)
        assert (answer.status_code, answer.json()["error"]) == (status, code), case
    assert Snapshot.of(collector) == before
    assert register(collector.client, probe).status_code == 201  # the proof, done right
