"""Programmes: their terms, as the officer opened them, and their status."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

Row = asyncpg.Record


_PROGRAMME_COLUMNS = (
    "id", "name", "budget_cents", "coverage_pct", "cap_per_beneficiary_cents",
    "cap_per_year_cents", "kind_caps_cents", "min_eligible_cost_cents", "valid_from",
    "valid_until", "max_duration_months", "selection_mode", "application_deadline", "criteria",
    "rna_code", "eligibility", "subsidises", "accredited_space_ids", "min_desks", "opened_at",
)
_PROGRAMME_WITH_BALANCES = """
SELECT p.*, b.available_cents, b.committed_cents, b.disbursed_cents
FROM programmes p JOIN programme_balances b ON b.programme_id = p.id
"""


async def insert_programme(conn: asyncpg.Connection, programme: dict[str, Any]) -> None:
    columns = ", ".join(_PROGRAMME_COLUMNS)
    params = ", ".join(f"${i}" for i in range(1, len(_PROGRAMME_COLUMNS) + 1))
    await conn.execute(f"INSERT INTO programmes ({columns}) VALUES ({params})",  # noqa: S608 - names from code
                       *(programme[c] for c in _PROGRAMME_COLUMNS))


async def programme_by_id(conn: asyncpg.Connection, programme_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(_PROGRAMME_WITH_BALANCES + "WHERE p.id = $1",
                                          programme_id)
    return row


async def programmes_page(conn: asyncpg.Connection, after: tuple[datetime, UUID] | None,
                          limit: int) -> list[Row]:
    if after is None:
        return list(await conn.fetch(_PROGRAMME_WITH_BALANCES + "ORDER BY p.opened_at, p.id "
                                     "LIMIT $1", limit))
    return list(await conn.fetch(
        _PROGRAMME_WITH_BALANCES + "WHERE (p.opened_at, p.id) > ($2, $3) "
        "ORDER BY p.opened_at, p.id LIMIT $1", limit, *after))


async def close_programme(conn: asyncpg.Connection, programme_id: UUID, now: datetime) -> bool:
    status = await conn.execute("UPDATE programmes SET status = 'closed', closed_at = $2 "
                                "WHERE id = $1 AND status = 'open'", programme_id, now)
    return status.endswith(" 1")


async def programme_named(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM programmes WHERE name = $1", name))


async def lock_demo_loading(conn: asyncpg.Connection) -> None:
    """Until the transaction ends: two replicas starting together load the demo data once."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('cowork.vouchers.demo'))")
