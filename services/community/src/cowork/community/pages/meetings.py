"""The meetings pages: the list (upcoming, and past ones with their minutes), a meeting with
its registration form, and the request to erase one's data. Served at `/meetings` (English
paths, like the mails' links `/registrations/confirm` and `/erasure/confirm`: one scheme for
every address a citizen sees; the page's language is `?lang=`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cowork.community.api.erasure import NewErasureRequest
from cowork.community.api.registrations import within_registration_limits
from cowork.community.api.schemas_meetings import NewRegistration
from cowork.community.commands import erasure, registrations
from cowork.community.domain.interest import WHO
from cowork.community.domain.meetings import registration_refusal
from cowork.community.pages import formatting, forms, i18n
from cowork.community.pages.rendering import render
from cowork.community.store import meetings as store
from cowork.shared.http import ApiError, NotFound
from cowork.shared.service import Runtime

router = APIRouter(include_in_schema=False)

# A small town's meetings: a few a month. The past ones shown are the latest with minutes.
UPCOMING_LIMIT, PAST_SHOWN, PAST_SCANNED = 100, 20, 500
CHECKBOXES = ("consents.privacy",)
# The commands' refusals a citizen can meet on the form, worded in the page's language.
REFUSALS = {"meeting_not_open": "refused.meeting_not_open",
            "registration_not_open_yet": "refused.registration_not_open_yet",
            "registration_closed": "refused.registration_closed",
            "members_only": "refused.members_only",
            "too_many_registrations": "refused.too_many_registrations"}


def _localised(m: asyncpg.Record, column: str, lang: str) -> tuple[str, str]:
    """(text, its language): the page's language when the meeting has it, else Italian."""
    own = m[f"{column}_{lang}"] if lang != "it" else None
    return (own, lang) if own else (m[f"{column}_it"], "it")


def meeting_card(request: Request, m: asyncpg.Record, lang: str, now: datetime) -> dict[str, Any]:
    """What the templates show of a meeting, in the page's language."""
    title, title_lang = _localised(m, "title", lang)
    description, description_lang = _localised(m, "description", lang)
    href = str(request.app.url_path_for("pages.meeting", meeting_id=str(m["id"])))
    refusal = registration_refusal(now, status=m["status"], starts_at=m["starts_at"],
                                   opens=m["registration_opens"], closes=m["registration_closes"])
    return {
        "id": str(m["id"]), "title": title, "title_lang": title_lang,
        "description": description, "description_lang": description_lang,
        "href": href if lang == i18n.DEFAULT_LANGUAGE else f"{href}?lang={lang}",
        "when": formatting.span(m["starts_at"], m["ends_at"], lang),
        "start_iso": formatting.iso_local(m["starts_at"]),
        "place": m["address"] or i18n.text("meeting.at_space", lang),
        "seats_left": max(m["capacity"] - m["seats_held"], 0),
        "status": m["status"], "members_only": m["open_to"] == "members",
        "open": refusal is None and m["open_to"] == "everyone",
        "ics": f"/v1/meetings/{m['id']}.ics",
        "minutes": m["minutes_it"], "attendance": m["attendance"],
    }


@router.get("/meetings", name="pages.meetings", response_class=HTMLResponse)
async def meetings(request: Request, runtime: Runtime, lang: str | None = None) -> HTMLResponse:
    lang, now = i18n.language(lang), runtime.clock()
    async with runtime.db.acquire() as conn:
        upcoming = await store.meetings_between(conn, now, None, None, UPCOMING_LIMIT)
        # The store lists soonest first; the latest closed meetings are the ones to show.
        started = await store.meetings_between(conn, None, now, None, PAST_SCANNED)
    past = [m for m in reversed(started) if m["ends_at"] <= now and m["status"] == "closed"]
    return render(request, "meetings.html", lang,
                  upcoming=[meeting_card(request, m, lang, now) for m in upcoming],
                  past=[meeting_card(request, m, lang, now) for m in past[:PAST_SHOWN]],
                  erasure_href=_path(request, "pages.erasure", lang))


def _path(request: Request, route: str, lang: str, **params: str) -> str:
    path = str(request.app.url_path_for(route, **params))
    return path if lang == i18n.DEFAULT_LANGUAGE else f"{path}?lang={lang}"


async def _meeting(runtime: Runtime, meeting_id: str) -> asyncpg.Record | None:
    try:
        ident = UUID(meeting_id)
    except ValueError:
        return None
    async with runtime.db.acquire() as conn:
        return await store.meeting_by_id(conn, ident)


def _not_found(request: Request, lang: str) -> HTMLResponse:
    return render(request, "message.html", lang, status=404,
                  title=i18n.text("not_found.title", lang),
                  paragraphs=[i18n.text("meeting.not_found", lang)])


def _meeting_page(request: Request, runtime: Runtime, m: asyncpg.Record, lang: str, *,
                  errors: forms.FormErrors, values: dict[str, Any], status: int = 200
                  ) -> HTMLResponse:
    return render(request, "meeting.html", lang, status=status,
                  meeting=meeting_card(request, m, lang, runtime.clock()),
                  action=_path(request, "pages.meeting_register", lang, meeting_id=str(m["id"])),
                  back=_path(request, "pages.meetings", lang),
                  who_options=[("", i18n.text("register.no_answer", lang)),
                               *i18n.options("who", WHO, lang)],
                  errors=errors, values=values)


@router.get("/meetings/{meeting_id}", name="pages.meeting", response_class=HTMLResponse)
async def meeting(request: Request, runtime: Runtime, meeting_id: str,
                  lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    m = await _meeting(runtime, meeting_id)
    if m is None:
        return _not_found(request, lang)
    return _meeting_page(request, runtime, m, lang, errors=forms.FormErrors(),
                         values={"profile.who": ""})


def registration_input(form: Any, lang: str) -> dict[str, Any]:
    """The form as the API's NewRegistration: the optional profile only when something of it
    was given (a blank answer is no answer), the mails in the page's language."""
    data = forms.form_input(form, checkboxes=CHECKBOXES)
    profile = {k: v for k, v in data.pop("profile", {}).items() if v not in ("", None)}
    if profile:
        data["profile"] = profile
    data["language"] = lang
    return data


def refusal_errors(exc: ApiError, lang: str) -> forms.FormErrors:
    errors = forms.FormErrors.from_api_error(exc)
    if exc.code in REFUSALS:
        errors = forms.FormErrors({exc.field or forms.FORM: i18n.text(REFUSALS[exc.code], lang)})
    return errors


@router.post("/meetings/{meeting_id}", name="pages.meeting_register", response_class=HTMLResponse)
async def register(request: Request, runtime: Runtime, meeting_id: str,
                   lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    m = await _meeting(runtime, meeting_id)
    if m is None:
        return _not_found(request, lang)
    form = await request.form()
    body, errors = forms.validate(NewRegistration, registration_input(form, lang), lang)
    status = 422
    if body is not None:
        try:
            # The page's form counts against the client like the API's registration does.
            await within_registration_limits(request, runtime, m["id"])
            answer = await _register(runtime, m["id"], body)
        except NotFound:
            return _not_found(request, lang)
        except ApiError as exc:
            errors = refusal_errors(exc, lang)
            status = 429 if exc.status == 429 else 422
        else:
            return _registered(request, lang, answer)
    return _meeting_page(request, runtime, m, lang, errors=errors,
                         values=forms.redisplay(form), status=status)


async def _register(runtime: Runtime, meeting_id: UUID, body: NewRegistration) -> dict[str, Any]:
    settings: Any = runtime.settings
    who = registrations.Registrant(
        full_name=body.full_name, email=str(body.email), language=body.language,
        profile=body.profile.model_dump() if body.profile else None)
    async with runtime.db.acquire() as conn, conn.transaction():
        return await registrations.register(
            conn, meeting_id, who, is_member=False, now=runtime.clock(),
            hold=timedelta(hours=settings.registration_hold_hours),
            public_base_url=settings.public_base_url)


def _registered(request: Request, lang: str, answer: dict[str, Any]) -> HTMLResponse:
    if answer["status"] == "waitlisted":
        title = i18n.text("waitlisted.title", lang)
        text = i18n.text("waitlisted.text", lang).format(position=answer["position"])
    else:
        title, text = i18n.text("registered.title", lang), i18n.text("registered.text", lang)
    return render(request, "message.html", lang, title=title, paragraphs=[text])


# ---------------------------------------------------------------- erasure request


def _erasure_page(request: Request, lang: str, errors: forms.FormErrors,
                  values: dict[str, Any], status: int = 200) -> HTMLResponse:
    return render(request, "erasure.html", lang, status=status, errors=errors, values=values,
                  action=_path(request, "pages.erasure_request", lang))


@router.get("/erasure", name="pages.erasure", response_class=HTMLResponse)
async def erasure_form(request: Request, lang: str | None = None) -> HTMLResponse:
    return _erasure_page(request, i18n.language(lang), forms.FormErrors(), {})


@router.post("/erasure", name="pages.erasure_request", response_class=HTMLResponse)
async def erasure_request(request: Request, runtime: Runtime, lang: str | None = None
                          ) -> HTMLResponse:
    """The same answer whether or not the address is known: the page reveals nothing."""
    lang = i18n.language(lang)
    form = await request.form()
    data = {**forms.form_input(form), "language": lang}
    body, errors = forms.validate(NewErasureRequest, data, lang)
    if body is None:
        return _erasure_page(request, lang, errors, forms.redisplay(form), status=422)
    settings: Any = runtime.settings
    async with runtime.db.acquire() as conn, conn.transaction():
        await erasure.request_erasure(conn, str(body.email), body.language, runtime.clock(),
                                      settings.public_base_url, settings.erasure_digest_key)
    return render(request, "message.html", lang, title=i18n.text("erasure.done_title", lang),
                  paragraphs=[i18n.text("erasure.done", lang)])
