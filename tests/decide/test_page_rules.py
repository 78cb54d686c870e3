"""Page identity (issue 17): a cleartext page is the target's only on positive evidence.

`PAGE_CASES` holds one hand-made measurement per page-identity rule (test_rules.py counts them
as tested); `NEIGHBOURS` holds the cases nearby that must not change verdict. The control is
our helper (its `x_page` summary, `x_chain` and `x_address`) unless the case says "OONI's
helper", which sends none of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import pytest

from probe.decide.verdict import DecisionContext
from probe.models.control import ControlResponse
from probe.models.page import summarize
from probe.models.results import Blocking, TestKeys, Verdict
from probe.models.targets import Endpoint

from .builders import (
    HOST,
    IP,
    connect,
    context,
    control,
    fetch,
    http,
    https,
    judge,
    keys,
    query,
    redirect,
    tls_step,
)

URL = f"http://{HOST}/"
PHRASES = (resources.files("probe") / "data" / "blockphrases.csv").read_text(encoding="utf-8")
WITH_PHRASES = context(fingerprints=PHRASES)
COMMON = (("Content-Type", "text/html"), ("Server", "nginx"))
BINARY = ("Content-Type", "application/octet-stream")
BACKEND = ("X-CH-Backend", "be-ch-01.cv.live")
BENIGN = (
    "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
    "expected_countries,source,exp_url,notes\n"
    "test.fp_challenge,fp,,body,contains,<title>Just a moment...</title>,10,,test,,\n"
)
_VOCABULARY = (
    "city council budget school river market train weather concert museum festival election"
    " report health hospital road bridge farmer harvest price energy water library science"
    " student teacher football match league season player coach station airport summer"
).split()


def article(seed: str, words: int = 400, *, title: str = "Daily News", extra: str = "") -> str:
    """Return a deterministic ordinary page: a title, scripts, styles and `words` of text."""
    text = " ".join(
        _VOCABULARY[hashlib.sha256(f"{seed}:{i}".encode()).digest()[0] % len(_VOCABULARY)]
        for i in range(words)
    )
    return (
        f"<html><head><title>{title}</title>"
        '<script src="/static/app.js"></script><script src="/static/vendor.js"></script>'
        '<link rel="stylesheet" href="/static/site.css"><link rel="icon" href="/favicon.ico">'
        f"</head><body><nav>Home News Sport</nav><article><p>{text}</p>{extra}</article>"
        "</body></html>"
    )


GENUINE = article("genuine")
BLOCK_RU = (
    "<html><head><title>Страница недоступна</title></head><body><p>Уважаемый абонент!"
    " Запрашиваемая страница внесена в Единый реестр запрещённой информации, доступ к ней"
    " закрыт по требованию Роскомнадзора.</p></body></html>"
)
NOTICE = "<html><head><title>Notice</title></head><body><h1>Notice</h1><p>Ref 4412.</p></body>"
PORTAL = (
    "<html><head><title>Sign in to the network</title></head><body><form>"
    '<input type="tel" name="phone" placeholder="+7 ___"><input name="sms_code">'
    "<button>Continue</button></form></body></html>"
)
ERROR_PAGE = (
    "<html><head><title>Error | Example</title>"
    '<script src="http://static.example.com/rsrc/error.js"></script></head>'
    "<body><h1>Sorry, something went wrong.</h1></body></html>"
)


def ours(
    body: str = GENUINE,
    *,
    url: str = URL,
    chain: tuple[str, ...] = (),
    status: int = 200,
    title: str = "Daily News",
    headers: tuple[tuple[str, str], ...] = COMMON,
    address: str = f"{IP}:80",
) -> ControlResponse:
    """Return our helper's answer: it fetched `body` at `url` (after `chain`) from `address`."""
    base = control(ports=(80, 443), status=status, title=title, headers=dict(headers))
    page = base.http_request.model_copy(
        update={
            "body_length": len(body.encode()),
            "x_page": summarize(body, url),
            "x_chain": [*chain, url] if chain else [url],
            "x_final_url": url,
            "x_address": address,
        }
    )
    return base.model_copy(update={"http_request": page})


def ooni(
    title: str = "Daily News",
    status: int = 200,
    body: str = GENUINE,
    headers: tuple[tuple[str, str], ...] = COMMON,
) -> ControlResponse:
    """Return OONI's helper's answer: status, title, length and headers, no summary."""
    return control(
        ports=(80, 443), status=status, title=title, body_length=len(body), headers=dict(headers)
    )


def page(
    body: str = GENUINE,
    *,
    status: int = 200,
    ctrl: ControlResponse | None = None,
    headers: tuple[tuple[str, str], ...] = COMMON,
    address: str = f"{IP}:80",
    before: tuple[object, ...] = (),
    url: str = URL,
    control_failure: str | None = None,
) -> TestKeys:
    """Return one cleartext attempt ending on `body` (after the redirects in `before`)."""
    return keys(
        query([IP]),
        connect(IP, 80),
        tls_step(IP, validation=True),
        *before,
        fetch(url, status, body=body, headers=headers, address=address, depth=len(before)),
        control=ctrl,
        control_failure=control_failure,
    )


def dynamic(body: str) -> str:
    """Return `body` with a new timestamp, an ad and a token: the same page a minute later."""
    return body.replace(
        "</article>",
        "<p>Updated 12:04:31</p><div>Advert 88121: cheap flights</div>"
        '<input type="hidden" name="csrf" value="f00d"></article>',
    )


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    keys: TestKeys
    verdict: Verdict
    blocking: Blocking | None = None
    reason: str = ""
    ctx: DecisionContext | None = None
    rule: str = ""  # the page rule that must fire (PAGE_CASES: the key)


INJECTED_REDIRECT = (redirect(URL, "http://198.51.100.80/blocked"),)

PAGE_CASES: dict[str, Case] = {
    "http.same_content": Case(  # a news page a minute later: timestamp, ad, token changed
        http(),
        page(dynamic(GENUINE), ctrl=ours()),
        Verdict.ACCESSIBLE,
        None,
        "visible text",
    ),
    "http.same_page_signs": Case(  # OONI's helper: only the title can show it
        http(), page(ctrl=ooni()), Verdict.ACCESSIBLE, None, "the same title"
    ),
    "http.page_not_identified": Case(  # OONI's helper, a page with common headers only
        http(),
        page(NOTICE, ctrl=ooni()),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        "nothing shows the page is the target's",
    ),
    "http.block_phrases": Case(  # the DNAT box of lab http_transparent_proxy_ru_page
        http(),
        page(BLOCK_RU, ctrl=ours()),
        Verdict.BLOCKED,
        Blocking.HTTP_BLOCKPAGE,
        "probe.phrase_ru_registry",
        WITH_PHRASES,
    ),
    "http.redirect_not_in_control": Case(  # the injector of lab http_injected_redirect_to_ip
        http(),
        page(
            NOTICE,
            ctrl=ours(),
            before=INJECTED_REDIRECT,
            url="http://198.51.100.80/blocked",
            address="198.51.100.80:80",
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        "198.51.100.80 (an IP literal)",
    ),
    "http.form_not_in_control": Case(  # a portal asking for a phone number and an SMS code
        http(),
        page(PORTAL, ctrl=ours()),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        "asks for phone, one_time_code",
    ),
    "http.own_server_refusal": Case(  # lab site_error_page_to_probe
        http(),
        page(ERROR_PAGE, status=403, ctrl=ours()),
        Verdict.INCONCLUSIVE,
        None,
        "static.example.com/rsrc/error.js",
    ),
    "http.suspect_page_no_control": Case(
        http(),
        page(BLOCK_RU, control_failure="connection_reset"),
        Verdict.INCONCLUSIVE,
        None,
        "block-page phrase probe.phrase_ru_registry",
        WITH_PHRASES,
    ),
}

LOCALIZED = article("localized", title="Ежедневные новости")
CENSORSHIP_ARTICLE = article(
    "censorship",
    1200,
    extra="<p>Провайдер показал: «Доступ к ресурсу ограничен на основании 149-ФЗ», и ресурс"
    " внесён в единый реестр.</p>",
)

NEIGHBOURS: dict[str, Case] = {
    "no control, no sign: unverifiable as before": Case(
        http(),
        page(control_failure="connection_reset"),
        Verdict.INCONCLUSIVE,
        None,
        rule="http.no_control_cleartext",
    ),
    "http → https for everyone": Case(
        http(),
        keys(
            query([IP]),
            connect(IP, 80),
            redirect(URL, f"https://{HOST}/"),
            tls_step(IP),
            fetch(f"https://{HOST}/", depth=1),
            control=ours(url=f"https://{HOST}/", chain=(URL,)),
        ),
        Verdict.ACCESSIBLE,
        rule="http.https_accepted",
    ),
    "http → www, the control went there too": Case(
        http(),
        page(
            ctrl=ours(url=f"http://www.{HOST}/", chain=(URL,)),
            before=(redirect(URL, f"http://www.{HOST}/"),),
            url=f"http://www.{HOST}/",
        ),
        Verdict.ACCESSIBLE,
        rule="http.same_content",
    ),
    "a redirect to another domain the control followed too": Case(
        http(),
        page(
            NOTICE,
            ctrl=ours(NOTICE, url="http://example.org/", chain=(URL,), title="Notice"),
            before=(redirect(URL, "http://example.org/"),),
            url="http://example.org/",
        ),
        Verdict.ACCESSIBLE,
        rule="http.same_content",
    ),
    "a country redirect the control did not get, the same site's page (google.kz)": Case(
        http(),
        page(
            LOCALIZED,
            ctrl=ours(),
            before=(redirect(URL, "http://www.example.kz/"),),
            url="http://www.example.kz/",
        ),
        Verdict.ACCESSIBLE,
        rule="http.same_page_signs",
    ),
    "a redirect to another domain, nothing of the site's": Case(
        http(),
        page(
            NOTICE,
            ctrl=ours(),
            before=(redirect(URL, "http://warning.example.net/"),),
            url="http://warning.example.net/",
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        "warning.example.net (another domain)",
        rule="http.redirect_not_in_control",
    ),
    "a redirect to a host a fingerprint names, the site's title on it": Case(
        http(),
        page(
            NOTICE.replace("<title>Notice", "<title>Daily News"),
            ctrl=ours(),
            before=(redirect(URL, "http://blocked.example.net/"),),
            url="http://blocked.example.net/",
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        "blocked.example.net (named by fingerprint test.vague_host)",
        rule="http.redirect_not_in_control",
        ctx=context(
            fingerprints=BENIGN
            + "test.vague_host,vbw,,body,contains,blocked.example.net,2,,test,,\n"
        ),
    ),
    "a localized page (another language, the same resources)": Case(
        http(),
        page(LOCALIZED, ctrl=ours()),
        Verdict.ACCESSIBLE,
        rule="http.same_page_signs",
    ),
    "a CDN error page for everyone": Case(
        http(),
        page(NOTICE, status=503, ctrl=ours(status=503)),
        Verdict.SERVICE_DOWN,
        rule="http.both_server_error",
    ),
    "a CAPTCHA from the site's own CDN (benign fingerprint)": Case(
        http(),
        page("<title>Just a moment...</title>captcha", status=503, ctrl=ours()),
        Verdict.INCONCLUSIVE,
        rule="http.server_refusal",
        ctx=context(fingerprints=BENIGN),
    ),
    "a CAPTCHA from the site's own server (no fingerprint)": Case(
        http(),
        page(
            ERROR_PAGE.replace("Sorry, something went wrong.", "Prove you are human"),
            status=403,
            ctrl=ours(),
        ),
        Verdict.INCONCLUSIVE,
        rule="http.own_server_refusal",
    ),
    "the genuine page quotes a block notice": Case(
        http(),
        page(CENSORSHIP_ARTICLE, ctrl=ours(CENSORSHIP_ARTICLE)),
        Verdict.ACCESSIBLE,
        rule="http.same_content",
        ctx=WITH_PHRASES,
    ),
    "the genuine page quotes a block notice, OONI's helper": Case(
        http(),
        page(CENSORSHIP_ARTICLE, ctrl=ooni(body=CENSORSHIP_ARTICLE)),
        Verdict.ACCESSIBLE,
        rule="http.same_page_signs",
        ctx=WITH_PHRASES,
    ),
    "a login form the control's page has too": Case(
        http(),
        page(PORTAL, ctrl=ours(PORTAL, title="Sign in to the network")),
        Verdict.ACCESSIBLE,
        rule="http.same_content",
    ),
    "the DNAT box answers from the site's address with its Server header": Case(
        http(),
        page(NOTICE, ctrl=ours()),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        rule="http.page_not_identified",
    ),
    "the injected redirect, OONI's helper (no chain to compare)": Case(
        http(),
        page(
            NOTICE,
            ctrl=ooni(),
            before=INJECTED_REDIRECT,
            url="http://198.51.100.80/blocked",
            address="198.51.100.80:80",
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        "redirected to 198.51.100.80 (an IP literal)",
        rule="http.page_not_identified",
    ),
    "the injected redirect, no control": Case(
        http(),
        page(
            NOTICE,
            before=INJECTED_REDIRECT,
            url="http://198.51.100.80/blocked",
            address="198.51.100.80:80",
            control_failure="connection_reset",
        ),
        Verdict.INCONCLUSIVE,
        None,
        "a redirect to 198.51.100.80 (an IP literal)",
        rule="http.suspect_page_no_control",
    ),
    "a file: the same non-HTML media type, no body recorded (OONI's largeFileWithHTTP)": Case(
        http(),
        page("", ctrl=ooni(title="", body="x" * 4096, headers=(BINARY,)), headers=(BINARY,)),
        Verdict.ACCESSIBLE,
        rule="http.same_page_signs",
    ),
    "a page sent as a file type is still judged as a page": Case(
        http(),
        page(NOTICE, ctrl=ooni(title="", headers=(BINARY,)), headers=(BINARY,)),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        rule="http.page_not_identified",
    ),
    "no body recorded, the site's own header with the control's value (OONI report1.json)": Case(
        http(),
        page("...", ctrl=ooni(headers=(*COMMON, BACKEND)), headers=(*COMMON, BACKEND)),
        Verdict.ACCESSIBLE,
        None,
        "X-CH-Backend: be-ch-01.cv.live",
        rule="http.same_page_signs",
    ),
    "the same site header name with another value is no sign": Case(
        http(),
        page(
            NOTICE,
            ctrl=ooni(headers=(*COMMON, BACKEND)),
            headers=(*COMMON, ("X-CH-Backend", "isp-box-7.local")),
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        rule="http.page_not_identified",
    ),
    "an https page keeps today's treatment": Case(
        https(),
        keys(query([IP]), tls_step(IP), fetch(f"https://{HOST}/", body=NOTICE), control=ours()),
        Verdict.ACCESSIBLE,
        rule="http.https_accepted",
    ),
}


def _check(name: str, case: Case, rule_id: str) -> None:
    result = judge(case.endpoint, case.keys, case.ctx)
    fired = {f.rule_id: f for f in result.findings}
    page_rules = sorted(r for r in fired if r.startswith("http."))
    assert rule_id in fired, f"{name}: rule {rule_id} expected, got {page_rules}"
    reasons = " | ".join(fired[rule_id].reasons)
    assert case.reason in reasons, f"{name}: reasons expected {case.reason!r}, got {reasons!r}"
    got = (result.verdict, result.blocking)
    assert got == (case.verdict, case.blocking), (
        f"{name}: verdict expected {(case.verdict, case.blocking)}, got {got} {result.reasons}"
    )


@pytest.mark.parametrize("rule_id", sorted(PAGE_CASES))
def test_page_rule_fires(rule_id: str) -> None:
    _check(rule_id, PAGE_CASES[rule_id], rule_id)


@pytest.mark.parametrize("name", sorted(NEIGHBOURS))
def test_neighbour_keeps_its_verdict(name: str) -> None:
    case = NEIGHBOURS[name]
    _check(name, case, case.rule)
