"""Registration challenges: a nonce the collector made, that a probe signs with its key.

Issue 18: registering took any 32 bytes, with no proof that the sender held the private key.
Now a probe asks for a challenge (`POST /api/v1/probes/challenge`) and registers with its key,
the nonce and its signature of `probe.ship.keys.registration_message(nonce, key)`.

The nonce is stateless, so challenges cost no memory however many are asked for: 8 bytes of
expiry (Unix seconds), 16 random bytes, and the first 16 bytes of an HMAC-SHA256 of those under
a secret made when the collector starts (a restart voids outstanding challenges; the probe asks
again). Replaying a registration registers the same key again: that answers "known".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from probe.errors import SignatureError
from probe.ship.keys import check_public_key, registration_message

CHALLENGE_TTL_S = 300
_TAG_BYTES = 16
NONCE_BYTES = 8 + 16 + _TAG_BYTES


class Challenges:
    """Makes and checks registration nonces with a secret of this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._secret = secrets.token_bytes(32)
        self._clock = clock

    def _tag(self, head: bytes) -> bytes:
        return hmac.new(self._secret, head, hashlib.sha256).digest()[:_TAG_BYTES]

    def issue(self) -> tuple[str, datetime]:
        """Return a new nonce (base64) and when it expires."""
        expires = int(self._clock()) + CHALLENGE_TTL_S
        head = expires.to_bytes(8, "big") + secrets.token_bytes(16)
        nonce = base64.b64encode(head + self._tag(head)).decode()
        return nonce, datetime.fromtimestamp(expires, UTC)

    def verify(self, nonce: str, public_key: bytes, signature: str) -> None:
        """Return if `signature` signs this collector's live `nonce` with `public_key`.

        Raises SignatureError: `bad_challenge` (not ours, or expired), `weak_key`, `bad_proof`.
        """
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            raw = base64.b64decode(nonce, validate=True)
            proof = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureError("the nonce or the signature is not base64", "bad_proof") from exc
        head = raw[: NONCE_BYTES - _TAG_BYTES]
        if len(raw) != NONCE_BYTES or not hmac.compare_digest(raw[len(head) :], self._tag(head)):
            raise SignatureError("the nonce is not one this collector gave (ask again:"
                                 " POST /api/v1/probes/challenge)", "bad_challenge")  # fmt: skip
        if int.from_bytes(head[:8], "big") < self._clock():
            raise SignatureError("the challenge expired: ask for another", "bad_challenge")
        check_public_key(public_key)
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                proof, registration_message(raw, public_key)
            )
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError("the signature does not prove possession of the key: sign"
                                 " the challenge with it", "bad_proof") from exc  # fmt: skip


__all__ = ["CHALLENGE_TTL_S", "NONCE_BYTES", "Challenges"]
