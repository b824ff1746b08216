"""The pages behind the links in the community's mails: confirm a registration (the GET
confirms: it is the double opt-in itself, and confirming twice is harmless), cancel a
registration and erase one's data (the GET shows a button, only the POST acts, so a mail
scanner that follows links changes nothing).

They call the service's command functions directly, in this process:
`commands.registrations.confirm` / `cancel` and `commands.erasure.confirm_erasure`. A token
that is unknown, used up or expired (the commands' `Refused` / `LinkRefused`) shows "link not
valid", and nothing more: the page tells no one whether a registration exists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from cowork.community.commands import erasure, registrations
from cowork.community.pages import i18n
from cowork.community.pages.rendering import render
from cowork.shared.http import ApiError, NotFound
from cowork.shared.service import Runtime

router = APIRouter(include_in_schema=False)

# Tokens are token_urlsafe strings well under this; anything longer is not ours.
MAX_TOKEN = 200
# A page with a token in its address is never cached, by the browser or anything between.
NO_STORE = {"Cache-Control": "no-store"}

Command = Callable[[asyncpg.Connection, str, datetime], Awaitable[Any]]


def _cancel(runtime: Runtime) -> Command:
    hold = timedelta(hours=runtime.settings.registration_hold_hours)  # type: ignore[attr-defined]

    async def cancel(conn: asyncpg.Connection, token: str, now: datetime) -> Any:
        return await registrations.cancel(conn, token, now, hold=hold)

    return cancel


def _usable(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN and token.isascii() and token.isprintable()


async def _run(runtime: Runtime, command: Command, token: str) -> Any | None:
    """The command's result, or None when the token is unknown, used up or expired (the
    command's 404/409/410): the citizen is told the link does not work, nothing more."""
    try:
        async with runtime.db.acquire() as conn, conn.transaction():
            return await command(conn, token, runtime.clock())
    except (NotFound, erasure.LinkRefused):
        return None
    except ApiError as exc:
        if exc.status in (404, 409, 410, 422):
            return None
        raise


def _message(request: Request, lang: str, title: str, *paragraphs: str, status: int = 200
             ) -> HTMLResponse:
    return render(request, "message.html", lang, status=status, headers=NO_STORE,
                  title=i18n.text(title, lang), paragraphs=[i18n.text(p, lang) for p in paragraphs])


def _invalid(request: Request, lang: str) -> HTMLResponse:
    return _message(request, lang, "link.invalid.title", "link.invalid.text", status=404)


def _action(request: Request, lang: str, route: str, token: str, prefix: str) -> HTMLResponse:
    return render(request, "action.html", lang, headers=NO_STORE,
                  title=i18n.text(f"{prefix}.title", lang),
                  explanation=i18n.text(f"{prefix}.text", lang),
                  button=i18n.text(f"{prefix}.button", lang),
                  action=str(request.app.url_path_for(route))
                  + ("" if lang == i18n.DEFAULT_LANGUAGE else f"?lang={lang}"),
                  token=token)


@router.get("/registrations/confirm", name="pages.registration_confirm")
async def confirm_registration(request: Request, runtime: Runtime, token: str = "",
                               lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    if not _usable(token):
        return _invalid(request, lang)
    result = await _run(runtime, registrations.confirm, token)
    if result is None:
        return _invalid(request, lang)
    waiting = result["status"] == "waitlisted"
    return _message(request, lang, "confirm.title",
                    "confirm.waitlisted" if waiting else "confirm.text")


@router.get("/registrations/cancel", name="pages.registration_cancel")
async def cancel_registration_page(request: Request, token: str = "", lang: str | None = None
                                   ) -> HTMLResponse:
    lang = i18n.language(lang)
    if not _usable(token):
        return _invalid(request, lang)
    return _action(request, lang, "pages.registration_cancel", token, "cancel")


@router.post("/registrations/cancel", name="pages.registration_cancel_post")
async def cancel_registration(request: Request, runtime: Runtime, token: str = Form(""),
                              lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    if not _usable(token):
        return _invalid(request, lang)
    if await _run(runtime, _cancel(runtime), token) is None:
        return _invalid(request, lang)
    return _message(request, lang, "cancel.title", "cancel.done")


@router.get("/erasure/confirm", name="pages.erasure_confirm")
async def erasure_page(request: Request, token: str = "", lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    if not _usable(token):
        return _invalid(request, lang)
    return _action(request, lang, "pages.erasure_confirm", token, "erase")


@router.post("/erasure/confirm", name="pages.erasure_confirm_post")
async def erase(request: Request, runtime: Runtime, token: str = Form(""),
                lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    if not _usable(token):
        return _invalid(request, lang)
    if await _run(runtime, erasure.confirm_erasure, token) is None:
        return _invalid(request, lang)
    return _message(request, lang, "erase.title", "erase.done")
