"""The lab's world: address plan, names, sites and pages. Pure data, shared by every lab process.

Five namespaces in a chain (see docs/lab.md); the hop numbers are what a trace from the client sees:

    client 10.77.0.2 ── 10.77.0.1 ISP 100.64.0.1 ── 100.64.0.2 border 100.64.0.5
        ── 100.64.0.6 transit 100.64.0.9 ── 100.64.0.10 internet
    hops from the client: 1 ISP, 2 border (its own packets: TTL 255), 3 transit, 4 servers

- client: where `probe check` runs; default route to the ISP; resolv.conf names the ISP resolver.
- ISP (hop 1): routes and SNATs the client to its public address, runs the ISP resolver, the
  block page, the captive portal, a transparent interception box and the domestic sites
  (198.51.100.0/24). Most censors act here.
- border (hop 2): the country's border router, a Cisco-like box: what it originates (ICMP,
  iptables resets) leaves with IP TTL 255, not Linux's 64. Censors that sit on the border act
  here (iptables on its FORWARD chain, an injector sniffing its ISP-facing link).
- transit (hop 3): a plain router abroad.
- internet (hop 4): the platforms, control sites, authoritative DNS, a public resolver, DoH and
  `probe helper` (203.0.113.0/24). No namespace has a route to anything outside the lab.

Every router sends ICMP time-exceeded (not rate-limited) from its address towards the client:
ISP_CLIENT_SIDE, BORDER_ADDRESS, TRANSIT_ADDRESS (`HOPS`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PREFIX = "plab"  # namespace names: plab<pid>-client, plab<pid>-isp, … plab<pid>-internet

CLIENT_ADDRESS = "10.77.0.2"
ISP_CLIENT_SIDE = "10.77.0.1"
CLIENT_NET = "10.77.0.0/24"
ISP_RESOLVER = "10.77.0.53"
# The routers' links: /30s out of TRANSIT_RANGE, each named by who owns the address.
TRANSIT_RANGE = "100.64.0.0/28"
TRANSIT_PREFIX = 30
ISP_TRANSIT = "100.64.0.1"  # ISP ── border
BORDER_ISP_SIDE = "100.64.0.2"
BORDER_TRANSIT = "100.64.0.5"  # border ── transit
TRANSIT_BORDER_SIDE = "100.64.0.6"
TRANSIT_UPLINK = "100.64.0.9"  # transit ── internet
INTERNET_TRANSIT = "100.64.0.10"
# The address each router answers ICMP (time-exceeded) from towards the client: its interface
# on the route back to the client's public address.
BORDER_ADDRESS = BORDER_ISP_SIDE
TRANSIT_ADDRESS = TRANSIT_BORDER_SIDE
HOPS = (ISP_CLIENT_SIDE, BORDER_ADDRESS, TRANSIT_ADDRESS)  # hops 1, 2, 3; the servers are hop 4
SERVER_HOP = len(HOPS) + 1
# IP TTL of what each router originates: Linux's 64, except the border (a Cisco-like 255).
LINUX_TTL = 64
BORDER_TTL = 255
# The injectors' fingerprint (lab/inject.py): every forged packet has this IP TTL and IP-ID.
FORGED_TTL = 64
FORGED_IP_ID = 0x1337

# The probe's public address: what every server (and the helper) sees after the ISP's SNAT.
PUBLIC_ADDRESS = "198.51.100.1"
BLOCKPAGE_ADDRESS = "198.51.100.80"
INTERCEPTOR_ADDRESS = "198.51.100.44"
PORTAL_ADDRESS = "198.51.100.90"
# The same captive portal behind a certificate the probe trusts, for its own name only: every
# other name then fails with ssl_invalid_hostname (issue 17).
PORTAL_VALID_ADDRESS = "198.51.100.91"
MITM_TERMINATOR_PORT = 8443  # on the ISP's 127.0.0.1: where the interceptor hands forged TLS

AUTHORITATIVE_ADDRESS = "203.0.113.5"
PUBLIC_RESOLVER = "203.0.113.53"
DOH_ADDRESS = "203.0.113.54"
HELPER_ADDRESS = "203.0.113.80"
# The DoH control resolver's name, for scenarios that reach it by name (as dns.google is).
DOH_NAME = "dns.lab-doh.example"

BOGON_ANSWER = "10.10.34.35"  # Iran's block-page bogon (METHODS §8), a classic hijack answer
ROUTABLE = ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24", "2001:db8::/32")
INTERNET_RANGES = ("203.0.113.0/24", "192.0.2.0/24")
DOMESTIC_RANGE = "198.51.100.0/24"

BLOCKPAGE_NAME = "warning.lab.kz"
PORTAL_NAME = "portal.lab.kz"
BLOCKPAGE_MARKER = "lab-kz-blocked-resource-notice"
PAGE_BYTES = 120 * 1024  # realistic pages (the issue asks for >= 100 KiB)
# Large objects (any path whose last segment has an extension: /lab/large.bin, /x/main.js): what
# the probe's throughput measurement downloads; it stops at its own byte or time cap.
OBJECT_BYTES = 16 << 20
OBJECT_CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class Site:
    """A web server: its names (all served with one certificate), address and side."""

    key: str
    title: str
    names: tuple[str, ...]
    address: str
    ipv6: str
    domestic: bool = False
    extra_ports: tuple[int, ...] = ()  # plain TCP services that accept and wait


SITES: tuple[Site, ...] = (
    Site(
        "twitter",
        "Twitter / X",
        (
            "twitter.com",
            "x.com",
            "api.twitter.com",
            "mobile.twitter.com",
            "t.co",
            "abs.twimg.com",
            "pbs.twimg.com",
            "video.twimg.com",
        ),
        "203.0.113.10",
        "2001:db8:113::10",
    ),
    Site(
        "whatsapp",
        "WhatsApp",
        (
            "web.whatsapp.com",
            "v.whatsapp.net",
            "whatsapp.com",
            "whatsapp.net",
            *(f"e{n}.whatsapp.net" for n in range(1, 17)),
        ),
        "203.0.113.14",
        "2001:db8:113::14",
        extra_ports=(5222,),  # WhatsApp's chat port; the app falls back to 443
    ),
    Site(
        "youtube", "YouTube", ("youtube.com", "www.youtube.com"), "203.0.113.11", "2001:db8:113::11"
    ),
    Site(
        "facebook",
        "Facebook",
        ("facebook.com", "www.facebook.com"),
        "203.0.113.12",
        "2001:db8:113::12",
    ),
    Site(
        "azattyq", "Azattyq", ("www.azattyq.org", "azattyq.org"), "203.0.113.20", "2001:db8:113::20"
    ),
    Site("bbc", "BBC", ("bbc.com", "www.bbc.com"), "203.0.113.30", "2001:db8:113::30"),
    Site("wikipedia", "Wikipedia", ("www.wikipedia.org",), "203.0.113.100", "2001:db8:113::100"),
    Site("example", "Example Domain", ("example.com",), "203.0.113.101", "2001:db8:113::101"),
    Site(
        "kaspi", "Kaspi.kz", ("kaspi.kz", "www.kaspi.kz"), "198.51.100.20", "2001:db8:100::20", True
    ),
    Site("idn", "Испытание", ("xn--80akhbyknj4f.kz",), "198.51.100.21", "2001:db8:100::21", True),
    Site("blockpage", "Blocked", (BLOCKPAGE_NAME,), BLOCKPAGE_ADDRESS, "2001:db8:100::80", True),
    Site("portal", "Portal", (PORTAL_NAME,), PORTAL_ADDRESS, "2001:db8:100::90", True),
)
SITES_BY_KEY = {site.key: site for site in SITES}
# Real (internet and domestic) sites the world's servers host; the block page and the portal
# are the ISP's own servers.
HOSTED = tuple(s for s in SITES if s.key not in ("blockpage", "portal"))


def site_for(name: str) -> Site | None:
    """Return the site serving `name` (case-insensitive, trailing dot ignored), if any."""
    wanted = name.lower().rstrip(".")
    return next((s for s in SITES if wanted in s.names), None)


def address_for(name: str) -> str | None:
    """Return the IPv4 address the world's DNS gives `name`: a site's, or the DoH resolver's."""
    wanted = name.lower().rstrip(".")
    if wanted == DOH_NAME:
        return DOH_ADDRESS
    site = site_for(wanted)
    return site.address if site is not None else None


def internet_addresses() -> list[str]:
    """Return every address the internet namespace owns."""
    hosted = [s.address for s in HOSTED if not s.domestic]
    return [AUTHORITATIVE_ADDRESS, PUBLIC_RESOLVER, DOH_ADDRESS, HELPER_ADDRESS, *hosted]


def isp_addresses() -> list[str]:
    """Return every address the ISP namespace owns besides its link addresses."""
    domestic = [s.address for s in SITES if s.domestic]
    return [PUBLIC_ADDRESS, INTERCEPTOR_ADDRESS, PORTAL_VALID_ADDRESS, *domestic]


def page(site: Site) -> bytes:
    """Return the site's home page: deterministic, >= PAGE_BYTES, the same for every client."""
    head = (
        f"<!doctype html><html><head><title>{site.title}</title></head><body><h1>{site.title}</h1>"
    ).encode()
    filler = bytearray()
    block = 0
    while len(head) + len(filler) < PAGE_BYTES:
        digest = hashlib.sha256(f"{site.key}:{block}".encode()).hexdigest()
        filler += f"<p>{digest}</p>\n".encode()
        block += 1
    return head + bytes(filler) + b"</body></html>"


def is_object(path: str) -> bool:
    """Return whether a request path names a large object: its last segment has an extension."""
    last = path.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    stem, dot, extension = last.rpartition(".")
    return bool(dot and stem and extension)


def object_chunk() -> bytes:
    """Return the repeating OBJECT_CHUNK_BYTES of every large object (deterministic)."""
    chunk = bytearray()
    block = 0
    while len(chunk) < OBJECT_CHUNK_BYTES:
        chunk += hashlib.sha256(f"object:{block}".encode()).digest()
        block += 1
    return bytes(chunk[:OBJECT_CHUNK_BYTES])


def blockpage() -> bytes:
    """Return the ISP's block page (Kazakh/Russian wording; a fingerprint matches the marker)."""
    return (
        "<!doctype html><html><head><title>Доступ ограничен</title></head><body>"
        "<h1>Доступ к запрашиваемому ресурсу ограничен</h1>"
        "<p>Ресурс внесён в реестр в соответствии с законодательством Республики Казахстан.</p>"
        f"<!-- {BLOCKPAGE_MARKER} --></body></html>"
    ).encode()


def portal_page() -> bytes:
    """Return the captive portal's login page."""
    return (
        b"<!doctype html><html><head><title>Wi-Fi login</title></head><body>"
        b"<form>Enter the code from the SMS</form></body></html>"
    )


# Issue 17: pages that are not the target's, with nothing a fingerprint knows.
NOTICE_PATH = "/blocked"  # where the border's injector redirects (a bare IP, no name)


def notice_page() -> bytes:
    """Return what the block-page server answers at NOTICE_PATH: a bare notice that names
    nothing (no fingerprint marker, no block-page phrase): only the redirect that led there
    shows it is not the target's page."""
    return (
        b"<!doctype html><html><head><title>Notice</title></head><body>"
        b"<h1>Notice</h1><p>Reference 4412.</p></body></html>"
    )


def short_blockpage_ru() -> bytes:
    """Return a short Russian block page unlike the ISP's own (other wording, no marker): what a
    transparent proxy of another operator serves with 200 and only common headers."""
    return (
        "<!doctype html><html><head><title>Страница недоступна</title></head><body>"
        "<p>Уважаемый абонент! Запрашиваемая страница внесена в Единый реестр запрещённой"
        " информации, доступ к ней закрыт по требованию Роскомнадзора.</p></body></html>"
    ).encode()


def site_error_page(site: Site) -> bytes:
    """Return the site's own error page: its title, and its own script on its own domain."""
    domain = site.names[-1] if site.names[-1].count(".") == 1 else site.names[0]
    return (
        f"<!doctype html><html><head><title>Error | {site.title}</title>"
        f'<script src="http://static.{domain}/rsrc/error.js"></script></head><body>'
        "<h1>Sorry, something went wrong.</h1><p>We're working on getting this fixed as soon"
        " as we can.</p></body></html>"
    ).encode()
