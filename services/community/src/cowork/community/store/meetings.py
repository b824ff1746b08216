"""Meetings and their registrations in PostgreSQL: plain SQL, no rules (see commands)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from cowork.shared.outbox import insert_event_after
from cowork.shared.scheduler import schedule_after

MEETING_COLUMNS = ("title_it", "title_en", "description_it", "description_en", "space_id",
                   "address", "starts_at", "ends_at", "capacity", "registration_opens",
                   "registration_closes", "open_to")


async def insert_meeting(conn: asyncpg.Connection, meeting_id: UUID, fields: dict[str, Any],
                         now: datetime) -> asyncpg.Record:
    names = ", ".join(MEETING_COLUMNS)
    params = ", ".join(f"${i}" for i in range(2, len(MEETING_COLUMNS) + 2))
    n = len(MEETING_COLUMNS) + 2
    return await conn.fetchrow(
        f"INSERT INTO meetings (id, {names}, created_at, updated_at) "  # noqa: S608
        f"VALUES ($1, {params}, ${n}, ${n}) RETURNING *",
        meeting_id, *(fields[c] for c in MEETING_COLUMNS), now)


async def update_meeting(conn: asyncpg.Connection, meeting_id: UUID, changes: dict[str, Any],
                         now: datetime) -> asyncpg.Record:
    assert set(changes) <= set(MEETING_COLUMNS)
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, start=3))
    return await conn.fetchrow(
        f"UPDATE meetings SET updated_at = $2{', ' if sets else ''}{sets} "  # noqa: S608
        "WHERE id = $1 RETURNING *", meeting_id, now, *changes.values())


async def meeting_by_id(conn: asyncpg.Connection, meeting_id: UUID, *,
                        for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM meetings WHERE id = $1{lock}", meeting_id)  # noqa: S608


async def meetings_between(conn: asyncpg.Connection, start: datetime | None,
                           end: datetime | None, after: tuple[datetime, UUID] | None,
                           limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM meetings WHERE ($1::timestamptz IS NULL OR ends_at > $1) "
        "AND ($2::timestamptz IS NULL OR starts_at < $2) "
        "AND ($3::timestamptz IS NULL OR (starts_at, id) > ($3, $4::uuid)) "
        "ORDER BY starts_at, id LIMIT $5", start, end,
        after[0] if after else None, after[1] if after else None, limit)


async def set_status(conn: asyncpg.Connection, meeting_id: UUID, status: str,
                     now: datetime) -> None:
    column = "cancelled_at" if status == "cancelled" else "closed_at"
    await conn.execute(f"UPDATE meetings SET status = $2, {column} = $3, updated_at = $3 "  # noqa: S608
                       "WHERE id = $1", meeting_id, status, now)


async def close_with_minutes(conn: asyncpg.Connection, meeting_id: UUID, text: str,
                             attendance: int, now: datetime) -> None:
    await conn.execute("UPDATE meetings SET status = 'closed', minutes_it = $2, "
                       "attendance = $3, closed_at = $4, updated_at = $4 WHERE id = $1",
                       meeting_id, text, attendance, now)


async def add_seats_held(conn: asyncpg.Connection, meeting_id: UUID, delta: int) -> None:
    await conn.execute("UPDATE meetings SET seats_held = seats_held + $2 WHERE id = $1",
                       meeting_id, delta)


# ---------------------------------------------------------------- registrations


# What a registration reads before it waits for the meeting's lock, in one round trip: the
# meeting as it is now (its card is rendered from it), the address's live registration for it,
# and how many of the address's recent registrations are unconfirmed. The caller holds the
# address's lock (`lock_address`), so neither the registration nor the count can change under it.
_BEFORE_THE_LOCK = """
SELECT m.*,
       (SELECT r.id FROM meeting_registrations r WHERE r.meeting_id = m.id
          AND lower(r.email) = lower($2) AND r.status <> 'cancelled' LIMIT 1) AS live_registration,
       (SELECT count(*) FROM meeting_registrations r WHERE lower(r.email) = lower($2)
          AND r.requested_at > $3 AND NOT r.address_confirmed
          AND r.cancelled_by IS DISTINCT FROM 'registrant') AS unconfirmed
FROM meetings m WHERE m.id = $1
"""

REGISTRATION_COLUMNS = ("id", "meeting_id", "full_name", "email", "language", "profile",
                        "status", "holds_seat", "code", "confirm_digest", "cancel_digest",
                        "requested_at", "hold_until")
_N = len(REGISTRATION_COLUMNS)

# Everything a registration writes, in one statement sent once the meeting's row is locked (a
# statement begun after the lock, so its snapshot sees every registration committed before):
# the registration (a waiting-list number when it holds no seat), the meeting's count, the
# hold's job, its event and its contact card; and the waiting list's length before it (its
# position, minus one). A registration taken by the same address or a code or digest taken
# already (all unique) writes nothing and returns no row.
_REGISTER = f"""
WITH registration AS (
    INSERT INTO meeting_registrations ({", ".join(REGISTRATION_COLUMNS)}, waitlist_seq)
    VALUES ({", ".join(f"${i}" for i in range(1, _N + 1))},
            CASE WHEN ${REGISTRATION_COLUMNS.index("holds_seat") + 1}::boolean THEN NULL
                 ELSE nextval('meeting_waitlist_seq') END)
    ON CONFLICT DO NOTHING
    RETURNING id, meeting_id, holds_seat
), seat AS (
    UPDATE meetings SET seats_held = seats_held + 1
    FROM registration WHERE meetings.id = registration.meeting_id AND registration.holds_seat
), held AS (
    SELECT id FROM registration WHERE holds_seat
), hold AS (
    {schedule_after("held", "held.id::text", _N + 1, 1)}
), requested AS (
    {insert_event_after("registration", _N + 3)}
), card AS (
    {insert_event_after("registration", _N + 9)}
)
SELECT r.id, (SELECT count(*) FROM meeting_registrations w
              WHERE w.meeting_id = r.meeting_id AND w.status = 'waitlisted') AS waiting
FROM registration r
"""  # noqa: S608 - names from code


async def before_registration(conn: asyncpg.Connection, meeting_id: UUID, email: str,
                              unconfirmed_since: datetime) -> asyncpg.Record | None:
    """The meeting (not locked) with `live_registration` (the address's live registration's
    id, or None) and `unconfirmed` (its registrations since then whose mailed link was never
    used: a cancellation by that link proves the mailbox too). None: no such meeting."""
    return await conn.fetchrow(_BEFORE_THE_LOCK, meeting_id, email, unconfirmed_since)


async def insert_registration(conn: asyncpg.Connection, row: dict[str, Any], hold_job: str,
                              requested: list[Any], card: list[Any]) -> asyncpg.Record | None:
    """One round trip under the meeting's lock (see _REGISTER): `row` has REGISTRATION_COLUMNS,
    `requested` and `card` are `outbox_values`. Returns (id, waiting), or None when a unique
    column was taken (the address registered meanwhile, or a code drawn twice)."""
    return await conn.fetchrow(_REGISTER, *(row[c] for c in REGISTRATION_COLUMNS),
                               hold_job, row["hold_until"], *requested, *card)


async def live_registration_for_email(conn: asyncpg.Connection, meeting_id: UUID,
                                      email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM meeting_registrations WHERE meeting_id = $1 AND lower(email) = lower($2) "
        "AND status <> 'cancelled'", meeting_id, email)


async def lock_address(conn: asyncpg.Connection, email: str) -> None:
    """Registrations under one address, one at a time: its cap cannot be raced past. Taken
    before the meeting's lock, and by nothing that holds one."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(lower($1), 2102))",
                       email)


async def registration_by_id(conn: asyncpg.Connection, registration_id: UUID, *,
                             for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT * FROM meeting_registrations WHERE id = $1{lock}", registration_id)  # noqa: S608


async def registration_by_digest(conn: asyncpg.Connection, column: str,
                                 digest: bytes) -> asyncpg.Record | None:
    assert column in ("confirm_digest", "cancel_digest")
    return await conn.fetchrow(
        f"SELECT * FROM meeting_registrations WHERE {column} = $1", digest)  # noqa: S608


async def registration_by_code(conn: asyncpg.Connection, meeting_id: UUID,
                               code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM meeting_registrations WHERE meeting_id = $1 AND code = $2 FOR UPDATE",
        meeting_id, code)


async def registrations_of(conn: asyncpg.Connection, meeting_id: UUID,
                           statuses: tuple[str, ...] | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM meeting_registrations WHERE meeting_id = $1 "
        "AND ($2::text[] IS NULL OR status = ANY($2)) "
        "ORDER BY requested_at, id", meeting_id, list(statuses) if statuses else None)


async def registration_ids_for_email(conn: asyncpg.Connection, email: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, meeting_id FROM meeting_registrations WHERE lower(email) = lower($1) "
        "ORDER BY requested_at", email)


async def waitlist_position(conn: asyncpg.Connection, meeting_id: UUID, seq: int) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM meeting_registrations WHERE meeting_id = $1 "
        "AND status = 'waitlisted' AND waitlist_seq <= $2", meeting_id, seq)


async def first_waiting(conn: asyncpg.Connection, meeting_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM meeting_registrations WHERE meeting_id = $1 AND status = 'waitlisted' "
        "ORDER BY waitlist_seq LIMIT 1 FOR UPDATE", meeting_id)


async def set_registration(conn: asyncpg.Connection, registration_id: UUID,
                           **changes: Any) -> asyncpg.Record:
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, start=2))
    return await conn.fetchrow(
        f"UPDATE meeting_registrations SET {sets} WHERE id = $1 RETURNING *",  # noqa: S608
        registration_id, *changes.values())


async def counts(conn: asyncpg.Connection, meeting_id: UUID) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'confirmed') AS confirmed, "
        "count(*) FILTER (WHERE checked_in_at IS NOT NULL) AS checked_in, "
        "count(*) FILTER (WHERE status = 'waitlisted') AS waitlisted "
        "FROM meeting_registrations WHERE meeting_id = $1", meeting_id)


async def due_reminders(conn: asyncpg.Connection, meeting_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM meeting_registrations WHERE meeting_id = $1 AND status = 'confirmed' "
        "AND reminded_at IS NULL ORDER BY requested_at, id FOR UPDATE", meeting_id)


async def contacts_to_remove(conn: asyncpg.Connection, meeting_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id FROM meeting_registrations WHERE meeting_id = $1 "
        "AND contact_removed_at IS NULL ORDER BY requested_at, id FOR UPDATE", meeting_id)
