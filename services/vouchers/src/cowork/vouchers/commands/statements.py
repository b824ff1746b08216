"""Monthly statements: rendered from the ledger lines of their month, issued once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event
from cowork.vouchers.commands.ledger import SOURCE, Refused, locked_balances
from cowork.vouchers.domain.ledger import Movement
from cowork.vouchers.domain.statements import (
    StatementDocument,
    StatementLine,
    month_of,
)
from cowork.vouchers.domain.statements import render_statement as render_document
from cowork.vouchers.store import statements as statements_store


def statement_line(row: asyncpg.Record) -> StatementLine:
    redemption = row["movement"] == Movement.REDEEM.value
    return StatementLine(
        entry_id=row["id"], recorded_at=row["recorded_at"],
        kind="redemption" if redemption else "reversal", voucher_id=row["voucher_id"],
        member_id=row["member_id"], space_id=row["space_id"], source_type=row["source_type"],
        source_id=row["source_id"], source_event_id=row["source_event_id"],
        price_cents=row["price_cents"],
        amount_cents=row["amount_cents"] if redemption else -row["amount_cents"])


async def render_statement(conn: asyncpg.Connection, programme_id: UUID, period: str,
                           space_id: UUID | None = None) -> StatementDocument:
    """The statement built from the ledger lines assigned to `period` (at one space)."""
    rows = await statements_store.statement_lines(conn, programme_id, period)
    return render_document(programme_id, period, [
        statement_line(r) for r in rows if space_id is None or r["space_id"] == space_id])


async def issue_statement(conn: asyncpg.Connection, programme_id: UUID, period: str,
                          now: datetime) -> asyncpg.Record:
    """Freeze the statement: its bytes and SHA-256 are stored and never change; lines recorded
    from now on go to the next month. Takes the balances lock, as recording a line does."""
    await locked_balances(conn, programme_id)
    if period > month_of(now):
        raise Refused("period_not_started", "a statement can be issued once its month has "
                      "begun", field="period")
    if await statements_store.issued_statement(conn, programme_id, period) is not None:
        raise Refused("already_issued", "this statement was already issued", field="period")
    document = await render_statement(conn, programme_id, period)
    statement = await statements_store.insert_statement(
        conn, statement_id=uuid4(), programme_id=programme_id, period=period,
        document=document, now=now)
    await add_event(conn, ev.StatementIssued(
        statement_id=statement["id"], programme_id=programme_id, period=period,
        redeemed_cents=document.redeemed_cents, reversed_cents=document.reversed_cents,
        net_cents=document.net_cents, lines=document.lines, sha256=document.sha256),
        source=SOURCE)
    return statement
