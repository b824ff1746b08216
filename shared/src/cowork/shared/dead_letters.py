"""A consumer's dead letters: the records it will not apply, published with their reason, and
the keys they hold.

A record that can never be applied goes to the service's `.dlq` topic with its original key and
CloudEvents headers (its event id and type), `x-*` headers saying where it is (original topic,
partition, offset) and why (`dead_letter_headers`), and no value: the payload may hold personal
data, and the DLQ outlives an erasure. Replaying reads the value from the original topic. The
reason quotes no payload value either (`reason`). First its
key is held in the consumer's database (`dead_lettered_keys`): the key's later records are
parked (`parked_records`) instead of applied, so none overtakes it. Replaying the dead letter
applies it and, in the same transaction, the records parked behind it; an operator discarding
it (`cowork dlq discard`, see `cowork.shared.dlq` for the operator's tools) releases them
without it at the consumer's next housekeeping round.
"""

from __future__ import annotations

import asyncio
import json
import re
import traceback
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from cowork.shared import metrics
from cowork.shared.events.envelope import (
    Envelope,
    MalformedEvent,
    UnknownEventType,
    decode,
    headers_to_dict,
)
from cowork.shared.failures import PermanentError, is_transient, without_values
from cowork.shared.inbox import record_key
from cowork.shared.kafka import Record, ResilientProducer
from cowork.shared.logging import get_logger

log = get_logger(__name__)

# The consumer's inbox, sequence and handler for one event, in the caller's transaction.
ApplyIn = Callable[[asyncpg.Connection, Record, Envelope], Awaitable[None]]


def dead_letter_headers(record: Record, error: BaseException, *, attempts: int,
                        consumer_group: str) -> list[tuple[str, bytes]]:
    """The record's own headers (its CloudEvents ones: the event keeps its id) without any
    earlier `x-*` failure headers, then the reason for this one. No stack trace for an event
    refused as such (malformed, or a `PermanentError`): the cause is the event, not the code."""
    headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("x-")]
    headers += [
        ("x-error", reason(error, record.value).encode()),
        ("x-error-type", type(error).__name__.encode()),
        ("x-failed-at", datetime.now(UTC).isoformat().encode()),
        ("x-attempts", str(attempts).encode()),
        ("x-original-topic", record.topic.encode()),
        ("x-original-partition", str(record.partition).encode()),
        ("x-original-offset", str(record.offset).encode()),
        ("x-consumer", consumer_group.encode()),
    ]
    if not isinstance(error, MalformedEvent | PermanentError):
        # The frames, then the reason: the exception's own text may quote the payload.
        trace = "".join(traceback.format_tb(error.__traceback__))
        headers.append(("x-stacktrace", redact(
            f"{trace}{type(error).__name__}: {reason(error, record.value)}",
            record.value)[-4000:].encode()))
    return headers


def reason(error: BaseException, *values: bytes | None) -> str:
    """What went wrong, for a header or a log line, without the payload: pydantic's errors
    without their `input_value`, and any string of the payloads (`values`) the message quotes
    (a handler saying which e-mail it could not find) masked."""
    # PostgreSQL quotes rows, the one on file included, and asyncpg the arguments it could not
    # encode: values the payload may not hold, so masking its strings would not catch them.
    return redact(without_values(error), *values)[:2000] or type(error).__name__


def redact(text: str, *values: bytes | None) -> str:
    """`text` with every string of the payloads masked (whatever its case: a handler may
    have lower-cased an e-mail)."""
    quoted = sorted(_strings(values), key=len, reverse=True)
    if not quoted:
        return text
    return re.sub("|".join(map(re.escape, quoted)), "<payload value>", text, flags=re.IGNORECASE)


def _strings(values: tuple[bytes | None, ...]) -> set[str]:
    """The strings in JSON payloads (three characters or more: shorter ones are codes)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str) and len(node) >= 3:
            found.add(node)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for value in values:
        if value is None:
            continue
        try:
            walk(json.loads(value))
        except ValueError:
            found.update(w for w in value.decode(errors="replace").split() if len(w) >= 3)
    return found


class DeadLetters:
    """One consumer's dead-letter topic and held keys. `apply_in` is the consumer's own way of
    applying an event (inbox, sequence, handler), used when a held key is released; `handled`
    the event types it has handlers for."""

    def __init__(self, *, consumer: str, consumer_group: str, service: str, pool: asyncpg.Pool,
                 producer: AIOKafkaProducer | ResilientProducer, topic: str,
                 handled: Collection[str], apply_in: ApplyIn) -> None:
        self._consumer = consumer
        self._group = consumer_group
        self._service = service
        self._pool = pool
        self._producer = producer
        self.topic = topic
        self._handled = handled
        self._apply_in = apply_in

    async def send(self, record: Record, error: BaseException, *, attempts: int,
                   envelope: Envelope | None = None) -> None:
        """Hold the record's key (its later records will be parked), then publish the record
        to the dead-letter topic. In this order: a crash between the two leaves a held key
        and the record not yet committed, so it is delivered and tried again."""
        if record.key is not None:
            await self._hold(record, error, envelope)
        await self.publish(record, error, attempts=attempts)

    async def _hold(self, record: Record, error: BaseException, envelope: Envelope | None
                    ) -> None:
        backoff = 0.5
        while True:
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute(_HOLD, self._consumer, record.topic, record_key(record),
                                       envelope.id if envelope else None,
                                       envelope.type if envelope else None,
                                       type(error).__name__)
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("holding a key failed; retrying", error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def publish(self, record: Record, error: BaseException, *, attempts: int) -> None:
        """Publish the record's reference with its reason, without its value; retried until
        Kafka takes it, since the offset must not move past a record that is neither applied
        nor parked."""
        headers = dead_letter_headers(record, error, attempts=attempts,
                                      consumer_group=self._group)
        backoff = 0.5
        while True:
            try:
                await self._producer.send_and_wait(self.topic, value=None,
                                                   key=record.key, headers=headers)
                break
            except Exception as exc:
                log.warning("dead-letter publish failed; retrying", error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        metrics.DLQ_TOTAL.labels(self._service, self._consumer).inc()
        log.error("event dead-lettered", consumer=self._consumer, dlq=self.topic,
                  topic=record.topic, partition=record.partition, offset=record.offset,
                  error=reason(error, record.value), error_type=type(error).__name__,
                  attempts=attempts)

    async def holder(self, conn: asyncpg.Connection, topic: str, key: str
                     ) -> asyncpg.Record | None:
        """The dead letter holding `key` (its state and event id), locked until the caller's
        transaction ends; None when the key is free."""
        row: asyncpg.Record | None = await conn.fetchrow(_HELD, self._consumer, topic, key)
        return row

    async def park(self, conn: asyncpg.Connection, record: Record, key: str) -> None:
        """Keep a held key's record in the database, in the caller's transaction, until the
        key is released. A tombstone (an erasure) supersedes what is parked for its key, as
        compaction does on the topic, and releases the key: it is applied at the next
        housekeeping round, and the personal data parked with the key goes now."""
        if record.value is None:
            await conn.execute(_SUPERSEDE, self._consumer, record.topic, key)
        await conn.execute(_PARK, self._consumer, record.topic, key, record.partition,
                           record.offset, headers_to_dict(record.headers), record.value)
        metrics.EVENTS_PARKED.labels(self._service, self._consumer).inc()
        log.warning("record parked behind its key's dead letter", consumer=self._consumer,
                    topic=record.topic, partition=record.partition, offset=record.offset)

    async def release(self, conn: asyncpg.Connection, topic: str, key: str) -> None:
        """Apply the key's parked records in order, in the caller's transaction (which holds
        the key's dead_lettered_keys row), then free the key. A parked record that fails now
        is dead-lettered in its turn and holds the key again; the rest stay parked."""
        parked = await conn.fetch(_PARKED_OF_KEY, self._consumer, topic, key)
        for row in parked:
            if not await self._apply_parked(conn, topic, key, row):
                return
        await conn.execute(_UNHOLD, self._consumer, topic, key)
        log.info("key released", consumer=self._consumer, topic=topic, released=len(parked))

    async def _apply_parked(self, conn: asyncpg.Connection, topic: str, key: str,
                            row: asyncpg.Record) -> bool:
        """One parked record applied (or skipped, for a type without a handler) and unparked;
        False when it failed and now holds the key."""
        envelope: Envelope | None = None
        record = ConsumerRecord(topic, row["partition"], row["offset"], 0, 0, key.encode(),
                                row["value"], None, 0, 0,
                                [(k, v.encode()) for k, v in row["headers"].items()])
        try:
            envelope = decode(row["headers"], row["value"])
            if envelope.type in self._handled:
                async with conn.transaction():  # a savepoint: undo this record alone
                    await self._apply_in(conn, record, envelope)
        except UnknownEventType:
            pass
        except Exception as exc:
            if is_transient(exc):
                raise  # the whole release is tried again
            await self.publish(record, exc, attempts=1)
            await conn.execute(_HOLD_AGAIN, self._consumer, topic, key,
                               envelope.id if envelope else None,
                               envelope.type if envelope else None, type(exc).__name__)
            await conn.execute("DELETE FROM parked_records WHERE id = $1", row["id"])
            return False
        await conn.execute("DELETE FROM parked_records WHERE id = $1", row["id"])
        return True

    async def release_discarded(self) -> int:
        """Apply the parked records of keys whose dead letter an operator discarded
        (`cowork dlq discard`); return how many keys were released."""
        async with self._pool.acquire() as conn:
            keys = await conn.fetch("SELECT topic, key FROM dead_lettered_keys "
                                    "WHERE consumer = $1 AND state = 'released'", self._consumer)
            for key in keys:
                async with conn.transaction():
                    held = await self.holder(conn, key["topic"], key["key"])
                    if held is not None and held["state"] == "released":
                        await self.release(conn, key["topic"], key["key"])
        return len(keys)

    async def measure_held(self) -> None:
        """Set the held-keys and parked-records gauges from the database."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM dead_lettered_keys WHERE consumer = $1) AS keys, "
                "(SELECT count(*) FROM parked_records WHERE consumer = $1) AS parked",
                self._consumer)
        metrics.HELD_KEYS.labels(self._service, self._consumer).set(row["keys"])
        metrics.PARKED_RECORDS.labels(self._service, self._consumer).set(row["parked"])


_HELD = """
SELECT state, event_id FROM dead_lettered_keys
WHERE consumer = $1 AND topic = $2 AND key = $3 FOR UPDATE
"""
_HOLD = """
INSERT INTO dead_lettered_keys (consumer, topic, key, event_id, event_type, error_type)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (consumer, topic, key) DO NOTHING
"""
_HOLD_AGAIN = """
UPDATE dead_lettered_keys
SET state = 'dead', event_id = $4, event_type = $5, error_type = $6, dead_lettered_at = now()
WHERE consumer = $1 AND topic = $2 AND key = $3
"""
_UNHOLD = "DELETE FROM dead_lettered_keys WHERE consumer = $1 AND topic = $2 AND key = $3"
_PARK = """
INSERT INTO parked_records (consumer, topic, key, "partition", "offset", headers, value)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
"""
_SUPERSEDE = """
WITH dropped AS (
    DELETE FROM parked_records WHERE consumer = $1 AND topic = $2 AND key = $3
)
UPDATE dead_lettered_keys SET state = 'released'
WHERE consumer = $1 AND topic = $2 AND key = $3
"""
_PARKED_OF_KEY = """
SELECT id, "partition", "offset", headers, value FROM parked_records
WHERE consumer = $1 AND topic = $2 AND key = $3 ORDER BY id
"""
