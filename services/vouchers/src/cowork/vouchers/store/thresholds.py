"""The thresholds already announced, so each is announced once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

Row = asyncpg.Record


async def mark_threshold(conn: asyncpg.Connection, subject_id: UUID, threshold: str,
                         now: datetime) -> bool:
    """Record that a threshold was emitted; False when it already was (emit nothing then)."""
    status = await conn.execute(
        "INSERT INTO thresholds_emitted (subject_id, threshold, emitted_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING", subject_id, threshold, now)
    return status.endswith(" 1")
