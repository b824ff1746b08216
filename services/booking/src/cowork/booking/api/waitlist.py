"""The waitlist: a member waits for a taken slot and is booked into it when it frees (in
OpenAPI under bookings)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from typing import Any, Literal
from uuid import UUID

import asyncpg
from fastapi import Response

from cowork.booking import commands, store
from cowork.booking.api.dependencies import Transaction, position_after, resource_or_404, whose
from cowork.booking.api.representations import WaitlistEntryOut, waitlist_view
from cowork.booking.api.schemas import NewWaitlistEntry
from cowork.shared.api import (
    DEFAULT_PAGE_SIZE,
    CursorParam,
    Limit,
    Page,
    encode_cursor,
    v1_router,
)
from cowork.shared.auth import Caller, require_self_or_roles
from cowork.shared.http import not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["bookings"])


@router.post("/waitlist", status_code=201, response_model=WaitlistEntryOut)
async def join_waitlist(body: NewWaitlistEntry, caller: Caller, runtime: Runtime,
                        in_tx: Transaction) -> dict[str, Any]:
    require_self_or_roles(caller, body.member_id, "staff")

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        resource = await resource_or_404(conn, body.resource_id)
        entry = await commands.join_waitlist(conn, member_id=body.member_id,
                                             resource=resource, start=body.start,
                                             end=body.end, now=runtime.clock())
        return waitlist_view(entry, resource["timezone"])

    result: dict[str, Any] = await in_tx(work)
    return result


@router.get("/waitlist", response_model=Page[WaitlistEntryOut])
async def list_waitlist(caller: Caller, runtime: Runtime, member_id: UUID | None = None,
                        resource_id: UUID | None = None,
                        status: Literal["waiting", "promoted", "withdrawn"] | None = None,
                        cursor: CursorParam = None,
                        limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    """A member's own requests (staff: anyone's, or a resource's queue), first come first
    served; `cursor` is the `next_cursor` of the page before."""
    member_id = whose(caller, member_id)
    after = position_after(cursor, UUID)
    async with runtime.db.acquire() as conn:
        rows = await store.waitlist_entries(conn, member_id=member_id,
                                            resource_id=resource_id, status=status,
                                            after=after[0] if after else None,
                                            limit=limit + 1)
    page = rows[:limit]
    return {"items": [waitlist_view(w, w["timezone"]) for w in page],
            "next_cursor": encode_cursor(page[-1]["id"]) if len(rows) > limit else None}


@router.delete("/waitlist/{entry_id}", status_code=204)
async def withdraw(entry_id: UUID, caller: Caller, runtime: Runtime, in_tx: Transaction
                   ) -> Response:
    async with runtime.db.acquire() as conn:
        entry = await store.waitlist_entry(conn, entry_id)
    if entry is None:
        raise not_found("waitlist entry", entry_id)
    require_self_or_roles(caller, entry["member_id"], "staff")
    await in_tx(lambda conn: commands.withdraw_from_waitlist(conn, entry_id))
    return Response(status_code=204)
