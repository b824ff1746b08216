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
                               advance_days, buffer_minutes, created_at, plan_codes,
                               pay_per_use)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *
        """,
        resource_id, space_id, resource["name"], resource["kind"], resource["seats"],
        resource["price_per_hour_cents"], resource.get("price_per_day_cents"),
        resource["slot_minutes"], resource["min_minutes"], resource["max_minutes"],
        resource["advance_days"], resource.get("buffer_minutes", 0), now,
        resource.get("plan_codes"), resource.get("pay_per_use", False))
    return row


_SPACE_COLUMNS = frozenset({"name", "address", "timezone", "opening_hours", "closures"})
_RESOURCE_COLUMNS = frozenset({
    "name", "kind", "seats", "price_per_hour_cents", "price_per_day_cents", "slot_minutes",
    "min_minutes", "max_minutes", "advance_days", "buffer_minutes", "plan_codes", "pay_per_use",
    "in_service"})


def _set_clause(changes: dict[str, Any], allowed: frozenset[str], first: int) -> str:
    """`column = $n, ...` for the given changes; column names come from code, checked here."""
    assert set(changes) <= allowed, set(changes) - allowed
    return ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=first))


async def space_for_update(conn: asyncpg.Connection, space_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM spaces WHERE id = $1 FOR NO KEY UPDATE",
                                          space_id)
    return row


async def update_space(conn: asyncpg.Connection, space_id: UUID, changes: dict[str, Any]
                       ) -> Row:
    if not changes:
        row: Row = await conn.fetchrow("SELECT * FROM spaces WHERE id = $1", space_id)
        return row
    row = await conn.fetchrow(
        f"UPDATE spaces SET {_set_clause(changes, _SPACE_COLUMNS, 2)} WHERE id = $1 "  # noqa: S608
        "RETURNING *", space_id, *changes.values())
    return row


async def space_has_bookings(conn: asyncpg.Connection, space_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM bookings WHERE space_id = $1)", space_id))


async def resource_for_update(conn: asyncpg.Connection, resource_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM resources WHERE id = $1 FOR NO KEY UPDATE",
                                          resource_id)
    return row


async def update_resource(conn: asyncpg.Connection, resource_id: UUID,
                          changes: dict[str, Any]) -> None:
    sets = _set_clause(changes, _RESOURCE_COLUMNS, 2)
    await conn.execute(
        f"UPDATE resources SET calendar_version = calendar_version + 1{', ' if sets else ''}"  # noqa: S608
        f"{sets} WHERE id = $1", resource_id, *changes.values())


async def calendar_changed(conn: asyncpg.Connection, space_id: UUID) -> None:
    """Every resource of the space: bookings decided on the old calendar must decide again.
    Waits for bookings of the space in flight, so what is read after this sees them."""
    await conn.execute("UPDATE resources SET calendar_version = calendar_version + 1 "
                       "WHERE space_id = $1", space_id)


async def insert_closure(conn: asyncpg.Connection, *, closure_id: UUID, space_id: UUID,
                         from_day: date, to_day: date, reason: str, now: datetime) -> Row:
    """The closure with its reason, and its days among the space's closures (which the rules
    and the booking statement read)."""
    row: Row = await conn.fetchrow(
        "INSERT INTO space_closures (id, space_id, from_day, to_day, reason, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        closure_id, space_id, from_day, to_day, reason, now)
    await conn.execute(
        """
        UPDATE spaces SET closures = ARRAY(
            SELECT DISTINCT c FROM unnest(closures || ARRAY(
                SELECT to_char(d, 'YYYY-MM-DD')
                FROM generate_series($2::date, $3::date, interval '1 day') AS d)) AS c
            ORDER BY c)
        WHERE id = $1
        """, space_id, from_day, to_day)
    return row


async def closures_of(conn: asyncpg.Connection, space_id: UUID) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM space_closures WHERE space_id = $1 ORDER BY from_day, created_at",
        space_id))


async def future_bookings_in_space(conn: asyncpg.Connection, space_id: UUID, since: datetime,
                                   first_day: date | None = None, last_day: date | None = None
                                   ) -> list[Row]:
    """Confirmed bookings of the space starting at or after `since`, on the given days."""
    return list(await conn.fetch(
        """
        SELECT * FROM bookings
        WHERE space_id = $1 AND status = 'confirmed' AND starts_at >= $2
          AND ($3::date IS NULL OR local_day >= $3) AND ($4::date IS NULL OR local_day <= $4)
        ORDER BY starts_at, id
        """, space_id, since, first_day, last_day))


async def future_bookings_of_resource(conn: asyncpg.Connection, resource_id: UUID,
                                      since: datetime) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM bookings WHERE resource_id = $1 AND status = 'confirmed' "
        "AND starts_at >= $2 ORDER BY starts_at, id", resource_id, since))


async def withdraw_waiting_for_resource(conn: asyncpg.Connection, resource_id: UUID) -> None:
    await conn.execute("UPDATE waitlist SET status = 'withdrawn' "
                       "WHERE resource_id = $1 AND status = 'waiting'", resource_id)


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
                AND ($3::timestamptz IS NULL OR r.in_service)
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
                                 meeting_room_minutes_per_month, included_kinds, overage_kinds,
                                 updated_at)
        VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now())
        ON CONFLICT (membership_id) DO UPDATE SET
            status = 'active',
            plan_code = EXCLUDED.plan_code, plan_kind = EXCLUDED.plan_kind,
            resource_kinds = EXCLUDED.resource_kinds, period_start = EXCLUDED.period_start,
            period_end = EXCLUDED.period_end,
            max_bookings_per_day = EXCLUDED.max_bookings_per_day,
            max_bookings_per_week = EXCLUDED.max_bookings_per_week,
            carnet_days = EXCLUDED.carnet_days,
            meeting_room_minutes_per_month = EXCLUDED.meeting_room_minutes_per_month,
            included_kinds = EXCLUDED.included_kinds, overage_kinds = EXCLUDED.overage_kinds,
            updated_at = now()
        """,
        event.member_id, event.membership_id, event.plan_code, event.plan_kind,
        list(event.resource_kinds), event.period_start, event.period_end,
        event.max_bookings_per_day, event.max_bookings_per_week, event.carnet_days,
        event.meeting_room_minutes_per_month,
        list(event.included_kinds) if event.included_kinds is not None else None,
        sorted(kind for kind, policy in (event.overage or {}).items() if policy == "charge"))


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


async def remember_member(conn: asyncpg.Connection, member_id: UUID,
                          registered_at: datetime) -> None:
    await conn.execute("INSERT INTO known_members (member_id, registered_at) VALUES ($1, $2) "
                       "ON CONFLICT DO NOTHING", member_id, registered_at)


async def is_known_member(conn: asyncpg.Connection, member_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM known_members "
                                    "WHERE member_id = $1)", member_id))


async def forget_member(conn: asyncpg.Connection, member_id: UUID) -> None:
    await conn.execute("DELETE FROM known_members WHERE member_id = $1", member_id)
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
                      row["plan_code"],
                      frozenset(row["included_kinds"]) if row["included_kinds"] is not None
                      else None,
                      frozenset(row["overage_kinds"])),
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


async def member_is_suspended(conn: asyncpg.Connection, member_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM eligibility WHERE member_id = $1 AND status = 'suspended')",
        member_id))


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


async def waitlist_entries(conn: asyncpg.Connection, *, member_id: UUID | None,
                           resource_id: UUID | None, status: str | None,
                           after: UUID | None, limit: int) -> list[Row]:
    """Entries first come first served, from after the entry `after` (keyset cursor), each
    with its space's timezone."""
    return list(await conn.fetch(
        """
        SELECT w.*, s.timezone FROM waitlist w
        JOIN resources r ON r.id = w.resource_id JOIN spaces s ON s.id = r.space_id
        WHERE ($1::uuid IS NULL OR w.member_id = $1) AND ($2::uuid IS NULL OR w.resource_id = $2)
          AND ($3::text IS NULL OR w.status = $3)
          AND ($4::uuid IS NULL OR (w.created_at, w.id) > (SELECT created_at, id FROM waitlist
                                                            WHERE id = $4))
        ORDER BY w.created_at, w.id LIMIT $5
        """, member_id, resource_id, status, after, limit))


async def waitlist_entry(conn: asyncpg.Connection, entry_id: UUID, *,
                         for_update: bool = False) -> Row | None:
    sql = "SELECT * FROM waitlist WHERE id = $1" + (" FOR UPDATE" if for_update else "")  # noqa: S608
    row: Row | None = await conn.fetchrow(sql, entry_id)
    return row


async def withdraw_entry(conn: asyncpg.Connection, entry_id: UUID) -> None:
    await conn.execute("UPDATE waitlist SET status = 'withdrawn' WHERE id = $1", entry_id)


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


# ---------------------------------------------------------------- reports

# Occupancy in one statement: the open minutes of every day of the range come from the space's
# opening hours (real elapsed time in its timezone, so DST days count 23 or 25 hours' worth),
# less its closures and the public holidays passed in ($4: computed by the same calendar the
# rules use); the bookings of the range are counted per resource and day on the
# (space_id, local_day) index; GROUPING SETS give the resource, kind and space rows of each
# period at once. Booked minutes count every booking not cancelled (a no-show held the slot).
OCCUPANCY = """
WITH days AS (
    SELECT d::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS d
), open_days AS (
    SELECT days.day,
           -- '24:00'::time is midnight at the end of the day; AT TIME ZONE gives instants
           coalesce(sum(extract(epoch FROM
               (days.day + (slot ->> 1)::time) AT TIME ZONE s.timezone
               - (days.day + (slot ->> 0)::time) AT TIME ZONE s.timezone) / 60), 0)::bigint
               AS open_minutes
    FROM spaces s CROSS JOIN days
    LEFT JOIN LATERAL jsonb_array_elements(
        s.opening_hours -> (ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
                           [extract(isodow FROM days.day)::int]) AS slot
        ON NOT (to_char(days.day, 'YYYY-MM-DD') = ANY (s.closures)
                OR to_char(days.day, 'MM-DD') = ANY (s.closures)
                OR days.day = ANY ($4::date[]))
    WHERE s.id = $1
    GROUP BY days.day
), usage AS (
    SELECT b.resource_id, b.local_day AS day,
           sum(b.minutes) FILTER (WHERE b.status <> 'cancelled')                 AS booked_minutes,
           count(*) FILTER (WHERE b.status <> 'cancelled')                       AS bookings,
           count(*) FILTER (WHERE b.checked_in_at IS NOT NULL
                            OR b.status IN ('checked_in', 'completed'))          AS check_ins,
           count(*) FILTER (WHERE b.status = 'no_show')                          AS no_shows,
           count(*) FILTER (WHERE b.status = 'cancelled')                        AS cancellations
    FROM bookings b
    WHERE b.space_id = $1 AND b.local_day BETWEEN $2 AND $3
    GROUP BY b.resource_id, b.local_day
), grid AS (
    SELECT CASE WHEN $5 = 'month' THEN date_trunc('month', o.day)::date ELSE o.day END
               AS period,
           r.id AS resource_id, r.name AS resource_name, r.kind,
           o.open_minutes, coalesce(u.booked_minutes, 0) AS booked_minutes,
           coalesce(u.bookings, 0) AS bookings, coalesce(u.check_ins, 0) AS check_ins,
           coalesce(u.no_shows, 0) AS no_shows, coalesce(u.cancellations, 0) AS cancellations
    FROM resources r
    CROSS JOIN open_days o
    LEFT JOIN usage u ON u.resource_id = r.id AND u.day = o.day
    WHERE r.space_id = $1
)
SELECT period,
       CASE WHEN GROUPING(resource_id) = 0 THEN 'resource'
            WHEN GROUPING(kind) = 0 THEN 'kind' ELSE 'space' END AS scope,
       resource_id, resource_name, kind,
       sum(open_minutes)::bigint AS open_minutes, sum(booked_minutes)::bigint AS booked_minutes,
       round(sum(booked_minutes)::numeric / nullif(sum(open_minutes), 0), 4) AS utilisation,
       sum(bookings)::bigint AS bookings, sum(check_ins)::bigint AS check_ins,
       sum(no_shows)::bigint AS no_shows, sum(cancellations)::bigint AS cancellations
FROM grid
GROUP BY GROUPING SETS ((period, kind, resource_id, resource_name), (period, kind), (period))
ORDER BY period, GROUPING(kind), kind NULLS LAST, GROUPING(resource_id), resource_name NULLS FIRST
"""


async def occupancy(conn: asyncpg.Connection, space_id: UUID, first_day: date, last_day: date,
                    holidays: list[date], by: str) -> list[Row]:
    return list(await conn.fetch(OCCUPANCY, space_id, first_day, last_day, holidays, by))


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


async def space_timezone(conn: asyncpg.Connection, space_id: UUID) -> str:
    zone: str = await conn.fetchval("SELECT timezone FROM spaces WHERE id = $1", space_id)
    return zone
