"""Neutral facts about observations: ASNs, the probe's own addresses. Never judges.

Modules:
    asn       AsnDatabase: ASN/country lookups from a MaxMind-format database (opened lazily)
    annotate  with_asns(): fill the ASN of every DNS answer
    privacy   scrub_json(), scrub_text(), scrub_bytes(): replace the probe's own addresses by
              "[scrubbed]" in every spelling and every encoding a record holds
    spellings  address_pattern(): the regexes of every spelling of a set of addresses
    ooni      convert(), to_test_keys(): an OONI web_connectivity measurement → Endpoint +
              TestKeys (+ the reader's notes)
    ooni_entries  one OONI entry (query, connect, handshake, request, control) → one observation
    ooni_lenient  lenient(): what an older probe's record lacks, noted instead of refused
    ooni_lte  lte_observations(): web_connectivity 0.5, the redirect chain by transaction order
    ooni_reader  read_records(): the records of an OONI file (JSON, array, JSON Lines, gzip),
              never raising
"""

from probe.observe.annotate import AsnLookup, with_asns
from probe.observe.privacy import SCRUBBED, scrub_bytes, scrub_json, scrub_text
from probe.observe.spellings import compile_spellings

__all__ = [
    "SCRUBBED", "AsnLookup", "compile_spellings", "scrub_bytes", "scrub_json", "scrub_text",
    "with_asns",
]  # fmt: skip
