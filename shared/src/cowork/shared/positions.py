"""A consumer's positions kept in its own database, sought at each partition assignment.

The inbox's transaction writes where the consumer stands in each partition
(`consumer_positions`, the offset of the next record; `cowork.shared.inbox`). When the group
assigns partitions to this member, it seeks each to the stored position rather than resume
from the group's offsets in Kafka: after a restore of the database those stand ahead of what
the database holds, and the records between would never be applied again. A partition with no
stored position (a new consumer, a database from before shared migration 0006) starts from the
group's offsets, as before — and that start is stored at once: a backup taken later then
holds a position for every partition the consumer was given, even one it has read nothing of
yet, and the records it applies from there are applied again after a restore.

A stored position older than the topic's earliest offset means retention deleted records the
database never got: that partition is paused — not silently reset to the earliest record —
with an error in the log and `cowork_consumer_position_lost` at 1, until the operator restores
a newer backup or rebuilds (docs/operations.md, "Restoring a database"). The other partitions
go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from cowork.shared import metrics
from cowork.shared.logging import get_logger

log = get_logger(__name__)

_STORED = """
SELECT topic, "partition", next_offset FROM consumer_positions
WHERE consumer = $1 AND topic = ANY($2::text[])
"""

# A partition's first position, unless one is stored already (by another member meanwhile).
_STORE_STARTS = """
INSERT INTO consumer_positions (consumer, topic, "partition", next_offset)
SELECT $1, u.topic, u.part, u.next FROM unnest($2::text[], $3::int[], $4::bigint[])
     AS u (topic, part, next)
ON CONFLICT (consumer, topic, "partition") DO NOTHING
"""


async def stored_positions(pool: asyncpg.Pool, consumer: str,
                           partitions: Collection[TopicPartition]) -> dict[TopicPartition, int]:
    """The stored positions of `partitions` (those that have one)."""
    wanted = set(partitions)
    rows = await pool.fetch(_STORED, consumer, sorted({tp.topic for tp in wanted}))
    found = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    return {tp: offset for tp, offset in found.items() if tp in wanted}


class SeekToStoredPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks the partitions the group assigns to the positions the database holds."""

    def __init__(self, kafka: AIOKafkaConsumer, pool: asyncpg.Pool, *, service: str,
                 consumer: str) -> None:
        self._kafka = kafka
        self._pool = pool
        self._service = service
        self._consumer = consumer
        # Positions sought and not yet committed to the group: the fetch loop commits them
        # (`take_sought`), so the group's offsets — and the lag measured from them — say where
        # the consumer really is.
        self._sought: dict[TopicPartition, int] = {}

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        if not assigned:
            return
        # Nothing fetched before the seek: the group's committed offsets are being looked up
        # meanwhile, and a record fetched from there would be applied ahead of the ones the
        # database still lacks (which would then look like late replays).
        self._kafka.pause(*assigned)
        stored, earliest, end = await self._look_up(assigned)
        stopped: set[TopicPartition] = set()
        held = self._kafka.assignment()  # a rebalance meanwhile may have taken some away
        for tp, offset in stored.items():
            if tp not in held:
                continue
            if offset > end[tp]:
                offset = await self._read_again(tp, offset, earliest[tp], end[tp])
            lost = metrics.CONSUMER_POSITION_LOST.labels(self._service, self._consumer,
                                                         tp.topic, str(tp.partition))
            if offset < earliest[tp]:
                stopped.add(tp)
                lost.set(1)
                log.error("stored position is older than the topic's earliest record: "
                          "partition stopped (restore a newer backup or rebuild: "
                          "docs/operations.md, restores)", consumer=self._consumer,
                          topic=tp.topic, partition=tp.partition, position=offset,
                          earliest=earliest[tp], missing=earliest[tp] - offset)
                continue
            lost.set(0)
            self._kafka.seek(tp, offset)
            self._sought[tp] = offset
        self._kafka.resume(*(set(assigned) & held - stopped))

    def take_sought(self) -> dict[TopicPartition, int]:
        """The positions sought since the last call, for the group's offsets."""
        sought, self._sought = self._sought, {}
        return sought

    async def _read_again(self, tp: TopicPartition, offset: int, earliest: int,
                          end: int) -> int:
        """A stored position past the partition's end: this database read another incarnation
        of the topic (recreated, or another cluster's: a backup restored elsewhere). Seeking to
        it would skip the records the topic gets before it reaches that offset, so the
        partition is read again from its first record — the inbox and the per-key positions
        drop what was applied — and the stored position goes back there with it."""
        log.error("stored position is past the topic's end (topic recreated, or a backup "
                  "from another cluster): reading the partition from its earliest record",
                  consumer=self._consumer, topic=tp.topic, partition=tp.partition,
                  position=offset, end=end, earliest=earliest)
        await self._pool.execute(
            'UPDATE consumer_positions SET next_offset = $4 '
            'WHERE consumer = $1 AND topic = $2 AND "partition" = $3',
            self._consumer, tp.topic, tp.partition, earliest)
        return earliest

    async def _look_up(self, assigned: Collection[TopicPartition]
                       ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int],
                                  dict[TopicPartition, int]]:
        """The stored positions and the topics' earliest and end offsets, retried for as long
        as the database or Kafka is away (the partitions stay paused meanwhile: resuming from the
        group's offsets instead could skip what a restored database lacks)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                stored = await stored_positions(self._pool, self._consumer, assigned)
                if any(tp not in stored for tp in assigned):
                    await self._store_starts([tp for tp in assigned if tp not in stored])
                    stored = await stored_positions(self._pool, self._consumer, assigned)
                earliest = await self._kafka.beginning_offsets(list(stored)) if stored else {}
                end = await self._kafka.end_offsets(list(stored)) if stored else {}
                return stored, earliest, end
            except Exception as exc:
                log.warning("stored positions unreadable; retrying", consumer=self._consumer,
                            error=str(exc)[:300], error_type=type(exc).__name__,
                            attempt=attempt)
                await asyncio.sleep(min(0.5 * attempt, 5.0))

    async def _store_starts(self, partitions: list[TopicPartition]) -> None:
        """Where partitions without a stored position start — the group's offset, or the
        topic's first record for a new group — stored as their positions."""
        starts = {tp: await self._kafka.committed(tp) for tp in partitions}
        first = await self._kafka.beginning_offsets([tp for tp, o in starts.items() if o is None])
        starts = {tp: first[tp] if offset is None else offset for tp, offset in starts.items()}
        await self._pool.execute(_STORE_STARTS, self._consumer, [tp.topic for tp in starts],
                                 [tp.partition for tp in starts], list(starts.values()))
