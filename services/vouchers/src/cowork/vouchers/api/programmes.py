"""Programmes: a municipality's subsidy call, its budget and rules."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any
from uuid import UUID

from cowork.shared.api import CursorParam, Limit, Page, error_responses, v1_router
from cowork.shared.auth import Caller, OfficerCaller, require_roles
from cowork.shared.service import Runtime
from cowork.vouchers import commands, store
from cowork.vouchers.api.dependencies import (
    InTx,
    by_time,
    page_of,
    programme_or_404,
    time_id_after,
)
from cowork.vouchers.api.programme_schemas import NewProgramme, ProgrammeView
from cowork.vouchers.api.views import programme_view

router = v1_router(tags=["programmes"])

# A programme shows its eligibility rules as it was opened with them: rules it was not given
# are not made up in the answer.
_AS_STORED: dict[str, Any] = {"response_model_exclude_unset": True}


@router.post("/programmes", status_code=201, response_model=ProgrammeView,
             responses=error_responses(403, 422), **_AS_STORED)
async def open_programme(body: NewProgramme, runtime: Runtime, in_tx: InTx,
                         caller: OfficerCaller) -> dict[str, Any]:
    require_roles(caller, "officer")
    spec = body.spec()
    programme = await in_tx(lambda conn: commands.open_programme(conn, spec, runtime.clock()))
    return programme_view(programme)


@router.get("/programmes", response_model=Page[ProgrammeView], responses=error_responses(422),
            **_AS_STORED)
async def programmes(runtime: Runtime, caller: Caller, cursor: CursorParam = None,
                     limit: Limit = 50) -> dict[str, Any]:
    after = time_id_after(cursor)
    async with runtime.db.acquire() as conn:
        rows = await store.programmes_page(conn, after, limit + 1)
    return page_of([programme_view(p) for p in rows], rows, limit, by_time("opened_at"))


@router.get("/programmes/{programme_id}", response_model=ProgrammeView,
            responses=error_responses(404), **_AS_STORED)
async def programme(programme_id: UUID, runtime: Runtime, caller: Caller) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        return programme_view(await programme_or_404(conn, programme_id))


@router.post("/programmes/{programme_id}/close", response_model=ProgrammeView,
             responses=error_responses(403, 404, 409), **_AS_STORED)
async def close(programme_id: UUID, runtime: Runtime, in_tx: InTx,
                caller: OfficerCaller) -> dict[str, Any]:
    """Closes the programme; in ranked mode, ranks the pending applications and grants in rank
    order until the budget is spent (the rest wait)."""
    require_roles(caller, "officer")
    closed = await in_tx(lambda conn: commands.close_programme(conn, programme_id,
                                                               runtime.clock()))
    return programme_view(closed)
