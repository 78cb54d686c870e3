"""A page's identity summary: small, fixed-size signs the probe and the helper each compute from
a page they fetched, so that two fetches can be compared without sending the page (issue 17).

Both sides call `summarize()` on the body they recorded (capped alike): the helper sends the
summary as `x_page` beside OONI's `http_request` fields, and decide/ computes the probe's own from
the stored body. The signs:

- `text_sketch`: a bottom-k MinHash of the visible text's word shingles (`SHINGLE_WORDS`
  consecutive words; a Han, kana or hangul character is a word of its own). Two fetches of one
  page share most shingles even with ads, timestamps and tokens in them; a block page, a portal
  or an error page shares almost none. Not the byte length: a block page can be any size.
- `resource_sketch`: the same over the scripts, stylesheets, images and frames the markup
  references (host and path, query dropped; the page's own host left out): a page translated
  for another language, or served from the site's country domain, keeps its site's resources,
  a page from someone else has its own.
- `forms`: the kinds of input a page asks for ("password", "phone", "one_time_code"): a login
  or SMS-code form the target's page lacks is a portal's or a phisher's, not the target's.

Pure (no I/O, no clock, no randomness): decide/ imports it, and so does the helper.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from probe.models._base import WireRecord
from probe.models.observations import HttpResponseRecord, response_text

SKETCH_SIZE = 64  # hashes kept per sketch: the estimate's error is about 1/sqrt(64) = 0.125
SHINGLE_WORDS = 2
# Only the start of a page is read (both sides alike): a block page, a portal or an error page is
# small, and a page's first 128 Ki characters show whose it is; parsing costs ~0.2 ms per KiB.
MAX_PAGE_CHARS = 131_072
MAX_TEXT_CHARS = 65_536  # visible text considered
MAX_RESOURCES = 2_000
FORM_KINDS = ("password", "phone", "one_time_code")

_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg"})
_RESOURCE_ATTRIBUTES = {
    "script": "src",
    "link": "href",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "embed": "src",
}
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_PHONE = re.compile(r"phone|msisdn|mobile|телефон|номер|tel(?![a-z])", re.IGNORECASE)
_ONE_TIME = re.compile(
    r"one-time-code|otp|sms|one.?time|verif\w*.?code|confirm\w*.?code|код", re.IGNORECASE
)


class PageSummary(WireRecord):
    """The identity signs of one page (see the module docstring); ours, sent as `x_page`."""

    text_sketch: list[int] = Field(
        default_factory=list, description="Bottom-64 MinHash of the visible text's shingles."
    )
    text_shingles: int = Field(default=0, description="Distinct shingles of the visible text.")
    resource_sketch: list[int] = Field(
        default_factory=list,
        description="Bottom-64 MinHash of the referenced scripts, styles, images and frames.",
    )
    resources: int = Field(default=0, description="Distinct resources referenced.")
    forms: list[str] = Field(
        default_factory=list,
        description='Inputs the page asks for: "password", "phone", "one_time_code".',
    )


class _Parser(HTMLParser):
    """Collects the visible text, the referenced resources and the kinds of input asked for."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.text: list[str] = []
        self.chars = 0
        self.resources: list[str] = []
        self.forms: set[str] = set()
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        values = {name: value or "" for name, value in attrs}
        if tag in _RESOURCE_ATTRIBUTES and len(self.resources) < MAX_RESOURCES:
            reference = values.get(_RESOURCE_ATTRIBUTES[tag], "").strip()
            if reference and not reference.startswith(("data:", "javascript:", "#")):
                self.resources.append(reference)
        if tag == "input":
            self.forms |= _input_kinds(values)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIPPED_TAGS:
            self._skipping -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping > 0:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if self._skipping or self.chars >= MAX_TEXT_CHARS:
            return
        self.text.append(data)
        self.chars += len(data)


def _input_kinds(values: dict[str, str]) -> set[str]:
    kind = values.get("type", "text").lower()
    if kind in ("hidden", "submit", "button", "checkbox", "radio", "image", "reset"):
        return set()
    if kind == "password":
        return {"password"}
    described = " ".join(
        values.get(name, "") for name in ("name", "id", "autocomplete", "placeholder", "inputmode")
    )
    if values.get("autocomplete", "").lower() == "one-time-code" or _ONE_TIME.search(described):
        return {"one_time_code"}
    if kind == "tel" or _PHONE.search(described):
        return {"phone"}
    return set()


@dataclass(frozen=True)
class PageText:
    """What a page says and references: its visible text, its resources ("host/path") and the
    kinds of input it asks for."""

    text: str = ""
    resources: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()


def read_page(body: str, url: str) -> PageText:
    """Return the visible text (no markup, scripts or styles; whitespace collapsed), the distinct
    resources referenced (relative ones resolved against `url`) and the inputs asked for."""
    parser = _Parser(url)
    try:
        parser.feed(body[:MAX_PAGE_CHARS])
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some malformed markup
        pass
    return PageText(
        text=" ".join(" ".join(parser.text).split())[:MAX_TEXT_CHARS],
        resources=tuple(dict.fromkeys(resource_key(r, url) for r in parser.resources)),
        forms=tuple(kind for kind in FORM_KINDS if kind in parser.forms),
    )


def visible_text(body: str) -> str:
    """Return the text a reader sees: no markup, scripts or styles, whitespace collapsed."""
    return read_page(body, "").text


def words(text: str) -> list[str]:
    """Return the lower-cased words of `text` (each Han, kana or hangul character is one)."""
    return _WORD.findall(text.lower())


def shingles(text: str) -> set[str]:
    """Return the text's shingles: every run of SHINGLE_WORDS consecutive words."""
    found = words(text)
    if len(found) < SHINGLE_WORDS:
        return {" ".join(found)} if found else set()
    return {" ".join(found[i : i + SHINGLE_WORDS]) for i in range(len(found) - SHINGLE_WORDS + 1)}


def hash32(item: str) -> int:
    """Return the 32-bit hash every sketch uses (BLAKE2b: the same on every machine)."""
    return int.from_bytes(hashlib.blake2b(item.encode("utf-8"), digest_size=4).digest(), "big")


def sketch(items: Iterable[str]) -> list[int]:
    """Return the bottom-k MinHash sketch of `items`: their SKETCH_SIZE smallest hashes."""
    return sorted(heapq.nsmallest(SKETCH_SIZE, {hash32(i) for i in items}))


def similarity(first: list[int], second: list[int]) -> float | None:
    """Return the estimated Jaccard similarity of the sets two sketches summarise (None: a sketch
    is empty, nothing to compare)."""
    if not first or not second:
        return None
    ours, theirs = set(first), set(second)
    bottom = sorted(ours | theirs)[:SKETCH_SIZE]
    return sum(1 for h in bottom if h in ours and h in theirs) / len(bottom)


def in_sketch(item: str, summary: list[int]) -> bool | None:
    """Return whether `item` is in the set `summary` sketches (None: its hash lies above the
    sketch's range, so the sketch cannot tell)."""
    value = hash32(item)
    if value in summary:
        return True
    if len(summary) >= SKETCH_SIZE and value > summary[-1]:
        return None
    return False


def resource_key(reference: str, url: str) -> str:
    """Return a referenced resource as "host/path" (scheme, query and fragment dropped), relative
    references resolved against the page's `url`; one on the page's own host as its path alone
    ("/static/app.js"), so that the site's page on another of its hosts (www.example.kz for
    www.example.com) keeps its resources."""
    parts = urlsplit(urljoin(url, reference))
    host = (parts.hostname or "").lower()
    own = (urlsplit(url).hostname or "").lower()
    return f"{'' if host == own else host}{parts.path or '/'}"


def summary_of(page: PageText) -> PageSummary:
    """Return the identity summary of a page already read."""
    text_shingles = shingles(page.text)
    return PageSummary(
        text_sketch=sketch(text_shingles),
        text_shingles=len(text_shingles),
        resource_sketch=sketch(page.resources),
        resources=len(page.resources),
        forms=list(page.forms),
    )


def summarize(body: str, url: str) -> PageSummary:
    """Return the identity summary of the page `body` fetched from `url`."""
    return summary_of(read_page(body, url))


def summarize_response(response: HttpResponseRecord, url: str) -> PageSummary:
    """Return the identity summary of a recorded response's body (the helper's and the probe's
    one function)."""
    return summarize(response_text(response), url)
