"""Expressions of interest and erasure requests: plain SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def insert_expression(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO interest_expressions (id, who, residence_istat, desk_kinds, weekdays,
            time_bands, frequency, would_help_run, email, privacy_consent_at, expressed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
        """, values["id"], values["who"], values["residence_istat"], values["desk_kinds"],
        values["weekdays"], values["time_bands"], values["frequency"],
        values["would_help_run"], values["email"], values["now"])


async def expressions_between(conn: asyncpg.Connection, start: datetime | None,
                              end: datetime | None) -> list[Row]:
    """The fields the summary counts (never the address), expressed in [start, end)."""
    return list(await conn.fetch(
        """
        SELECT who, desk_kinds, weekdays, time_bands, frequency, would_help_run
        FROM interest_expressions
        WHERE ($1::timestamptz IS NULL OR expressed_at >= $1)
          AND ($2::timestamptz IS NULL OR expressed_at < $2)
        """, start, end))


async def holds_email(conn: asyncpg.Connection, email: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM interest_expressions WHERE email = $1)", email))


async def registrations_hold_email(conn: asyncpg.Connection, email: str) -> bool:
    """Whether a meeting registration (meetings' table, migration 0002) holds the address:
    only its existence is read here; the meetings' own function erases it."""
    if await conn.fetchval("SELECT to_regclass('meeting_registrations')") is None:
        return False
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM meeting_registrations WHERE lower(email) = $1)", email))


async def erase_email(conn: asyncpg.Connection, email: str, now: datetime) -> int:
    """The address leaves every expression; the answers stay (they count in the summary)."""
    status = await conn.execute(
        "UPDATE interest_expressions SET email = NULL, email_erased_at = $2 WHERE email = $1",
        email, now)
    return int(status.split()[-1])


# ---------------------------------------------------------------- erasure requests


async def lock_address(conn: asyncpg.Connection, digest: str) -> None:
    """Requests for one address, one at a time: the rate limit cannot be raced past."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 21))", digest)


async def requests_since(conn: asyncpg.Connection, digest: str, since: datetime) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM erasure_requests WHERE email_digest = $1 AND requested_at > $2",
        digest, since))


async def insert_request(conn: asyncpg.Connection, *, request_id: UUID, digest: str,
                         email: str | None, language: str, token_digest: str | None,
                         now: datetime, expires_at: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO erasure_requests (id, email_digest, email, language, token_digest,
                                      requested_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """, request_id, digest, email, language, token_digest, now, expires_at)


async def request_by_token(conn: asyncpg.Connection, token_digest: str) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM erasure_requests WHERE token_digest = $1 FOR UPDATE", token_digest)
    return row


async def mark_confirmed(conn: asyncpg.Connection, request_id: UUID, now: datetime,
                         erased: int) -> None:
    await conn.execute("UPDATE erasure_requests SET confirmed_at = $2, erased_count = $3 "
                       "WHERE id = $1", request_id, now, erased)


async def live_requests_for(conn: asyncpg.Connection, digest: str) -> list[UUID]:
    """Every request still holding this address (the confirmed one and any others)."""
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM erasure_requests WHERE email_digest = $1 AND email IS NOT NULL "
        "ORDER BY id FOR UPDATE", digest)]


async def expired_requests(conn: asyncpg.Connection, now: datetime, limit: int) -> list[UUID]:
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM erasure_requests WHERE email IS NOT NULL AND expires_at <= $1 "
        "ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED", now, limit)]


async def forget_address(conn: asyncpg.Connection, request_ids: list[UUID], now: datetime
                         ) -> None:
    await conn.execute("UPDATE erasure_requests SET email = NULL, purged_at = $2 "
                       "WHERE id = ANY($1::uuid[])", request_ids, now)
