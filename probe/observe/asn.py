"""ASN and country lookups from a MaxMind-format database (GeoLite2-ASN, DB-IP, ip2asn mmdb)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probe.errors import ConfigError

# Field names differ between database vendors.
_ASN_KEYS = ("autonomous_system_number", "asn", "as_number")
_ORG_KEYS = ("autonomous_system_organization", "as_org", "as_name", "organization")


class AsnDatabase:
    """An opened ASN (and optionally country) database; lookups never raise."""

    def __init__(self, asn_db: Path, country_db: Path | None = None) -> None:
        import maxminddb  # lazily: only when a database is configured

        try:
            self._asn = maxminddb.open_database(str(asn_db))
            self._country = maxminddb.open_database(str(country_db)) if country_db else None
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigError(f"geoip: cannot open database: {exc}") from exc

    def _record(self, reader: Any, ip: str) -> dict[str, Any]:
        try:
            record = reader.get(ip.strip("[]"))
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def asn(self, ip: str) -> tuple[int | None, str | None]:
        """Return (ASN, organisation) of `ip`, (None, None) when unknown."""
        record = self._record(self._asn, ip)
        number = next((record[k] for k in _ASN_KEYS if isinstance(record.get(k), int)), None)
        if number is None:
            text = next((record[k] for k in _ASN_KEYS if isinstance(record.get(k), str)), None)
            if text and text.upper().lstrip("AS").isdigit():
                number = int(text.upper().lstrip("AS"))
        org = next((record[k] for k in _ORG_KEYS if isinstance(record.get(k), str)), None)
        return number, org

    def country(self, ip: str) -> str | None:
        """Return the ISO country code of `ip`, None when unknown."""
        for reader in (self._country, self._asn):
            if reader is None:
                continue
            record = self._record(reader, ip)
            country = record.get("country")
            if isinstance(country, dict) and isinstance(country.get("iso_code"), str):
                return str(country["iso_code"])
            if isinstance(record.get("country_code"), str):
                return str(record["country_code"])
        return None

    def close(self) -> None:
        """Release the database files."""
        self._asn.close()
        if self._country is not None:
            self._country.close()
