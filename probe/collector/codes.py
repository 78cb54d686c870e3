"""The one table from a refusal's code (`BundleError.code` and the API's own) to its HTTP status.

A probe's uploader retries a 5xx and sets a bundle aside on a 4xx, so the status says whether
resending the same bytes could ever succeed: every 4xx here is final for those bytes.
"""

from __future__ import annotations

STATUS_BY_CODE: dict[str, int] = {
    # The bytes are not a bundle we can read: framing, manifest, signature line, compression.
    "not_a_bundle": 400,
    "truncated": 400,
    "trailing_bytes": 400,
    "manifest_too_large": 400,
    "signature_too_large": 400,
    "invalid_manifest": 400,
    "invalid_signature": 400,
    "invalid_compression": 400,
    "invalid_bundle": 400,
    "client_disconnected": 400,
    # Registration needs the token (a collector with `register_token` set); reading
    # measurements needs the read token.
    "missing_token": 401,
    "bad_token": 401,
    # Who signed it: not a probe this collector knows, or not the key it registered, or a
    # key that proves nothing (small order, non-canonical).
    "unknown_probe": 403,
    "wrong_key": 403,
    "bad_signature": 403,
    "weak_key": 403,
    # Registration proves possession of the key by signing a challenge of this collector.
    "bad_challenge": 403,
    "bad_proof": 403,
    # The read API is closed: the collector has no read token.
    "read_closed": 403,
    # The API's own.
    "not_found": 404,
    "method_not_allowed": 405,
    # The body came too slowly: resend (the probe's uploader retries it later).
    "body_timeout": 408,
    # Over a cap: the body, the declared payload, the payload inflated, the records.
    "body_too_large": 413,
    "payload_too_large": 413,
    "uncompressed_too_large": 413,
    "too_many_records": 413,
    "record_too_large": 413,
    "field_too_large": 413,
    # Not the bundle media type, or compressed in transit (a bundle is compressed inside).
    "unsupported_media_type": 415,
    "unsupported_encoding": 415,
    # Readable, signed, but what it holds is not what the manifest says or not valid records.
    "invalid_record": 422,
    "payload_hash_mismatch": 422,
    "manifest_mismatch": 422,
    "duplicate_record": 422,
    "invalid_request": 422,
    # A time before the plausible window (2019), too far ahead, or without a UTC offset.
    "implausible_time": 422,
    # Over a rate: this probe's bytes or bundles in 24 h, this client's registrations in an
    # hour or its requests in flight. The same bytes may be accepted later: the probe retries.
    "daily_bytes_exceeded": 429,
    "daily_bundles_exceeded": 429,
    "too_many_registrations": 429,
    "too_many_requests": 429,
    # Ours, not the probe's: retrying later may succeed.
    "internal_error": 500,
    "store_unavailable": 503,
    "busy": 503,
}
DEFAULT_STATUS = 400


def status_for(code: str) -> int:
    """Return the HTTP status for a refusal `code` (400 for a code this table lacks)."""
    return STATUS_BY_CODE.get(code, DEFAULT_STATUS)


__all__ = ["DEFAULT_STATUS", "STATUS_BY_CODE", "status_for"]
