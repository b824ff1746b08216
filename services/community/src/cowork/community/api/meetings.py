"""Meetings: published by officers or staff; read by anyone (no token), as JSON or iCalendar."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import icalendar
from fastapi import Query, Response

from cowork.community import commands
from cowork.community.api.schemas_meetings import (
    MeetingChanges,
    MeetingView,
    NewMeeting,
    NewMinutes,
    meeting_columns,
)
from cowork.community.store import meetings as store
from cowork.shared.api import (
    CursorParam,
    DateOrDateTime,
    Limit,
    Page,
    decode_cursor,
    encode_cursor,
    error_responses,
    transactions,
    translated_errors,
    v1_router,
)
from cowork.shared.auth import OfficerOrStaffCaller
from cowork.shared.http import invalid, not_found
from cowork.shared.service import Runtime

FromParam = Annotated[DateOrDateTime | None, Query(alias="from")]
ToParam = Annotated[DateOrDateTime | None, Query()]

router = v1_router(tags=["meetings"])
public = v1_router(public=True, tags=["meetings"])
_errors = translated_errors()


def in_tx(runtime: Runtime) -> Any:
    return transactions(runtime, _errors)


def hold_of(runtime: Runtime) -> timedelta:
    return timedelta(hours=runtime.settings.registration_hold_hours)  # type: ignore[attr-defined]


async def _meeting_or_404(runtime: Runtime, meeting_id: UUID) -> asyncpg.Record:
    async with runtime.db.acquire() as conn:
        found = await store.meeting_by_id(conn, meeting_id)
    if found is None:
        raise not_found("meeting", meeting_id)
    return found


@router.post("/meetings", status_code=201, response_model=MeetingView)
async def publish_meeting(body: NewMeeting, runtime: Runtime,
                          caller: OfficerOrStaffCaller) -> dict[str, Any]:
    columns = meeting_columns(body)
    m = await in_tx(runtime)(lambda conn: commands.publish_meeting(conn, columns,
                                                                   runtime.clock()))
    return commands.meeting_view(m)


@public.get("/meetings.ics", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}})
async def meetings_calendar(runtime: Runtime, from_: FromParam = None) -> Response:
    """The feed of meetings not yet ended (from `from`, default now), for a calendar app."""
    async with runtime.db.acquire() as conn:
        rows = await store.meetings_between(conn, from_ or runtime.clock(), None, None, 500)
    return _calendar(rows, runtime.clock())


@public.get("/meetings/{meeting_id}.ics", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}, **error_responses(404)})
async def meeting_calendar(meeting_id: UUID, runtime: Runtime) -> Response:
    return _calendar([await _meeting_or_404(runtime, meeting_id)], runtime.clock())


@public.get("/meetings", response_model=Page[MeetingView])
async def meetings(runtime: Runtime, from_: FromParam = None,
                   to: ToParam = None, cursor: CursorParam = None,
                   limit: Limit = 100) -> dict[str, Any]:
    """Meetings overlapping [from, to) (each bound optional), soonest first, with
    `seats_left`. Public: no token."""
    after = _after(cursor)
    async with runtime.db.acquire() as conn:
        rows = await store.meetings_between(conn, from_, to, after, limit + 1)
    more = len(rows) > limit
    return {"items": [commands.meeting_view(m) for m in rows[:limit]],
            "next_cursor": encode_cursor(rows[limit - 1]["starts_at"], rows[limit - 1]["id"])
            if more else None}


def _after(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    moment, ident = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(moment), UUID(ident)
    except ValueError as exc:
        raise invalid("cursor", "not a cursor this API gave out") from exc


@public.get("/meetings/{meeting_id}", response_model=MeetingView)
async def meeting(meeting_id: UUID, runtime: Runtime) -> dict[str, Any]:
    return commands.meeting_view(await _meeting_or_404(runtime, meeting_id))


@router.patch("/meetings/{meeting_id}", response_model=MeetingView)
async def change_meeting(meeting_id: UUID, body: MeetingChanges, runtime: Runtime,
                         caller: OfficerOrStaffCaller) -> dict[str, Any]:
    """Any field of creation. A larger capacity promotes from the waiting list; one below the
    seats already held is 409."""
    columns = meeting_columns(body)
    m = await in_tx(runtime)(lambda conn: commands.change_meeting(
        conn, meeting_id, columns, runtime.clock(), hold_of(runtime)))
    return commands.meeting_view(m)


@router.post("/meetings/{meeting_id}/cancel", response_model=MeetingView)
async def cancel_meeting(meeting_id: UUID, runtime: Runtime,
                         caller: OfficerOrStaffCaller) -> dict[str, Any]:
    """Every registration is cancelled (`cancelled_by=meeting_cancelled`)."""
    m = await in_tx(runtime)(lambda conn: commands.cancel_meeting(conn, meeting_id,
                                                                  runtime.clock()))
    return commands.meeting_view(m)


@router.post("/meetings/{meeting_id}/minutes", response_model=MeetingView)
async def publish_minutes(meeting_id: UUID, body: NewMinutes, runtime: Runtime,
                          caller: OfficerOrStaffCaller) -> dict[str, Any]:
    """The minutes (Italian) and attendance, once the meeting has started (409 before)."""
    m = await in_tx(runtime)(lambda conn: commands.close_meeting(
        conn, meeting_id, body.text, body.attendance, runtime.clock()))
    return commands.meeting_view(m)


def _calendar(rows: list[asyncpg.Record], now: datetime) -> Response:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Cowork//community meetings//IT")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Cowork: incontri pubblici")
    for m in rows:
        event = icalendar.Event()
        event.add("uid", f"meeting-{m['id']}@cowork")
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", m["starts_at"].astimezone(UTC))
        event.add("dtend", m["ends_at"].astimezone(UTC))
        event.add("summary", m["title_it"])
        event.add("description", m["description_it"])
        event.add("location", commands.common.place_of(m))
        event.add("status", "CANCELLED" if m["status"] == "cancelled" else "CONFIRMED")
        cal.add_component(event)
    return Response(cal.to_ical(), media_type="text/calendar; charset=utf-8")
