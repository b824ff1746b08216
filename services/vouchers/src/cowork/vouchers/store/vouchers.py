"""Vouchers: granted amount, what is left, and how they end."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def insert_voucher(conn: asyncpg.Connection, *, voucher_id: UUID, programme_id: UUID,
                         member_id: UUID, application_id: UUID, amount_cents: int,
                         granted_at: datetime, valid_from: date, valid_until: date,
                         condition_deadline: date | None,
                         partita_iva_opened_on: date | None) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO vouchers (id, programme_id, member_id, application_id, amount_cents,
                              remaining_cents, status, granted_at, valid_from, valid_until,
                              condition_deadline, partita_iva_opened_on)
        VALUES ($1, $2, $3, $4, $5, $5, 'active', $6, $7, $8, $9, $10) RETURNING *
        """, voucher_id, programme_id, member_id, application_id, amount_cents, granted_at,
        valid_from, valid_until, condition_deadline, partita_iva_opened_on)
    return row


async def voucher_by_id(conn: asyncpg.Connection, voucher_id: UUID, *,
                        for_update: bool = False) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM vouchers WHERE id = $1" + (" FOR UPDATE" if for_update else ""),  # noqa: S608 - constant text
        voucher_id)
    return row


async def vouchers_page(conn: asyncpg.Connection, *, member_id: UUID | None,
                        programme_id: UUID | None, after: tuple[datetime, UUID] | None,
                        limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT * FROM vouchers
        WHERE ($1::uuid IS NULL OR member_id = $1) AND ($2::uuid IS NULL OR programme_id = $2)
          AND ($3::timestamptz IS NULL OR (granted_at, id) > ($3, $4::uuid))
        ORDER BY granted_at, id LIMIT $5
        """, member_id, programme_id, after[0] if after else None, after[1] if after else None,
        limit))


async def set_remaining(conn: asyncpg.Connection, voucher_id: UUID, remaining_cents: int) -> None:
    await conn.execute("UPDATE vouchers SET remaining_cents = $2 WHERE id = $1",
                       voucher_id, remaining_cents)


async def end_voucher(conn: asyncpg.Connection, voucher_id: UUID, *, status: str,
                      released_cents: int, reason: str | None, now: datetime) -> None:
    await conn.execute(
        "UPDATE vouchers SET status = $2, remaining_cents = 0, "
        "released_cents = released_cents + $3, end_reason = $4, ended_at = $5 WHERE id = $1",
        voucher_id, status, released_cents, reason, now)


async def add_released(conn: asyncpg.Connection, voucher_id: UUID, released_cents: int) -> None:
    """A reversal on a voucher that has already ended: its money goes straight back."""
    await conn.execute("UPDATE vouchers SET released_cents = released_cents + $2, "
                       "remaining_cents = 0 WHERE id = $1", voucher_id, released_cents)


async def declare_partita_iva(conn: asyncpg.Connection, voucher_id: UUID, opened_on: date) -> None:
    await conn.execute("UPDATE vouchers SET partita_iva_opened_on = $2 WHERE id = $1",
                       voucher_id, opened_on)


async def active_vouchers_of(conn: asyncpg.Connection, member_id: UUID) -> list[UUID]:
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM vouchers WHERE member_id = $1 AND status = 'active' ORDER BY id",
        member_id)]
