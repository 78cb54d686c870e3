"""probe/data/blockphrases.csv: every phrase matches a sample notice, none matches an ordinary
page (generated here, and the genuine pages of the shared OONI data), and a long page never
counts (an article about censorship quotes the notices)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import pytest

from probe.decide import Fingerprint, parse_fingerprints
from probe.decide.blockpages import PHRASE_SCOPE
from probe.decide.page import PHRASE_PAGE_CHARS, phrase_matches
from probe.models.page import read_page

from .test_real_data import SHARED

NAME = "probe/data/blockphrases.csv"
LANGUAGES = ("en", "ru", "kk", "tr", "fa", "ar", "zh")

# One notice per phrase, in the wording of a national block page.
SAMPLES: dict[str, str] = {
    "probe.phrase_en_blocked_by_authority": "This website has been blocked by order of the"
    " Uganda Communications Commission.",
    "probe.phrase_en_blocked_under_instructions": "The URL has been blocked under instructions"
    " of the competent Government Authority or in compliance with the orders of a court.",
    "probe.phrase_ru_restricted_by_law": "Доступ к информационному ресурсу ограничен на"
    " основании Федерального закона от 27 июля 2006 г. «Об информации».",
    "probe.phrase_ru_registry": "Уважаемый абонент! Запрашиваемая страница внесена в Единый"
    " реестр запрещённой информации.",
    "probe.phrase_ru_149_fz": "Доступ закрыт в соответствии с 149-ФЗ «Об информации».",
    "probe.phrase_ru_by_order_of_regulator": "Сайт заблокирован по решению Роскомнадзора.",
    "probe.phrase_ru_kz_law": "Доступ к ресурсу ограничен в соответствии с законодательством"
    " Республики Казахстан.",
    "probe.phrase_kk_access_restricted": "Ресурсқа кіру уақытша шектелген.",
    "probe.phrase_kk_law": "Қазақстан Республикасының заңнамасына сәйкес бұл ресурсқа қол"
    " жеткізу шектелген.",
    "probe.phrase_tr_access_blocked": "Bu internet sitesine erişim engellenmiştir.",
    "probe.phrase_tr_law_5651": "5651 sayılı Kanun kapsamında bu internet sitesi hakkında"
    " koruma tedbiri uygulanmaktadır.",
    "probe.phrase_fa_criminal_content": "کاربر گرامی، بر اساس مصادیق محتوای مجرمانه دسترسی به"
    " این تارنما امکان‌پذیر نیست.",
    "probe.phrase_ar_site_blocked": "عفواً، الموقع المطلوب محجوب.",
    "probe.phrase_zh_site_blocked": "对不起，您访问的网站已被屏蔽。",
    "probe.phrase_zh_by_law": "根据相关法律法规和政策，该页面无法访问。",
}

# Ordinary pages, including the near misses: refusals by the site itself, account locks,
# paywalls, geo-blocks, forums, CDN and web-server error pages.
ORDINARY: tuple[str, ...] = (
    "<title>404 Not Found</title><h1>Page not found</h1>The page you requested could not be found.",
    "<title>Access Denied</title><h1>Access Denied</h1>You don't have permission to access"
    ' "http://www.example.com/" on this server. Reference #18.6a2c1302.1700000000.1a2b3c',
    "<title>Welcome to nginx!</title><h1>Welcome to nginx!</h1>If you see this page, the nginx"
    " web server is successfully installed and working.",
    "<title>403 Forbidden</title><h1>Forbidden</h1>You don't have permission to access this"
    " resource.",
    "<title>Attention Required! | Cloudflare</title>Sorry, you have been blocked. You are unable"
    " to access example.com. Why have I been blocked? This website is using a security service"
    " to protect itself from online attacks.",
    "<title>Subscribe</title>This content is available to subscribers only. Subscribe now.",
    "<title>Unavailable</title>Unfortunately, our website is currently unavailable in most"
    " European countries due to GDPR rules.",
    "<title>Video unavailable</title>This video is not available in your country.",
    "<title>Sign in</title>Your account has been locked after too many attempts. Reset your"
    " password.",
    "<title>Banned</title>This community has been banned for violating the rules.",
    "<title>Withheld</title>This account has been withheld in Russia in response to a legal"
    " demand.",
    "<title>Removed</title>This page has been removed due to a copyright claim.",
    "<title>Shop</title>Free delivery on orders over $50. Order now, track your order.",
    "<title>Форум</title>Доступ к странице ограничен для незарегистрированных пользователей."
    " Войдите или зарегистрируйтесь.",
    "<title>Форум</title>Доступ закрыт. Эта тема доступна только участникам форума.",
    "<title>Личный кабинет</title>Доступ к личному кабинету ограничен в соответствии с"
    " правилами сервиса.",
    "<title>Магазин</title>Интернет-магазин бытовой техники. Доставка по всей России.",
    "<title>Банк</title>Войдите в интернет-банк. Введите код из SMS.",
    "<title>Страница не найдена</title>Возможно, она была удалена или перемещена.",
    "<title>Kaspi.kz</title>Kaspi Gold картасы. Төлемдер мен аударымдар. Несие алу.",
    "<title>Giriş</title>Hesabınıza erişim engellendi. Lütfen şifrenizi sıfırlayın.",
    "<title>Sayfa bulunamadı</title>Aradığınız sayfa bulunamadı.",
    "<title>خطا</title>صفحه مورد نظر یافت نشد.",
    "<title>خطأ</title>الصفحة غير موجودة. تم حظر حسابك مؤقتا.",
    "<title>错误</title>页面不存在。您的账号已被封锁。该页面已被删除。",
)


@cache
def _phrases() -> tuple[Fingerprint, ...]:
    text = (resources.files("probe") / "data" / "blockphrases.csv").read_text(encoding="utf-8")
    return parse_fingerprints(text, NAME)


def _matches(page: str) -> tuple[str, ...]:
    read = read_page(page, "http://example.com/")
    return phrase_matches("", read.text, _phrases())


def _genuine_ooni_pages() -> list[tuple[str, str]]:
    """Return (file, body) of every HTML body in the shared OONI data that OONI judged
    accessible, or that a test other than web_connectivity fetched."""
    found = []
    for path in sorted((SHARED / "data" / "ooni").glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        for record in data if isinstance(data, list) else [data]:
            if not isinstance(record, dict):
                continue
            keys = record.get("test_keys") or {}
            if record.get("test_name") == "web_connectivity" and keys.get("accessible") is not True:
                continue
            for request in keys.get("requests") or []:
                body = (request.get("response") or {}).get("body")
                if isinstance(body, str) and len(body) > 200:
                    found.append((path.name, body))
    return found


def test_phrases_are_well_formed() -> None:
    phrases = _phrases()
    assert phrases, f"{NAME} is empty"
    for phrase in phrases:
        assert phrase.scope == PHRASE_SCOPE, f"{phrase.name}: scope expected 'phrase'"
        assert phrase.name.startswith("probe.phrase_"), f"{phrase.name}: name probe.phrase_*"
        assert phrase.pattern_type == "regexp", f"{phrase.name}: a regular expression expected"
        assert not phrase.is_strong, f"{phrase.name}: a phrase is never a fingerprint match"
    languages = {p.name.removeprefix("probe.phrase_").split("_")[0] for p in phrases}
    assert set(LANGUAGES) <= languages, f"languages missing: {set(LANGUAGES) - languages}"


def test_every_phrase_has_a_sample() -> None:
    names = {p.name for p in _phrases()}
    assert names == set(SAMPLES), (
        f"phrases without a sample: {sorted(names - set(SAMPLES))}; samples without a phrase:"
        f" {sorted(set(SAMPLES) - names)}"
    )


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_phrase_matches_its_sample(name: str) -> None:
    page = f"<html><head><title>Blocked</title></head><body><p>{SAMPLES[name]}</p></body></html>"
    matched = _matches(page)
    assert name in matched, f"{name}: expected to match its sample, got {matched}"


@pytest.mark.parametrize("number", range(len(ORDINARY)))
def test_no_phrase_matches_an_ordinary_page(number: int) -> None:
    page = ORDINARY[number]
    assert not _matches(page), f"ordinary page {number} ({page[:60]!r}) matched {_matches(page)}"


def test_no_phrase_matches_the_genuine_ooni_pages() -> None:
    if not (SHARED / "data" / "ooni").exists():
        pytest.skip(f"shared data not found at {SHARED} (set PROBE_SHARED_DIR)")
    pages = _genuine_ooni_pages()
    assert len(pages) >= 5, f"expected genuine pages in the shared OONI data, got {len(pages)}"
    for name, body in pages:
        text = read_page(body, "http://example.com/").text
        found = [p.name for p in _phrases() if p.matches(text)]
        assert not found, f"{name}: a genuine page matched {found}"


def test_a_long_page_never_counts() -> None:
    # An article about censorship quotes the notices: beyond PHRASE_PAGE_CHARS of text, no match.
    quote = " ".join(SAMPLES.values())
    filler = "The city council met on Monday to discuss the budget. " * 80
    assert len(filler) > PHRASE_PAGE_CHARS
    assert _matches(f"<p>{quote}</p>"), "the quotes alone should match"
    assert not _matches(f"<p>{filler}</p><p>{quote}</p>"), "a long article matched"


def test_phrases_are_loaded_with_the_fingerprints() -> None:
    from probe.config import load_settings
    from probe.runner import load_fingerprints

    names = {f.name for f in load_fingerprints(load_settings(None, {}))}
    assert {p.name for p in _phrases()} <= names, "load_fingerprints misses the phrases"
