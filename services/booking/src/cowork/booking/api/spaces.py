"""Spaces: their calendar (opening hours, closures) and its changes."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from typing import Any
from uuid import UUID

from cowork.booking import commands, store
from cowork.booking.api.dependencies import KeptResources, Policy, Transaction
from cowork.booking.api.representations import ClosureOut, NewClosureOut, SpaceOut, closure_view, space_view
from cowork.booking.api.schemas import NewClosure, NewSpace, SpaceChanges
from cowork.shared.api import DEFAULT_PAGE_SIZE, CursorParam, Limit, Page, page_in_memory, v1_router
from cowork.shared.auth import Caller, StaffCaller, require_roles
from cowork.shared.http import invalid, not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["spaces"])


@router.post("/spaces", status_code=201, response_model=SpaceOut)
async def create_space(body: NewSpace, caller: StaffCaller, runtime: Runtime, in_tx: Transaction
                       ) -> dict[str, Any]:
    require_roles(caller, "staff")
    space = await in_tx(lambda conn: commands.create_space(
        conn, now=runtime.clock(), **body.model_dump()))
    return space_view(space)


@router.get("/spaces", response_model=Page[SpaceOut])
async def spaces(caller: Caller, runtime: Runtime, cursor: CursorParam = None,
                 limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        return page_in_memory([space_view(s) for s in await store.list_spaces(conn)],
                              cursor, limit)


@router.get("/spaces/{space_id}", response_model=SpaceOut)
async def space(space_id: UUID, caller: Caller, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        row = await store.space_by_id(conn, space_id)
    if row is None:
        raise not_found("space", space_id)
    return space_view(row)


@router.patch("/spaces/{space_id}", response_model=SpaceOut)
async def change_space(space_id: UUID, body: SpaceChanges, caller: StaffCaller, runtime: Runtime,
                       policy: Policy, in_tx: Transaction, kept: KeptResources
                       ) -> dict[str, Any]:
    """Any field of creation. Confirmed future bookings the new calendar forbids are
    cancelled by the system (`space_closed`, `opening_hours_changed`)."""
    require_roles(caller, "staff")
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise invalid(field, f"{field} cannot be removed")
    space = await in_tx(lambda conn: commands.change_space(
        conn, space_id, changes, now=runtime.clock(), policy=policy))
    kept.forget()
    return space_view(space)


@router.post("/spaces/{space_id}/closures", status_code=201, response_model=NewClosureOut)
async def close_space(space_id: UUID, body: NewClosure, caller: StaffCaller, runtime: Runtime,
                      policy: Policy, in_tx: Transaction, kept: KeptResources
                      ) -> dict[str, Any]:
    """Closes the space from `from` to `to` (dates, inclusive) for `reason`; the confirmed
    bookings on those days are cancelled by the system (`space_closed`)."""
    require_roles(caller, "staff")
    if body.to < body.from_:
        raise invalid("to", "to is before from")
    if (body.to - body.from_).days > 366:
        raise invalid("to", "a closure lasts at most 367 days")
    if body.to < runtime.clock().date():
        raise invalid("to", "the closure is over already")
    closure, cancelled = await in_tx(lambda conn: commands.close_space(
        conn, space_id, from_day=body.from_, to_day=body.to, reason=body.reason,
        now=runtime.clock(), policy=policy))
    kept.forget()
    return {**closure_view(closure), "cancelled_bookings": cancelled}


@router.get("/spaces/{space_id}/closures", response_model=Page[ClosureOut])
async def closures(space_id: UUID, caller: Caller, runtime: Runtime, cursor: CursorParam = None,
                   limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        if await store.space_by_id(conn, space_id) is None:
            raise not_found("space", space_id)
        return page_in_memory([closure_view(c) for c in
                               await store.closures_of(conn, space_id)], cursor, limit)
