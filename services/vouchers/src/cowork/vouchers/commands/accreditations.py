"""Accredited spaces: where a booking may be subsidised."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid4

import asyncpg

from cowork.shared.http import NotFound
from cowork.vouchers.commands.clawback import claw_back_space
from cowork.vouchers.commands.ledger import Refused
from cowork.vouchers.domain.dates import rome_date
from cowork.vouchers.store import accreditations as accreditations_store
from cowork.vouchers.store import clawback as clawback_store


async def accredit(conn: asyncpg.Connection, space_id: UUID, from_date: date, reason: str,
                   now: datetime) -> asyncpg.Record:
    if await accreditations_store.open_accreditation(conn, space_id) is not None:
        raise Refused("already_accredited", "this space is already accredited; end the "
                      "accreditation first", field="space_id")
    try:
        async with conn.transaction():
            return await accreditations_store.insert_accreditation(
                conn, accreditation_id=uuid4(), space_id=space_id, from_date=from_date,
                reason=reason, now=now)
    except asyncpg.UniqueViolationError as exc:  # a concurrent accreditation won
        raise Refused("already_accredited", "this space is already accredited",
                      field="space_id") from exc


async def end_accreditation(conn: asyncpg.Connection, space_id: UUID, now: datetime
                            ) -> asyncpg.Record:
    """Costs from today on no longer count (the accreditation's end is exclusive), and what
    was already paid for use there from today on is reversed in the same transaction
    (clawback). Every programme's balances are locked first: see commands/clawback.py."""
    balances = await clawback_store.lock_every_balance(conn)
    ended = await accreditations_store.end_accreditation(conn, space_id, rome_date(now))
    if ended is None:
        raise NotFound("accreditation of space", space_id)
    await claw_back_space(conn, space_id, ended["until_date"], balances, now)
    return ended
