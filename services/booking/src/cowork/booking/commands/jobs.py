"""Time-driven work (scheduler jobs): the no-show after the grace period, the completion at
the end."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from cowork.booking import store
from cowork.booking.commands.cancellation import release
from cowork.booking.commands.policy import SOURCE, Policy
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event


def no_show_job(policy: Policy) -> scheduler.JobHandler:
    async def mark_no_show(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
        booking = await store.booking_by_id(conn, UUID(job.key), for_update=True)
        if booking is None or booking["status"] != "confirmed":
            return  # checked in or cancelled meanwhile
        await store.set_booking_status(conn, booking["id"], "no_show", now)
        await add_event(conn, ev.BookingNoShow(booking_id=booking["id"],
                                               member_id=booking["member_id"], at=now),
                        source=SOURCE)
        await release(conn, booking, now, policy)

    return mark_no_show


async def complete_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    booking = await store.booking_by_id(conn, UUID(job.key), for_update=True)
    if booking is None or booking["status"] != "checked_in":
        return
    await store.set_booking_status(conn, booking["id"], "completed", now)
    await add_event(conn, ev.BookingCompleted(booking_id=booking["id"],
                                              member_id=booking["member_id"], at=now),
                    source=SOURCE)
