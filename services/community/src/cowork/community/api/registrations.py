"""Registrations for a meeting: anyone registers (no account); the mailed links confirm and
cancel; staff list them and check people in at the door by code."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query, Request

from cowork.community import commands
from cowork.community.api.meetings import hold_of, in_tx
from cowork.community.api.schemas_meetings import (
    CheckIn,
    LinkAnswer,
    NewRegistration,
    RegistrationAnswer,
    RegistrationView,
)
from cowork.community.store import meetings as store
from cowork.shared import registration_limits as limits
from cowork.shared.api import Page, error_responses, v1_router
from cowork.shared.auth import OfficerOrStaffCaller, OptionalCaller, StaffCaller
from cowork.shared.http import ApiError, not_found
from cowork.shared.logging import get_logger
from cowork.shared.service import Runtime

log = get_logger(__name__)
router = v1_router(tags=["registrations"])
public = v1_router(public=True, tags=["registrations"])

Token = Annotated[str, Query(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                             description="the token of the mailed link")]


async def within_registration_limits(request: Request, runtime: Runtime,
                                     meeting_id: UUID) -> None:
    """An anonymous registration counts against its client, for this meeting and for the
    window: 429 with Retry-After above either (settings in app.py say why these limits)."""
    settings: Any = runtime.settings  # CommunitySettings (app.py imports this module)
    client = limits.client_identity(limits.client_of(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"), settings.trusted_proxies))
    key = settings.limit_key
    counters = {
        limits.digest(key, "client-meeting", f"{client}/{meeting_id}"):
            (settings.registration_limit_per_meeting, hold_of(runtime)),
        limits.digest(key, "client", client):
            (settings.registration_limit_per_client,
             timedelta(seconds=settings.registration_limit_window_seconds)),
    }
    async with runtime.db.acquire() as conn, conn.transaction():
        retry_after = await limits.retry_after(conn, counters, runtime.clock())
    if retry_after is not None:
        log.info("anonymous registration refused", outcome="rate_limited")
        raise ApiError(429, "too_many_registrations",
                       "too many registrations from here; try later",
                       headers={"Retry-After": str(retry_after)})


@public.post("/meetings/{meeting_id}/registrations", status_code=201,
             response_model=RegistrationAnswer, responses=error_responses(429))
async def register(meeting_id: UUID, body: NewRegistration, runtime: Runtime,
                   caller: OptionalCaller, request: Request) -> dict[str, Any]:
    """Anyone, without an account: a seat is held from now until the mailed link confirms it
    (or the hold ends), else a place on the waiting list (`position`). The same address twice
    gets the same answer and no second seat. A `members` meeting needs a member's token.
    Without a token, one client registers a few people per meeting and per hour (429
    `too_many_registrations` with Retry-After above that)."""
    if caller is None:
        await within_registration_limits(request, runtime, meeting_id)
    who = commands.Registrant(full_name=body.full_name, email=str(body.email),
                              language=body.language,
                              profile=body.profile.model_dump() if body.profile else None)
    settings: Any = runtime.settings
    return await in_tx(runtime)(lambda conn: commands.register(
        conn, meeting_id, who, is_member=caller is not None and caller.has("member"),
        now=runtime.clock(), hold=hold_of(runtime),
        public_base_url=settings.public_base_url))


@public.get("/registrations/confirm", response_model=LinkAnswer)
async def confirm_registration(token: Token, runtime: Runtime) -> dict[str, Any]:
    """The mail's link: `confirmed` (or still `waitlisted`, the address confirmed). Twice is
    fine."""
    return await in_tx(runtime)(lambda conn: commands.confirm(conn, token, runtime.clock()))


@public.post("/registrations/cancel", response_model=LinkAnswer)
async def cancel_registration(token: Token, runtime: Runtime) -> dict[str, Any]:
    """Frees the seat; the first on the waiting list is promoted. Twice is fine."""
    return await in_tx(runtime)(lambda conn: commands.cancel(conn, token, runtime.clock(),
                                                             hold_of(runtime)))


@router.get("/meetings/{meeting_id}/registrations", response_model=Page[RegistrationView])
async def registrations(meeting_id: UUID, runtime: Runtime,
                        caller: OfficerOrStaffCaller) -> dict[str, Any]:
    """Everyone registered, in order of request, with the waiting list's positions."""
    async with runtime.db.acquire() as conn:
        if await store.meeting_by_id(conn, meeting_id) is None:
            raise not_found("meeting", meeting_id)
        rows = await store.registrations_of(conn, meeting_id)
    waiting = sorted((r["waitlist_seq"], r["id"]) for r in rows if r["status"] == "waitlisted")
    positions = {ident: n for n, (_, ident) in enumerate(waiting, start=1)}
    return {"items": [commands.registration_view(r, positions.get(r["id"])) for r in rows],
            "next_cursor": None}


@router.post("/meetings/{meeting_id}/check-in", response_model=RegistrationView)
async def check_in(meeting_id: UUID, body: CheckIn, runtime: Runtime,
                   caller: StaffCaller) -> dict[str, Any]:
    """At the door, by the registration's code: 409 unless confirmed and not yet in."""
    r = await in_tx(runtime)(lambda conn: commands.check_in(conn, meeting_id, body.code,
                                                            runtime.clock()))
    return commands.registration_view(r)
