"""Cancelling: by the member, staff or the system (a change made the booking impossible),
and the freed slot given to the waitlist."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from cowork.booking import domain, store
from cowork.booking.commands.booking import book
from cowork.booking.commands.policy import COMPLETE_JOB, NO_SHOW_JOB, SOURCE, Policy, Taken
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound
from cowork.shared.outbox import add_event


async def booking_for_update(conn: asyncpg.Connection, booking_id: UUID) -> asyncpg.Record:
    booking = await store.booking_by_id(conn, booking_id, for_update=True)
    if booking is None:
        raise NotFound("booking", booking_id)
    return booking


async def cancel(conn: asyncpg.Connection, booking_id: UUID, *, by: str, now: datetime,
                 policy: Policy, reason: str | None = None) -> asyncpg.Record:
    """`by`: member, staff or system (with a `reason` code). Only a member's own late
    cancellation is charged."""
    seen = await store.booking_by_id(conn, booking_id)
    if seen is None:
        raise NotFound("booking", booking_id)
    # The membership's usage first, then the booking: the order every writer takes them in
    # (a booking claims the membership, then its insert may wait on a booking row), so a
    # cancellation and a series of the same member cannot deadlock.
    await store.usage_changed(conn, seen["membership_id"])
    booking = await booking_for_update(conn, booking_id)
    if booking["status"] != "confirmed":
        raise domain.RuleViolation("not_cancellable",
                                   f"a {booking['status'].replace('_', ' ')} booking cannot be "
                                   "cancelled", status=409)
    late, charged = domain.cancellation_charge(booking["charged_cents"], booking["starts_at"],
                                               now, policy.cancel_cutoff)
    if by in ("staff", "system"):
        late, charged = False, 0  # the house cancelled: never the member's fault
    await store.set_booking_status(conn, booking_id, "cancelled", now, charged)
    cancelled = await store.record_cancellation(conn, booking_id, by=by, reason=reason,
                                                late=late)
    await add_event(conn, ev.BookingCancelled(
        booking_id=booking_id, member_id=booking["member_id"], cancelled_by=by,  # type: ignore[arg-type]
        late=late, charged_cents=charged, cancelled_at=now, reason=reason), source=SOURCE)
    await release(conn, booking, now, policy)
    return cancelled


async def cancel_by_system(conn: asyncpg.Connection, bookings: list[asyncpg.Record], *,
                           reason: str, now: datetime, policy: Policy) -> int:
    """Cancel what a change made impossible; `booking.cancelled` says `system` and why, so
    vouchers reverse their redemptions and notifications tell the member. Bookings a member or
    staff already moved on from (no longer confirmed) are left alone."""
    cancelled = 0
    for booking in bookings:
        current = await store.booking_by_id(conn, booking["id"])
        if current is None or current["status"] != "confirmed":
            continue
        await cancel(conn, booking["id"], by="system", now=now, policy=policy, reason=reason)
        cancelled += 1
    return cancelled


async def release(conn: asyncpg.Connection, booking: asyncpg.Record, now: datetime,
                   policy: Policy) -> None:
    """A freed slot goes, in the same transaction, to the first waiting request that fits."""
    key = str(booking["id"])
    await scheduler.cancel(conn, NO_SHOW_JOB, key)
    await scheduler.cancel(conn, COMPLETE_JOB, key)
    resource = await store.resource_by_id(conn, booking["resource_id"])
    assert resource is not None
    for entry in await store.waiting_for(conn, booking["resource_id"], booking["starts_at"],
                                         booking["ends_at"], now):
        try:
            promoted = await book(conn, member_id=entry["member_id"], resource=resource,
                                  start=entry["starts_at"], end=entry["ends_at"], now=now,
                                  policy=policy, booked_by="waitlist", via_waitlist=True)
        except (Taken, domain.RuleViolation):
            continue  # does not fit (or no longer allowed): the next one may
        await store.mark_promoted(conn, entry["id"], promoted["id"])


async def cancel_series(conn: asyncpg.Connection, series_id: UUID, *, from_day: date | None,
                        by: str, now: datetime, policy: Policy) -> list[asyncpg.Record]:
    """Every confirmed occurrence not yet started (from the local day `from_day` on, when
    given) is cancelled as one cancellation each: each its own `booking.cancelled`, late and
    charged by the same rule as a single booking. Answers the cancelled bookings."""
    cancelled = []
    for booking in await store.bookings_of_series(conn, series_id):
        if booking["status"] != "confirmed" or booking["starts_at"] <= now:
            continue
        if from_day is not None and booking["local_day"] < from_day:
            continue
        cancelled.append(await cancel(conn, booking["id"], by=by, now=now, policy=policy))
    return cancelled
