"""What the user typed → `Target`: platform names, bare domains, URLs, and input files.

- a platform name or alias (`twitter`, `X`) → a platform target with the catalogue's endpoints;
- a bare domain or IP (`kaspi.kz`, `пример.рф`, `1.1.1.1`) → a domain target measured over
  https:// and http:// (the cleartext fetch adds evidence: a blockpage, a reset after the Host);
- an http(s) URL → a URL target measuring exactly that URL.

A domain or URL whose host belongs to a platform (twitter.com, www.instagram.com) stays what the
user typed, tagged with the platform so reports can group it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from probe.errors import TargetError
from probe.models.targets import Endpoint, EndpointKind, Platform, Target, TargetKind
from probe.targets.catalogue import Catalogue
from probe.targets.hosts import is_ip_literal, normalize_host, normalize_url, url_host

CITIZEN_LAB_HEADER = (
    "url",
    "category_code",
    "category_description",
    "date_added",
    "source",
    "notes",
)


class InputLine(str):
    """One target read from a file: the text as written, plus where it came from.

    A `str`, so a file's targets can be mixed with command-line ones in one `list[str]`.
    """

    location: str
    category_code: str | None

    def __new__(cls, text: str, *, location: str, category_code: str | None = None) -> InputLine:
        line = super().__new__(cls, text)
        line.location = location
        line.category_code = category_code
        return line


def _tag(target_host: str, catalogue: Catalogue) -> tuple[str | None, list[int]]:
    """Return the platform a host belongs to (None if none) and its expected ASNs."""
    platform = catalogue.platform_for_host(target_host)
    return (platform.name, list(platform.asns)) if platform else (None, [])


def _platform_target(text: str, platform: Platform, catalogue: Catalogue) -> Target:
    return Target(
        input=text,
        kind=TargetKind.PLATFORM,
        name=platform.name,
        platform=platform.name,
        endpoints=catalogue.endpoints(platform),
        expected_asns=list(platform.asns),
        objects=list(platform.objects),
        note=platform.note,
    )


def _domain_target(
    text: str, host_text: str, catalogue: Catalogue, category_code: str | None
) -> Target:
    host = normalize_host(host_text)
    if "." not in host and not is_ip_literal(host):
        raise TargetError(f"{host!r} is a single label; a bare domain needs a dot (example.com)")
    platform, asns = _tag(host, catalogue)
    endpoints = [
        Endpoint(kind=EndpointKind.WEB, host=host, port=port, url=f"{scheme}://{url_host(host)}/")
        for scheme, port in (("https", 443), ("http", 80))
    ]
    return Target(
        input=text,
        kind=TargetKind.DOMAIN,
        name=host,
        platform=platform,
        endpoints=endpoints,
        expected_asns=asns,
        category_code=category_code,
    )


def _url_target(
    text: str, url_text: str, catalogue: Catalogue, category_code: str | None
) -> Target:
    parsed = normalize_url(url_text)
    platform, asns = _tag(parsed.host, catalogue)
    endpoint = Endpoint(kind=EndpointKind.WEB, host=parsed.host, port=parsed.port, url=parsed.url)
    return Target(
        input=text,
        kind=TargetKind.URL,
        name=parsed.host,
        platform=platform,
        endpoints=[endpoint],
        expected_asns=asns,
        category_code=category_code,
    )


def _classify(text: str, stripped: str, catalogue: Catalogue, category_code: str | None) -> Target:
    """Return the target for a non-empty input without whitespace, by its shape."""
    if "://" in stripped:
        return _url_target(text, stripped, catalogue, category_code)
    if "/" in stripped:
        raise TargetError(f"a path needs a URL: write https://{stripped}")
    bare = stripped[1:-1] if stripped.startswith("[") and stripped.endswith("]") else stripped
    if ":" in stripped and not is_ip_literal(bare):
        raise TargetError(
            "not a domain or IP address; to give a port or a scheme write a URL such as "
            "https://example.com:8443/"
        )
    if "." in stripped or ":" in stripped:
        return _domain_target(text, stripped, catalogue, category_code)
    platform = catalogue.get(stripped)
    if platform is None:
        raise TargetError(
            f"unknown platform {stripped.lower()!r}; known: {', '.join(catalogue.names)} "
            "(or give a domain such as example.com, or a URL)"
        )
    return _platform_target(text, platform, catalogue)


def parse_target(text: str, catalogue: Catalogue, *, category_code: str | None = None) -> Target:
    """Return the target the user meant by `text`: a platform, a bare domain or a URL.

    Surrounding whitespace is ignored; `Target.input` keeps `text` exactly as given. Raises
    `TargetError` naming the target and the reason.
    """
    typed = str(text)
    stripped = typed.strip()
    try:
        if not stripped:
            raise TargetError("empty target")
        if any(c.isspace() or not c.isprintable() for c in stripped):
            raise TargetError("contains whitespace or control characters")
        return _classify(typed, stripped, catalogue, category_code)
    except TargetError as exc:
        raise TargetError(f"target {typed!r}: {exc}") from exc


def parse_targets(inputs: list[str], catalogue: Catalogue) -> list[Target | TargetError]:
    """Return one `Target`, or the `TargetError` that rejected it, per input, in order.

    One bad target never stops the others. Inputs read by `read_input_file` keep their
    test-list category, and their errors name the file and line.
    """
    parsed: list[Target | TargetError] = []
    for text in inputs:
        category = text.category_code if isinstance(text, InputLine) else None
        try:
            parsed.append(parse_target(text, catalogue, category_code=category))
        except TargetError as exc:
            if isinstance(text, InputLine):
                exc = TargetError(f"{text.location}: {exc}")
            parsed.append(exc)
    return parsed


def _strip_comment(line: str) -> str:
    """Return `line` without a `#` comment: a whole line, or after whitespace ("x  # why")."""
    if line.lstrip().startswith("#"):
        return ""
    for i, char in enumerate(line):
        if char == "#" and i > 0 and line[i - 1].isspace():
            return line[:i].strip()
    return line.strip()


def _read_lines(text: str, source: str) -> list[str]:
    lines: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        target = _strip_comment(raw)
        if target:
            lines.append(InputLine(target, location=f"{source}:{number}"))
    return lines


def _read_test_list(text: str, source: str) -> list[str]:
    """Return the URLs of a Citizen Lab test list, each carrying its category code."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    lines: list[str] = []
    try:
        for row in reader:
            url = (row.get("url") or "").strip()
            if not any((row.get(key) or "").strip() for key in reader.fieldnames or ()):
                continue
            category = (row.get("category_code") or "").strip() or None
            location = f"{source}:{reader.line_num}"
            lines.append(InputLine(url, location=location, category_code=category))
    except csv.Error as exc:
        raise TargetError(f"{source}:{reader.line_num}: malformed CSV: {exc}") from exc
    return lines


def _is_test_list(text: str) -> bool:
    """Return whether `text` starts with a CSV header whose first column is `url`."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.replace(" ", "").lower().startswith("url,")


def read_input_file(path: Path) -> list[str]:
    """Return the targets in a file: one per line, or the `url` column of a test-list CSV.

    Line files ignore blank lines and `#` comments (whole lines, or after whitespace). A file
    whose first line is a header starting with `url,` is read as a Citizen Lab test list
    (`url,category_code,category_description,date_added,source,notes`); each URL keeps its
    `category_code`. The strings returned are `InputLine`s, so errors name the file and line.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TargetError(f"{path}: cannot read the input file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TargetError(f"{path}: not UTF-8 text: {exc}") from exc
    if _is_test_list(text):
        return _read_test_list(text, str(path))
    return _read_lines(text, str(path))
