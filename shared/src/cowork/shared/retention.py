"""Retention: nothing the backbone writes grows without bound.

Run by every replica's housekeeping round (`ServiceRuntime`) every
`PURGE_INTERVAL_SECONDS`, whatever the relay and the consumers are doing. Each purge deletes
in small batches (`PURGE_BATCH_SIZE`) chosen through an index, with `SKIP LOCKED` so replicas
purging at once share the work instead of waiting on each other, and each batch is its own
short transaction.

| table | what goes | after |
| --- | --- | --- |
| `outbox` | published rows | `OUTBOX_RETENTION_HOURS` (7 days) |
| `outbox` | parked rows (Kafka refused them for good) | `OUTBOX_PARKED_RETENTION_HOURS` (30 days) |
| `outbox` | payloads of published rows on compacted topics (contact cards) | next round (2) |
| `inbox` | event ids applied | `INBOX_RETENTION_HOURS` (30 days) (1) |
| `scheduled_jobs` | done or cancelled jobs | `SCHEDULED_JOBS_RETENTION_HOURS` (30 days) |

(1) Keep it above the dead-letter topic's retention: a replayed record is recognised as a
duplicate only while its event id is still in the inbox.
(2) The compacted topics carry personal data (`cowork.shared.events.topics`): once Kafka has
a card, nobody reads it from the outbox again, and a copy of the database (a backup, a dump)
must hold neither the address nor a token that opens the mailed links. The row stays, without
its payload (as `outbox.erase_payloads` leaves one), until the outbox's own retention.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from cowork.shared import metrics
from cowork.shared.events.topics import ALL_EVENT_TOPICS
from cowork.shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Retention:
    outbox_hours: int = 168
    outbox_parked_hours: int = 720
    outbox_personal_hours: int = 0  # published personal data kept beyond the next round
    inbox_hours: int = 720
    scheduled_jobs_hours: int = 720
    batch_size: int = 1000


# The topics whose published payloads are cleared (`outbox_personal`): the compacted ones.
PERSONAL_TOPICS = sorted(spec.name for spec in ALL_EVENT_TOPICS if spec.compacted)

# Each: the rows of one batch, oldest first, through the table's index.
_BATCHES = {
    "outbox": """
        DELETE FROM outbox WHERE seq IN (
            SELECT seq FROM outbox
            WHERE published_at < now() - make_interval(hours => $1)
            ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "outbox_parked": """
        DELETE FROM outbox WHERE seq IN (
            SELECT seq FROM outbox
            WHERE published_at IS NULL AND parked_reason IS NOT NULL
              AND created_at < now() - make_interval(hours => $1)
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING seq, id, type""",
    "outbox_personal": """
        UPDATE outbox SET payload = NULL WHERE seq IN (
            SELECT seq FROM outbox
            WHERE published_at <= now() - make_interval(hours => $1)
              AND aggregatetype = ANY($3::text[]) AND payload IS NOT NULL
            ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "inbox": """
        DELETE FROM inbox WHERE (consumer, event_id) IN (
            SELECT consumer, event_id FROM inbox
            WHERE received_at < now() - make_interval(hours => $1)
            ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "scheduled_jobs": """
        DELETE FROM scheduled_jobs WHERE id IN (
            SELECT id FROM scheduled_jobs
            WHERE (done_at IS NOT NULL OR cancelled)
              AND coalesce(done_at, created_at) < now() - make_interval(hours => $1)
            ORDER BY coalesce(done_at, created_at) LIMIT $2 FOR UPDATE SKIP LOCKED)""",
}


async def purge(pool: asyncpg.Pool, retention: Retention, *, service: str = "cowork"
                ) -> dict[str, int]:
    """Delete what every table keeps beyond its retention; return how many rows each lost."""
    hours = {"outbox": retention.outbox_hours, "outbox_parked": retention.outbox_parked_hours,
             "outbox_personal": retention.outbox_personal_hours,
             "inbox": retention.inbox_hours, "scheduled_jobs": retention.scheduled_jobs_hours}
    async with pool.acquire() as conn:
        return {table: await purge_table(conn, table, hours[table], retention.batch_size,
                                         service=service)
                for table in _BATCHES}


async def purge_table(conn: asyncpg.Connection, table: str, hours: int, batch_size: int, *,
                      service: str = "cowork") -> int:
    """One of `purge`'s tables (`outbox`, `outbox_parked`, `outbox_personal`, `inbox`,
    `scheduled_jobs`)."""
    sql = _BATCHES[table]
    purged = 0
    while True:
        if table == "outbox_parked":
            rows = await conn.fetch(sql, hours, batch_size)
            for row in rows:  # unpublished events lost for good: say which
                log.error("parked outbox row deleted after its retention", seq=row["seq"],
                          event_id=str(row["id"]), event_type=row["type"])
            n = len(rows)
        elif table == "outbox_personal":
            n = int((await conn.execute(sql, hours, batch_size, PERSONAL_TOPICS)).split()[-1])
        else:
            n = int((await conn.execute(sql, hours, batch_size)).split()[-1])
        purged += n
        if n < batch_size:
            break
    metrics.PURGED_ROWS.labels(service, table).inc(purged)
    return purged
