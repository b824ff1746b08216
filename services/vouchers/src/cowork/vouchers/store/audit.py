"""What the auditor's verify reads: a programme's whole ledger and what the service keeps
beside it, and the guard triggers that keep the ledger append-only."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def programme_ids(conn: asyncpg.Connection) -> list[UUID]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM programmes ORDER BY opened_at, id")]


async def ledger_of(conn: asyncpg.Connection, programme_id: UUID) -> list[Row]:
    """Every entry of the programme in the order recorded, its postings as {account: cents}."""
    return list(await conn.fetch(
        """
        SELECT t.*, (SELECT jsonb_object_agg(p.account, p.amount_cents) FROM ledger_postings p
                     WHERE p.transaction_id = t.id) AS postings
        FROM ledger_transactions t WHERE t.programme_id = $1 ORDER BY t.seq
        """, programme_id))


async def vouchers_of(conn: asyncpg.Connection, programme_id: UUID) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM vouchers WHERE programme_id = $1 ORDER BY id",
                                 programme_id))


async def redemptions_of(conn: asyncpg.Connection, programme_id: UUID) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM redemptions WHERE programme_id = $1 ORDER BY recorded_at, id",
        programme_id))


async def accreditations(conn: asyncpg.Connection) -> list[Row]:
    return list(await conn.fetch("SELECT space_id, from_date, until_date FROM accredited_spaces"))


async def statements_of(conn: asyncpg.Connection, programme_id: UUID) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM statements WHERE programme_id = $1 "
                                 "ORDER BY period", programme_id))


async def de_minimis_grants(conn: asyncpg.Connection) -> list[Row]:
    """Every grant in the register with the undertaking (root key) it counts against."""
    return list(await conn.fetch(
        "SELECT coalesce(l.undertaking_key, g.undertaking_key) AS undertaking, g.granted_on, "
        "g.amount_cents FROM de_minimis_grants g "
        "LEFT JOIN undertaking_links l ON l.key = g.undertaking_key"))


async def vouchers_without_register_entry(conn: asyncpg.Connection, programme_id: UUID
                                          ) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT v.id FROM vouchers v WHERE v.programme_id = $1 AND NOT EXISTS "
        "(SELECT 1 FROM de_minimis_grants g WHERE g.voucher_id = v.id) ORDER BY v.id",
        programme_id)
    return [r["id"] for r in rows]


async def triggers_on(conn: asyncpg.Connection, tables: Sequence[str]) -> dict[str, str]:
    """name -> pg_trigger.tgenabled ('O' enabled, 'D' disabled, 'R'/'A' replica/always) of
    the user triggers on these tables."""
    rows = await conn.fetch(
        "SELECT t.tgname, t.tgenabled::text AS tgenabled FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relname = ANY($1::text[]) AND c.relnamespace = current_schema()::regnamespace "
        "AND NOT t.tgisinternal", list(tables))
    return {r["tgname"]: r["tgenabled"] for r in rows}
