"""Where the probe is: its network as the ASN database or the helpers see it, and scrubbing.

The probe's own addresses never leave it (docs/privacy.md): every record is scrubbed of them.
Its network (ASN, country) is named from the ASN database when one is set, else from what our
own helper saw (`x_client_asn`, issue 20), unless the helpers disagree on its address
(issue 18).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from probe.config import Settings
from probe.measure.plan import MeasureContext
from probe.observe import scrub_json
from probe.observe.asn import AsnDatabase

if TYPE_CHECKING:
    from probe.models.results import TargetResult, TestKeys


class Location:
    """The probe's network: named once the helpers echoed what they see of it."""

    def __init__(self, settings: Settings, ctx: MeasureContext, asn: AsnDatabase | None) -> None:
        self._settings = settings
        self._ctx = ctx
        self._asn = asn
        # The network our own helper sees the probe from (x_client_asn): used when no ASN
        # database is set (issue 20).
        self._helper_asn: str | None = None

    def note(self, keys: Sequence[TestKeys]) -> None:
        """Record a helper's echo of our address, if plausible (issue 18), and of our network."""
        for endpoint_keys in keys:
            control = endpoint_keys.control
            if control is not None and control.x_client_address:
                self._ctx.local_addresses.add_echoed(
                    endpoint_keys.test_helper or "",
                    control.x_client_address,
                    self._settings.network.routable,
                )
            if control is not None and control.x_client_asn:
                self._helper_asn = control.x_client_asn

    def annotations(self) -> dict[str, str]:
        """Return the record's note when the helpers echoed different addresses for us."""
        disputed = self._ctx.local_addresses.disputed()
        if not disputed:
            return {}
        versions = " and ".join(f"IPv{v}" for v in disputed)
        return {
            "echoed_address_disputed": f"helpers echoed different {versions} addresses for this"
            " probe: all were scrubbed, none named its network"
        }

    def fields(self) -> dict[str, Any]:
        """Return the record's probe_asn, probe_cc and probe_network_name, as far as known."""
        public = self._ctx.local_addresses.public(self._settings.network.routable)
        # The helper's view of our network, unless helpers disagree on our address (issue 18).
        if self._asn is None and self._helper_asn is not None:
            disputed = self._ctx.local_addresses.disputed()
            return {} if disputed else {"probe_asn": self._helper_asn}
        if self._asn is None or not public:
            return {}
        asn, org = self._asn.asn(public[0])
        country = self._asn.country(public[0])
        return {
            "probe_asn": f"AS{asn}" if asn else "AS0",
            "probe_cc": country or "ZZ",
            "probe_network_name": org,
        }

    def scrub(self, result: TargetResult) -> TargetResult:
        """Return `result` scrubbed of every address of ours seen so far."""
        return scrub(result, self._ctx.local_addresses.addresses)


def scrub(result: TargetResult, addresses: frozenset[str]) -> TargetResult:
    """Return `result` with the probe's own addresses replaced by "[scrubbed]" everywhere: every
    spelling, in text, in base64 bodies and in certificates (observe/privacy.py)."""
    if not addresses:
        return result
    text = scrub_json(result.model_dump_json(), addresses)
    return type(result).model_validate_json(text)


__all__ = ["Location", "scrub"]
