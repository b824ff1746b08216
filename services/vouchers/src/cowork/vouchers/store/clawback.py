"""Clawback: the subsidies already paid for use after a voucher or an accreditation ended,
locked for their reversal, and every programme's balances locked for the end of an
accreditation (any programme may pay at any space)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

import asyncpg

from cowork.vouchers.domain.ledger import ProgrammeBalances

Row = asyncpg.Record


async def lock_every_balance(conn: asyncpg.Connection) -> dict[UUID, ProgrammeBalances]:
    """Every programme's balances, locked by id (the order every movement locks them in)."""
    rows = await conn.fetch(
        "SELECT programme_id, budget_cents, available_cents, committed_cents, disbursed_cents "
        "FROM programme_balances ORDER BY programme_id FOR UPDATE")
    return {r["programme_id"]: ProgrammeBalances(
        r["budget_cents"], r["available_cents"], r["committed_cents"], r["disbursed_cents"])
        for r in rows}


async def lock_voucher_redemptions_after(conn: asyncpg.Connection, voucher_id: UUID,
                                         after: date) -> list[Row]:
    """The voucher's redemptions for use after `after` not yet wholly reversed, locked."""
    return list(await conn.fetch(
        "SELECT * FROM redemptions WHERE voucher_id = $1 AND used_on > $2 "
        "AND reversed_cents < subsidy_cents ORDER BY used_on, id FOR UPDATE",
        voucher_id, after))


async def lock_space_redemptions_from(conn: asyncpg.Connection, space_id: UUID,
                                      first_day: date) -> list[Row]:
    """Bookings at the space for use on or after `first_day` whose subsidy is not yet wholly
    reversed, locked (after the balances, as every movement locks them)."""
    return list(await conn.fetch(
        "SELECT * FROM redemptions WHERE source_type = 'booking' AND space_id = $1 "
        "AND used_on >= $2 AND reversed_cents < subsidy_cents "
        "ORDER BY voucher_id, used_on, id FOR UPDATE", space_id, first_day))


async def lock_vouchers(conn: asyncpg.Connection, voucher_ids: Sequence[UUID]
                        ) -> dict[UUID, Row]:
    rows = await conn.fetch("SELECT * FROM vouchers WHERE id = ANY($1::uuid[]) "
                            "ORDER BY id FOR UPDATE", list(voucher_ids))
    return {r["id"]: r for r in rows}
