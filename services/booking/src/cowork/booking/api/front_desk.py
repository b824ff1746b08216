"""The front desk: a space's day, checking in a member who shows up, a member's no-shows."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Query

from cowork.booking import commands, domain, store
from cowork.booking.api.dependencies import Policy, Transaction, shown
from cowork.booking.api.representations import (
    AgendaOut,
    BookingOut,
    NoShowsOut,
    agenda_view,
    booking_view,
)
from cowork.booking.api.schemas import DeskCheckIn
from cowork.shared.api import ApiDate, v1_router
from cowork.shared.auth import Caller, require_roles, require_self_or_roles
from cowork.shared.http import not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["front desk"])


@router.get("/spaces/{space_id}/agenda", response_model=AgendaOut)
async def agenda(space_id: UUID, caller: Caller, runtime: Runtime,
                 date: Annotated[ApiDate | None, Query(description="a local day; today "
                                                      "when absent")] = None
                 ) -> dict[str, Any]:
    """That day's bookings, each with its check-in state, and who is in now."""
    require_roles(caller, "staff")
    now = runtime.clock()
    async with runtime.db.acquire() as conn:
        space = await store.space_by_id(conn, space_id)
        if space is None:
            raise not_found("space", space_id)
        day = date or now.astimezone(ZoneInfo(space["timezone"])).date()
        bookings = await store.agenda(conn, space_id, day)
        present = await store.in_now(conn, space_id, now)
    return {"space_id": str(space_id), "date": day.isoformat(),
            "closed": domain.closed_reason(store.space_rules(space), day),
            "items": [agenda_view(b, space["timezone"]) for b in bookings],
            "in_now": [agenda_view(b, space["timezone"]) for b in present]}


@router.post("/spaces/{space_id}/check-in", response_model=BookingOut)
async def check_in_at_desk(space_id: UUID, body: DeskCheckIn, caller: Caller, runtime: Runtime,
                           policy: Policy, in_tx: Transaction) -> dict[str, Any]:
    """Staff check in a member who shows up at the desk: their booking here whose check-in
    window is open now (409 `nothing_to_check_in` otherwise: book a walk-in first)."""
    require_roles(caller, "staff")
    return await shown(runtime, await in_tx(lambda conn: commands.check_in_at_desk(
        conn, space_id, body.member_id, now=runtime.clock(), policy=policy)))


@router.get("/members/{member_id}/no-shows", response_model=NoShowsOut)
async def no_shows(member_id: UUID, caller: Caller, runtime: Runtime) -> dict[str, Any]:
    """A member's no-shows (all, and in the last 90 days), late cancellations and
    check-ins, with the latest no-shows: what the suspension policy is decided on."""
    require_self_or_roles(caller, member_id, "staff")
    since = runtime.clock() - timedelta(days=90)
    async with runtime.db.acquire() as conn:
        record = await store.no_show_record(conn, member_id, since)
        latest = await store.recent_no_shows(conn, member_id, 20)
    return {"member_id": str(member_id), "no_shows": record["no_shows"],
            "no_shows_last_90_days": record["recent_no_shows"],
            "last_no_show_at": record["last_no_show_at"],
            "late_cancellations": record["late_cancellations"],
            "check_ins": record["check_ins"],
            "latest": [booking_view(b, b["timezone"]) for b in latest]}
