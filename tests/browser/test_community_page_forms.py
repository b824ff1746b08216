"""The pages' form framework, before the feature forms that will use it: a form built only
from the layout and the `_forms.html` fields, checked by a pydantic schema through
`cowork.community.pages.forms`. A citizen who gets it wrong sees each message next to its
field, tied to it for screen readers, with what they typed kept — and axe finds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import pytest
from browser_support import Visitor, assert_accessible, serving, tab_through
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from playwright.async_api import Browser
from pydantic import BaseModel, Field

from cowork.community.app import CommunitySettings, create_app
from cowork.community.pages import forms, i18n
from cowork.community.pages.rendering import ENVIRONMENT, render
from cowork.shared.http import ApiError

pytestmark = [pytest.mark.infra]

PAGE = ENVIRONMENT.from_string("""{% extends "base.html" %}
{% import "_forms.html" as forms with context %}
{% block title %}Prova{% endblock %}
{% block main %}
<h1>Prova</h1>
{% if done %}<p>Ricevuto.</p>{% else %}
{{ forms.error_summary(errors) }}
<form method="post" action="/form-under-test" novalidate>
{{ forms.input("full_name", "Nome e cognome", errors, values, required=true, autocomplete="name", maxlength=100) }}
{{ forms.input("email", "E-mail", errors, values, type="email", required=true, autocomplete="email",
               hint="Ti scriveremo solo per questo.") }}
{{ forms.choices("who", "Chi sei", [("citizen", "Cittadino"), ("company", "Impresa")], errors, values, required=true) }}
{{ forms.choices("weekdays", "Giorni", [("mon", "Lunedì"), ("tue", "Martedì")], errors, values, multiple=true) }}
{{ forms.textarea("note", "Nota", errors, values, maxlength=500) }}
{{ forms.checkbox("consents.privacy", "Acconsento al trattamento dei dati", errors, values, required=true) }}
<button type="submit">Invia</button>
</form>
{% endif %}
{% endblock %}""")


class Consents(BaseModel):
    privacy: Literal[True]


class Sample(BaseModel):
    full_name: str = Field(min_length=1, max_length=100)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)
    who: Literal["citizen", "company"]
    weekdays: list[Literal["mon", "tue"]] = Field(min_length=1)
    note: str = Field(default="", max_length=500)
    consents: Consents


LISTS, BOXES = ("weekdays",), ("consents.privacy",)
TAKEN = "taken@example.org"  # the "command" refuses it, as a service refuses a duplicate


def form_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/form-under-test")
    async def show(request: Request) -> HTMLResponse:
        return render(request, PAGE, i18n.DEFAULT_LANGUAGE, errors=forms.FormErrors(), values={},
                      done=False)

    @router.post("/form-under-test")
    async def submit(request: Request) -> HTMLResponse:
        form = await request.form()
        sample, errors = forms.parse(Sample, form, "it", lists=LISTS, checkboxes=BOXES)
        if sample is not None and sample.email == TAKEN:
            errors = forms.FormErrors.from_api_error(
                ApiError(409, "conflict", "Questo indirizzo è già iscritto.", field="email"))
        return render(request, PAGE, "it", status=422 if errors else 200, errors=errors,
                      values=forms.redisplay(form, LISTS), done=not errors)

    return router


@pytest.fixture(scope="module")
async def form_site(community_settings: CommunitySettings) -> AsyncIterator[str]:
    """The service with the form under test, started once for this module's tests."""
    app = create_app(community_settings)
    app.include_router(form_router())
    async with serving(app) as base_url:
        yield base_url


@pytest.fixture
async def form_visitor(browser: Browser, form_site: str, request: pytest.FixtureRequest
                       ) -> AsyncIterator[Visitor]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield Visitor(page, form_site, request.node.name)
    finally:
        await context.close()


async def described_by(visitor: Visitor, field_id: str) -> str:
    """The text a screen reader announces with the field: its aria-describedby elements."""
    return await visitor.page.evaluate("""id => {
      const field = document.getElementById(id);
      return (field.getAttribute('aria-describedby') || '').split(' ').filter(Boolean)
        .map(ref => document.getElementById(ref).textContent.trim()).join(' | ');
    }""", field_id)


async def test_field_errors_show_next_to_their_fields_for_screen_readers_too(form_visitor: Visitor) -> None:
    visitor, page = form_visitor, form_visitor.page
    await visitor.open("/form-under-test")
    await assert_accessible(page)
    await page.get_by_label("Nome e cognome").fill("Utente Di Prova")
    await page.get_by_label("Martedì").check()
    # Past the field's maxlength (what a script or an old browser could send).
    await page.eval_on_selector("#field-note", "e => { e.removeAttribute('maxlength'); e.value = 'x'.repeat(501); }")
    await page.get_by_role("button", name="Invia").click()
    await page.wait_for_load_state()
    await visitor.screenshot("with-errors")

    summary = page.get_by_role("alert")
    assert "Controlla i campi evidenziati" in await summary.inner_text()
    assert await page.get_attribute("#field-email", "aria-invalid") == "true"
    assert await described_by(visitor, "field-email") == (
        "Ti scriveremo solo per questo. | Errore: Il valore non è valido.")
    assert await described_by(visitor, "field-who") == "Errore: Questo campo è obbligatorio."
    assert await described_by(visitor, "field-note") == "Errore: Il testo è troppo lungo."
    assert await described_by(visitor, "field-consents-privacy") != ""
    assert await page.get_attribute("#field-consents-privacy", "aria-invalid") == "true"
    # Fields without a problem are not marked, and keep what was typed or ticked.
    assert await page.get_attribute("#field-full_name", "aria-invalid") is None
    assert await page.get_by_label("Nome e cognome").input_value() == "Utente Di Prova"
    assert await page.get_by_label("Martedì").is_checked()
    await assert_accessible(page)
    # The summary's links take the keyboard to the field to fix.
    await summary.get_by_role("link", name="Questo campo è obbligatorio.").click()
    assert await page.evaluate("document.activeElement.id") == "field-who"


async def test_a_command_refusal_is_shown_at_its_field_and_a_valid_form_goes_through(
        form_visitor: Visitor) -> None:
    visitor, page = form_visitor, form_visitor.page
    await visitor.open("/form-under-test")
    await page.get_by_label("Nome e cognome").fill("Utente Di Prova")
    await page.get_by_label("E-mail").fill(TAKEN)
    await page.get_by_label("Impresa").check()
    await page.get_by_label("Lunedì").check()
    await page.get_by_label("Acconsento al trattamento dei dati").check()
    await page.get_by_role("button", name="Invia").click()
    await page.wait_for_load_state()
    await visitor.screenshot("refused")
    assert await described_by(visitor, "field-email") == (
        "Ti scriveremo solo per questo. | Errore: Questo indirizzo è già iscritto.")
    assert await page.get_by_label("Impresa").is_checked()
    await assert_accessible(page)

    await page.get_by_label("E-mail").fill("generato@example.org")
    await page.get_by_role("button", name="Invia").click()
    await page.wait_for_load_state()
    await visitor.screenshot("accepted")
    assert await page.get_by_text("Ricevuto.").count() == 1


async def test_the_keyboard_alone_reaches_every_field_of_a_form_with_errors(form_visitor: Visitor) -> None:
    visitor, page = form_visitor, form_visitor.page
    await visitor.open("/form-under-test")
    await page.get_by_role("button", name="Invia").click()
    await page.wait_for_load_state()
    await visitor.screenshot("errors-before-tabbing")
    reached = await tab_through(page)
    names = " ".join(stop["html"] for stop in reached)
    for field in ("field-full_name", "field-email", "field-who-citizen", "field-weekdays-mon",
                  "field-weekdays-tue", "field-note", "field-consents-privacy", "<button"):
        assert field in names


async def test_the_axe_check_fails_on_a_violation_and_names_it(form_visitor: Visitor) -> None:
    """The harness itself: an inaccessible page does not pass."""
    page = form_visitor.page
    await form_visitor.open("/form-under-test")
    await page.evaluate("""() => {
      const img = document.createElement('img'); img.src = '/static/community.css';
      document.querySelector('main').append(img);
      document.querySelector('#field-email').removeAttribute('id');
    }""")
    with pytest.raises(AssertionError) as failure:
        await assert_accessible(page)
    assert "image-alt" in str(failure.value) and "label" in str(failure.value)
