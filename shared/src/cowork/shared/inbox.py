"""The inbox: which events a consumer has applied, and how far it got in each key.

Written in the transaction that applies the events, so an event recorded here has had its
effect and a redelivered one changes nothing. `inbox` holds the ids (a duplicate is skipped);
`consumer_sequences` each key's newest applied sequence (the CloudEvents `sequence` the
producer's outbox numbered), so an event older than what was applied — a late replay — is
recorded as seen and not applied. A key's position is (epoch, sequence): a producer restored
from a backup numbers again in a later epoch (shared migration 0005), and its events are newer
whatever their sequence. `consumer_positions` holds where the consumer stands in each
partition (the next offset), so a restored database is brought forward from its own data
(`cowork.shared.positions`).
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
    # (topic, key) -> (epoch, sequence)
    positions: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


# Where a consumer stands in each partition after a batch: (topic, partition) -> next offset.
Offsets = dict[tuple[str, int], int]


def next_offsets(records: Sequence[Record]) -> Offsets:
    """Each partition's offset after the batch's last record of it."""
    offsets: Offsets = {}
    for r in records:
        at = (r.topic, r.partition)
        if offsets.get(at, -1) <= r.offset:
            offsets[at] = r.offset + 1
    return offsets


async def record_batch(conn: asyncpg.Connection, consumer: str,
                       ready: Sequence[tuple[Record, Envelope]], offsets: Offsets) -> BatchStart:
    """In one round trip: whether a key is held, which ids the inbox already had (only those
    come back: a busy consumer's events are nearly all new), where each key stood, each key's
    position moved to the batch's newest (epoch, sequence), and the consumer's position in each
    partition moved past the batch (`offsets`)."""
    keyed = [(r.topic, record_key(r), e.sequence, e.sequence_epoch or 0)
             for r, e in ready if r.key is not None]
    rows = await conn.fetch(
        _BATCH_START, consumer,
        [e.id for _, e in ready], [e.type for _, e in ready],
        [r.topic for r, _ in ready], [r.partition for r, _ in ready],
        [r.offset for r, _ in ready], [k[0] for k in keyed], [k[1] for k in keyed],
        [k[2] for k in keyed], [k[3] for k in keyed],
        [t for t, _ in offsets], [p for _, p in offsets], list(offsets.values()))
    start = BatchStart()
    for row in rows:
        what = row["what"]
        if what == "held":
            return BatchStart(held=True)
        if what == "duplicate":
            start.seen.add(row["event_id"])
        else:
            start.positions[(row["topic"], row["key"])] = (row["epoch"],
                                                           row["last_sequence"])
    return start


async def record_one(conn: asyncpg.Connection, consumer: str, record: Record,
                     envelope: Envelope) -> bool:
    """Record one event's id, and the consumer's position past its record; False when the
    inbox had it already."""
    fresh: int = await conn.fetchval(_RECORD_ONE, consumer, envelope.id, envelope.type,
                                     record.topic, record.partition, record.offset)
    return fresh > 0


async def place(conn: asyncpg.Connection | asyncpg.Pool, consumer: str,
                offsets: Offsets) -> None:
    """Move the consumer's positions past a batch it has wholly applied, parked, dead-lettered
    or skipped (the one-by-one path, a batch of types it does not handle)."""
    if offsets:
        await conn.execute(_PLACE, consumer, [t for t, _ in offsets],
                           [p for _, p in offsets], list(offsets.values()))


async def advance(conn: asyncpg.Connection, consumer: str, topic: str, key: str,
                  epoch: int, sequence: int) -> tuple[int, int] | None:
    """Move the key's position to (epoch, sequence) if that is newer; None when it moved,
    else the position that stands."""
    moved = await conn.execute(_ADVANCE_ONE, consumer, topic, key, epoch, sequence)
    if moved.endswith(" 1"):
        return None
    row = await conn.fetchrow(_POSITION, consumer, topic, key)
    return (row["epoch"], row["last_sequence"])


# Positions only move forward: a batch fetched again (a rewind) never takes one back.
_PLACE = """
INSERT INTO consumer_positions (consumer, topic, "partition", next_offset)
SELECT $1, u.topic, u.part, u.next FROM unnest($2::text[], $3::int[], $4::bigint[])
     AS u (topic, part, next)
ON CONFLICT (consumer, topic, "partition") DO UPDATE SET next_offset = EXCLUDED.next_offset
WHERE consumer_positions.next_offset < EXCLUDED.next_offset
"""
_RECORD_ONE = """
WITH placed AS (
    INSERT INTO consumer_positions (consumer, topic, "partition", next_offset)
    VALUES ($1, $4, $5, $6 + 1)
    ON CONFLICT (consumer, topic, "partition") DO UPDATE SET next_offset = EXCLUDED.next_offset
    WHERE consumer_positions.next_offset < EXCLUDED.next_offset
), fresh AS (
    INSERT INTO inbox (consumer, event_id, event_type, topic, "partition", "offset")
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM fresh
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
    INSERT INTO consumer_sequences (consumer, topic, key, epoch, last_sequence)
    SELECT DISTINCT ON (u.topic, u.key) $1, u.topic, u.key, u.epoch, u.seq
    FROM unnest($7::text[], $8::text[], $9::bigint[], $10::bigint[]) AS u (topic, key, seq, epoch)
    WHERE u.seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM held)
    ORDER BY u.topic, u.key, u.epoch DESC, u.seq DESC
    ON CONFLICT (consumer, topic, key) DO UPDATE
        SET epoch = EXCLUDED.epoch, last_sequence = EXCLUDED.last_sequence
    WHERE (consumer_sequences.epoch, consumer_sequences.last_sequence)
        < (EXCLUDED.epoch, EXCLUDED.last_sequence)
), placed AS (
    INSERT INTO consumer_positions (consumer, topic, "partition", next_offset)
    SELECT $1, u.topic, u.part, u.next
    FROM unnest($11::text[], $12::int[], $13::bigint[]) AS u (topic, part, next)
    WHERE NOT EXISTS (SELECT 1 FROM held)
    ON CONFLICT (consumer, topic, "partition") DO UPDATE SET next_offset = EXCLUDED.next_offset
    WHERE consumer_positions.next_offset < EXCLUDED.next_offset
)
SELECT 'held' AS what, NULL::uuid AS event_id, NULL::text AS topic, NULL::text AS key,
       NULL::bigint AS epoch, NULL::bigint AS last_sequence FROM held
UNION ALL
-- The ids the inbox already held (or that repeat within the batch: both copies are inserted
-- once, so neither is listed and the caller applies the first).
SELECT 'duplicate', u.event_id, NULL, NULL, NULL, NULL
FROM unnest($2::uuid[]) AS u (event_id)
WHERE NOT EXISTS (SELECT 1 FROM held)
  AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.event_id = u.event_id)
UNION ALL
-- The positions as they were before `moved` (one snapshot for the whole statement).
SELECT 'position', NULL, c.topic, c.key, c.epoch, c.last_sequence FROM consumer_sequences c
JOIN (SELECT DISTINCT * FROM unnest($7::text[], $8::text[])) AS u (topic, key)
  ON c.topic = u.topic AND c.key = u.key
WHERE c.consumer = $1
"""
_ADVANCE_ONE = """
INSERT INTO consumer_sequences (consumer, topic, key, epoch, last_sequence)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (consumer, topic, key) DO UPDATE
    SET epoch = EXCLUDED.epoch, last_sequence = EXCLUDED.last_sequence
WHERE (consumer_sequences.epoch, consumer_sequences.last_sequence)
    < (EXCLUDED.epoch, EXCLUDED.last_sequence)
"""
_POSITION = """
SELECT epoch, last_sequence FROM consumer_sequences
WHERE consumer = $1 AND topic = $2 AND key = $3
"""
