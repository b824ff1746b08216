"""Programmes: opened with their budget, closed to applications (by an officer, or by
themselves the day after their deadline)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event
from cowork.vouchers.commands.grants import rank_and_grant
from cowork.vouchers.commands.ledger import SOURCE, Refused, locked_balances
from cowork.vouchers.commands.schedule import CLOSE_JOB, schedule_close
from cowork.vouchers.domain.ledger import Movement, ProgrammeBalances, postings
from cowork.vouchers.store import ledger as ledger_store
from cowork.vouchers.store import programmes as programmes_store


async def open_programme(conn: asyncpg.Connection, spec: dict[str, Any], now: datetime
                         ) -> asyncpg.Record:
    """Record the programme, post its budget (funding -> available) and announce it; a ranked
    programme with a deadline closes (and ranks) by itself the day after it."""
    programme_id = uuid4()
    await programmes_store.insert_programme(conn, {**spec, "id": programme_id, "opened_at": now})
    balances = ProgrammeBalances(budget_cents=spec["budget_cents"])
    balances.apply(Movement.OPEN, spec["budget_cents"])
    await ledger_store.insert_balances(conn, programme_id, balances)
    await ledger_store.insert_ledger_transaction(
        conn, transaction_id=uuid4(), programme_id=programme_id, movement=Movement.OPEN,
        amount_cents=spec["budget_cents"], recorded_at=now,
        postings=postings(Movement.OPEN, spec["budget_cents"]),
        facts={"reason": "budget"})
    await add_event(conn, ev.ProgrammeOpened(
        programme_id=programme_id, name=spec["name"], budget_cents=spec["budget_cents"],
        coverage_pct=spec["coverage_pct"],
        cap_per_beneficiary_cents=spec["cap_per_beneficiary_cents"],
        valid_from=spec["valid_from"], valid_until=spec["valid_until"],
        selection_mode=spec["selection_mode"]), source=SOURCE)
    # Closes by itself the day after its deadline (ranked: ranks and grants then), or a
    # first-come programme without one the day after its validity ends.
    last_day = spec.get("application_deadline") or (
        spec["valid_until"] if spec["selection_mode"] == "first_come" else None)
    if last_day is not None:
        await schedule_close(conn, str(programme_id), last_day)
    programme = await programmes_store.programme_by_id(conn, programme_id)
    assert programme is not None
    return programme


async def close_to_applications(conn: asyncpg.Connection, programme: asyncpg.Record,
                                now: datetime) -> None:
    """Mark it closed and announce it, once (a second close changes nothing)."""
    if await programmes_store.close_programme(conn, programme["id"], now):
        await add_event(conn, ev.ProgrammeClosed(programme_id=programme["id"], at=now),
                        source=SOURCE)
        await scheduler.cancel(conn, CLOSE_JOB, str(programme["id"]))


async def close_programme(conn: asyncpg.Connection, programme_id: UUID, now: datetime
                          ) -> asyncpg.Record:
    """Close to applications; a ranked programme ranks its pending applications and grants in
    rank order until the budget is spent; the rest wait, in rank order, for released money."""
    balances = await locked_balances(conn, programme_id)
    programme = await programmes_store.programme_by_id(conn, programme_id)
    assert programme is not None
    if programme["status"] == "closed":
        raise Refused("programme_closed", "the programme is already closed")
    if programme["selection_mode"] == "ranked":
        await rank_and_grant(conn, programme, balances, now)
    await close_to_applications(conn, programme, now)
    closed = await programmes_store.programme_by_id(conn, programme_id)
    assert closed is not None
    return closed
