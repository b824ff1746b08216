"""Applications and their decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def insert_application(conn: asyncpg.Connection, *, application_id: UUID,
                             programme_id: UUID, member_id: UUID, submitted_at: datetime,
                             declarations: dict[str, Any], undertaking_key: str,
                             condition_deadline: date | None, submitted_by: str) -> None:
    await conn.execute(
        "INSERT INTO applications (id, programme_id, member_id, submitted_at, status, "
        "declarations, undertaking_key, condition_deadline, submitted_by) "
        "VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8)",
        application_id, programme_id, member_id, submitted_at, declarations, undertaking_key,
        condition_deadline, submitted_by)


async def decide_application(conn: asyncpg.Connection, application_id: UUID, *, status: str,
                             reasons: Sequence[str], now: datetime,
                             voucher_id: UUID | None = None,
                             rank_position: int | None = None,
                             condition_deadline: date | None = None) -> None:
    """`condition_deadline`, when given, replaces the one provisionally set at application
    (a conditional grant's deadline counts from the grant)."""
    await conn.execute(
        "UPDATE applications SET status = $2, reasons = $3, voucher_id = $4, decided_at = $5, "
        "rank_position = coalesce($6, rank_position), "
        "condition_deadline = coalesce($7, condition_deadline) WHERE id = $1",
        application_id, status, list(reasons), voucher_id, now, rank_position,
        condition_deadline)


async def application_by_id(conn: asyncpg.Connection, application_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM applications WHERE id = $1",
                                          application_id)
    return row


async def applications_in(conn: asyncpg.Connection, programme_id: UUID, status: str) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM applications WHERE programme_id = $1 AND status = $2 "
        "ORDER BY rank_position NULLS LAST, submitted_at, id", programme_id, status))


async def applications_page(conn: asyncpg.Connection, *, programme_id: UUID | None,
                            member_id: UUID | None, after: tuple[datetime, UUID] | None,
                            limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT * FROM applications
        WHERE ($1::uuid IS NULL OR programme_id = $1) AND ($2::uuid IS NULL OR member_id = $2)
          AND ($3::timestamptz IS NULL OR (submitted_at, id) > ($3, $4::uuid))
        ORDER BY submitted_at, id LIMIT $5
        """, programme_id, member_id, after[0] if after else None, after[1] if after else None,
        limit))


async def live_applications_of(conn: asyncpg.Connection, member_id: UUID) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM applications WHERE member_id = $1 AND status IN ('pending', 'waitlisted') "
        "ORDER BY submitted_at, id", member_id))
