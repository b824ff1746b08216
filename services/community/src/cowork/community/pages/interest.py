"""The expression-of-interest form ("manifestazione di interesse"): every field of
POST /v1/interest, the choices as radios and checkboxes grouped in fieldsets, checked by the
API's own schema and stored by the same command."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cowork.community.api.interest import NewInterest
from cowork.community.commands.interest import express_interest
from cowork.community.domain.interest import DESK_KINDS, FREQUENCIES, TIME_BANDS, WEEKDAYS, WHO
from cowork.community.pages import forms, i18n
from cowork.community.pages.rendering import link, render
from cowork.shared.service import Runtime

router = APIRouter(include_in_schema=False)

LISTS = ("desk_kinds", "weekdays", "time_bands")
CHECKBOXES = ("consents.privacy",)
OPTIONAL = ("residence_istat", "email")
# A yes/no radio: the schema takes a boolean, the browser sends one of these words (or nothing).
YES_NO = {"yes": True, "no": False}


def interest_input(form: Any) -> dict[str, Any]:
    """The form as the API's NewInterest: blank optional fields are absent, the yes/no answer
    a boolean (an unanswered one stays missing, so the schema names it)."""
    data = forms.form_input(form, lists=LISTS, checkboxes=CHECKBOXES)
    for name in OPTIONAL:
        if data.get(name) == "":
            del data[name]
    if "would_help_run" in data:
        answer = data["would_help_run"]
        data["would_help_run"] = YES_NO.get(answer, answer)
    return data


def _page(request: Request, lang: str, errors: forms.FormErrors, values: dict[str, Any],
          status: int = 200) -> HTMLResponse:
    return render(
        request, "interest.html", lang, status=status, errors=errors, values=values,
        action=link(request, "pages.interest", lang),
        erasure_href=link(request, "pages.erasure", lang),
        who=i18n.options("who", WHO, lang), desk_kinds=i18n.options("desk", DESK_KINDS, lang),
        weekdays=i18n.options("day", WEEKDAYS, lang),
        time_bands=i18n.options("band", TIME_BANDS, lang),
        frequencies=i18n.options("frequency", FREQUENCIES, lang),
        yes_no=[("yes", i18n.text("yes", lang)), ("no", i18n.text("no", lang))])


@router.get("/interest", name="pages.interest", response_class=HTMLResponse)
async def interest_form(request: Request, lang: str | None = None) -> HTMLResponse:
    return _page(request, i18n.language(lang), forms.FormErrors(), {})


@router.post("/interest", name="pages.interest_post", response_class=HTMLResponse)
async def express(request: Request, runtime: Runtime, lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    form = await request.form()
    body, errors = forms.validate(NewInterest, interest_input(form), lang)
    if body is None:
        return _page(request, lang, errors, forms.redisplay(form, LISTS), status=422)
    spec = body.model_dump(exclude={"consents"})
    async with runtime.db.acquire() as conn, conn.transaction():
        await express_interest(conn, spec, runtime.clock())
    return render(request, "message.html", lang, title=i18n.text("interest.done_title", lang),
                  paragraphs=[i18n.text("interest.done", lang)])
