"""The waitlist: requests for a taken slot, promoted first come first served."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

Row = asyncpg.Record


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


