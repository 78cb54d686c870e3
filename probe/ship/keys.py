"""Which Ed25519 public keys a collector accepts, and what a probe signs to register one.

A key of small order (the identity point among them) lets one signature verify any message
(issue 18): an "Ed25519 signature" over such a key proves nothing. So a key is accepted only if
its 32 bytes are the canonical encoding (RFC 8032 §5.1.3: y < p, and no sign bit on x = 0) of a
point on the curve whose order is not small ([8]P is not the identity). The arithmetic is the
RFC's, in plain integers: four point additions per key, run once at registration and once per
bundle.

Registering proves possession of the key: the collector hands out a nonce, and the probe signs
`registration_message(nonce, public_key)` with its private key.
"""

from __future__ import annotations

from probe.errors import SignatureError

_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_MINUS_ONE = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (0, 1)
REGISTRATION_CONTEXT = b"probe-registration/1\n"
KEY_BYTES = 32

Point = tuple[int, int]


def _decode(raw: bytes) -> Point | None:
    """The point `raw` encodes, or None unless it is a canonical encoding of a curve point."""
    if len(raw) != KEY_BYTES:
        return None
    number = int.from_bytes(raw, "little")
    sign, y = number >> 255, number & ((1 << 255) - 1)
    if y >= _P:
        return None  # non-canonical: y is written past the field's modulus
    square = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(square, (_P + 3) // 8, _P)
    if (x * x - square) % _P:
        x = x * _SQRT_MINUS_ONE % _P
    if (x * x - square) % _P:
        return None  # no x: not on the curve
    if x == 0 and sign:
        return None  # non-canonical: -0
    if x & 1 != sign:
        x = _P - x
    return x, y


def _add(a: Point, b: Point) -> Point:
    """a + b on edwards25519 (a = -1): the complete addition law, affine."""
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x = (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P) % _P
    y = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x, y


def is_small_order(point: Point) -> bool:
    """Return whether [8]point is the identity (the point's order divides 8)."""
    for _ in range(3):
        point = _add(point, point)
    return point == _IDENTITY


def check_public_key(raw: bytes) -> None:
    """Return if `raw` is a key worth verifying with; SignatureError (code `weak_key`) if not."""
    point = _decode(raw)
    if point is None:
        raise SignatureError(
            "the public key is not the canonical encoding of an Ed25519 point", "weak_key"
        )
    if is_small_order(point):
        raise SignatureError(
            "the public key is a point of small order: any signature would verify", "weak_key"
        )


def registration_message(nonce: bytes, public_key: bytes) -> bytes:
    """Return what a probe signs to register `public_key` with the collector's `nonce`."""
    return REGISTRATION_CONTEXT + nonce + public_key


__all__ = [
    "KEY_BYTES",
    "REGISTRATION_CONTEXT",
    "check_public_key",
    "is_small_order",
    "registration_message",
]
