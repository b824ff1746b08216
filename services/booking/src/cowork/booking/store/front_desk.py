"""The front desk's reads: a space's day, who is in, a member's no-shows, the booking to
check in."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

Row = asyncpg.Record

async def checkable_booking(conn: asyncpg.Connection, space_id: UUID, member_id: UUID,
                            earliest_start: datetime, latest_start: datetime) -> Row | None:
    """The member's confirmed booking in the space whose check-in window is open now."""
    row: Row | None = await conn.fetchrow(
        """
        SELECT * FROM bookings
        WHERE member_id = $2 AND space_id = $1 AND status = 'confirmed'
          AND starts_at BETWEEN $3 AND $4
        ORDER BY starts_at LIMIT 1
        """, space_id, member_id, earliest_start, latest_start)
    return row


async def no_show_record(conn: asyncpg.Connection, member_id: UUID, since: datetime) -> Row:
    row: Row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE status = 'no_show')                     AS no_shows,
               count(*) FILTER (WHERE status = 'no_show' AND starts_at >= $2)   AS recent_no_shows,
               max(starts_at) FILTER (WHERE status = 'no_show')               AS last_no_show_at,
               count(*) FILTER (WHERE status = 'cancelled' AND cancelled_late)
                                                                            AS late_cancellations,
               count(*) FILTER (WHERE status IN ('checked_in', 'completed'))  AS check_ins
        FROM bookings WHERE member_id = $1
        """, member_id, since)
    return row


async def recent_no_shows(conn: asyncpg.Connection, member_id: UUID, limit: int) -> list[Row]:
    """A member's latest no-shows, each with its space's timezone."""
    return list(await conn.fetch(
        "SELECT b.*, s.timezone FROM bookings b JOIN spaces s ON s.id = b.space_id "
        "WHERE b.member_id = $1 AND b.status = 'no_show' "
        "ORDER BY b.starts_at DESC LIMIT $2", member_id, limit))


async def agenda(conn: asyncpg.Connection, space_id: UUID, day: date) -> list[Row]:
    """Every booking of the space on a local day, with its resource's name."""
    return list(await conn.fetch(
        """
        SELECT b.*, r.name AS resource_name FROM bookings b JOIN resources r ON r.id = b.resource_id
        WHERE b.space_id = $1 AND b.local_day = $2
        ORDER BY b.starts_at, r.kind, r.name, b.id
        """, space_id, day))


async def in_now(conn: asyncpg.Connection, space_id: UUID, now: datetime) -> list[Row]:
    """Who is in: checked-in bookings of the space not yet over (checked in early counts)."""
    return list(await conn.fetch(
        """
        SELECT b.*, r.name AS resource_name FROM bookings b JOIN resources r ON r.id = b.resource_id
        WHERE b.space_id = $1 AND b.status = 'checked_in' AND b.checked_in_at <= $2
          AND b.ends_at > $2
        ORDER BY r.kind, r.name
        """, space_id, now))


