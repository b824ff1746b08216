"""A programme's balances row (locked by every movement of its money) and its ledger:
append-only transactions of two postings each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from cowork.vouchers.domain.ledger import Movement, Posting, ProgrammeBalances

Row = asyncpg.Record


async def insert_balances(conn: asyncpg.Connection, programme_id: UUID,
                          balances: ProgrammeBalances) -> None:
    """The balances row, written with the opening entry (the budget, available)."""
    await conn.execute(
        "INSERT INTO programme_balances (programme_id, budget_cents, available_cents, "
        "committed_cents, disbursed_cents) VALUES ($1, $2, $3, $4, $5)",
        programme_id, balances.budget_cents, balances.available_cents,
        balances.committed_cents, balances.disbursed_cents)


async def lock_balances(conn: asyncpg.Connection, programme_id: UUID
                        ) -> ProgrammeBalances | None:
    """The programme's balances, locked until the caller's transaction ends: every movement
    of its money goes through here, one at a time."""
    row = await conn.fetchrow(
        "SELECT budget_cents, available_cents, committed_cents, disbursed_cents "
        "FROM programme_balances WHERE programme_id = $1 FOR UPDATE", programme_id)
    if row is None:
        return None
    return ProgrammeBalances(row["budget_cents"], row["available_cents"],
                             row["committed_cents"], row["disbursed_cents"])


async def lock_all_balances(conn: asyncpg.Connection, programme_ids: Sequence[UUID]
                            ) -> dict[UUID, ProgrammeBalances]:
    """Several programmes' balances, locked in one order (by id) so batches never deadlock
    each other on them."""
    rows = await conn.fetch(
        "SELECT programme_id, budget_cents, available_cents, committed_cents, disbursed_cents "
        "FROM programme_balances WHERE programme_id = ANY($1::uuid[]) "
        "ORDER BY programme_id FOR UPDATE", list(programme_ids))
    return {r["programme_id"]: ProgrammeBalances(
        r["budget_cents"], r["available_cents"], r["committed_cents"], r["disbursed_cents"])
        for r in rows}


# One statement per ledger transaction: the entry, its postings and the balances it leaves.
# Its facts are bound by name (see _TRANSACTION_FACTS), never by position in a long list.
_TRANSACTION_FACTS = ("voucher_id", "member_id", "reason", "source_type", "source_id",
                      "source_event_id", "space_id", "price_cents", "statement_period")
_FACT_TYPES = {"voucher_id": "uuid", "member_id": "uuid", "reason": "text",
               "source_type": "text", "source_id": "uuid", "source_event_id": "uuid",
               "space_id": "uuid", "price_cents": "bigint", "statement_period": "text"}
_FIRST_FACT = 10
_INSERT_TRANSACTION = f"""
WITH entry AS (
    INSERT INTO ledger_transactions (id, programme_id, movement, amount_cents, recorded_at,
                                     {", ".join(_TRANSACTION_FACTS)})
    VALUES ($1, $2, $3, $4, $5, {", ".join(
        f"${_FIRST_FACT + i}::{_FACT_TYPES[name]}" for i, name in enumerate(_TRANSACTION_FACTS))})
    RETURNING id
), postings AS (
    INSERT INTO ledger_postings (transaction_id, account, amount_cents)
    SELECT entry.id, p.account, p.amount_cents
    FROM entry, unnest($6::text[], $7::bigint[]) AS p (account, amount_cents)
)
UPDATE programme_balances SET available_cents = ($8::bigint[])[1],
    committed_cents = ($8::bigint[])[2], disbursed_cents = ($8::bigint[])[3]
WHERE programme_id = $2 AND $9::boolean
"""  # noqa: S608 - composed from constants only, never from input


async def insert_ledger_transaction(conn: asyncpg.Connection, *, transaction_id: UUID,
                                    programme_id: UUID, movement: Movement,
                                    amount_cents: int, recorded_at: datetime,
                                    postings: Sequence[Posting],
                                    facts: dict[str, Any],
                                    balances: ProgrammeBalances | None = None) -> None:
    """The transaction with its postings, and (given) the programme's balances after it —
    one round trip. The database checks at commit that the postings sum to zero."""
    unknown = set(facts) - set(_TRANSACTION_FACTS)
    assert not unknown, f"not a ledger fact: {unknown}"
    after = [balances.available_cents, balances.committed_cents,
             balances.disbursed_cents] if balances is not None else [0, 0, 0]
    await conn.execute(
        _INSERT_TRANSACTION, transaction_id, programme_id, movement.value, amount_cents,
        recorded_at, [p.account.value for p in postings], [p.amount_cents for p in postings],
        after, balances is not None, *(facts.get(name) for name in _TRANSACTION_FACTS))


async def ledger_page(conn: asyncpg.Connection, programme_id: UUID, after_seq: int | None,
                      limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT t.*, (SELECT jsonb_object_agg(p.account, p.amount_cents) FROM ledger_postings p
                     WHERE p.transaction_id = t.id) AS postings
        FROM ledger_transactions t
        WHERE t.programme_id = $1 AND t.seq > $2
        ORDER BY t.seq LIMIT $3
        """, programme_id, after_seq or 0, limit))


async def account_sums(conn: asyncpg.Connection, programme_id: UUID) -> dict[str, int]:
    """Each account's balance summed from the postings (the auditor's check of the balances)."""
    rows = await conn.fetch(
        "SELECT p.account, sum(p.amount_cents)::bigint AS total FROM ledger_postings p "
        "JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.programme_id = $1 "
        "GROUP BY p.account", programme_id)
    return {r["account"]: r["total"] for r in rows}
