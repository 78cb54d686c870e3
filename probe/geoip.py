"""The free ASN database that names the probe's network: fetch, verify, swap in atomically.

DB-IP's "IP to ASN Lite" (CC BY 4.0, monthly, MaxMind format) by default; `[geoip] update_url`
names another. `probe geoip update` installs it in the data directory, where the runner finds
it when `[geoip] asn_db` is unset (issue 20: every result was AS0/ZZ after a default install).
"""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probe.config import Settings, resolve_data_dir
from probe.errors import GeoipError

# Addresses whose network no real ASN database gets wrong: a database that does is not one.
SANITY_LOOKUPS = {"1.1.1.1": 13335, "8.8.8.8": 15169}
MAX_DATABASE_BYTES = 256 << 20  # DB-IP Lite ASN is ~40 MB unpacked


def installed_path(settings: Settings) -> Path:
    """Return where `probe geoip update` installs the database: `[geoip] asn_db`, else the
    data directory's geoip/asn.mmdb."""
    return settings.geoip.asn_db or resolve_data_dir(settings) / "geoip" / "asn.mmdb"


def asn_db_path(settings: Settings) -> Path | None:
    """Return the ASN database to use: the configured one, else the installed one if any."""
    if settings.geoip.asn_db is not None:
        return settings.geoip.asn_db
    installed = installed_path(settings)
    return installed if installed.is_file() else None


def month_urls(template: str, now: datetime) -> list[str]:
    """Return the URL of this month's database, then last month's (published mid-month)."""
    previous = now.replace(day=1) - timedelta(days=1)
    months = [(now.year, now.month), (previous.year, previous.month)]
    urls = [template.format(year=f"{y:04d}", month=f"{m:02d}") for y, m in months]
    return list(dict.fromkeys(urls))


def verify(path: Path) -> str:
    """Return the database's type when it opens with maxminddb and its sanity lookups answer
    the expected networks; GeoipError naming what failed otherwise."""
    import maxminddb

    from probe.observe.asn import AsnDatabase

    try:
        with maxminddb.open_database(str(path)) as reader:
            kind = str(reader.metadata().database_type)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoipError(f"{path}: not a MaxMind-format database: {exc}") from exc
    database = AsnDatabase(path)
    try:
        for address, expected in SANITY_LOOKUPS.items():
            found, _ = database.asn(address)
            if found != expected:
                raise GeoipError(
                    f"{path}: {address} should be AS{expected}, the database says"
                    f" {'AS' + str(found) if found else 'nothing'}: not an ASN database"
                )
    finally:
        database.close()
    return kind


def install(data: bytes, destination: Path) -> str:
    """Unpack (gzip) `data`, verify it and replace `destination` atomically; return its type.
    A database that fails verification is removed and `destination` left as it was."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise GeoipError(f"the download is not valid gzip: {exc}") from exc
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.new")
    try:
        temporary.write_bytes(data)
        kind = verify(temporary)
        os.replace(temporary, destination)
    except OSError as exc:
        raise GeoipError(f"cannot write {destination}: {exc.strerror or exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return kind


async def download(template: str, *, timeout_s: float, now: datetime | None = None) -> bytes:
    """Return the newest database at `template` (this month's, else last month's)."""
    import httpx

    failures = []
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as client:
        for url in month_urls(template, now or datetime.now(UTC)):
            try:
                async with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        failures.append(f"{url}: HTTP {response.status_code}")
                        continue
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_DATABASE_BYTES:
                            raise GeoipError(f"{url}: larger than {MAX_DATABASE_BYTES} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
    raise GeoipError("cannot download the ASN database: " + "; ".join(failures))


__all__ = ["asn_db_path", "download", "install", "installed_path", "month_urls", "verify"]
