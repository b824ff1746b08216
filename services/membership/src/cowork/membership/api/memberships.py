"""Memberships: a member's plan for a period, bought, renewed, suspended, reinstated and
cancelled."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any
from uuid import UUID

import asyncpg

from cowork.membership import commands, store
from cowork.membership.api.dependencies import InTx
from cowork.membership.api.schemas import (
    MembershipOut,
    NewMembership,
    OptionalReason,
    StatusChange,
    membership_view,
)
from cowork.shared.api import DEFAULT_PAGE_SIZE, CursorParam, Limit, Page, page_in_memory, v1_router
from cowork.shared.auth import Caller, StaffCaller, require_roles, require_self_or_roles
from cowork.shared.http import not_found
from cowork.shared.service import Runtime, ServiceRuntime

router = v1_router(tags=["memberships"])


async def existing_membership(runtime: ServiceRuntime, membership_id: UUID) -> asyncpg.Record:
    """The membership, or 404. A plain call, not a dependency: each route decides whether the
    caller's roles are checked before (403 first) or after (whose membership it is) this."""
    async with runtime.db.acquire() as conn:
        membership = await store.membership_by_id(conn, membership_id)
    if membership is None:
        raise not_found("membership", membership_id)
    return membership


@router.post("/members/{member_id}/memberships", status_code=201, response_model=MembershipOut)
async def buy(member_id: UUID, body: NewMembership, runtime: Runtime, in_tx: InTx,
              caller: Caller) -> dict[str, Any]:
    require_self_or_roles(caller, member_id, "staff")
    membership = await in_tx(lambda conn: commands.start_membership(
        conn, member_id=member_id, plan_code=body.plan_code, starts_on=body.starts_on,
        now=runtime.clock()))
    return membership_view(membership)


@router.get("/members/{member_id}/memberships", response_model=Page[MembershipOut])
async def memberships(member_id: UUID, runtime: Runtime, caller: Caller,
                      cursor: CursorParam = None,
                      limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    """Newest first."""
    require_self_or_roles(caller, member_id, "staff")
    async with runtime.db.acquire() as conn:
        # An erased (or unknown) member is 404 here as on /members/{id}.
        await commands.live_member(conn, member_id)
        return page_in_memory([membership_view(s, staff=caller.has("staff")) for s in
                               await store.memberships_of(conn, member_id)], cursor, limit)


@router.get("/memberships/{membership_id}", response_model=MembershipOut)
async def read_membership(membership_id: UUID, runtime: Runtime,
                          caller: Caller) -> dict[str, Any]:
    membership = await existing_membership(runtime, membership_id)
    require_self_or_roles(caller, membership["member_id"], "staff")
    return membership_view(membership, staff=caller.has("staff"))


@router.post("/memberships/{membership_id}/renew", response_model=MembershipOut)
async def renew(membership_id: UUID, runtime: Runtime, in_tx: InTx,
                caller: Caller) -> dict[str, Any]:
    membership = await existing_membership(runtime, membership_id)
    require_self_or_roles(caller, membership["member_id"], "staff")
    return membership_view(await in_tx(
        lambda conn: commands.renew(conn, membership_id, runtime.clock())))


async def _change_status_at_the_desk(change: Any, membership_id: UUID, body: StatusChange,
                                     runtime: Runtime, in_tx: InTx, caller: Caller
                                     ) -> dict[str, Any]:
    """Suspend or reinstate: staff only (checked before the lookup, so a member learns nothing
    of another's membership), with the reason code on the event and the note kept here."""
    require_roles(caller, "staff")
    await existing_membership(runtime, membership_id)
    return membership_view(await in_tx(
        lambda conn: change(conn, membership_id, body.reason, runtime.clock(), note=body.note)),
        staff=True)


@router.post("/memberships/{membership_id}/suspend", response_model=MembershipOut)
async def suspend(membership_id: UUID, body: StatusChange, runtime: Runtime, in_tx: InTx,
                  caller: StaffCaller) -> dict[str, Any]:
    return await _change_status_at_the_desk(commands.suspend, membership_id, body, runtime,
                                            in_tx, caller)


@router.post("/memberships/{membership_id}/reinstate", response_model=MembershipOut)
async def reinstate(membership_id: UUID, body: StatusChange, runtime: Runtime, in_tx: InTx,
                    caller: StaffCaller) -> dict[str, Any]:
    return await _change_status_at_the_desk(commands.reinstate, membership_id, body, runtime,
                                            in_tx, caller)


@router.post("/memberships/{membership_id}/cancel", response_model=MembershipOut)
async def cancel(membership_id: UUID, runtime: Runtime, in_tx: InTx, caller: Caller,
                 body: OptionalReason | None = None) -> dict[str, Any]:
    membership = await existing_membership(runtime, membership_id)
    require_self_or_roles(caller, membership["member_id"], "staff")
    reason = body.reason if body else None
    return membership_view(await in_tx(
        lambda conn: commands.cancel(conn, membership_id, runtime.clock(), reason)))
