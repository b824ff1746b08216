"""Every SQL statement of the booking service; functions take the caller's connection."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import asyncpg

from cowork.booking import domain

Row = asyncpg.Record

# ---------------------------------------------------------------- spaces and resources


async def insert_space(conn: asyncpg.Connection, *, space_id: UUID, name: str, address: str,
                       timezone: str, opening_hours: dict[str, Any], closures: list[str],
                       now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        "INSERT INTO spaces (id, name, address, timezone, opening_hours, closures, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        space_id, name, address, timezone, opening_hours, closures, now)
    return row


async def space_by_id(conn: asyncpg.Connection, space_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM spaces WHERE id = $1", space_id)
    return row


async def list_spaces(conn: asyncpg.Connection) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM spaces ORDER BY name"))


async def insert_resource(conn: asyncpg.Connection, resource: dict[str, Any], *,
                          resource_id: UUID, space_id: UUID, now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO resources (id, space_id, name, kind, seats, price_per_hour_cents,
                               price_per_day_cents, slot_minutes, min_minutes, max_minutes,
                               advance_days, buffer_minutes, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *
        """,
        resource_id, space_id, resource["name"], resource["kind"], resource["seats"],
        resource["price_per_hour_cents"], resource.get("price_per_day_cents"),
        resource["slot_minutes"], resource["min_minutes"], resource["max_minutes"],
        resource["advance_days"], resource.get("buffer_minutes", 0), now)
    return row


# A resource row carries its space's calendar, so the rules need no second query.
_RESOURCE_WITH_SPACE = """
SELECT r.*, s.timezone, s.opening_hours, s.closures
FROM resources r JOIN spaces s ON s.id = r.space_id
"""


async def resource_by_id(conn: asyncpg.Connection, resource_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(_RESOURCE_WITH_SPACE + "WHERE r.id = $1", resource_id)
    return row


async def resources_of(conn: asyncpg.Connection, space_id: UUID, kind: str | None = None
                       ) -> list[Row]:
    return list(await conn.fetch(
        _RESOURCE_WITH_SPACE + "WHERE r.space_id = $1 AND ($2::text IS NULL OR r.kind = $2) "
        "ORDER BY r.kind, r.name", space_id, kind))


def space_rules(row: Row) -> domain.Space:
    hours = {day: [(time.fromisoformat(a), time.fromisoformat(b) if b != "24:00" else time(0, 0))
                   for a, b in ranges]
             for day, ranges in row["opening_hours"].items()}
    once = frozenset(date.fromisoformat(c) for c in row["closures"] if len(c) == 10)
    yearly = frozenset((int(c[:2]), int(c[3:])) for c in row["closures"] if len(c) == 5)
    return domain.Space(row["timezone"], hours, once, yearly)


def resource_rules(row: Row) -> domain.Resource:
    return domain.Resource(row["kind"], row["price_per_hour_cents"], row["price_per_day_cents"],
                           row["slot_minutes"], row["min_minutes"], row["max_minutes"],
                           row["advance_days"], row["buffer_minutes"])


# ---------------------------------------------------------------- eligibility replica


async def upsert_eligibility(conn: asyncpg.Connection, event: Any) -> None:
    """One row per membership: a member may hold a stackable plan beside another."""
    await conn.execute(
        """
        INSERT INTO eligibility (member_id, membership_id, status, plan_code, plan_kind,
                                 resource_kinds, period_start, period_end, max_bookings_per_day,
                                 max_bookings_per_week, carnet_days,
                                 meeting_room_minutes_per_month, updated_at)
        VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
        ON CONFLICT (membership_id) DO UPDATE SET
            status = 'active',
            plan_code = EXCLUDED.plan_code, plan_kind = EXCLUDED.plan_kind,
            resource_kinds = EXCLUDED.resource_kinds, period_start = EXCLUDED.period_start,
            period_end = EXCLUDED.period_end,
            max_bookings_per_day = EXCLUDED.max_bookings_per_day,
            max_bookings_per_week = EXCLUDED.max_bookings_per_week,
            carnet_days = EXCLUDED.carnet_days,
            meeting_room_minutes_per_month = EXCLUDED.meeting_room_minutes_per_month,
            updated_at = now()
        """,
        event.member_id, event.membership_id, event.plan_code, event.plan_kind,
        list(event.resource_kinds), event.period_start, event.period_end,
        event.max_bookings_per_day, event.max_bookings_per_week, event.carnet_days,
        event.meeting_room_minutes_per_month)


async def set_eligibility_status(conn: asyncpg.Connection, member_id: UUID, membership_id: UUID,
                                 status: str) -> None:
    await conn.execute(
        "UPDATE eligibility SET status = $3, updated_at = now() "
        "WHERE member_id = $1 AND membership_id = $2", member_id, membership_id, status)


async def extend_eligibility(conn: asyncpg.Connection, member_id: UUID, membership_id: UUID,
                             period_end: date) -> None:
    await conn.execute(
        "UPDATE eligibility SET period_end = $3, updated_at = now() "
        "WHERE member_id = $1 AND membership_id = $2", member_id, membership_id, period_end)


async def forget_member(conn: asyncpg.Connection, member_id: UUID) -> None:
    await conn.execute("DELETE FROM eligibility WHERE member_id = $1", member_id)
    await conn.execute("UPDATE waitlist SET status = 'withdrawn' "
                       "WHERE member_id = $1 AND status = 'waiting'", member_id)


async def memberships_of(conn: asyncpg.Connection, member_id: UUID) -> list[domain.Rights]:
    """Locks the member's rows: one member's bookings are decided one at a time, so fair-use
    limits and allowances hold under concurrency too (in one order, so two bookings of one
    member cannot deadlock)."""
    rows = await conn.fetch(
        "SELECT * FROM eligibility WHERE member_id = $1 ORDER BY membership_id FOR UPDATE",
        member_id)
    return [domain.Rights(row["status"], frozenset(row["resource_kinds"]), row["period_start"],
                          row["period_end"], row["max_bookings_per_day"],
                          row["max_bookings_per_week"], row["carnet_days"],
                          row["meeting_room_minutes_per_month"], row["membership_id"])
            for row in rows]


async def usage_of(conn: asyncpg.Connection, member_id: UUID, day: date,
                   memberships: list[domain.Rights]) -> dict[UUID, domain.Usage]:
    """What each membership has been drawn on, in one query (memberships drawn on for nothing
    yet are absent: their usage is zero)."""
    week_start, week_end = domain.week_bounds(day)
    month_start, month_end = domain.month_bounds(day)
    # Read only the days some limit looks at: a member's whole history is not needed (and
    # grows), except a carnet's period, whose days it counts.
    since, until = min(week_start, month_start), max(week_end, month_end)
    for rights in memberships:
        if rights.carnet_days is not None:
            since, until = min(since, rights.period_start), max(until, rights.period_end)
    rows = await conn.fetch(
        """
        SELECT e.membership_id,
               count(*) FILTER (WHERE b.local_day = $2)                          AS that_day,
               count(*) FILTER (WHERE b.local_day BETWEEN $3 AND $4)             AS that_week,
               count(DISTINCT b.local_day)
                   FILTER (WHERE b.local_day BETWEEN e.period_start AND e.period_end) AS carnet_days,
               bool_or(b.local_day = $2)                                         AS day_already_used,
               coalesce(sum(b.minutes) FILTER (WHERE b.resource_kind = 'meeting_room'
                                                AND b.local_day BETWEEN $5 AND $6), 0) AS room_minutes
        FROM eligibility e
        JOIN bookings b ON b.membership_id = e.membership_id
        WHERE e.member_id = $1 AND b.member_id = $1 AND b.local_day BETWEEN $7 AND $8
          AND b.status IN ('confirmed', 'checked_in', 'completed', 'no_show')
        GROUP BY e.membership_id
        """,
        member_id, day, week_start, week_end, month_start, month_end, since, until)
    return {row["membership_id"]: domain.Usage(row["that_day"], row["that_week"],
                                               row["carnet_days"], not row["day_already_used"],
                                               row["room_minutes"])
            for row in rows}


# ---------------------------------------------------------------- bookings


async def insert_booking(conn: asyncpg.Connection, *, booking_id: UUID, member_id: UUID,
                         membership_id: UUID | None, resource: Row, start: datetime,
                         end: datetime, local_day: date, price: int, series_id: UUID | None,
                         via_waitlist: bool, booked_by: str, now: datetime) -> Row | None:
    """None when the resource is taken (buffer included): ON CONFLICT DO NOTHING lets the
    exclusion constraint refuse without aborting the transaction, so no savepoint is needed."""
    row: Row | None = await conn.fetchrow(
        """
        INSERT INTO bookings (id, member_id, resource_id, space_id, resource_kind, starts_at,
                              ends_at, local_day, minutes, blocked, status, price_cents,
                              series_id, via_waitlist, booked_by, created_at, updated_at,
                              membership_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                tstzrange($6::timestamptz, $7::timestamptz + make_interval(mins => $10)),
                'confirmed', $11, $12, $13, $14,
                $15, $15, $16)
        ON CONFLICT DO NOTHING
        RETURNING *
        """,
        booking_id, member_id, resource["id"], resource["space_id"], resource["kind"], start, end,
        local_day, domain.minutes_between(start, end), resource["buffer_minutes"], price,
        series_id, via_waitlist, booked_by, now, membership_id)
    return row


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
                          end: datetime) -> list[tuple[datetime, datetime]]:
    """Active bookings' blocked intervals widened by the buffer before them too: a new booking
    must keep the buffer on both sides."""
    rows = await conn.fetch(
        """
        SELECT lower(blocked) - make_interval(mins => r.buffer_minutes) AS free_from,
               upper(blocked) AS free_until
        FROM bookings b JOIN resources r ON r.id = b.resource_id
        WHERE b.resource_id = $1 AND b.status IN ('confirmed', 'checked_in')
          AND b.blocked && tstzrange($2::timestamptz, $3::timestamptz)
        """, resource_id, start, end)
    return [(r["free_from"], r["free_until"]) for r in rows]


# ---------------------------------------------------------------- waitlist


async def insert_waitlist(conn: asyncpg.Connection, *, entry_id: UUID, member_id: UUID,
                          resource_id: UUID, start: datetime, end: datetime, now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        "INSERT INTO waitlist (id, member_id, resource_id, starts_at, ends_at, status, created_at) "
        "VALUES ($1, $2, $3, $4, $5, 'waiting', $6) RETURNING *",
        entry_id, member_id, resource_id, start, end, now)
    return row


async def waiting_for(conn: asyncpg.Connection, resource_id: UUID, start: datetime,
                      end: datetime, now: datetime) -> list[Row]:
    """Waiting entries touching a freed interval, first come first served; locked so that two
    releases at once cannot promote the same entry."""
    return list(await conn.fetch(
        """
        SELECT * FROM waitlist
        WHERE resource_id = $1 AND status = 'waiting' AND starts_at < $3 AND ends_at > $2
          AND starts_at > $4
        ORDER BY created_at, id
        FOR UPDATE SKIP LOCKED
        """, resource_id, start, end, now))


async def mark_promoted(conn: asyncpg.Connection, entry_id: UUID, booking_id: UUID) -> None:
    await conn.execute("UPDATE waitlist SET status = 'promoted', booking_id = $2 WHERE id = $1",
                       entry_id, booking_id)
