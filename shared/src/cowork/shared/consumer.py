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
3. commit the offsets, only after that transaction committed.

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

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaConnectionError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

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


_INBOX_BATCH = """
INSERT INTO inbox (consumer, event_id, event_type, topic, "partition", "offset")
SELECT $1, u.event_id, u.event_type, u.topic, u.part, u.off
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[])
     AS u(event_id, event_type, topic, part, off)
ON CONFLICT DO NOTHING
RETURNING event_id
"""


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
        self._dlq_topic = topic_prefix + dlq_topic
        self._retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self.group_id = f"{topic_prefix}{service}.{name}"

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
        await message.ack()

    # -- the core, independent of FastStream so it can be driven directly

    async def apply_records(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        ready: list[tuple[ConsumerRecord[bytes, bytes], Envelope]] = []
        for record in records:
            try:
                envelope = decode(headers_to_dict(record.headers), record.value)
            except UnknownEventType as exc:
                log.info("skipping unknown event type", event_type=str(exc), topic=record.topic)
                continue
            except MalformedEvent as exc:
                await self.dead_letter(record, exc, attempts=1)
                continue
            if envelope.type in self._handlers:
                ready.append((record, envelope))
        if not ready:
            return
        started = time.perf_counter()
        try:
            await self._apply_batch(ready)
        except Exception as exc:
            log.warning("batch transaction failed; applying one by one", consumer=self.name,
                        size=len(ready), error=str(exc), error_type=type(exc).__name__)
            for record, envelope in ready:
                await self._apply_with_retries(record, envelope)
        metrics.HANDLER_LATENCY.labels(self.service, self.name).observe(
            time.perf_counter() - started)

    async def _apply_batch(self, ready: list[tuple[ConsumerRecord[bytes, bytes], Envelope]]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            fresh = {
                row["event_id"]
                for row in await conn.fetch(
                    _INBOX_BATCH, self.name,
                    [e.id for _, e in ready], [e.type for _, e in ready],
                    [r.topic for r, _ in ready], [r.partition for r, _ in ready],
                    [r.offset for r, _ in ready],
                )
            }
            run: list[Envelope] = []  # consecutive events for one batch handler
            for _, envelope in ready:
                if envelope.id not in fresh:
                    metrics.EVENTS_DUPLICATE.labels(self.service, self.name).inc()
                    continue
                fresh.discard(envelope.id)  # the same event twice in one batch applies once
                if run and run[0].type != envelope.type:
                    await self._run_handler(conn, run)
                    run = []
                if _is_batch(self._handlers[envelope.type]):
                    run.append(envelope)
                else:
                    await self._run_handler(conn, [envelope])
            if run:
                await self._run_handler(conn, run)

    async def _apply_one(self, record: ConsumerRecord[bytes, bytes], envelope: Envelope) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                'INSERT INTO inbox (consumer, event_id, event_type, topic, "partition", "offset") '
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                self.name, envelope.id, envelope.type, record.topic, record.partition,
                record.offset,
            )
            if status.endswith(" 0"):
                metrics.EVENTS_DUPLICATE.labels(self.service, self.name).inc()
                return
            await self._run_handler(conn, [envelope])

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
                await self.dead_letter(record, exc, attempts=attempt)
                return
            except Exception as exc:
                # A transient failure: the event is fine, the world is not; wait without
                # giving up on it. Anything else has `max_attempts`, then the dead letter.
                transient = is_transient(exc)
                if not transient and attempt >= self._retry.max_attempts:
                    await self.dead_letter(record, exc, attempts=attempt)
                    return
                delay = self._retry.delay(min(attempt, 10))
                log.warning("transient failure; retrying" if transient
                            else "handler failed; retrying", consumer=self.name,
                            event_id=str(envelope.id), attempt=attempt, backoff_s=delay,
                            error=str(exc)[:500], error_type=type(exc).__name__)
                await asyncio.sleep(delay)

    # -- dead letters

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], error: BaseException,
                          *, attempts: int) -> None:
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


@contextlib.contextmanager
def _event_context(envelope: Envelope) -> Iterator[None]:
    """Logs carry the event; events the handler writes continue the event's trace."""
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
    and the work is wasted since the consumer decodes records itself. Hand it header-less copies
    and keep the original records as the raw message."""
    message = await default_parser(tuple(_without_headers(r) for r in records))
    message.raw_message = records
    return message


def _without_headers(record: ConsumerRecord[bytes, bytes]) -> ConsumerRecord[bytes, bytes]:
    stripped = copy.copy(record)  # a shallow copy is several times cheaper than replace()
    stripped.headers = []
    return stripped


async def _keep_raw(msg: Any) -> Any:
    """Skip FastStream's body decoding: the consumer decodes records itself, so that a body that
    is not JSON becomes a dead letter instead of an exception inside the framework."""
    return None
