"""Page identity: is a cleartext final page the target's? Only on positive evidence (issue 17).

OONI's comparison (status, body proportion, uncommon header names, title words; any one enough)
calls any page "like the control" when both servers send only common headers: an injected
redirect to a bare IP, a transparent proxy's block page and a captive portal's login form all
passed. Here a page is the target's when it shows the control's page (decide/identity.py
PageIdentity): its body or visible text (the helper's `x_page` summary, models/page.py), else its
title, resources or non-HTML media type, with no sign against it: a redirect to a host the
control never visited, block-page phrases (probe/data/blockphrases.csv) on a short page, a login
or SMS-code form the control's page lacks. A page from the site's own server (the control's
address and Server header, the site's own resources) is the site refusing, not the network.

OONI's helper sends no summary and no chain: the evidence degrades to title, host and phrases.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from probe.decide.attempts import split_address
from probe.decide.blockpages import Fingerprint, header_values
from probe.decide.evidence import cite
from probe.decide.identity import MIN_RESOURCES, PageIdentity
from probe.models.addresses import is_ip_address
from probe.models.control import ControlHttpRequest, ControlResponse
from probe.models.observations import HttpResponseRecord, HttpTransaction, response_text
from probe.models.page import PageText, in_sketch, read_page, similarity, summary_of
from probe.models.tags import depth_of

TITLE_WORD_BYTES = 5
# Block-page phrases count on a page with at most this much visible text: block pages are
# short, and an article about censorship quotes their wording.
PHRASE_PAGE_CHARS = 4_000
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_TITLE_SEARCH_CHARS = 65_536
# Second-level labels under which a country code's registrable domains sit (bbc.co.uk,
# gov.kz sites, com.tr): enough for a heuristic without the public-suffix list.
_SECOND_LEVEL = frozenset(
    "ac co com edu gob gov int mil net nic org or ne go sch info biz name".split()
)
_TEXT_TYPES = ("text/", "application/xhtml")
# Headers whose value any server may share (OONI's common names, hop-by-hop and CDN-wide ones):
# never a sign of the site's own server. Others count with a distinctive value (8+ characters
# with a digit or a dot: a backend name, an internal address, a content hash).
_GENERIC_HEADERS = frozenset(
    "date content-type server cache-control vary set-cookie location expires x-powered-by"
    " content-encoding last-modified accept-ranges pragma x-frame-options etag"
    " x-content-type-options age via p3p x-xss-protection content-language cf-ray"
    " strict-transport-security link x-varnish content-length connection keep-alive"
    " transfer-encoding alt-svc nel report-to reporting-endpoints permissions-policy"
    " referrer-policy x-ua-compatible x-robots-tag timing-allow-origin x-cache x-cache-hits"
    " x-served-by x-timer server-timing x-request-id x-amz-cf-id x-amz-cf-pop".split()
)
_GENERIC_PREFIXES = ("content-security-policy", "access-control-", "cross-origin-")
_SITE_VALUE_CHARS = 8
# A body that begins like markup is a page whatever its Content-Type says: only a file (no
# markup, no title on either side) is judged by its media type.
_MARKUP = re.compile(r"<(?:!doctype|html|head|body|title|script|div|p)\b", re.IGNORECASE)
_MARKUP_SEARCH_CHARS = 2_048


def title_of(response: HttpResponseRecord) -> str:
    """Return the page's title (recorded, or read from the body), whitespace collapsed."""
    if response.x_title is not None:
        return " ".join(response.x_title.split())
    match = _TITLE.search(response_text(response)[:_TITLE_SEARCH_CHARS])
    return " ".join(match.group(1).split()) if match else ""


def _long_words(title: str) -> frozenset[str]:
    words = (w.casefold() for w in title.split())
    return frozenset(w for w in words if len(w.encode("utf-8")) >= TITLE_WORD_BYTES)


def title_agreement(title: str, control_title: str) -> bool | None:
    """Return whether two titles agree (the same words of 5+ bytes, or the same title); None when
    either is empty."""
    if not title.strip() or not control_title.strip():
        return None
    ours, theirs = _long_words(title), _long_words(control_title)
    if ours or theirs:
        return ours == theirs
    return title.casefold().split() == control_title.casefold().split()


def registrable_domain(host: str) -> str:
    """Return the domain a host's owner registered ("static.bbc.co.uk" → "bbc.co.uk"); an IP
    literal is its own."""
    name = host.lower().rstrip(".")
    if is_ip_address(name):
        return name
    labels = name.split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def host_of(url: str) -> str:
    """Return the lower-case host of `url` ("" when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def site_headers(response: HttpResponseRecord, page: ControlHttpRequest) -> tuple[str, ...]:
    """Return the site-specific headers the response shares with the control's, value and all
    (a backend name, a content hash): what no other server can send. Names alone never count:
    any two servers send the same ones."""
    theirs = {k.lower(): v.strip() for k, v in page.headers.items()}
    found = []
    for name, value in [*response.headers_list, *response.headers.items()]:
        key, value = name.lower(), value.strip()
        if key in _GENERIC_HEADERS or key.startswith(_GENERIC_PREFIXES):
            continue
        if len(value) >= _SITE_VALUE_CHARS and any(c.isdigit() or c == "." for c in value):
            if theirs.get(key) == value:
                found.append(f"{name}: {value[:40]}")
    return tuple(dict.fromkeys(found))


def _media_type(values: list[str]) -> str:
    return values[0].split(";")[0].strip().lower() if values else ""


def _control_header(page: ControlHttpRequest, name: str) -> list[str]:
    return [v for k, v in page.headers.items() if k.lower() == name]


def _start_host(chain: list[HttpTransaction]) -> str:
    """Return the host the chain began at: the shallowest request (OONI lists newest first)."""
    ordered = sorted(enumerate(chain), key=lambda p: (depth_of(p[1].tags), -p[0]))
    return host_of(ordered[0][1].request.url) if ordered else ""


def _named_by(host: str, fingerprints: tuple[Fingerprint, ...]) -> str | None:
    """Return the fingerprint whose pattern names `host` (as a whole name, plain or escaped)."""
    named = re.compile(
        rf"(?<![A-Za-z0-9.\-])(?:{re.escape(host)}|{re.escape(host.replace('.', chr(92) + '.'))})"
        r"(?![A-Za-z0-9\-])"
    )
    for fingerprint in fingerprints:
        if fingerprint.is_benign or fingerprint.is_phrase or fingerprint.location_found == "dns":
            continue
        if named.search(fingerprint.pattern):
            return fingerprint.name
    return None


def _redirects(
    chain: list[HttpTransaction],
    page: ControlHttpRequest | None,
    fingerprints: tuple[Fingerprint, ...],
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Return the hosts the probe was redirected to that the control never visited, each with
    why it is foreign: (seen against the control's chain, unconfirmed, suspect without one)."""
    start = _start_host(chain)
    control_hosts = {host_of(u) for u in page.x_chain} if page is not None else set()
    known = page is not None and bool(page.x_chain)
    domains = {registrable_domain(h) for h in control_hosts | {start}}
    foreign: list[str] = []
    unconfirmed: list[str] = []
    suspect: list[str] = []
    for host in dict.fromkeys(host_of(t.request.url) for t in chain):
        if not host or host == start or host in control_hosts:
            continue
        named = _named_by(host, fingerprints)
        if is_ip_address(host) and not is_ip_address(start):
            cited = f"{host} (an IP literal)"
        elif named is not None:
            cited = f"{host} (named by fingerprint {named})"
        elif registrable_domain(host) not in domains:
            cited = f"{host} (another domain)"
        else:
            continue
        (foreign if known else unconfirmed).append(cited)
        if "another domain" not in cited:
            suspect.append(cited)
    return tuple(foreign), tuple(unconfirmed), tuple(suspect)


def phrase_matches(title: str, text: str, fingerprints: tuple[Fingerprint, ...]) -> tuple[str, ...]:
    """Return the block-page phrases found on a short page (none on a long one)."""
    if len(text) > PHRASE_PAGE_CHARS:
        return ()
    seen = f"{title} {text}"
    return tuple(f.name for f in fingerprints if f.is_phrase and f.matches(seen))


def _own_server(
    final: HttpTransaction,
    host: str,
    start: str,
    page: ControlHttpRequest,
    control: ControlResponse,
    read: PageText,
) -> str:
    """Return why the page comes from the site's own server (the control's address and Server
    header, the site's own resources), or ""."""
    response = final.response or HttpResponseRecord(code=0)
    ip = split_address(final.address)[0] if final.address else ""
    theirs = split_address(page.x_address)[0] if page.x_address else None
    same_address = bool(ip) and (
        ip == theirs or (theirs is None and host == start and ip in control.dns.addrs)
    )
    server = header_values(response, "server")
    same_server = bool(server) and server[0] in _control_header(page, "server")
    if not (same_address and same_server):
        return ""
    summary = page.x_page
    own = [
        key
        for key in read.resources
        if _sibling(key.split("/")[0], host)
        or (summary is not None and in_sketch(key, summary.resource_sketch) is True)
    ]
    if not own:
        return ""
    return (
        f"the control's address ({ip}) and Server header ('{server[0]}'), and the site's own"
        f" resources ({cite(own)})"
    )


def _sibling(resource_host: str, host: str) -> bool:
    """Return whether a resource's host is another host of the page's registrable domain (an
    absolute reference to the site's own static host)."""
    return resource_host != host and registrable_domain(resource_host) == registrable_domain(host)


def page_identity(
    final: HttpTransaction,
    chain: list[HttpTransaction],
    page: ControlHttpRequest | None,
    control: ControlResponse | None,
    fingerprints: tuple[Fingerprint, ...],
) -> PageIdentity:
    """Return the evidence for and against the final page being the target's (`chain`: the
    requests of its attempt; `page`: the control's fetch when it got a page)."""
    response = final.response or HttpResponseRecord(code=0)
    url = final.request.url
    read = read_page(response_text(response), url)
    title = title_of(response)
    foreign, unconfirmed, suspect = _redirects(chain or [final], page, fingerprints)
    found = PageIdentity(
        foreign_redirects=foreign,
        unconfirmed_redirects=unconfirmed,
        suspect_redirects=suspect,
        phrases=phrase_matches(title, read.text, fingerprints),
    )
    if page is None or control is None:
        return found
    return _compared(found, final, chain or [final], page, control, read, title)


def _compared(
    found: PageIdentity,
    final: HttpTransaction,
    chain: list[HttpTransaction],
    page: ControlHttpRequest,
    control: ControlResponse,
    read: PageText,
    title: str,
) -> PageIdentity:
    """Return `found` with what comparing the page with the control's shows."""
    response = final.response or HttpResponseRecord(code=0)
    host = host_of(final.request.url)
    summary = page.x_page
    media = _media_type(header_values(response, "content-type"))
    body_bytes = response.x_body_length or len(response_text(response).encode("utf-8"))
    text_similarity = resource_similarity = None
    new_forms: tuple[str, ...] = ()
    if summary is not None:
        ours = summary_of(read)
        text_similarity = similarity(ours.text_sketch, summary.text_sketch)
        if min(ours.resources, summary.resources) >= MIN_RESOURCES:
            resource_similarity = similarity(ours.resource_sketch, summary.resource_sketch)
        new_forms = tuple(f for f in read.forms if f not in summary.forms)
    return replace(
        found,
        same_body=response.x_body_sha256 is not None
        and response.x_body_sha256 == page.x_body_sha256,
        text_similarity=text_similarity,
        resource_similarity=resource_similarity,
        title_agrees=title_agreement(title, page.title),
        site_headers=site_headers(response, page),
        same_media_type=bool(media)
        and not media.startswith(_TEXT_TYPES)
        and not _MARKUP.search(response_text(response)[:_MARKUP_SEARCH_CHARS])
        and not page.title
        and media == _media_type(_control_header(page, "content-type")),
        both_empty=body_bytes == 0 and page.body_length == 0,
        has_summary=summary is not None,
        chain_known=bool(page.x_chain),
        control_final=page.x_final_url or "",
        new_forms=new_forms,
        own_server=_own_server(final, host, _start_host(chain), page, control, read),
    )
