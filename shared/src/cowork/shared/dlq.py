"""Dead-letter topics and the keys they hold: list, replay, discard.

A replayed record keeps its original key, value and CloudEvents headers (so its event id is the
same and consumers that did apply it ignore it) and loses the `x-*` failure headers.

A dead letter holds its key in the consumer's database (`dead_lettered_keys`): the key's later
records are parked (`parked_records`) instead of applied, so they cannot overtake it. Replaying
the dead letter lets the consumer apply it and, in the same transaction, the records parked
behind it; discarding it releases the parked records without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from cowork.shared.kafka import reliable_producer


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    @property
    def original_topic(self) -> str:
        return self.headers["x-original-topic"].decode()

    @property
    def error(self) -> str:
        return self.headers.get("x-error", b"").decode(errors="replace")


@dataclass(frozen=True)
class HeldKey:
    consumer: str
    topic: str
    key: str
    event_id: UUID | None
    event_type: str | None
    error_type: str
    state: str
    since: datetime
    parked: int


async def held_keys(dsn: str, key: str | None = None) -> list[HeldKey]:
    """The keys held by a dead letter in one service's database, with their parked counts."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("""
            SELECT d.consumer, d.topic, d.key, d.event_id, d.event_type, d.error_type, d.state,
                   d.dead_lettered_at,
                   (SELECT count(*) FROM parked_records p WHERE p.consumer = d.consumer
                      AND p.topic = d.topic AND p.key = d.key) AS parked
            FROM dead_lettered_keys d WHERE $1::text IS NULL OR d.key = $1
            ORDER BY d.dead_lettered_at""", key)
    finally:
        await conn.close()
    return [HeldKey(r["consumer"], r["topic"], r["key"], r["event_id"], r["event_type"],
                    r["error_type"], r["state"], r["dead_lettered_at"], r["parked"])
            for r in rows]


async def discard(dsn: str, key: str, consumer: str | None = None) -> int:
    """Give up on the dead letter holding `key` (for one consumer, or all): the consumer then
    applies the key's parked records without it, at its next housekeeping round. The record
    stays on the dead-letter topic, as a log. Returns how many holds were released."""
    conn = await asyncpg.connect(dsn)
    try:
        status = await conn.execute(
            "UPDATE dead_lettered_keys SET state = 'released' "
            "WHERE key = $1 AND ($2::text IS NULL OR consumer = $2) AND state = 'dead'",
            key, consumer)
    finally:
        await conn.close()
    return int(status.split()[-1])


async def replay(bootstrap: str, dlq_topic: str, *, group_id: str = "cowork-dlq-replayer",
                 limit: int | None = None, timeout_ms: int = 3000, key: str | None = None,
                 event_ids: set[UUID] | None = None) -> list[DeadLetter]:
    """Re-publish DLQ records not yet replayed by `group_id`; return them.

    With `key`: read the whole topic without a group and re-publish that key's records only
    (those of `event_ids` when given: the ones holding the key), each event once."""
    if key is not None:
        return await _replay_key(bootstrap, dlq_topic, key, event_ids, timeout_ms)
    consumer = AIOKafkaConsumer(dlq_topic, bootstrap_servers=bootstrap, group_id=group_id,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = reliable_producer(bootstrap, client_id="cowork-dlq-replayer")
    await consumer.start()
    await producer.start()
    replayed: list[DeadLetter] = []
    try:
        while limit is None or len(replayed) < limit:
            batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=100)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    if limit is not None and len(replayed) >= limit:
                        break
                    letter = DeadLetter(record.partition, record.offset, record.key, record.value,
                                        {k: v for k, v in record.headers})
                    if "x-original-topic" not in letter.headers:
                        continue
                    await producer.send_and_wait(
                        letter.original_topic, value=record.value, key=record.key,
                        headers=[(k, v) for k, v in record.headers if not k.startswith("x-")],
                    )
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): record.offset + 1})
                    replayed.append(letter)
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed


async def _replay_key(bootstrap: str, dlq_topic: str, key: str, event_ids: set[UUID] | None,
                      timeout_ms: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(dlq_topic, bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = reliable_producer(bootstrap, client_id="cowork-dlq-replayer")
    await consumer.start()
    await producer.start()
    latest: dict[bytes, DeadLetter] = {}  # the last copy of each event (by ce_id)
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=500)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    headers = dict(record.headers)
                    if record.key != key.encode() or "x-original-topic" not in headers:
                        continue
                    event_id = headers.get("ce_id", b"")
                    if event_ids is not None and _uuid(event_id) not in event_ids:
                        continue
                    latest[event_id] = DeadLetter(record.partition, record.offset, record.key,
                                                  record.value, headers)
        replayed = sorted(latest.values(), key=lambda letter: (letter.partition, letter.offset))
        for letter in replayed:
            await producer.send_and_wait(
                letter.original_topic, value=letter.value, key=letter.key,
                headers=[(k, v) for k, v in letter.headers.items() if not k.startswith("x-")])
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed


def _uuid(raw: bytes) -> UUID | None:
    try:
        return UUID(raw.decode())
    except ValueError:
        return None
