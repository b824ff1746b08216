"""Checking in: by the member, or by staff at the desk."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from cowork.booking import domain, store
from cowork.booking.commands.cancellation import booking_for_update
from cowork.booking.commands.policy import NO_SHOW_JOB, SOURCE, Policy
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event


async def check_in(conn: asyncpg.Connection, booking_id: UUID, *, now: datetime,
                   policy: Policy, by: str = "member") -> asyncpg.Record:
    booking = await booking_for_update(conn, booking_id)
    if booking["status"] != "confirmed":
        raise domain.RuleViolation("not_checkable", f"the booking is {booking['status']}",
                                   status=409)
    if await store.member_is_suspended(conn, booking["member_id"]):
        raise domain.RuleViolation("membership_suspended",
                                   "the member's membership is suspended: no check-in",
                                   "member_id", status=403)
    if not domain.check_in_allowed(booking["starts_at"], now, policy.check_in_early,
                                   policy.no_show_grace):
        raise domain.RuleViolation(
            "outside_check_in_window",
            f"check-in opens {int(policy.check_in_early.total_seconds() // 60)} minutes before "
            f"the start and closes {int(policy.no_show_grace.total_seconds() // 60)} after it",
            status=409)
    checked = await store.mark_checked_in(conn, booking_id, now, by)
    await scheduler.cancel(conn, NO_SHOW_JOB, str(booking_id))
    await add_event(conn, ev.BookingCheckedIn(booking_id=booking_id,
                                              member_id=booking["member_id"], at=now),
                    source=SOURCE)
    return checked


async def check_in_at_desk(conn: asyncpg.Connection, space_id: UUID, member_id: UUID, *,
                           now: datetime, policy: Policy) -> asyncpg.Record:
    """Staff check a member in at the desk: the member's booking in the space whose check-in
    window is open now (the earliest, when two are)."""
    booking = await store.checkable_booking(conn, space_id, member_id,
                                            now - policy.no_show_grace, now + policy.check_in_early)
    if booking is None:
        raise domain.RuleViolation("nothing_to_check_in", "the member has no booking here to "
                                   "check in now: book a walk-in first", "member_id",
                                   status=409)
    return await check_in(conn, booking["id"], now=now, policy=policy, by="staff")
