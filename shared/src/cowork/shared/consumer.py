"""The inbox consumer: events from some topics applied to one service's database, each once.

An `EventConsumer` takes the records Kafka hands over (its transport, `cowork.shared.transport`,
fetches them in a consumer group) and:

1. decodes each record; a record that can never be processed goes to the service's `.dlq`
   topic as a reference without its payload, with the reason in headers
   (`cowork.shared.dead_letters`; an unknown event type is skipped: consumers ignore types
   they do not know; so is a compacted topic's segment-roll marker);
2. in ONE database transaction, records the batch's event ids in the inbox
   (`cowork.shared.inbox`) and applies the handlers of the ids that were new: a redelivered
   event changes nothing;
3. returns; only then does the transport commit the batch's offsets.

A crash between 2 and 3 redelivers the batch, and the inbox turns it into a no-op. When the
batch transaction fails, the records are applied one by one so that a single poison event
cannot hold the others back: transient errors (database or broker away) are retried with
backoff for as long as it takes, other errors up to `max_attempts` times, then dead-lettered
with their cause (`cowork.shared.failures` says which is which); a handler raising
`PermanentError` dead-letters its event at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind

from cowork.shared import inbox, metrics, outbox, tracing
from cowork.shared.dead_letters import DeadLetters, reason
from cowork.shared.events.envelope import (
    Envelope,
    MalformedEvent,
    UnknownEventType,
    decode,
    headers_to_dict,
)
from cowork.shared.failures import TRANSIENT_ERRORS, PermanentError, RetryPolicy, is_transient
from cowork.shared.inbox import record_key
from cowork.shared.kafka import ROLL_MARKER_KEY, Record, ResilientProducer
from cowork.shared.logging import get_logger

__all__ = ["TRANSIENT_ERRORS", "BatchHandler", "EventConsumer", "Handler", "PermanentError",
           "RetryPolicy", "applies_batches", "is_transient"]

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
        self._topics = [topic_prefix + t for t in topics]
        self._handlers = dict(handlers)
        self._batch_types = {t: _is_batch(h) for t, h in self._handlers.items()}
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.group_id = f"{topic_prefix}{service}.{name}"
        self.dead_letters = DeadLetters(
            consumer=name, consumer_group=self.group_id, service=service, pool=pool,
            producer=producer, topic=topic_prefix + dlq_topic,
            handled=frozenset(self._handlers), apply_in=self._apply_in)

    @property
    def pool(self) -> asyncpg.Pool:
        """The service's database, where the consumer keeps its inbox and positions."""
        return self._pool

    @property
    def subscribed_topics(self) -> list[str]:
        """The physical topics this consumer reads (prefix included)."""
        return list(self._topics)

    async def apply_records(self, records: Sequence[Record]) -> None:
        """Apply a batch as Kafka handed it over; returns once every record is applied, parked
        or dead-lettered (its offsets may then be committed), raises if the batch must be
        fetched again."""
        decoded = self._decode(records)
        if not decoded:  # nothing this consumer handles: only its positions move
            await inbox.place(self._pool, self.name, inbox.next_offsets(records))
            return
        started = time.perf_counter()
        ready = [(r, e) for r, e in decoded if isinstance(e, Envelope)]
        try:
            if len(ready) < len(decoded):
                raise _OneByOne  # a malformed record: its key's later records must wait for it
            await self._apply_batch(ready, inbox.next_offsets(records))
        except Exception as exc:
            if not isinstance(exc, _OneByOne):
                log.warning("batch transaction failed; applying one by one", consumer=self.name,
                            size=len(ready), error=reason(exc, *(r.value for r, _ in ready)),
                            error_type=type(exc).__name__)
            # In record order, so a dead letter holds exactly the records of its key after it.
            for record, item in decoded:
                if isinstance(item, MalformedEvent):
                    await self.dead_letter(record, item, attempts=1)
                else:
                    await self._apply_with_retries(record, item)
            # Every record is now applied, parked or dead-lettered: the positions pass them.
            await inbox.place(self._pool, self.name, inbox.next_offsets(records))
        metrics.HANDLER_LATENCY.labels(self.service, self.name).observe(
            time.perf_counter() - started)

    def _decode(self, records: Sequence[Record]) -> list[tuple[Record, Envelope | MalformedEvent]]:
        """The records this consumer handles, decoded, or the reason one cannot be."""
        decoded: list[tuple[Record, Envelope | MalformedEvent]] = []
        for record in records:
            if record.key == ROLL_MARKER_KEY:  # not an event: it rolls a compacted topic
                continue
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
        return decoded

    # -- the batch: one transaction

    async def _apply_batch(self, ready: list[tuple[Record, Envelope]],
                           offsets: inbox.Offsets) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            start = await inbox.record_batch(conn, self.name, ready, offsets)
            if start.held:
                raise _OneByOne  # a held key: its records are parked, one at a time
            seen, positions = start.seen, start.positions
            run: list[Envelope] = []  # consecutive events for one batch handler
            for record, envelope in ready:
                if envelope.id in seen:  # applied before, or twice in this batch
                    metrics.EVENTS_DUPLICATE.labels(self.service, self.name).inc()
                    continue
                seen.add(envelope.id)
                if envelope.sequence is not None and record.key is not None:
                    # Positions as they stood before this batch, then each applied event's.
                    at = (record.topic, record_key(record))
                    mark = (envelope.sequence_epoch or 0, envelope.sequence)
                    last = positions.get(at, (0, 0))
                    if mark <= last:
                        self._log_stale(envelope, last)
                        continue
                    positions[at] = mark
                if run and run[0].type != envelope.type:
                    await self._run_handler(conn, run)
                    run = []
                if self._batch_types.get(envelope.type, False):
                    run.append(envelope)
                else:
                    await self._run_handler(conn, [envelope])
            if run:
                await self._run_handler(conn, run)

    def _log_stale(self, envelope: Envelope, applied: tuple[int, int]) -> None:
        metrics.EVENTS_STALE.labels(self.service, self.name).inc()
        log.info("stale event not applied", consumer=self.name, event_id=str(envelope.id),
                 sequence=envelope.sequence, epoch=envelope.sequence_epoch,
                 applied_epoch=applied[0], applied=applied[1])

    # -- one event at a time: retries, held keys, dead letters

    async def _apply_with_retries(self, record: Record, envelope: Envelope) -> None:
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
                if not transient and attempt >= self.retry.max_attempts:
                    await self.dead_letter(record, exc, attempts=attempt, envelope=envelope)
                    return
                delay = self.retry.delay(min(attempt, 10))
                log.warning("transient failure; retrying" if transient
                            else "handler failed; retrying", consumer=self.name,
                            event_id=str(envelope.id), attempt=attempt, backoff_s=delay,
                            error=reason(exc, record.value)[:500],
                            error_type=type(exc).__name__)
                await asyncio.sleep(delay)

    async def _apply_one(self, record: Record, envelope: Envelope) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if record.key is None:
                await self._apply_in(conn, record, envelope)
                return
            key = record_key(record)
            held = await self.dead_letters.holder(conn, record.topic, key)
            if held is None:
                await self._apply_in(conn, record, envelope)
            elif held["state"] == "dead" and held["event_id"] == envelope.id:
                # The dead letter itself, again (replayed, or redelivered): if it applies now,
                # the records parked behind it follow in this same transaction, so nobody
                # ever sees the key's state between them.
                await self._apply_in(conn, record, envelope)
                await self.dead_letters.release(conn, record.topic, key)
            else:
                await self.dead_letters.park(conn, record, key)

    async def _apply_in(self, conn: asyncpg.Connection, record: Record,
                        envelope: Envelope) -> None:
        """Inbox, sequence and handler of one event, in the caller's transaction."""
        if not await inbox.record_one(conn, self.name, record, envelope):
            metrics.EVENTS_DUPLICATE.labels(self.service, self.name).inc()
            return
        if not await self._is_newest(conn, record, envelope):
            return
        await self._run_handler(conn, [envelope])

    async def _is_newest(self, conn: asyncpg.Connection, record: Record,
                         envelope: Envelope) -> bool:
        """Whether the event is newer than the newest this consumer applied of its key (a late
        replay is not), moving the key's position to it if so; an event without a sequence
        always applies."""
        if envelope.sequence is None or record.key is None:
            return True
        standing = await inbox.advance(conn, self.name, record.topic, record_key(record),
                                       envelope.sequence_epoch or 0, envelope.sequence)
        if standing is None:
            return True
        self._log_stale(envelope, standing)
        return False

    async def dead_letter(self, record: Record, error: BaseException, *, attempts: int,
                          envelope: Envelope | None = None) -> None:
        """Hold the record's key and publish the record to the dead-letter topic."""
        await self.dead_letters.send(record, error, attempts=attempts, envelope=envelope)

    async def release_discarded(self) -> int:
        """Apply the parked records of keys whose dead letter an operator discarded
        (`cowork dlq discard`); return how many keys were released."""
        return await self.dead_letters.release_discarded()

    async def measure_held(self) -> None:
        """Set the held-keys and parked-records gauges from the database."""
        await self.dead_letters.measure_held()

    # -- handlers

    async def _run_handler(self, conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        first = envelopes[0]
        handler: Any = self._handlers[first.type]
        if _is_batch(handler):
            with _event_context(first):
                await handler(conn, envelopes)
        else:
            for envelope in envelopes:
                # The events it writes get ids derived from this one (cowork.shared.outbox):
                # not so for a batch handler, whose batches differ from one run to the next.
                with _event_context(envelope), outbox.caused_by(envelope.id):
                    await handler(conn, envelope)
        metrics.EVENTS_APPLIED.labels(self.service, self.name, first.type).inc(len(envelopes))


class _OneByOne(Exception):
    """The batch must be applied record by record (a malformed record, a held key)."""


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
