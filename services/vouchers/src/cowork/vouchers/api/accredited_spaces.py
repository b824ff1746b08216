"""Accredited spaces: where a voucher pays, from which day."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any
from uuid import UUID

import asyncpg

from cowork.shared.api import CursorParam, Limit, Page, error_responses, v1_router
from cowork.shared.auth import OfficerCaller, OfficerOrStaffCaller, require_roles
from cowork.shared.http import invalid
from cowork.shared.service import Runtime
from cowork.vouchers import commands, store
from cowork.vouchers.api.dependencies import InTx, by_time, page_of, time_id_after
from cowork.vouchers.api.schemas import AccreditationView, NewAccreditation
from cowork.vouchers.api.views import accreditation_view

router = v1_router(tags=["accredited spaces"])

# `warning` is there only for a space booking has not announced: absent, not null, otherwise.
_AS_BUILT: dict[str, Any] = {"response_model_exclude_unset": True}


@router.post("/accredited-spaces", status_code=201, response_model=AccreditationView,
             responses=error_responses(403, 409, 422), **_AS_BUILT)
async def accredit(body: NewAccreditation, runtime: Runtime, in_tx: InTx,
                   caller: OfficerCaller) -> dict[str, Any]:
    """A space is accredited from a date. A space booking has not announced yet is
    accepted with a warning (the demo accredits its space before booking publishes it)."""
    require_roles(caller, "officer")

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        known, desks = await store.desks_of(conn, body.space_id)
        if body.min_desks is not None and not known:
            # A criterion can only be checked against what booking has announced.
            raise invalid("space_id", "booking has not announced this space yet, so its "
                          "desks cannot be counted; try again once it has",
                          code="space_unknown")
        if body.min_desks is not None and desks < body.min_desks:
            raise invalid("space_id", f"the space has {desks} desks, fewer than "
                          f"{body.min_desks}", code="too_few_desks")
        row = await commands.accredit(conn, body.space_id, body.from_, body.reason,
                                      runtime.clock())
        return accreditation_view(row, known=known, desks=desks)

    return await in_tx(work)


@router.get("/accredited-spaces", response_model=Page[AccreditationView],
            responses=error_responses(403, 422), **_AS_BUILT)
async def accredited_spaces(runtime: Runtime, caller: OfficerOrStaffCaller, cursor: CursorParam = None,
                            limit: Limit = 100) -> dict[str, Any]:
    require_roles(caller, "officer", "staff")
    after = time_id_after(cursor)
    async with runtime.db.acquire() as conn:
        rows = await store.accreditations_page(conn, after, limit + 1)
    return page_of([accreditation_view(a, known=a["known"], desks=a["desks"]) for a in rows],
                   rows, limit, by_time("created_at"))


@router.delete("/accredited-spaces/{space_id}", response_model=AccreditationView,
               responses=error_responses(403, 404), **_AS_BUILT)
async def end_accreditation(space_id: UUID, runtime: Runtime, in_tx: InTx,
                            caller: OfficerCaller) -> dict[str, Any]:
    """Ends the accreditation: costs from today on no longer count. The record stays."""
    require_roles(caller, "officer")

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await commands.end_accreditation(conn, space_id, runtime.clock())
        known, desks = await store.desks_of(conn, space_id)
        return accreditation_view(row, known=known, desks=desks)

    return await in_tx(work)
