"""The de minimis register (grants by undertaking) and the transparency report."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def lock_undertaking(conn: asyncpg.Connection, undertaking_key: str) -> None:
    """Serialise grants to one undertaking across programmes (taken after a programme's
    balances, always in that order)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 8))", undertaking_key)


async def lock_member_undertaking(conn: asyncpg.Connection, member_id: UUID) -> None:
    """Serialise the keys one member declares, so two applications at once cannot each start
    an undertaking of their own."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 8))",
                       f"undertaking-of-member:{member_id}")


async def undertaking_of(conn: asyncpg.Connection, key: str) -> str:
    """The undertaking a key belongs to: its root key (itself when never linked)."""
    root: str | None = await conn.fetchval(
        "SELECT undertaking_key FROM undertaking_links WHERE key = $1", key)
    return root or key


async def join_undertaking(conn: asyncpg.Connection, root: str, into_root: str) -> None:
    """Every key of `root`'s undertaking now belongs to `into_root`'s (links stay one step)."""
    await conn.execute("UPDATE undertaking_links SET undertaking_key = $2 "
                       "WHERE undertaking_key = $1", root, into_root)
    await conn.execute("INSERT INTO undertaking_links (key, undertaking_key) VALUES ($1, $2)",
                       root, into_root)


async def de_minimis_grants_of(conn: asyncpg.Connection, undertaking: str
                               ) -> list[tuple[date, int]]:
    """The grants to an undertaking (a root key), under whichever of its keys they were
    made."""
    rows = await conn.fetch(
        "SELECT g.granted_on, g.amount_cents FROM de_minimis_grants g "
        "LEFT JOIN undertaking_links l ON l.key = g.undertaking_key "
        "WHERE coalesce(l.undertaking_key, g.undertaking_key) = $1", undertaking)
    return [(r["granted_on"], r["amount_cents"]) for r in rows]


async def record_de_minimis(conn: asyncpg.Connection, *, voucher_id: UUID, undertaking_key: str,
                            programme_id: UUID, granted_on: date, amount_cents: int,
                            rna_code: str | None) -> None:
    await conn.execute(
        "INSERT INTO de_minimis_grants (voucher_id, undertaking_key, programme_id, granted_on, "
        "amount_cents, rna_code) VALUES ($1, $2, $3, $4, $5, $6)",
        voucher_id, undertaking_key, programme_id, granted_on, amount_cents, rna_code)


async def grants_by_beneficiary(conn: asyncpg.Connection, programme_id: UUID | None,
                                year: int) -> list[Row]:
    """Each beneficiary's grants in a calendar year (Europe/Rome), largest first."""
    return list(await conn.fetch(
        """
        SELECT v.member_id, sum(v.amount_cents)::bigint AS granted_cents,
               count(*) AS vouchers, array_agg(DISTINCT v.programme_id) AS programme_ids
        FROM vouchers v
        WHERE ($1::uuid IS NULL OR v.programme_id = $1)
          AND extract(year FROM v.granted_at AT TIME ZONE 'Europe/Rome') = $2
        GROUP BY v.member_id ORDER BY granted_cents DESC, v.member_id
        """, programme_id, year))
