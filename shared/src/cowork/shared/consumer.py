"""Idempotent event consumers (inbox), retries with backoff and the dead-letter topic.

A consumer is a FastStream batch subscriber in a consumer group with the MANUAL ack policy:
FastStream's Kafka default (ACK_FIRST) commits offsets before the handler runs, which loses
events on a crash. Here the order is:

1. decode each record; a record that can never be processed goes to the service's `.dlq`
   topic with the reason in headers (an unknown event type is skipped: consumers ignore
   types they do not know);
2. in ONE database transaction, record the batch's event ids in `inbox` (ON CONFLICT DO
   NOTHING) and apply the handlers of the ids that were new: a redelivered event changes
   nothing;
3. commit the offsets, only after that transaction committed — in the background while the
   next batch is fetched and applied, one commit at a time (see `_commit_behind`).

A crash between 2 and 3 redelivers the batch, and the inbox turns it into a no-op. When the
batch transaction fails, the records are applied one by one so that a single poison event
cannot hold the others back: transient errors (database or broker away) are retried with
backoff for as long as it takes, other errors up to `max_attempts` times, then dead-lettered
with their cause (`is_transient` says which is which); a handler raising `PermanentError`
dead-letters its event at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import SpanKind

from cowork.shared import metrics, tracing
from cowork.shared.events.envelope import (
    Envelope,
    MalformedEvent,
    UnknownEventType,
    decode,
    headers_to_dict,
)
from cowork.shared.kafka import ResilientProducer
from cowork.shared.logging import get_logger

log = get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Envelope]], Awaitable[None]]


def applies_batches(handler: BatchHandler) -> BatchHandler:
    """Mark a handler that takes a list of consecutive events of its type (in record order),
    so a hot consumer can apply them with one statement instead of one per event."""
    handler.applies_batches = True  # type: ignore[attr-defined]
    return handler


def _is_batch(handler: object) -> bool:
    return bool(getattr(handler, "applies_batches", False))

# Transient means the world, not the event: the database or the broker could not be reached,
# or the transaction lost a race (deadlock, serialization, a NOWAIT lock). Such a failure is
# retried for as long as it takes. Everything else — a bug (asyncpg's InterfaceError for a
# wrong argument count, a FileNotFoundError: both are not connection failures though the
# second is an OSError), a constraint the event violates — is retried `max_attempts` times and
# then dead-lettered with its cause.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,  # a pool that could not hand out a connection, a network wait
    KafkaConnectionError,
)


def is_transient(error: BaseException) -> bool:
    """Whether `error` says the infrastructure is away or a race was lost (retry without
    limit), rather than something about the event or the code (bounded, then dead letter)."""
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    # asyncpg raises a plain InterfaceError for calls on a connection that was closed under
    # us; every other InterfaceError is a programming error.
    return isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error)


class PermanentError(Exception):
    """Raised by a handler for an event that can never be applied: dead-lettered at once."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 0.2
    max_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.base_seconds * (2 ** (attempt - 1)), self.max_seconds))


class EventConsumer:
    """Applies events from some topics to one service's database, each at most once."""

    def __init__(
        self,
        *,
        name: str,
        service: str,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer | ResilientProducer,
        topics: Sequence[str],
        handlers: Mapping[str, Handler | BatchHandler],
        dlq_topic: str,
        topic_prefix: str = "",
        retry: RetryPolicy | None = None,
        batch_size: int = 500,
    ) -> None:
        self.name = name
        self.service = service
        self._pool = pool
        self._producer = producer
        self._topics = [topic_prefix + t for t in topics]
        self._handlers = dict(handlers)
        self._batch_types = {t: _is_batch(h) for t, h in self._handlers.items()}
        self._dlq_topic = topic_prefix + dlq_topic
        self._retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self.group_id = f"{topic_prefix}{service}.{name}"
        self._committing: asyncio.Task[None] | None = None

    @property
    def subscribed_topics(self) -> list[str]:
        """The physical topics this consumer reads (prefix included)."""
        return list(self._topics)

    # -- wiring

    def register(self, broker: KafkaBroker) -> None:
        subscriber = broker.subscriber(
            *self._topics,
            group_id=self.group_id,
            batch=True,
            max_records=self._batch_size,
            batch_timeout_ms=100,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            parser=_parse_batch_without_headers,
            decoder=_keep_raw,
            title=f"{self.service}.{self.name}",
        )
        subscriber(self.on_batch)

    async def on_batch(self, message: KafkaMessage) -> None:
        raw = message.raw_message
        records: tuple[ConsumerRecord[bytes, bytes], ...] = raw if isinstance(raw, tuple) else (raw,)
        try:
            await self.apply_records(records)
        except Exception as exc:
            # Nothing may be skipped: rewind to the batch's first records and try again later.
            log.error("batch failed; rewinding", consumer=self.name, error=str(exc),
                      error_type=type(exc).__name__)
            await message.nack()
            await asyncio.sleep(self._retry.base_seconds)
            return
        await self._commit_behind(message.consumer, records)

    async def _commit_behind(self, consumer: Any,
                             records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Commit the batch's offsets while the next batch is fetched and applied. Waiting for
        Kafka's answer (a round trip to the group coordinator, several ms) before polling
        again cost about a fifth of a busy consumer's time. Safe because the batch's
        transaction has committed: a commit that fails or never lands (a crash, a rebalance)
        only redelivers records the inbox already holds. The offsets are explicit — the
        positions after this batch, not the consumer's positions when the commit runs — and
        one commit at a time keeps them in order."""
        if self._committing is not None:
            await self._committing
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        self._committing = asyncio.create_task(self._commit(consumer, offsets))

    async def _commit(self, consumer: Any, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # redelivered from the last committed offsets, then absorbed
            log.warning("offset commit failed; the inbox will absorb the redelivery",
                        consumer=self.name, error=str(exc), error_type=type(exc).__name__)

    # -- the core, independent of FastStream so it can be driven directly

    async def apply_records(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        decoded: list[tuple[ConsumerRecord[bytes, bytes], Envelope | MalformedEvent]] = []
        for record in records:
            try:
                envelope = decode(headers_to_dict(record.headers), record.value)
            except UnknownEventType as exc:
                log.info("skipping unknown event type", event_type=str(exc), topic=record.topic)
                continue
            except MalformedEvent as exc:
                decoded.append((record, exc))
                continue
            if envelope.type in self._handlers:
                decoded.append((record, envelope))
        if not decoded:
            return
        started = time.perf_counter()
        ready = [(r, e) for r, e in decoded if isinstance(e, Envelope)]
        try:
            if len(ready) < len(decoded):
                raise _OneByOne  # a malformed record: its key's later records must wait for it
            await self._apply_batch(ready)
        except Exception as exc:
            if not isinstance(exc, _OneByOne):
                log.warning("batch transaction failed; applying one by one", consumer=self.name,
                            size=len(ready), error=str(exc), error_type=type(exc).__name__)
            # In record order, so a dead letter holds exactly the records of its key after it.
            for record, item in decoded:
                if isinstance(item, MalformedEvent):
                    await self.dead_letter(record, item, attempts=1)
                else:
                    await self._apply_with_retries(record, item)
        metrics.HANDLER_LATENCY.labels(self.service, self.name).observe(
            time.perf_counter() - started)

    async def _apply_batch(self, ready: list[tuple[ConsumerRecord[bytes, bytes], Envelope]]) -> None:
        keys = [_key(r) if r.key is not None else None for r, _ in ready]
        keyed = [(r.topic, k, e.sequence) for (r, e), k in zip(ready, keys, strict=True)
                 if k is not None]
        async with self._pool.acquire() as conn, conn.transaction():
            # One round trip: is a key held, which ids the inbox already had (only those come
            # back: a busy consumer's events are nearly all new), where each key stood, and
            # each key's position moved to the batch's newest sequence.
            rows = await conn.fetch(
                _BATCH_START, self.name,
                [e.id for _, e in ready], [e.type for _, e in ready],
                [r.topic for r, _ in ready], [r.partition for r, _ in ready],
                [r.offset for r, _ in ready], [t for t, _, _ in keyed], [k for _, k, _ in keyed],
                [s for _, _, s in keyed])
            seen: set[UUID] = set()
            positions: dict[tuple[str, str], int] = {}
            for row in rows:
                what = row["what"]
                if what == "held":
                    raise _OneByOne  # a held key: its records are parked, one at a time
                if what == "duplicate":
                    seen.add(row["event_id"])
                else:
                    positions[(row["topic"], row["key"])] = row["last_sequence"]
            run: list[Envelope] = []  # consecutive events for one batch handler
            for (record, envelope), key in zip(ready, keys, strict=True):
                if envelope.id in seen:  # applied before, or twice in this batch
                    metrics.EVENTS_DUPLICATE.labels(self.service, self.name).inc()
                    continue
                seen.add(envelope.id)
                if envelope.sequence is not None and key is not None:
                    # Positions as they stood before this batch, then each applied event's.
                    last = positions.get((record.topic, key), 0)
                    if envelope.sequence <= last:
                        self._log_stale(envelope, last)
                        continue
                    positions[(record.topic, key)] = envelope.sequence
                if run and run[0].type != envelope.type:
                    await self._run_handler(conn, run)
                    run = []
                if self._batch_types.get(envelope.type, False):
                    run.append(envelope)
                else:
                    await self._run_handler(conn, [envelope])
            if run:
                await self._run_handler(conn, run)

    def _log_stale(self, envelope: Envelope, applied: int) -> None:
        metrics.EVENTS_STALE.labels(self.service, self.name).inc()
        log.info("stale event not applied", consumer=self.name, event_id=str(envelope.id),
                 sequence=envelope.sequence, applied=applied)

    async def _apply_in(self, conn: asyncpg.Connection, record: ConsumerRecord[bytes, bytes],
                        envelope: Envelope) -> None:
        """Inbox, sequence and handler of one event, in the caller's transaction."""
        status = await conn.execute(
            'INSERT INTO inbox (consumer, event_id, event_type, topic, "partition", "offset") '
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            self.name, envelope.id, envelope.type, record.topic, record.partition,
            record.offset,
        )
        if status.endswith(" 0"):
            metrics.EVENTS_DUPLICATE.labels(self.service, self.name).inc()
            return
        if not await self._is_newest(conn, record, envelope):
            return
        await self._run_handler(conn, [envelope])

    async def _is_newest(self, conn: asyncpg.Connection, record: ConsumerRecord[bytes, bytes],
                         envelope: Envelope) -> bool:
        """Whether the event is newer than the newest this consumer applied of its key (a late
        replay is not), moving the key's position to it if so; an event without a sequence
        always applies."""
        if envelope.sequence is None or record.key is None:
            return True
        key = _key(record)
        moved = await conn.execute(_ADVANCE_ONE, self.name, record.topic, key, envelope.sequence)
        if moved.endswith(" 1"):
            return True
        self._log_stale(envelope, await conn.fetchval(_POSITION, self.name, record.topic, key))
        return False

    async def _apply_one(self, record: ConsumerRecord[bytes, bytes], envelope: Envelope) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if record.key is None:
                await self._apply_in(conn, record, envelope)
                return
            key = _key(record)
            held = await conn.fetchrow(_HELD, self.name, record.topic, key)
            if held is None:
                await self._apply_in(conn, record, envelope)
            elif held["state"] == "dead" and held["event_id"] == envelope.id:
                # The dead letter itself, again (replayed, or redelivered): if it applies now,
                # the records parked behind it follow in this same transaction, so nobody
                # ever sees the key's state between them.
                await self._apply_in(conn, record, envelope)
                await self._release(conn, record.topic, key)
            else:
                await self._park(conn, record, key)

    async def _park(self, conn: asyncpg.Connection, record: ConsumerRecord[bytes, bytes],
                    key: str) -> None:
        await conn.execute(_PARK, self.name, record.topic, key, record.partition, record.offset,
                           headers_to_dict(record.headers), record.value)
        metrics.EVENTS_PARKED.labels(self.service, self.name).inc()
        log.warning("record parked behind its key's dead letter", consumer=self.name,
                    topic=record.topic, partition=record.partition, offset=record.offset)

    async def _release(self, conn: asyncpg.Connection, topic: str, key: str) -> None:
        """Apply the key's parked records in order, in the caller's transaction (which holds
        the key's dead_lettered_keys row), then free the key. A parked record that fails now
        is dead-lettered in its turn and holds the key again; the rest stay parked."""
        parked = await conn.fetch(_PARKED_OF_KEY, self.name, topic, key)
        for row in parked:
            envelope: Envelope | None = None
            record = ConsumerRecord(topic, row["partition"], row["offset"], 0, 0, key.encode(),
                                    row["value"], None, 0, 0,
                                    [(k, v.encode()) for k, v in row["headers"].items()])
            try:
                envelope = decode(row["headers"], row["value"])
                if envelope.type in self._handlers:
                    async with conn.transaction():  # a savepoint: undo this record alone
                        await self._apply_in(conn, record, envelope)
            except UnknownEventType:
                pass
            except Exception as exc:
                if is_transient(exc):
                    raise  # the whole release is tried again
                await self._publish_dead_letter(record, exc, attempts=1)
                await conn.execute(_HOLD_AGAIN, self.name, topic, key,
                                   envelope.id if envelope else None,
                                   envelope.type if envelope else None, type(exc).__name__)
                await conn.execute("DELETE FROM parked_records WHERE id = $1", row["id"])
                return
            await conn.execute("DELETE FROM parked_records WHERE id = $1", row["id"])
        await conn.execute(_UNHOLD, self.name, topic, key)
        log.info("key released", consumer=self.name, topic=topic, released=len(parked))

    async def release_discarded(self) -> int:
        """Apply the parked records of keys whose dead letter an operator discarded
        (`cowork dlq discard`); return how many keys were released."""
        async with self._pool.acquire() as conn:
            keys = await conn.fetch("SELECT topic, key FROM dead_lettered_keys "
                                    "WHERE consumer = $1 AND state = 'released'", self.name)
            for key in keys:
                async with conn.transaction():
                    held = await conn.fetchrow(_HELD, self.name, key["topic"], key["key"])
                    if held is not None and held["state"] == "released":
                        await self._release(conn, key["topic"], key["key"])
        return len(keys)

    async def measure_held(self) -> None:
        """Set the held-keys and parked-records gauges from the database."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM dead_lettered_keys WHERE consumer = $1) AS keys, "
                "(SELECT count(*) FROM parked_records WHERE consumer = $1) AS parked", self.name)
        metrics.HELD_KEYS.labels(self.service, self.name).set(row["keys"])
        metrics.PARKED_RECORDS.labels(self.service, self.name).set(row["parked"])

    async def _run_handler(self, conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        first = envelopes[0]
        handler: Any = self._handlers[first.type]
        if _is_batch(handler):
            with _event_context(first):
                await handler(conn, envelopes)
        else:
            for envelope in envelopes:
                with _event_context(envelope):
                    await handler(conn, envelope)
        metrics.EVENTS_APPLIED.labels(self.service, self.name, first.type).inc(len(envelopes))

    async def _apply_with_retries(self, record: ConsumerRecord[bytes, bytes],
                                  envelope: Envelope) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._apply_one(record, envelope)
                return
            except PermanentError as exc:
                await self.dead_letter(record, exc, attempts=attempt, envelope=envelope)
                return
            except Exception as exc:
                # A transient failure: the event is fine, the world is not; wait without
                # giving up on it. Anything else has `max_attempts`, then the dead letter.
                transient = is_transient(exc)
                if not transient and attempt >= self._retry.max_attempts:
                    await self.dead_letter(record, exc, attempts=attempt, envelope=envelope)
                    return
                delay = self._retry.delay(min(attempt, 10))
                log.warning("transient failure; retrying" if transient
                            else "handler failed; retrying", consumer=self.name,
                            event_id=str(envelope.id), attempt=attempt, backoff_s=delay,
                            error=str(exc)[:500], error_type=type(exc).__name__)
                await asyncio.sleep(delay)

    # -- dead letters

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], error: BaseException,
                          *, attempts: int, envelope: Envelope | None = None) -> None:
        """Hold the record's key (its later records will be parked), then publish the record
        to the dead-letter topic. In this order: a crash between the two leaves a held key
        and the record not yet committed, so it is delivered and tried again."""
        if record.key is not None:
            backoff = 0.5
            while True:
                try:
                    async with self._pool.acquire() as conn:
                        await conn.execute(_HOLD, self.name, record.topic, _key(record),
                                           envelope.id if envelope else None,
                                           envelope.type if envelope else None,
                                           type(error).__name__)
                    break
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.warning("holding a key failed; retrying", error=str(exc))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
        await self._publish_dead_letter(record, error, attempts=attempts)

    async def _publish_dead_letter(self, record: ConsumerRecord[bytes, bytes],
                                   error: BaseException, *, attempts: int) -> None:
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("x-")]
        message = f"{error}"[:2000] or type(error).__name__
        headers += [
            ("x-error", message.encode()),
            ("x-error-type", type(error).__name__.encode()),
            ("x-failed-at", datetime.now(UTC).isoformat().encode()),
            ("x-attempts", str(attempts).encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
            ("x-consumer", self.group_id.encode()),
        ]
        if not isinstance(error, MalformedEvent | PermanentError):
            headers.append(("x-stacktrace", "".join(
                traceback.format_exception(error))[-4000:].encode()))
        backoff = 0.5
        while True:  # the offset must not move past a record that is neither applied nor parked
            try:
                await self._producer.send_and_wait(self._dlq_topic, value=record.value,
                                                   key=record.key, headers=headers)
                break
            except Exception as exc:
                log.warning("dead-letter publish failed; retrying", error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        metrics.DLQ_TOTAL.labels(self.service, self.name).inc()
        log.error("event dead-lettered", consumer=self.name, dlq=self._dlq_topic,
                  topic=record.topic, partition=record.partition, offset=record.offset,
                  error=message, error_type=type(error).__name__, attempts=attempts)


def _key(record: ConsumerRecord[bytes, bytes]) -> str:
    return (record.key or b"").decode(errors="replace")


class _OneByOne(Exception):
    """The batch must be applied record by record (a malformed record, a held key)."""


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
_PARKED_OF_KEY = """
SELECT id, "partition", "offset", headers, value FROM parked_records
WHERE consumer = $1 AND topic = $2 AND key = $3 ORDER BY id
"""
_ADVANCE_ONE = """
INSERT INTO consumer_sequences (consumer, topic, key, last_sequence) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer, topic, key) DO UPDATE SET last_sequence = EXCLUDED.last_sequence
WHERE consumer_sequences.last_sequence < EXCLUDED.last_sequence
"""
_POSITION = """
SELECT last_sequence FROM consumer_sequences WHERE consumer = $1 AND topic = $2 AND key = $3
"""


@contextlib.contextmanager
def _event_context(envelope: Envelope) -> Iterator[None]:
    """Logs carry the event; events the handler writes continue the event's trace (under a
    CONSUMER span when tracing is on)."""
    with tracing.span(f"{envelope.type} process", parent=envelope.traceparent,
                      kind=SpanKind.CONSUMER,
                      attributes={"messaging.system": "kafka",
                                  "messaging.operation.type": "process",
                                  "messaging.message.id": str(envelope.id),
                                  "cloudevents.event_type": envelope.type}):
        traceparent = tracing.child_of(envelope.traceparent)
        token = tracing.set_current(traceparent)
        try:
            with structlog.contextvars.bound_contextvars(
                event_id=str(envelope.id), event_type=envelope.type,
                trace_id=tracing.trace_id(traceparent),
            ):
                yield
        finally:
            tracing.reset(token)


async def _parse_batch_without_headers(records: tuple[ConsumerRecord[bytes, bytes], ...],
                                       default_parser: Callable[..., Awaitable[Any]]) -> Any:
    """FastStream's batch parser decodes every header of every record as UTF-8: one record with
    a binary header would fail the whole batch inside the framework, out of our error handling,
    and the work is wasted since the consumer decodes records itself (with the FastStream
    parser, copying and parsing each record cost about a sixth of the consumer's CPU). Hand it
    only a header-less copy of the first record — enough for the message id, path and ack —
    and keep the original records as the raw message."""
    first, last = records[0], records[-1]
    message = await default_parser((_without_headers(first),))
    message.raw_message = records
    message.message_id = f"{first.offset}-{last.offset}-{first.timestamp}"
    return message


def _without_headers(record: ConsumerRecord[bytes, bytes]) -> ConsumerRecord[bytes, bytes]:
    stripped = copy.copy(record)
    stripped.headers = []
    return stripped


async def _keep_raw(msg: Any) -> Any:
    """Skip FastStream's body decoding: the consumer decodes records itself, so that a body that
    is not JSON becomes a dead letter instead of an exception inside the framework."""
    return None
