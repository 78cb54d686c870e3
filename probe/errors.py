"""The one exception tree an operator can act on.

```
ProbeError               anything an operator can act on
├── ConfigError          bad TOML, env or flag; names the file and the key
├── TargetError          input the parser or catalogue rejects
├── StoreError           store unreadable, locked or full
│   └── StoreFullError   the disk is full: nothing was written
├── BundleError          malformed, oversized or unverifiable bundle
│   └── SignatureError
├── UploadError          collector unreachable or refused
│   └── CollectorRejected
├── HelperError          the helper is misconfigured or speaks nonsense
├── GeoipError           the ASN database cannot be downloaded or is not one
└── ReportError          a report's source, claims file or engine is unusable
    └── ClaimsError      a claims file that is not valid; names the claim
```

A network failure during a measurement is data (an observation's `failure`), never one of these.
The CLI catches `ProbeError` once: exit 2 for usage/config/input errors, 1 for runtime errors.
"""

from __future__ import annotations


class ProbeError(Exception):
    """Base of every error an operator can act on."""

    exit_code = 1


class ConfigError(ProbeError):
    """The configuration (file, environment or flag) is invalid; the message names the key."""

    exit_code = 2


class TargetError(ProbeError):
    """A target the parser or the catalogue rejects; the message names the target."""

    exit_code = 2


class StoreError(ProbeError):
    """The local store (or the collector's) is unreadable, locked or full."""


class StoreFullError(StoreError):
    """The disk under a store is full: nothing was written, nothing stored was harmed."""


class BundleError(ProbeError):
    """A result bundle is malformed, oversized or unverifiable.

    `code` is the machine-readable name of the problem (`payload_hash_mismatch`,
    `payload_too_large`, …): the collector answers it in its 4xx error body.
    """

    def __init__(self, message: str, code: str = "invalid_bundle") -> None:
        super().__init__(message)
        self.code = code


class SignatureError(BundleError):
    """A bundle's signature does not verify (or the key is not the probe's)."""

    def __init__(self, message: str, code: str = "bad_signature") -> None:
        super().__init__(message, code)


class UploadError(ProbeError):
    """The collector could not be reached or refused the upload."""


class CollectorRejected(UploadError):
    """The collector refused a bundle for good (a 4xx naming the problem): resending the
    same bytes cannot succeed, so the bundle is set aside, not retried."""

    def __init__(self, message: str, code: str = "rejected", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class HelperError(ProbeError):
    """The test helper is misconfigured or answered something that is not the protocol."""


class GeoipError(ProbeError):
    """The ASN database could not be downloaded, or what came is not an ASN database."""


class ReportError(ProbeError):
    """A report cannot be made: its source, claims file or engine is unusable."""

    exit_code = 2


class ClaimsError(ReportError):
    """A claims file is not valid TOML or a claim is malformed; the message names the claim."""
