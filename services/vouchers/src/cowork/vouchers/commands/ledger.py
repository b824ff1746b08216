"""What every use case that moves money shares: the refusal it answers with, the ledger
transaction it posts, the programme's balances it locks first, the statement month a line
lands in, and the budget thresholds it announces."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound
from cowork.shared.outbox import add_event
from cowork.vouchers.domain.ledger import Movement, ProgrammeBalances, postings
from cowork.vouchers.domain.statements import first_unissued, month_of
from cowork.vouchers.domain.thresholds import budget_thresholds_crossed
from cowork.vouchers.store import ledger as ledger_store
from cowork.vouchers.store import statements as statements_store
from cowork.vouchers.store import thresholds as thresholds_store

SOURCE = "/cowork/vouchers"


class Refused(Exception):
    """A request that conflicts with the current state (answered 409), with a stable code."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


async def post(conn: asyncpg.Connection, programme_id: UUID,
               balances: ProgrammeBalances, movement: Movement, amount_cents: int,
               now: datetime, **facts: Any) -> UUID:
    """One ledger transaction (two postings summing to zero) and the balances it leaves; the
    domain refuses a movement that would break an invariant (LedgerViolation), and so would
    the database's CHECKs and the deferred balance trigger."""
    balances.apply(movement, amount_cents)
    transaction_id = uuid4()
    await ledger_store.insert_ledger_transaction(
        conn, transaction_id=transaction_id, programme_id=programme_id, movement=movement,
        amount_cents=amount_cents, recorded_at=now,
        postings=postings(movement, amount_cents), facts=facts, balances=balances)
    return transaction_id


async def locked_balances(conn: asyncpg.Connection, programme_id: UUID) -> ProgrammeBalances:
    balances = await ledger_store.lock_balances(conn, programme_id)
    if balances is None:
        raise NotFound("programme", programme_id)
    return balances


async def statement_period_for(conn: asyncpg.Connection, programme_id: UUID,
                               now: datetime) -> str:
    """The month of `now`, or the first later month whose statement is not issued yet: a line
    is assigned to one statement, once, and an issued statement never changes. Called with
    the programme's balances locked, which issuing also takes."""
    period = month_of(now)
    return first_unissued(
        period, await statements_store.issued_periods_from(conn, programme_id, period))


async def announce_budget_thresholds(conn: asyncpg.Connection, programme_id: UUID,
                                     balances: ProgrammeBalances, used_before: int,
                                     now: datetime) -> None:
    for pct in budget_thresholds_crossed(balances.budget_cents, used_before,
                                         balances.used_cents):
        if await thresholds_store.mark_threshold(conn, programme_id, f"budget_{pct}", now):
            await add_event(conn, ev.BudgetThresholdReached(
                programme_id=programme_id, threshold_pct=pct,  # type: ignore[arg-type]
                available_cents=balances.available_cents), source=SOURCE)
