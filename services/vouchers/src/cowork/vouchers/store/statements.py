"""Monthly statements: the ledger lines of a period, and the issued documents, frozen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from cowork.vouchers.domain.statements import StatementDocument

Row = asyncpg.Record


async def statement_lines(conn: asyncpg.Connection, programme_id: UUID, period: str
                          ) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM ledger_transactions WHERE programme_id = $1 AND statement_period = $2",
        programme_id, period))


async def issued_statement(conn: asyncpg.Connection, programme_id: UUID, period: str
                           ) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM statements WHERE programme_id = $1 AND period = $2", programme_id, period)
    return row


async def issued_periods_from(conn: asyncpg.Connection, programme_id: UUID, period: str
                              ) -> set[str]:
    rows = await conn.fetch("SELECT period FROM statements WHERE programme_id = $1 "
                            "AND period >= $2", programme_id, period)
    return {r["period"] for r in rows}


async def issued_periods_of(conn: asyncpg.Connection, programme_ids: Sequence[UUID],
                            period: str) -> dict[UUID, set[str]]:
    rows = await conn.fetch("SELECT programme_id, period FROM statements "
                            "WHERE programme_id = ANY($1::uuid[]) AND period >= $2",
                            list(programme_ids), period)
    issued: dict[UUID, set[str]] = {}
    for r in rows:
        issued.setdefault(r["programme_id"], set()).add(r["period"])
    return issued


async def insert_statement(conn: asyncpg.Connection, *, statement_id: UUID, programme_id: UUID,
                           period: str, document: StatementDocument,
                           now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO statements (id, programme_id, period, json_bytes, csv_bytes, sha256,
                                redeemed_cents, reversed_cents, net_cents, lines, issued_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *
        """, statement_id, programme_id, period, document.json_bytes, document.csv_bytes,
        document.sha256, document.redeemed_cents, document.reversed_cents, document.net_cents,
        document.lines, now)
    return row
