"""The inbox: which events a consumer has applied, and how far it got in each key.

Written in the transaction that applies the events, so an event recorded here has had its
effect and a redelivered one changes nothing. `inbox` holds the ids (a duplicate is skipped);
`consumer_sequences` each key's newest applied sequence (the CloudEvents `sequence` the
producer's outbox numbered), so an event older than what was applied — a late replay — is
recorded as seen and not applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from cowork.shared.events.envelope import Envelope
from cowork.shared.kafka import Record


def record_key(record: Record) -> str:
    return (record.key or b"").decode(errors="replace")


@dataclass
class BatchStart:
    """What the inbox said of a batch, once its ids were recorded."""

    held: bool = False  # a key of the batch is held by a dead letter: nothing was recorded
    seen: set[UUID] = field(default_factory=set)  # ids the inbox had before this batch
    positions: dict[tuple[str, str], int] = field(default_factory=dict)  # (topic, key) -> seq


async def record_batch(conn: asyncpg.Connection, consumer: str,
                       ready: Sequence[tuple[Record, Envelope]]) -> BatchStart:
    """In one round trip: whether a key is held, which ids the inbox already had (only those
    come back: a busy consumer's events are nearly all new), where each key stood, and each
    key's position moved to the batch's newest sequence."""
    keyed = [(r.topic, record_key(r), e.sequence) for r, e in ready if r.key is not None]
    rows = await conn.fetch(
        _BATCH_START, consumer,
        [e.id for _, e in ready], [e.type for _, e in ready],
        [r.topic for r, _ in ready], [r.partition for r, _ in ready],
        [r.offset for r, _ in ready], [t for t, _, _ in keyed], [k for _, k, _ in keyed],
        [s for _, _, s in keyed])
    start = BatchStart()
    for row in rows:
        what = row["what"]
        if what == "held":
            return BatchStart(held=True)
        if what == "duplicate":
            start.seen.add(row["event_id"])
        else:
            start.positions[(row["topic"], row["key"])] = row["last_sequence"]
    return start


async def record_one(conn: asyncpg.Connection, consumer: str, record: Record,
                     envelope: Envelope) -> bool:
    """Record one event's id; False when the inbox had it already."""
    status = await conn.execute(_RECORD_ONE, consumer, envelope.id, envelope.type, record.topic,
                                record.partition, record.offset)
    return not status.endswith(" 0")


async def advance(conn: asyncpg.Connection, consumer: str, topic: str, key: str,
                  sequence: int) -> int | None:
    """Move the key's position to `sequence` if that is newer; None when it moved, else the
    position that stands."""
    moved = await conn.execute(_ADVANCE_ONE, consumer, topic, key, sequence)
    if moved.endswith(" 1"):
        return None
    position: int = await conn.fetchval(_POSITION, consumer, topic, key)
    return position


_RECORD_ONE = """
INSERT INTO inbox (consumer, event_id, event_type, topic, "partition", "offset")
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
"""
_BATCH_START = """
WITH held AS (
    SELECT 1 FROM dead_lettered_keys d
    JOIN unnest($7::text[], $8::text[]) AS u (topic, key) ON d.topic = u.topic AND d.key = u.key
    WHERE d.consumer = $1 LIMIT 1
), fresh AS (
    INSERT INTO inbox (consumer, event_id, event_type, topic, "partition", "offset")
    SELECT $1, u.event_id, u.event_type, u.topic, u.part, u.off
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[])
         AS u (event_id, event_type, topic, part, off)
    WHERE NOT EXISTS (SELECT 1 FROM held)
    ON CONFLICT DO NOTHING
    RETURNING event_id
), moved AS (
    INSERT INTO consumer_sequences (consumer, topic, key, last_sequence)
    SELECT $1, u.topic, u.key, max(u.seq)
    FROM unnest($7::text[], $8::text[], $9::bigint[]) AS u (topic, key, seq)
    WHERE u.seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM held)
    GROUP BY u.topic, u.key
    ON CONFLICT (consumer, topic, key) DO UPDATE SET last_sequence = EXCLUDED.last_sequence
    WHERE consumer_sequences.last_sequence < EXCLUDED.last_sequence
)
SELECT 'held' AS what, NULL::uuid AS event_id, NULL::text AS topic, NULL::text AS key,
       NULL::bigint AS last_sequence FROM held
UNION ALL
-- The ids the inbox already held (or that repeat within the batch: both copies are inserted
-- once, so neither is listed and the caller applies the first).
SELECT 'duplicate', u.event_id, NULL, NULL, NULL
FROM unnest($2::uuid[]) AS u (event_id)
WHERE NOT EXISTS (SELECT 1 FROM held)
  AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.event_id = u.event_id)
UNION ALL
-- The positions as they were before `moved` (one snapshot for the whole statement).
SELECT 'position', NULL, c.topic, c.key, c.last_sequence FROM consumer_sequences c
JOIN (SELECT DISTINCT * FROM unnest($7::text[], $8::text[])) AS u (topic, key)
  ON c.topic = u.topic AND c.key = u.key
WHERE c.consumer = $1
"""
_ADVANCE_ONE = """
INSERT INTO consumer_sequences (consumer, topic, key, last_sequence) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer, topic, key) DO UPDATE SET last_sequence = EXCLUDED.last_sequence
WHERE consumer_sequences.last_sequence < EXCLUDED.last_sequence
"""
_POSITION = """
SELECT last_sequence FROM consumer_sequences WHERE consumer = $1 AND topic = $2 AND key = $3
"""
