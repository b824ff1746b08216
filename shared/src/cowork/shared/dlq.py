"""Dead-letter topics and the keys they hold: list, replay, discard.

A replayed record keeps its original key and CloudEvents headers (so its event id is the same
and consumers that did apply it ignore it), loses the `x-*` failure headers, and takes its value
from the original topic at the offset the dead letter names: dead letters carry no payload. One
whose original is no longer in the log (compacted after an erasure or a newer value, or past
retention) is not replayed: discard its key. Nor is one whose key has a tombstone after it (an
erasure the compaction bound has not yet carried out): appended after the tombstone, the
member's data would be the key's newest value, which compaction keeps.

A dead letter holds its key in the consumer's database (`dead_lettered_keys`): the key's later
records are parked (`parked_records`) instead of applied, so they cannot overtake it. Replaying
the dead letter lets the consumer apply it and, in the same transaction, the records parked
behind it; discarding it releases the parked records without it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cowork.shared.kafka import reliable_producer
from cowork.shared.logging import get_logger

log = get_logger(__name__)


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
    def original(self) -> TopicPartition:
        return TopicPartition(self.original_topic,
                              int(self.headers["x-original-partition"].decode()))

    @property
    def original_offset(self) -> int:
        return int(self.headers["x-original-offset"].decode())

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
    originals = _Originals(bootstrap, timeout_ms)
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
                    if await _republish(producer, originals, letter):
                        replayed.append(letter)
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): record.offset + 1})
    finally:
        await producer.stop()
        await consumer.stop()
        await originals.stop()
    return replayed


async def _replay_key(bootstrap: str, dlq_topic: str, key: str, event_ids: set[UUID] | None,
                      timeout_ms: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(dlq_topic, bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = reliable_producer(bootstrap, client_id="cowork-dlq-replayer")
    originals = _Originals(bootstrap, timeout_ms)
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
        replayed = [letter for letter in sorted(latest.values(),
                                                key=lambda letter: (letter.partition,
                                                                    letter.offset))
                    if await _republish(producer, originals, letter)]
    finally:
        await producer.stop()
        await consumer.stop()
        await originals.stop()
    return replayed


async def _republish(producer: AIOKafkaProducer, originals: _Originals,
                     letter: DeadLetter) -> bool:
    """The dead letter's event again on its original topic; False when its value is gone or
    its key was erased after it: appended after the tombstone, the member's data would be the
    key's newest value, which compaction keeps for ever."""
    value = letter.value  # dead letters written before they stopped carrying the payload
    if value is None:
        found, value = await originals.value_at(letter.original, letter.original_offset)
        if not found:
            log.warning("dead letter not replayed: its original is no longer in the log",
                        topic=letter.original_topic, offset=letter.original_offset)
            return False
    if letter.key is not None and await originals.erased_after(
            letter.original, letter.original_offset, letter.key):
        log.warning("dead letter not replayed: its key was erased after it",
                    topic=letter.original_topic, offset=letter.original_offset)
        return False
    await producer.send_and_wait(
        letter.original_topic, value=value, key=letter.key,
        headers=[(k, v) for k, v in letter.headers.items() if not k.startswith("x-")])
    return True


class _Originals:
    """Reads single records of the original topics by partition and offset."""

    def __init__(self, bootstrap: str, timeout_ms: int) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                          enable_auto_commit=False,
                                          auto_offset_reset="earliest")
        self._timeout_ms = max(timeout_ms, 1000)
        self._started = False

    async def _start(self) -> None:
        if not self._started:
            await self._consumer.start()
            self._started = True

    async def erased_after(self, tp: TopicPartition, offset: int, key: bytes) -> bool:
        """Whether a tombstone of `key` follows `offset` in the partition (True too when the
        log could not be read to its end: a replay must not risk undoing an erasure)."""
        await self._start()
        self._consumer.assign([tp])
        try:
            end = (await self._consumer.end_offsets([tp]))[tp]
        except Exception:  # the topic is gone, or the broker did not answer: cannot tell
            return True
        self._consumer.seek(tp, offset + 1)
        deadline = asyncio.get_running_loop().time() + self._timeout_ms / 1000 * 10
        while await self._consumer.position(tp) < end:
            if asyncio.get_running_loop().time() > deadline:
                return True
            batch = await self._consumer.getmany(tp, timeout_ms=self._timeout_ms)
            if any(r.key == key and r.value is None for r in batch.get(tp, [])):
                return True
        return False

    async def value_at(self, tp: TopicPartition, offset: int) -> tuple[bool, bytes | None]:
        await self._start()
        self._consumer.assign([tp])
        self._consumer.seek(tp, offset)
        batch = await self._consumer.getmany(tp, timeout_ms=self._timeout_ms, max_records=1)
        records = batch.get(tp, [])
        if records and records[0].offset == offset:
            return True, records[0].value
        return False, None  # compacted away, past retention, or the reset skipped past it

    async def stop(self) -> None:
        if self._started:
            await self._consumer.stop()


def _uuid(raw: bytes) -> UUID | None:
    try:
        return UUID(raw.decode())
    except ValueError:
        return None
