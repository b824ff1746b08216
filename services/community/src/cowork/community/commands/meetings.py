"""Meetings: published, changed, cancelled and closed with minutes by officers or staff; read
by anyone. Also re-exports the registrations' commands the other parts call
(`erase_registrations_for_email`, `register`, `confirm`, `cancel`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.community.commands.common import (
    Refused,
    emit,
    meeting_event,
    meeting_view,
)
from cowork.community.commands.registrations import (
    Registrant,
    cancel,
    check_in,
    confirm,
    erase_registrations_for_email,
    register,
)
from cowork.community.commands.seats import end_registration, promote
from cowork.community.domain.meetings import ACTIVE, REMINDER_BEFORE, window_problem
from cowork.community.store import meetings as store
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound

REMINDER_JOB = "community.meeting_reminder"
ENDED_JOB = "community.meeting_ended"
MEETING_JOBS = (REMINDER_JOB, ENDED_JOB)

__all__ = ["Registrant", "cancel", "cancel_meeting", "change_meeting", "check_in",
           "close_meeting", "confirm", "erase_registrations_for_email", "list_upcoming",
           "publish_meeting", "register"]


def _check_times(fields: dict[str, Any]) -> None:
    problem = window_problem(fields["starts_at"], fields["ends_at"],
                             fields["registration_opens"], fields["registration_closes"])
    if problem is not None:
        raise Refused("validation_error", problem[1], status=422, field=problem[0])


async def _schedule_jobs(conn: asyncpg.Connection, m: asyncpg.Record) -> None:
    key = str(m["id"])
    await scheduler.schedule(conn, REMINDER_JOB, key, m["starts_at"] - REMINDER_BEFORE)
    await scheduler.schedule(conn, ENDED_JOB, key, m["ends_at"])


async def publish_meeting(conn: asyncpg.Connection, fields: dict[str, Any], now: datetime,
                          meeting_id: UUID | None = None) -> asyncpg.Record:
    """`fields`: the columns of `store.MEETING_COLUMNS`."""
    _check_times(fields)
    m = await store.insert_meeting(conn, meeting_id or uuid4(), fields, now)
    await _schedule_jobs(conn, m)
    await emit(conn, meeting_event(ev.MeetingPublished, m))
    return m


async def locked_meeting(conn: asyncpg.Connection, meeting_id: UUID) -> asyncpg.Record:
    m = await store.meeting_by_id(conn, meeting_id, for_update=True)
    if m is None:
        raise NotFound("meeting", meeting_id)
    return m


async def change_meeting(conn: asyncpg.Connection, meeting_id: UUID, changes: dict[str, Any],
                         now: datetime, hold: timedelta) -> asyncpg.Record:
    """Any field of creation. A larger capacity promotes from the waiting list; a capacity
    below the seats already held is refused (nobody loses a seat by an edit)."""
    m = await locked_meeting(conn, meeting_id)
    if m["status"] != "published":
        raise Refused("meeting_not_open", "a cancelled or closed meeting cannot be changed")
    merged = {c: changes.get(c, m[c]) for c in store.MEETING_COLUMNS}
    _check_times(merged)
    if merged["space_id"] is None and merged["address"] is None:
        raise Refused("validation_error", "a meeting needs a space_id or an address",
                      status=422, field="address")
    if merged["capacity"] < m["seats_held"]:
        raise Refused("capacity_below_held", f"{m['seats_held']} seats are already held",
                      field="capacity")
    m = await store.update_meeting(conn, meeting_id, changes, now)
    await promote(conn, m, now, hold)
    m = await store.meeting_by_id(conn, meeting_id)
    assert m is not None
    await _schedule_jobs(conn, m)
    await emit(conn, meeting_event(ev.MeetingUpdated, m))
    return m


async def cancel_meeting(conn: asyncpg.Connection, meeting_id: UUID,
                         now: datetime) -> asyncpg.Record:
    """Every registration ends (`meeting_cancelled`); nobody is promoted."""
    m = await locked_meeting(conn, meeting_id)
    if m["status"] != "published":
        raise Refused("meeting_not_open", "the meeting is already cancelled or closed")
    for r in await store.registrations_of(conn, meeting_id, ACTIVE):
        await end_registration(conn, m, r, by="meeting_cancelled", now=now, hold=None)
    await store.set_status(conn, meeting_id, "cancelled", now)
    for kind in MEETING_JOBS:
        await scheduler.cancel(conn, kind, str(meeting_id))
    m = await store.meeting_by_id(conn, meeting_id)
    assert m is not None
    await emit(conn, meeting_event(ev.MeetingCancelled, m))
    return m


async def close_meeting(conn: asyncpg.Connection, meeting_id: UUID, text: str,
                        attendance: int, now: datetime) -> asyncpg.Record:
    """The minutes (Italian) and the attendance count, once the meeting has started."""
    m = await locked_meeting(conn, meeting_id)
    if m["status"] != "published":
        raise Refused("meeting_not_open", "the meeting is cancelled or already closed")
    if now < m["starts_at"]:
        raise Refused("meeting_not_started", "minutes come after the meeting has started")
    counts = await store.counts(conn, meeting_id)
    # Those checked in at the door were there: a lower headcount is a typo the open data
    # would publish for good.
    if attendance < counts["checked_in"]:
        raise Refused("attendance_below_checked_in", f"{counts['checked_in']} people were "
                      "checked in at the door", field="attendance")
    await store.close_with_minutes(conn, meeting_id, text, attendance, now)
    await emit(conn, ev.MeetingClosed(meeting_id=meeting_id, attendance=attendance,
                                      registered=counts["confirmed"],
                                      checked_in=counts["checked_in"]))
    m = await store.meeting_by_id(conn, meeting_id)
    assert m is not None
    return m


async def list_upcoming(conn: asyncpg.Connection, now: datetime, *,
                        until: datetime | None = None, limit: int = 100
                        ) -> list[dict[str, Any]]:
    """The meetings not yet ended, soonest first, as the API shows them (the public pages)."""
    rows = await store.meetings_between(conn, now, until, None, limit)
    return [meeting_view(m) for m in rows]
