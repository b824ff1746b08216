"""Applications to a programme: a member's (or the front desk's on their behalf)."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any
from uuid import UUID

from cowork.shared.api import CursorParam, Limit, Page, error_responses, v1_router
from cowork.shared.auth import Caller, OfficerCaller, require_roles, require_self_or_roles
from cowork.shared.http import not_found
from cowork.shared.service import Runtime
from cowork.vouchers import commands, store
from cowork.vouchers.api.dependencies import (
    InTx,
    by_time,
    member_filter,
    own_or_officer,
    page_of,
    programme_or_404,
    time_id_after,
)
from cowork.vouchers.api.schemas import ApplicationView, NewApplication

router = v1_router(tags=["applications"])


@router.post("/programmes/{programme_id}/applications", status_code=201,
             response_model=ApplicationView, responses=error_responses(403, 404, 409, 422))
async def apply(programme_id: UUID, body: NewApplication, runtime: Runtime, in_tx: InTx,
                caller: Caller) -> dict[str, Any]:
    """For a member the service knows from membership's events (409 `member_unknown`
    otherwise); the front desk may apply on a member's behalf, and is recorded as having
    submitted it (`submitted_by`)."""
    require_self_or_roles(caller, body.member_id, "officer", "staff")
    application = await in_tx(lambda conn: commands.apply(
        conn, programme_id, body.member_id, body.declarations.stored(), runtime.clock(),
        submitted_by=caller.sub))
    return commands.application_view(application)


@router.get("/programmes/{programme_id}/applications", response_model=Page[ApplicationView],
            responses=error_responses(403, 404, 422))
async def programme_applications(programme_id: UUID, runtime: Runtime, caller: OfficerCaller,
                                 cursor: CursorParam = None, limit: Limit = 100
                                 ) -> dict[str, Any]:
    require_roles(caller, "officer")
    after = time_id_after(cursor)
    async with runtime.db.acquire() as conn:
        await programme_or_404(conn, programme_id)
        rows = await store.applications_page(conn, programme_id=programme_id,
                                             member_id=None, after=after, limit=limit + 1)
    return page_of([commands.application_view(a) for a in rows], rows, limit,
                   by_time("submitted_at"))


@router.get("/applications", response_model=Page[ApplicationView],
            responses=error_responses(403, 422))
async def applications(runtime: Runtime, caller: Caller, member_id: UUID | None = None,
                       cursor: CursorParam = None, limit: Limit = 100) -> dict[str, Any]:
    """A member's own applications; an officer's, anyone's (`member_id`)."""
    member_id = member_filter(caller, member_id)
    after = time_id_after(cursor)
    async with runtime.db.acquire() as conn:
        rows = await store.applications_page(conn, programme_id=None, member_id=member_id,
                                             after=after, limit=limit + 1)
    return page_of([commands.application_view(a) for a in rows], rows, limit,
                   by_time("submitted_at"))


@router.get("/applications/{application_id}", response_model=ApplicationView,
            responses=error_responses(403, 404))
async def application(application_id: UUID, runtime: Runtime, caller: Caller
                      ) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        found = await store.application_by_id(conn, application_id)
    if found is None:
        raise not_found("application", application_id)
    own_or_officer(caller, found["member_id"])
    return commands.application_view(found)
