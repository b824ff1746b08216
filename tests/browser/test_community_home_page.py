"""The home page citizens land on, in a real browser: Italian by default and English on
request, zero axe-core violations, usable with the keyboard alone, and a language switch that
keeps the reader on the same page."""

from __future__ import annotations

import pytest
from browser_support import Visitor, assert_accessible, tab_through

pytestmark = [pytest.mark.infra]


@pytest.mark.parametrize(("path", "lang", "heading", "words"), [
    ("/", "it", "Uno spazio di coworking per Novi Ligure",
     ["14 febbraio 2015", "Biblioteca Civica", "Via Marconi 36", "fruitori", "gestori ed erogatori"]),
    ("/?lang=en", "en", "A coworking space for Novi Ligure",
     ["14 February 2015", "Biblioteca Civica", "Via Marconi 36", "fruitori", "gestori/erogatori"]),
])
async def test_the_home_page_tells_what_the_space_is_in_each_language_with_no_axe_violation(
        visitor: Visitor, path: str, lang: str, heading: str, words: list[str]) -> None:
    response = await visitor.open(path)
    page = visitor.page
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert await page.get_attribute("html", "lang") == lang
    assert await page.get_by_role("heading", level=1).inner_text() == heading
    assert (await page.title()).endswith("Cowork — Comune di Novi Ligure")
    body = await page.locator("main").inner_text()
    for word in words:
        assert word in body
    # The layout: the town's name, the main navigation, the stylesheet actually applied.
    assert await page.get_by_role("banner").get_by_role("link", name="Cowork — Comune di Novi Ligure").count() == 1
    assert await page.get_by_role("navigation").count() == 2
    assert await page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor") \
        == "rgb(11, 61, 102)"
    await assert_accessible(page)


async def test_an_unknown_language_gets_the_italian_page(visitor: Visitor) -> None:
    await visitor.open("/?lang=xx")
    assert await visitor.page.get_attribute("html", "lang") == "it"


@pytest.mark.parametrize("path", ["/", "/?lang=en"])
async def test_the_keyboard_alone_reaches_every_link_in_order_with_the_focus_always_visible(
        visitor: Visitor, path: str) -> None:
    await visitor.open(path)
    page = visitor.page
    reached = await tab_through(page)
    assert len(reached) >= 4  # skip link, home, language switch, navigation
    # The first stop is the skip link, shown when focused; Enter moves the focus to the content.
    await page.reload()
    await page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert await skip.evaluate("e => e === document.activeElement")
    assert await skip.is_visible() and (await skip.bounding_box() or {}).get("y", -1) >= 0
    await visitor.screenshot("skip-link-focused")
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    # From the content, the next Tab lands on the first link after the header, not back on top.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.closest('header') === null")


async def test_the_language_switch_keeps_the_reader_on_the_page_in_the_other_language(
        visitor: Visitor) -> None:
    await visitor.open("/")
    page = visitor.page
    switch = page.get_by_role("navigation", name="Lingua").get_by_role("link", name="English")
    assert await switch.get_attribute("lang") == "en"  # read out in English by screen readers
    await switch.click()
    await page.wait_for_url("**/?lang=en")
    await visitor.screenshot("switched-to-english")
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.get_by_role("heading", level=1).inner_text() == "A coworking space for Novi Ligure"
    # Links stay in English from here on.
    home = page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Home")
    assert await home.get_attribute("href") == "/?lang=en"
    assert await home.get_attribute("aria-current") == "page"
    await page.get_by_role("navigation", name="Language").get_by_role("link", name="Italiano").click()
    await page.wait_for_url(visitor.base_url + "/")
    await visitor.screenshot("back-to-italian")
    assert await page.get_attribute("html", "lang") == "it"
    assert await page.get_by_role("link", name="Vai al contenuto").count() == 1
