"""Bookings: a resource's free time, booking it, a member's bookings, cancelling and checking
in."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Query

from cowork.booking import commands, domain, store
from cowork.booking.api.dependencies import (
    KeptResources,
    Policy,
    Transaction,
    booked_by,
    position_after,
    shown,
    translated_errors,
    whose,
)
from cowork.booking.api.representations import AvailabilityOut, BookingOut, booking_view
from cowork.booking.api.schemas import NewBooking
from cowork.shared.api import (
    DEFAULT_PAGE_SIZE,
    ApiDate,
    CursorParam,
    DateOrDateTime,
    Limit,
    Page,
    encode_cursor,
    v1_router,
)
from cowork.shared.auth import Caller, Principal, require_self_or_roles
from cowork.shared.http import NotFound, invalid, not_found
from cowork.shared.service import Runtime, ServiceRuntime

router = v1_router(tags=["bookings"])

DayTaken = tuple[list[Any], list[Any]]


async def _taken_that_day(conn: asyncpg.Connection, resource_id: UUID, day: Any,
                          resource: asyncpg.Record) -> tuple[int | None, DayTaken]:
    """The day's opening ranges from the row and what is taken of them, with the resource's
    calendar_version as the database has it now."""
    ranges = domain.opening_ranges(store.space_rules(resource), day)
    now = datetime.now(UTC)
    taken = await store.taken_intervals(
        conn, resource_id, *(ranges[0][0], ranges[-1][1]) if ranges else (now, now))
    return (None, (ranges, [])) if taken is None else (taken[0], (ranges, taken[1]))


@router.get("/resources/{resource_id}/availability", response_model=AvailabilityOut)
async def availability(resource_id: UUID, date: ApiDate, caller: Caller, runtime: Runtime,
                       kept: KeptResources) -> dict[str, Any]:
    """Free intervals that day, in the space's timezone."""
    async with translated_errors(), runtime.db.acquire() as conn:
        answered = await kept.answer_on_current(
            conn, resource_id, lambda resource: _taken_that_day(conn, resource_id, date, resource))
    if answered is None:
        raise NotFound("resource", resource_id)
    (ranges, taken), resource = answered
    space = store.space_rules(resource)
    free = domain.free_intervals(ranges, taken) if resource["in_service"] else []
    return {"resource_id": str(resource_id), "date": date.isoformat(),
            "in_service": resource["in_service"],
            "closed": domain.closed_reason(space, date),
            "free": [{"start": a.astimezone(space.tz).isoformat(),
                      "end": b.astimezone(space.tz).isoformat()} for a, b in free]}


@router.post("/bookings", status_code=201, response_model=BookingOut)
async def create_booking(body: NewBooking, caller: Caller, runtime: Runtime, policy: Policy,
                         kept: KeptResources) -> dict[str, Any]:
    require_self_or_roles(caller, body.member_id, "staff")
    if body.resource_id is None and (body.space_id is None or body.resource_kind is None):
        raise invalid("resource_id", "give resource_id, or space_id with resource_kind")
    now = runtime.clock()

    async def on(conn: asyncpg.Connection, resource: asyncpg.Record) -> asyncpg.Record:
        return await commands.book(conn, member_id=body.member_id, resource=resource,
                                   start=body.start, end=body.end, now=now, policy=policy,
                                   booked_by=booked_by(caller))

    # No transaction: commands.book writes in one statement (see store.book_drawing_on).
    async with translated_errors(), runtime.db.acquire() as conn:
        if body.resource_id is None:
            booking = await commands.book_any(
                conn, member_id=body.member_id, space_id=body.space_id,  # type: ignore[arg-type]
                kind=body.resource_kind, start=body.start, end=body.end,  # type: ignore[arg-type]
                now=now, policy=policy, booked_by=booked_by(caller))
            return booking_view(booking, await store.space_timezone(conn, booking["space_id"]))
        booked = await kept.book_kept_or_fresh(
            conn, body.resource_id, lambda resource: on(conn, resource))
        if booked is None:
            raise NotFound("resource", body.resource_id)
        # The row the booking was written against carries its space's timezone (current:
        # the statement checked the row's version; a space with bookings keeps its zone).
        booking, resource = booked
        return booking_view(booking, resource["timezone"])


@router.get("/bookings", response_model=Page[BookingOut])
async def list_bookings(caller: Caller, runtime: Runtime, member_id: UUID | None = None,
                        from_: Annotated[DateOrDateTime | None, Query(alias="from")] = None,
                        to: DateOrDateTime | None = None, cursor: CursorParam = None,
                        limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    """Bookings overlapping [from, to), in start order, a page at a time (a date alone
    means its midnight UTC)."""
    member_id = whose(caller, member_id)
    after = position_after(cursor, datetime.fromisoformat, UUID)
    async with runtime.db.acquire() as conn:
        rows = await store.bookings_page(conn, member_id, from_, to, after=after,
                                         limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return {"items": [booking_view(b, b["timezone"]) for b in page],
            "next_cursor": encode_cursor(page[-1]["starts_at"], page[-1]["id"])
            if more else None}


# `:uuid`: only an id matches, so `GET /bookings/series` is a wrong method on the series path
# (405, `allow: POST`), not a malformed booking id.
@router.get("/bookings/{booking_id:uuid}", response_model=BookingOut)
async def read_booking(booking_id: UUID, caller: Caller, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        booking = await store.booking_by_id(conn, booking_id)
    if booking is None:
        raise not_found("booking", booking_id)
    require_self_or_roles(caller, booking["member_id"], "staff")
    return await shown(runtime, booking)


async def _owned(runtime: ServiceRuntime, booking_id: UUID, caller: Principal) -> None:
    async with runtime.db.acquire() as conn:
        booking = await store.booking_by_id(conn, booking_id)
    if booking is None:
        raise not_found("booking", booking_id)
    require_self_or_roles(caller, booking["member_id"], "staff")


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut)
async def cancel(booking_id: UUID, caller: Caller, runtime: Runtime, policy: Policy,
                 in_tx: Transaction) -> dict[str, Any]:
    await _owned(runtime, booking_id, caller)
    return await shown(runtime, await in_tx(lambda conn: commands.cancel(
        conn, booking_id, by=booked_by(caller), now=runtime.clock(), policy=policy)))


@router.post("/bookings/{booking_id}/check-in", response_model=BookingOut)
async def check_in(booking_id: UUID, caller: Caller, runtime: Runtime, policy: Policy,
                   in_tx: Transaction) -> dict[str, Any]:
    await _owned(runtime, booking_id, caller)
    return await shown(runtime, await in_tx(lambda conn: commands.check_in(
        conn, booking_id, now=runtime.clock(), policy=policy, by=booked_by(caller))))
