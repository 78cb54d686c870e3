"""Attach neutral facts to observations: the ASN of every DNS answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from probe.models.observations import DnsAnswer, DnsObservation

if TYPE_CHECKING:
    from probe.models.results import TestKeys

AsnLookup = Callable[[str], tuple[int | None, str | None]]


def _annotate_answer(answer: DnsAnswer, lookup: AsnLookup) -> DnsAnswer:
    ip = answer.ipv4 or answer.ipv6
    if ip is None or answer.asn is not None:
        return answer
    asn, org = lookup(ip)
    if asn is None:
        return answer
    return answer.model_copy(update={"asn": asn, "as_org_name": org})


def _annotate_queries(queries: list[DnsObservation], lookup: AsnLookup) -> list[DnsObservation]:
    return [
        query.model_copy(update={"answers": [_annotate_answer(a, lookup) for a in query.answers]})
        for query in queries
    ]


def with_asns(keys: TestKeys, lookup: AsnLookup | None) -> TestKeys:
    """Return `keys` with the ASN of every DNS answer filled in (unchanged without a lookup)."""
    if lookup is None:
        return keys
    return keys.model_copy(
        update={
            "queries": _annotate_queries(keys.queries, lookup),
            "x_doh": _annotate_queries(keys.x_doh, lookup),
        }
    )
