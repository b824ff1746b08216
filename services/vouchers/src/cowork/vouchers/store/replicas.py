"""What the service keeps of other services' data: members (and their erasure) and the
spaces' resources."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def upsert_member(conn: asyncpg.Connection, member_id: UUID, *, kind: str | None,
                        residence_istat: str | None, now: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO members (member_id, kind, residence_istat, updated_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (member_id) DO UPDATE SET kind = coalesce(EXCLUDED.kind, members.kind),
            residence_istat = EXCLUDED.residence_istat, updated_at = EXCLUDED.updated_at
        WHERE members.erased_at IS NULL
        """, member_id, kind, residence_istat, now)


async def member_by_id(conn: asyncpg.Connection, member_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM members WHERE member_id = $1", member_id)
    return row


async def forget_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> None:
    """GDPR erasure: drop the residence and the self-declarations (birth date, tax code...);
    vouchers, redemptions, the ledger and the de minimis register (keyed by a hash) stay."""
    await conn.execute(
        """
        INSERT INTO members (member_id, kind, residence_istat, erased_at, updated_at)
        VALUES ($1, NULL, NULL, $2, $2)
        ON CONFLICT (member_id) DO UPDATE SET residence_istat = NULL, erased_at = $2,
            updated_at = $2
        """, member_id, now)
    await conn.execute("UPDATE applications SET declarations = '{}'::jsonb WHERE member_id = $1",
                       member_id)


async def upsert_space_resource(conn: asyncpg.Connection, resource_id: UUID, space_id: UUID,
                                kind: str, in_service: bool | None) -> None:
    """`in_service` None (a record from before booking sent it): in service when new, and
    otherwise whatever booking said last."""
    await conn.execute(
        "INSERT INTO space_resources (resource_id, space_id, kind, in_service) "
        "VALUES ($1, $2, $3, coalesce($4, true)) "
        "ON CONFLICT (resource_id) DO UPDATE SET space_id = EXCLUDED.space_id, "
        "kind = EXCLUDED.kind, in_service = coalesce($4, space_resources.in_service)",
        resource_id, space_id, kind, in_service)


async def desks_of(conn: asyncpg.Connection, space_id: UUID) -> tuple[bool, int]:
    """(whether the replica knows the space, how many hot and fixed desks it has in
    service)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS resources, count(*) FILTER (WHERE kind IN ('hot_desk', 'fixed_desk') "
        "AND in_service) AS desks FROM space_resources WHERE space_id = $1", space_id)
    return row["resources"] > 0, row["desks"]
