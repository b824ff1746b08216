"""The scheduled jobs of meetings: an unconfirmed seat released after its hold, the reminder
the day before, the contacts forgotten once the meeting is over (or a day after a mailed
cancellation). Each runs in the scheduler's
transaction, so its events are written once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

import asyncpg

from cowork.community.commands.common import emit, remove_contact
from cowork.community.commands.meetings import ENDED_JOB, REMINDER_JOB
from cowork.community.commands.seats import FORGET_JOB, HOLD_JOB, end_registration
from cowork.community.store import meetings as store
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev


class HoldSettings(Protocol):
    registration_hold_hours: int


async def _reminders(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    """Once per confirmed registration (`reminded_at`), however often the job runs."""
    meeting = await store.meeting_by_id(conn, UUID(job.key), for_update=True)
    if meeting is None or meeting["status"] != "published":
        return
    for r in await store.due_reminders(conn, meeting["id"]):
        await store.set_registration(conn, r["id"], reminded_at=now)
        await emit(conn, ev.RegistrationReminderDue(registration_id=r["id"],
                                                    meeting_id=meeting["id"], at=now,
                                                    start=meeting["starts_at"]))


async def _ended(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    """After the meeting nobody is mailed about it: every contact card is tombstoned."""
    meeting = await store.meeting_by_id(conn, UUID(job.key), for_update=True)
    if meeting is None:
        return
    for r in await store.contacts_to_remove(conn, meeting["id"]):
        full = await store.registration_by_id(conn, r["id"])
        assert full is not None
        await remove_contact(conn, full, now)


async def _forget(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    """The card kept for a mailed cancellation (`seats.CARD_KEPT_FOR`), tombstoned now."""
    r = await store.registration_by_id(conn, UUID(job.key), for_update=True)
    if r is not None:
        await remove_contact(conn, r, now)


def jobs(settings: HoldSettings) -> Mapping[str, scheduler.JobHandler]:
    hold = timedelta(hours=settings.registration_hold_hours)

    async def release_hold(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
        """An unconfirmed seat past its hold goes to the next who waits (`expired`)."""
        found = await store.registration_by_id(conn, UUID(job.key))
        if found is None:
            return
        meeting = await store.meeting_by_id(conn, found["meeting_id"], for_update=True)
        r = await store.registration_by_id(conn, found["id"], for_update=True)
        assert meeting is not None and r is not None
        if r["status"] != "pending_confirmation" or r["hold_until"] is None \
                or r["hold_until"] > now:
            return
        promote_hold = hold if meeting["status"] == "published" else None
        await end_registration(conn, meeting, r, by="expired", now=now, hold=promote_hold)

    return {HOLD_JOB: release_hold, REMINDER_JOB: _reminders, ENDED_JOB: _ended,
            FORGET_JOB: _forget}
