"""Accredited spaces: where a booking may be subsidised, from and until when."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def insert_accreditation(conn: asyncpg.Connection, *, accreditation_id: UUID,
                               space_id: UUID, from_date: date, reason: str,
                               now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        "INSERT INTO accredited_spaces (id, space_id, from_date, reason, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING *",
        accreditation_id, space_id, from_date, reason, now)
    return row


async def open_accreditation(conn: asyncpg.Connection, space_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM accredited_spaces WHERE space_id = $1 AND until_date IS NULL", space_id)
    return row


async def end_accreditation(conn: asyncpg.Connection, space_id: UUID, until: date) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "UPDATE accredited_spaces SET until_date = greatest(from_date, $2) "
        "WHERE space_id = $1 AND until_date IS NULL RETURNING *", space_id, until)
    return row


async def accreditations_page(conn: asyncpg.Connection, after: tuple[datetime, UUID] | None,
                              limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT a.*, (SELECT count(*) FROM space_resources r WHERE r.space_id = a.space_id
                     AND r.kind IN ('hot_desk', 'fixed_desk') AND r.in_service) AS desks,
               EXISTS (SELECT 1 FROM space_resources r WHERE r.space_id = a.space_id) AS known
        FROM accredited_spaces a
        WHERE ($1::timestamptz IS NULL OR (a.created_at, a.id) > ($1, $2::uuid))
        ORDER BY a.created_at, a.id LIMIT $3
        """, after[0] if after else None, after[1] if after else None, limit))
