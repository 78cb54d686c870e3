"""The platform catalogue (`probe/data/platforms.toml`): platforms, their endpoints, control sites.

`load_catalogue()` reads and checks the whole file once; a mistake in it is a `TargetError` that
names the file and the key (`platforms.twitter.urls[2]`), never a half-loaded catalogue.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from probe.errors import TargetError
from probe.models.targets import Endpoint, Platform
from probe.targets.hosts import normalize_host, normalize_url, tcp_endpoint, web_endpoint

PACKAGED_NAME = "platforms.toml"
_PACKAGED_SOURCE = f"probe/data/{PACKAGED_NAME} (packaged)"
_TOP_LEVEL_KEYS = ("controls", "platforms")
_CONTROLS_KEYS = ("sites", "domestic")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_MAX_ASN = 2**32 - 1
_PLATFORM_KEYS = sorted(set(Platform.model_fields) - {"name"})


class Catalogue:
    """The platforms, looked up by name or alias (case-insensitive), and the control sites."""

    def __init__(
        self,
        platforms: list[Platform],
        endpoints: Mapping[str, list[Endpoint]],
        control_sites: list[str],
        *,
        source: str,
        domestic_sites: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.source = source
        self.platforms = tuple(platforms)
        self.control_sites = tuple(control_sites)
        self._domestic = {cc: tuple(sites) for cc, sites in (domestic_sites or {}).items()}
        self._endpoints = {name: tuple(found) for name, found in endpoints.items()}
        self._by_name = _index_names(self.platforms, source)
        self._by_host = _index_hosts(self.platforms, self._endpoints, source)

    def domestic_sites(self, country: str) -> tuple[str, ...]:
        """Return the domestic control sites listed for `country` (ISO 3166 code), if any."""
        return self._domestic.get(country.upper(), ())

    def __iter__(self) -> Iterator[Platform]:
        return iter(self.platforms)

    def __len__(self) -> int:
        return len(self.platforms)

    def __repr__(self) -> str:
        return f"Catalogue({self.source!r}, {len(self)} platforms)"

    @property
    def names(self) -> list[str]:
        """Return the platforms' canonical names, in catalogue order."""
        return [p.name for p in self.platforms]

    def get(self, name: str) -> Platform | None:
        """Return the platform with this name or alias (any case), None if there is none."""
        return self._by_name.get(name.strip().lower())

    def endpoints(self, platform: Platform) -> list[Endpoint]:
        """Return the platform's endpoints: web endpoints from `urls`, then `tcp_endpoints`."""
        return list(self._endpoints[platform.name])

    def platform_for_host(self, host: str) -> Platform | None:
        """Return the platform a normalised host belongs to, None if it belongs to none.

        A host belongs to a platform if it is one of its main domains (aliases with a dot) or the
        host of one of its endpoints.
        """
        return self._by_host.get(host)


def _index_names(platforms: tuple[Platform, ...], source: str) -> dict[str, Platform]:
    """Return name and alias → platform; an alias used twice is an error."""
    index: dict[str, Platform] = {}
    for platform in platforms:
        for name in (platform.name, *platform.aliases):
            if name in index:
                raise TargetError(
                    f"{source}: platforms.{platform.name}: name {name!r} is already used by "
                    f"platforms.{index[name].name}; names and aliases must be unique"
                )
            index[name] = platform
    return index


def _index_hosts(
    platforms: tuple[Platform, ...], endpoints: Mapping[str, tuple[Endpoint, ...]], source: str
) -> dict[str, Platform]:
    """Return host → platform for main domains and endpoint hosts; a shared host is an error."""
    index: dict[str, Platform] = {}
    for platform in platforms:
        hosts = {a for a in platform.aliases if "." in a} | {
            e.host for e in endpoints[platform.name]
        }
        for host in sorted(hosts):
            owner = index.setdefault(host, platform)
            if owner is not platform:
                raise TargetError(
                    f"{source}: platforms.{platform.name}: host {host!r} also belongs to "
                    f"platforms.{owner.name}; a host may belong to one platform only"
                )
    return index


def _describe_validation(error: ValidationError) -> str:
    """Return the first problem pydantic found, as "key: what is wrong" ("urls[2]: …")."""
    first = error.errors()[0]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{key}: unknown key (known: {', '.join(_PLATFORM_KEYS)})"
    return f"{key}: {first['msg']}"


def _check_names(platform: Platform, where: str) -> None:
    if not _NAME.match(platform.name):
        raise TargetError(f"{where}: the name must be lower-case letters, digits, '-' or '_'")
    if not platform.title.strip():
        raise TargetError(f"{where}.title: must not be empty")
    for i, alias in enumerate(platform.aliases):
        if "." in alias:
            try:
                valid = normalize_host(alias) == alias
            except TargetError as exc:
                raise TargetError(f"{where}.aliases[{i}]: {exc}") from exc
        else:
            valid = bool(_NAME.match(alias))
        if not valid:
            raise TargetError(
                f"{where}.aliases[{i}]: {alias!r} must be a lower-case word or a normalised domain"
            )
    for i, asn in enumerate(platform.asns):
        if not 1 <= asn <= _MAX_ASN or platform.asns.index(asn) != i:
            raise TargetError(f"{where}.asns[{i}]: {asn} is not a valid ASN or is repeated")


def _platform_endpoints(platform: Platform, where: str) -> list[Endpoint]:
    """Return the platform's endpoints, checking each entry parses and none repeats."""
    found: list[Endpoint] = []
    entries = [("urls", web_endpoint, platform.urls)]
    entries.append(("tcp_endpoints", tcp_endpoint, platform.tcp_endpoints))
    for key, parse, texts in entries:
        for i, text in enumerate(texts):
            try:
                endpoint = parse(text)
            except TargetError as exc:
                raise TargetError(f"{where}.{key}[{i}]: {text!r}: {exc}") from exc
            if endpoint in found:
                raise TargetError(f"{where}.{key}[{i}]: {text!r} is listed twice")
            found.append(endpoint)
    if not found:
        raise TargetError(f"{where}: no urls and no tcp_endpoints; a platform needs an endpoint")
    for i, text in enumerate(platform.objects):
        try:
            web_endpoint(text)
        except TargetError as exc:
            raise TargetError(f"{where}.objects[{i}]: {text!r}: {exc}") from exc
        if not text.startswith("https://") or platform.objects.index(text) != i:
            raise TargetError(f"{where}.objects[{i}]: {text!r} must be an https URL, listed once")
    return found


def _platform(name: str, table: object, source: str) -> tuple[Platform, list[Endpoint]]:
    """Return one validated platform and its endpoints from its TOML table."""
    where = f"{source}: platforms.{name}"
    if not isinstance(table, dict):
        raise TargetError(f"{where}: must be a table ([platforms.{name}])")
    if "name" in table:
        raise TargetError(f"{where}.name: the name is the table key; remove this key")
    try:
        platform = Platform.model_validate({"name": name, **table})
    except ValidationError as exc:
        raise TargetError(f"{where}{_describe_validation(exc)}") from exc
    _check_names(platform, where)
    return platform, _platform_endpoints(platform, where)


def _urls(sites: object, where: str) -> list[str]:
    """Return `sites`, a list of URLs each checked to parse; `where` names it in errors."""
    if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
        raise TargetError(f"{where}: must be a list of URLs")
    for i, site in enumerate(sites):
        try:
            normalize_url(site)
        except TargetError as exc:
            raise TargetError(f"{where}[{i}]: {site!r}: {exc}") from exc
    return sites


def _control_sites(controls: object, source: str) -> tuple[list[str], dict[str, list[str]]]:
    """Return the control-site URLs of the `[controls]` table and its domestic lists per
    country, each URL checked to parse."""
    if not isinstance(controls, dict):
        raise TargetError(f"{source}: controls: must be a table ([controls])")
    unknown = sorted(set(controls) - set(_CONTROLS_KEYS))
    if unknown:
        known = ", ".join(_CONTROLS_KEYS)
        raise TargetError(f"{source}: controls.{unknown[0]}: unknown key (known: {known})")
    sites = _urls(controls.get("sites", []), f"{source}: controls.sites")
    domestic = controls.get("domestic", {})
    if not isinstance(domestic, dict):
        raise TargetError(f"{source}: controls.domestic: must be a table of country = [URLs]")
    for country in domestic:
        if not _COUNTRY.fullmatch(country):
            raise TargetError(
                f"{source}: controls.domestic.{country}: not an ISO 3166 code (two capitals)"
            )
    lists = {cc: _urls(urls, f"{source}: controls.domestic.{cc}") for cc, urls in domestic.items()}
    return sites, lists


def catalogue_from_dict(data: Mapping[str, Any], *, source: str) -> Catalogue:
    """Return the catalogue described by parsed TOML `data`; `source` names it in errors."""
    unknown = sorted(set(data) - set(_TOP_LEVEL_KEYS))
    if unknown:
        raise TargetError(
            f"{source}: {unknown[0]}: unknown top-level key (known: {', '.join(_TOP_LEVEL_KEYS)})"
        )
    tables = data.get("platforms", {})
    if not isinstance(tables, dict):
        raise TargetError(f"{source}: platforms: must be a table of [platforms.<name>] tables")
    platforms: list[Platform] = []
    endpoints: dict[str, list[Endpoint]] = {}
    for name, table in tables.items():
        platform, found = _platform(name, table, source)
        platforms.append(platform)
        endpoints[name] = found
    sites, domestic = _control_sites(data.get("controls", {}), source)
    return Catalogue(platforms, endpoints, sites, source=source, domestic_sites=domestic)


def _read_text(path: Path | None) -> str:
    """Return the catalogue's text: the file at `path`, or the one shipped with the package."""
    if path is None:
        return (resources.files("probe") / "data" / PACKAGED_NAME).read_text(encoding="utf-8")
    return path.read_text(encoding="utf-8")


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Return the catalogue read from `path`, by default the one shipped with the package."""
    source = _PACKAGED_SOURCE if path is None else str(path)
    try:
        data = tomllib.loads(_read_text(path))
    except OSError as exc:
        raise TargetError(f"{source}: cannot read the catalogue: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TargetError(f"{source}: not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{source}: invalid TOML: {exc}") from exc
    return catalogue_from_dict(data, source=source)
