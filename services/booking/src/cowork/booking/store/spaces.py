"""Spaces, their closures and resources: the catalogue's rows, and the rules read from them
(a resource row carries its space's calendar)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import asyncpg

from cowork.booking import domain

Row = asyncpg.Record


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


async def space_timezone(conn: asyncpg.Connection, space_id: UUID) -> str:
    zone: str = await conn.fetchval("SELECT timezone FROM spaces WHERE id = $1", space_id)
    return zone
