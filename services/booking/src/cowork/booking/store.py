"""Every SQL statement of the booking service; functions take the caller's connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import asyncpg

from cowork.booking import domain
from cowork.shared import outbox, scheduler

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
                               advance_days, buffer_minutes, created_at, plan_codes)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *
        """,
        resource_id, space_id, resource["name"], resource["kind"], resource["seats"],
        resource["price_per_hour_cents"], resource.get("price_per_day_cents"),
        resource["slot_minutes"], resource["min_minutes"], resource["max_minutes"],
        resource["advance_days"], resource.get("buffer_minutes", 0), now,
        resource.get("plan_codes"))
    return row


# A resource row carries its space's calendar, so the rules need no second query.
_RESOURCE_WITH_SPACE = """
SELECT r.*, s.timezone, s.opening_hours, s.closures
FROM resources r JOIN spaces s ON s.id = r.space_id
"""


async def resource_by_id(conn: asyncpg.Connection, resource_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(_RESOURCE_WITH_SPACE + "WHERE r.id = $1", resource_id)
    return row


async def resources_of(conn: asyncpg.Connection, space_id: UUID, kind: str | None = None, *,
                       free_from: datetime | None = None, free_until: datetime | None = None
                       ) -> list[Row]:
    """A space's resources by kind and name; given an interval, each row also says whether an
    active booking (buffer included) takes part of it (`taken`)."""
    return list(await conn.fetch(
        f"""
        SELECT resource.*,
               $3::timestamptz IS NOT NULL AND EXISTS (
                   SELECT 1 FROM bookings b
                   WHERE b.resource_id = resource.id AND b.status IN ('confirmed', 'checked_in')
                     AND b.blocked && tstzrange($3::timestamptz, $4::timestamptz
                                                + make_interval(mins => resource.buffer_minutes))
               ) AS taken
        FROM ({_RESOURCE_WITH_SPACE} WHERE r.space_id = $1 AND ($2::text IS NULL OR r.kind = $2)
             ) AS resource
        ORDER BY resource.kind, resource.name
        """, space_id, kind, free_from, free_until))  # noqa: S608 - a constant, not input


def space_rules(row: Row) -> domain.Space:
    hours = {day: [(time.fromisoformat(a), time.fromisoformat(b) if b != "24:00" else time(0, 0))
                   for a, b in ranges]
             for day, ranges in row["opening_hours"].items()}
    once = frozenset(date.fromisoformat(c) for c in row["closures"] if len(c) == 10)
    yearly = frozenset((int(c[:2]), int(c[3:])) for c in row["closures"] if len(c) == 5)
    return domain.Space(row["timezone"], hours, once, yearly)


def plans_allowed(row: Row) -> frozenset[str] | None:
    """The plans a resource is reserved for; None when any plan including its kind may book."""
    return frozenset(row["plan_codes"]) if row["plan_codes"] is not None else None


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


@dataclass(frozen=True)
class Drawable:
    """A membership a booking may draw on: its rights, what it has been drawn on for around the
    booking's day, and the version that usage was read at."""

    rights: domain.Rights
    usage: domain.Usage
    usage_version: int


async def memberships_with_usage(conn: asyncpg.Connection, member_id: UUID, day: date
                                 ) -> list[Drawable]:
    """Every membership the replica holds for the member, with its usage, in one statement
    and without locks (see book_drawing_on for why none is needed)."""
    week_start, week_end = domain.week_bounds(day)
    month_start, month_end = domain.month_bounds(day)
    rows = await conn.fetch(
        """
        SELECT e.*, u.*
        FROM eligibility e
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE b.local_day = $2)                   AS that_day,
                   count(*) FILTER (WHERE b.local_day BETWEEN $3 AND $4)      AS that_week,
                   count(DISTINCT b.local_day)
                       FILTER (WHERE b.local_day BETWEEN e.period_start AND e.period_end)
                                                                             AS carnet_days_used,
                   coalesce(bool_or(b.local_day = $2), false)                 AS day_already_used,
                   coalesce(sum(b.minutes) FILTER (WHERE b.resource_kind = 'meeting_room'
                                                    AND b.local_day BETWEEN $5 AND $6), 0)
                                                                             AS room_minutes
            FROM bookings b
            WHERE b.member_id = e.member_id AND b.membership_id = e.membership_id
              -- only the days some limit counts: the week, the month, and a carnet's period
              AND b.local_day BETWEEN
                  least($3::date, $5::date,
                        CASE WHEN e.carnet_days IS NOT NULL THEN e.period_start END)
                  AND greatest($4::date, $6::date,
                               CASE WHEN e.carnet_days IS NOT NULL THEN e.period_end END)
              AND b.status IN ('confirmed', 'checked_in', 'completed', 'no_show')
        ) AS u
        WHERE e.member_id = $1
        ORDER BY e.membership_id
        """,
        member_id, day, week_start, week_end, month_start, month_end)
    return [Drawable(
        domain.Rights(row["status"], frozenset(row["resource_kinds"]), row["period_start"],
                      row["period_end"], row["max_bookings_per_day"],
                      row["max_bookings_per_week"], row["carnet_days"],
                      row["meeting_room_minutes_per_month"], row["membership_id"],
                      row["plan_code"]),
        domain.Usage(row["that_day"], row["that_week"], row["carnet_days_used"],
                     not row["day_already_used"], row["room_minutes"]),
        row["usage_version"]) for row in rows]


async def usage_changed(conn: asyncpg.Connection, membership_id: UUID | None) -> None:
    """A booking drawn on the membership stopped counting (cancelled): bookings decided on the
    old usage must decide again."""
    await conn.execute("UPDATE eligibility SET usage_version = usage_version + 1 "
                       "WHERE membership_id = $1", membership_id)


# ---------------------------------------------------------------- bookings


CLAIM_LOST = "claim_lost"

# One statement, so no transaction of its own is needed: claim the membership at the usage
# version the decision was made on (PostgreSQL re-checks the version after waiting for a
# concurrent claim, which then wins), insert the booking (the exclusion constraint refuses an
# overlap without aborting: ON CONFLICT DO NOTHING), and write its event and its two jobs, all
# or none. Parameters: the booking $1-$15, the membership and version $16-$17, the event's
# outbox values $18-$23, the jobs $24-$27.
_BOOK_DRAWING_ON = f"""
WITH claim AS (
    UPDATE eligibility SET usage_version = usage_version + 1
    WHERE membership_id = $16 AND usage_version = $17 AND status = 'active'
    RETURNING membership_id
), booking AS (
    INSERT INTO bookings (id, member_id, resource_id, space_id, resource_kind, starts_at,
                          ends_at, local_day, minutes, blocked, status, price_cents,
                          series_id, via_waitlist, booked_by, created_at, updated_at,
                          membership_id)
    SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::text, $6::timestamptz, $7::timestamptz,
           $8::date, $9::integer,
           tstzrange($6::timestamptz, $7::timestamptz + make_interval(mins => $10::integer)),
           'confirmed', $11::integer, $12::uuid, $13::boolean, $14::text, $15::timestamptz,
           $15::timestamptz, claim.membership_id
    FROM claim
    ON CONFLICT DO NOTHING
    RETURNING *
), event AS (
    {outbox.insert_event_after("booking", 18)}
), jobs AS (
    {scheduler.schedule_after("booking", "booking.id::text", 24, 2)}
)
SELECT (SELECT count(*) FROM claim) AS claimed, booking.*
FROM (VALUES (1)) AS one LEFT JOIN booking ON true
"""  # noqa: S608 - composed from constants only, never from input


async def book_drawing_on(conn: asyncpg.Connection, drawn_on: Drawable, *, booking_id: UUID,
                          member_id: UUID, resource: Row, start: datetime, end: datetime,
                          local_day: date, minutes: int, price: int, series_id: UUID | None,
                          via_waitlist: bool, booked_by: str, now: datetime,
                          event_values: list[Any], jobs: list[tuple[str, datetime]]
                          ) -> Row | str | None:
    """The booking row; None when the resource is taken (buffer included); CLAIM_LOST when
    the membership's usage changed since it was read (another booking of the member came
    first, or the membership is no longer active): decide again."""
    row: Row = await conn.fetchrow(
        _BOOK_DRAWING_ON,
        booking_id, member_id, resource["id"], resource["space_id"], resource["kind"], start, end,
        local_day, minutes, resource["buffer_minutes"], price,
        series_id, via_waitlist, booked_by, now,
        drawn_on.rights.membership_id, drawn_on.usage_version,
        *event_values, *(value for job in jobs for value in job))
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


async def space_timezone(conn: asyncpg.Connection, space_id: UUID) -> str:
    zone: str = await conn.fetchval("SELECT timezone FROM spaces WHERE id = $1", space_id)
    return zone
