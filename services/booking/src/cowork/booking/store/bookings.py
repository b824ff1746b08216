"""Bookings: the one-statement booking, reading, cancelling, checking in, and series."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from cowork.booking.store.eligibility import Drawable, usage_changed
from cowork.shared import outbox, scheduler

Row = asyncpg.Record


CLAIM_LOST = "claim_lost"
UNAVAILABLE = "unavailable"

# One statement, so no transaction of its own is needed: claim the membership at the usage
# version the decision was made on (PostgreSQL re-checks the version after waiting for a
# concurrent claim, which then wins), insert the booking (the exclusion constraint refuses an
# overlap without aborting: ON CONFLICT DO NOTHING), and write its event and its two jobs, all
# or none. A pay-per-use booking ($16 NULL) draws on no membership and claims nothing.
# Parameters: the booking $1-$15, the membership and version $16-$17, the event's outbox
# values $18-$23, the jobs $24-$27, the charge $28, the resource's calendar version $29.
_BOOK_DRAWING_ON = f"""
WITH live AS (
    -- Neither the resource nor its space's calendar changed since the rules were checked
    -- (calendar_version $29): a shared lock, so a change (which bumps the version, locking the
    -- row exclusively) either waits for this booking and then sees it, or comes first and this
    -- statement, re-checking the row after the wait, writes nothing. Taken before the claim,
    -- so every writer locks the resource before a membership (no deadlock with a change that
    -- cancels bookings).
    SELECT r.id FROM resources r
    WHERE r.id = $3 AND r.in_service AND r.calendar_version = $29::bigint
    FOR SHARE
), claim AS (
    UPDATE eligibility SET usage_version = usage_version + 1
    WHERE membership_id = $16 AND usage_version = $17 AND status = 'active'
      AND EXISTS (SELECT 1 FROM live)
    RETURNING membership_id
), drawn AS (
    SELECT membership_id FROM claim
    UNION ALL SELECT NULL::uuid WHERE $16::uuid IS NULL
), booking AS (
    INSERT INTO bookings (id, member_id, resource_id, space_id, resource_kind, starts_at,
                          ends_at, local_day, minutes, blocked, status, price_cents,
                          series_id, via_waitlist, booked_by, created_at, updated_at,
                          membership_id, charged_cents)
    SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::text, $6::timestamptz, $7::timestamptz,
           $8::date, $9::integer,
           tstzrange($6::timestamptz, $7::timestamptz + make_interval(mins => $10::integer)),
           'confirmed', $11::integer, $12::uuid, $13::boolean, $14::text, $15::timestamptz,
           $15::timestamptz, drawn.membership_id, $28::integer
    FROM drawn, live
    ON CONFLICT DO NOTHING
    RETURNING *
), event AS (
    {outbox.insert_event_after("booking", 18)}
), jobs AS (
    {scheduler.schedule_after("booking", "booking.id::text", 24, 2)}
)
SELECT (SELECT count(*) FROM drawn) AS claimed, (SELECT count(*) FROM live) AS live,
       booking.*
FROM (VALUES (1)) AS one LEFT JOIN booking ON true
"""  # noqa: S608 - composed from constants only, never from input


async def book_drawing_on(conn: asyncpg.Connection, drawn_on: Drawable | None, *,
                          booking_id: UUID, member_id: UUID, resource: Row, start: datetime,
                          end: datetime, local_day: date, minutes: int, price: int,
                          charged: int, series_id: UUID | None,
                          via_waitlist: bool, booked_by: str, now: datetime,
                          event_values: list[Any], jobs: list[tuple[str, datetime]]
                          ) -> Row | str | None:
    """The booking row; None when the resource is taken (buffer included); CLAIM_LOST when
    the membership's usage changed since it was read (another booking of the member came
    first, or the membership is no longer active): decide again; UNAVAILABLE when the resource
    or its space's calendar changed meanwhile. `drawn_on` None: pay-per-use."""
    row: Row = await conn.fetchrow(
        _BOOK_DRAWING_ON,
        booking_id, member_id, resource["id"], resource["space_id"], resource["kind"], start, end,
        local_day, minutes, resource["buffer_minutes"], price,
        series_id, via_waitlist, booked_by, now,
        drawn_on.rights.membership_id if drawn_on else None,
        drawn_on.usage_version if drawn_on else 0,
        *event_values, *(value for job in jobs for value in job), charged,
        resource["calendar_version"])
    if not row["live"]:
        return UNAVAILABLE
    if not row["claimed"]:
        return CLAIM_LOST
    return row if row["id"] is not None else None


async def clashing_booking(conn: asyncpg.Connection, resource: Row, start: datetime,
                           end: datetime) -> Row | None:
    row: Row | None = await conn.fetchrow(
        """
        SELECT id, starts_at, ends_at FROM bookings
        WHERE resource_id = $1 AND status IN ('confirmed', 'checked_in')
          AND blocked && tstzrange($2::timestamptz, $3::timestamptz + make_interval(mins => $4))
        ORDER BY starts_at LIMIT 1
        """,
        resource["id"], start, end, resource["buffer_minutes"])
    return row


async def booking_by_id(conn: asyncpg.Connection, booking_id: UUID, *, for_update: bool = False
                        ) -> Row | None:
    sql = "SELECT * FROM bookings WHERE id = $1" + (" FOR UPDATE" if for_update else "")  # noqa: S608
    row: Row | None = await conn.fetchrow(sql, booking_id)
    return row


async def set_booking_status(conn: asyncpg.Connection, booking_id: UUID, status: str,
                             now: datetime, charged_cents: int | None = None) -> Row:
    row: Row = await conn.fetchrow(
        "UPDATE bookings SET status = $2, updated_at = $3, "
        "charged_cents = coalesce($4, charged_cents) WHERE id = $1 RETURNING *",
        booking_id, status, now, charged_cents)
    return row


async def bookings_of(conn: asyncpg.Connection, member_id: UUID | None, start: datetime | None,
                      end: datetime | None) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT * FROM bookings
        WHERE ($1::uuid IS NULL OR member_id = $1)
          AND ($2::timestamptz IS NULL OR ends_at > $2)
          AND ($3::timestamptz IS NULL OR starts_at < $3)
        ORDER BY starts_at LIMIT 1000
        """, member_id, start, end))


async def taken_intervals(conn: asyncpg.Connection, resource_id: UUID, start: datetime,
                          end: datetime) -> tuple[int, list[tuple[datetime, datetime]]] | None:
    """The resource's calendar_version now (to check the row the interval was computed from)
    and its active bookings' blocked intervals, widened by the buffer before them too: a new
    booking must keep the buffer on both sides. None when there is no such resource."""
    rows = await conn.fetch(
        """
        SELECT r.calendar_version, b.free_from, b.free_until
        FROM resources r
        LEFT JOIN LATERAL (
            SELECT lower(b.blocked) - make_interval(mins => r.buffer_minutes) AS free_from,
                   upper(b.blocked) AS free_until
            FROM bookings b
            WHERE b.resource_id = r.id AND b.status IN ('confirmed', 'checked_in')
              AND b.blocked && tstzrange($2::timestamptz, $3::timestamptz)
        ) AS b ON true
        WHERE r.id = $1
        """, resource_id, start, end)
    if not rows:
        return None
    return rows[0]["calendar_version"], [(r["free_from"], r["free_until"]) for r in rows
                                         if r["free_from"] is not None]


async def future_bookings_drawn_on(conn: asyncpg.Connection, membership_id: UUID,
                                   since: datetime) -> list[Row]:
    """Confirmed bookings drawn on a membership that start at or after `since`."""
    return list(await conn.fetch(
        "SELECT * FROM bookings WHERE membership_id = $1 AND status = 'confirmed' "
        "AND starts_at >= $2 ORDER BY starts_at, id", membership_id, since))


async def future_bookings_of_member(conn: asyncpg.Connection, member_id: UUID,
                                    since: datetime) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM bookings WHERE member_id = $1 AND status = 'confirmed' "
        "AND starts_at >= $2 ORDER BY starts_at, id", member_id, since))


async def redraw_booking(conn: asyncpg.Connection, booking_id: UUID,
                         membership_id: UUID | None) -> None:
    """The booking now counts against another membership (the one it drew on ended)."""
    await conn.execute("UPDATE bookings SET membership_id = $2 WHERE id = $1",
                       booking_id, membership_id)
    await usage_changed(conn, membership_id)


async def bookings_of_series(conn: asyncpg.Connection, series_id: UUID) -> list[Row]:
    """A series' occurrences, each with its space's timezone."""
    return list(await conn.fetch(
        "SELECT b.*, s.timezone FROM bookings b JOIN spaces s ON s.id = b.space_id "
        "WHERE b.series_id = $1 ORDER BY b.starts_at, b.id", series_id))


async def mark_checked_in(conn: asyncpg.Connection, booking_id: UUID, now: datetime,
                          by: str) -> Row:
    row: Row = await conn.fetchrow(
        "UPDATE bookings SET status = 'checked_in', updated_at = $2, checked_in_at = $2, "
        "checked_in_by = $3 WHERE id = $1 RETURNING *", booking_id, now, by)
    return row


async def record_cancellation(conn: asyncpg.Connection, booking_id: UUID, *, by: str,
                              reason: str | None, late: bool) -> asyncpg.Record:
    row: Row = await conn.fetchrow(
        "UPDATE bookings SET cancelled_by = $2, cancel_reason = $3, cancelled_late = $4 "
        "WHERE id = $1 RETURNING *", booking_id, by, reason, late)
    return row


async def bookings_page(conn: asyncpg.Connection, member_id: UUID | None, start: datetime | None,
                        end: datetime | None, *, after: tuple[datetime, UUID] | None,
                        limit: int) -> list[Row]:
    """Bookings overlapping [start, end) in (starts_at, id) order, those after the given
    position (keyset pagination), each with its space's timezone."""
    after_start, after_id = after if after is not None else (None, None)
    return list(await conn.fetch(
        """
        SELECT b.*, s.timezone FROM bookings b JOIN spaces s ON s.id = b.space_id
        WHERE ($1::uuid IS NULL OR b.member_id = $1)
          AND ($2::timestamptz IS NULL OR b.ends_at > $2)
          AND ($3::timestamptz IS NULL OR b.starts_at < $3)
          AND ($4::timestamptz IS NULL OR (b.starts_at, b.id) > ($4, $5::uuid))
        ORDER BY b.starts_at, b.id LIMIT $6
        """, member_id, start, end, after_start, after_id, limit))


