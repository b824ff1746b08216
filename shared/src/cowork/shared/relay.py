"""The outbox relay: committed outbox rows published to Kafka, in commit order.

The `OutboxRelay` publishes the rows services wrote with `cowork.shared.outbox` (acks=all,
idempotent producer, so one key's events stay in order), then marks them published. One relay
per database leads (see OutboxRelay); it is woken by LISTEN/NOTIFY at commit and polls as a
fallback. If it dies between sending and marking, the next leader sends those rows again:
at-least-once, which consumers absorb with their inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from opentelemetry.trace import SpanKind

from cowork.shared import metrics, tracing
from cowork.shared.kafka import ResilientProducer
from cowork.shared.logging import get_logger
from cowork.shared.record_batches import RecordBatches, retrieve
from cowork.shared.retention import purge_table

log = get_logger(__name__)

NOTIFY_CHANNEL = "cowork_outbox"
RELAY_LOCK_KEY = 0x6F7574626F78  # "outbox": one publishing relay per database keeps order

_BACKLOG = """
SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_reason IS NULL) AS rows,
       coalesce((SELECT extract(epoch FROM now() - created_at) FROM outbox
                 WHERE published_at IS NULL AND parked_reason IS NULL ORDER BY seq LIMIT 1),
                0)::float8 AS oldest_seconds
"""


async def measure_backlog(pool: asyncpg.Pool, service: str) -> int:
    """Set the backlog gauges from the database (rows waiting, age of the oldest): measured on
    a timer by every replica, so they rise while Kafka is away instead of freezing."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(_BACKLOG)
    metrics.OUTBOX_BACKLOG.labels(service).set(row["rows"])
    metrics.OUTBOX_OLDEST_AGE.labels(service).set(max(row["oldest_seconds"], 0.0))
    return int(row["rows"])


# Numbered rows go out with the database's epoch beside their sequence (shared migration
# 0005): one read of `outbox_epoch` per batch, drawn again first if the database is no longer
# the one it was drawn in. A start checks that too, but a database restored under a running
# relay (a pg_restore, a point-in-time recovery the pool reconnected through) would otherwise
# send what its restored sequences number again in the old epoch, dropped by every consumer
# as late replays until the next start.
_PENDING = """
WITH e AS MATERIALIZED (
    SELECT CASE WHEN identity = outbox_database_identity() THEN epoch
                ELSE outbox_redraw_epoch() END AS epoch
    FROM outbox_epoch
)
SELECT seq, aggregatetype, aggregateid, type, payload::text AS payload,
       CASE WHEN aggregate_sequence IS NULL THEN headers
            ELSE headers || jsonb_build_object('ce_sequenceepoch', e.epoch::text) END AS headers
FROM outbox LEFT JOIN e ON true
WHERE published_at IS NULL AND parked_reason IS NULL AND seq > $2
ORDER BY seq
LIMIT $1
"""


@dataclass
class _Batch:
    """Rows sent and waiting for Kafka's acknowledgements."""

    published: list[int]
    refused: list[tuple[asyncpg.Record, BaseException]]
    acks: asyncio.Future[Any]
    started: float
    last_seq: int
    size: int


# The producer's own verdict, before sending, that this one record can never be published
# (it exceeds max_request_size): park it rather than stop every later event behind it. A
# broker-side refusal is not parked: it fails a whole batch, innocent records included, so it
# is retried like any other failure (keep max_request_size within the broker's limit).
_NEVER_ACCEPTED = (MessageSizeTooLargeError, RecordTooLargeError)


def _kafka_headers(headers: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [(k, str(v).encode()) for k, v in headers.items()]


async def _settle(marking: asyncio.Task[int]) -> None:
    """Let a mark still running finish (the rows it marks were acknowledged), so that its
    connection goes back to the pool idle; cancelled while waiting, cancel the mark too."""
    try:
        await asyncio.wait({marking})  # returns when it is done; never raises its error
    except asyncio.CancelledError:
        marking.cancel()
        await asyncio.wait({marking})
        raise
    finally:
        retrieve(marking)  # the drain is failing already: its own error is the one raised


class OutboxRelay:
    """Publishes a database's outbox. Of several relays on one database (one per replica) only
    the leader publishes — the one holding a session-level advisory lock on its own connection
    — so rows go out in commit order. The others try for the lock every `poll_seconds`: when a
    leader dies its connection closes, the lock goes with it and a standby takes over. The
    leader reads and sends on that connection, with no transaction around the send, and marks
    what Kafka acknowledged on a second pooled connection while it reads and sends the next
    batch; standbys cost the database nothing while they wait."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer | ResilientProducer, *,
                 topic_prefix: str = "",
                 batch_size: int = 500, poll_seconds: float = 1.0, service: str = "cowork",
                 retention_hours: int = 168, in_flight: int = 1) -> None:
        self._pool = pool
        # A ResilientProducer is replaced after a failed batch; a plain producer is the
        # caller's to restart.
        self._producer = (producer if isinstance(producer, ResilientProducer)
                          else ResilientProducer.around(producer))
        self._prefix = topic_prefix
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._service = service
        self._retention_hours = retention_hours
        self._in_flight = max(1, in_flight)
        self._wake = asyncio.Event()
        self._stopping = False
        self.leading = False

    async def drain(self, conn: asyncpg.Connection) -> int:
        """Publish until nothing is pending; return how many rows were published.

        Up to `in_flight` batches are sent and not yet acknowledged: the next batch is read
        and sent while Kafka acknowledges the previous ones (the idempotent producer keeps each
        partition's order across them; Kafka allows up to 5 requests in flight). Each
        acknowledged batch is marked on a second connection from the pool while the leader's
        goes on reading and sending — the mark was nearly half of a round — one mark at a
        time, and all are done before the drain returns, so no connection goes back to the
        pool busy. A pool of one connection marks in line. A failure ends the drain with
        every unmarked row pending: sent again (at least once)."""
        in_flight: deque[_Batch] = deque()
        marking: asyncio.Task[int] | None = None
        after, published = 0, 0
        async with contextlib.AsyncExitStack() as borrowed:
            # The second connection, taken when the first batch is acknowledged (a poll that
            # finds nothing takes none) and given back after every mark has finished.
            marker: asyncpg.Connection | None = None

            async def mark_when_acknowledged(batch: _Batch) -> None:
                nonlocal marking, published, marker
                await batch.acks  # acks=all: only then does a row count as published
                if marking is not None:
                    published += await marking  # in order; a failed mark ends the drain
                    marking = None
                if marker is None and self._pool.get_max_size() > 1:
                    marker = await borrowed.enter_async_context(self._pool.acquire())
                if marker is None:
                    published += await self._mark(conn, batch)
                else:
                    marking = asyncio.create_task(self._mark(marker, batch))

            try:
                while not self._stopping:
                    batch = await self._send_batch(conn, after)
                    if batch is None:
                        break
                    after = batch.last_seq
                    in_flight.append(batch)
                    if len(in_flight) >= self._in_flight:
                        await mark_when_acknowledged(in_flight.popleft())
                    if batch.size < self._batch_size:
                        break
                while in_flight:
                    await mark_when_acknowledged(in_flight.popleft())
                if marking is not None:
                    published += await marking
                    marking = None
            finally:
                for batch in in_flight:  # abandoned after a failure: their rows stay pending
                    batch.acks.add_done_callback(retrieve)
                if marking is not None:
                    await _settle(marking)
        return published

    async def _send_batch(self, conn: asyncpg.Connection, after: int) -> _Batch | None:
        rows = await conn.fetch(_PENDING, self._batch_size, after)
        if not rows:
            return None
        started = time.perf_counter()
        batches = RecordBatches(await self._producer.get())
        published: list[int] = []
        refused: list[tuple[asyncpg.Record, BaseException]] = []
        traced = tracing.enabled()
        prefix = self._prefix
        topics = [prefix + row["aggregatetype"] for row in rows]
        try:
            await batches.know(set(topics))
            for row, topic in zip(rows, topics, strict=True):
                payload: str | None = row["payload"]
                value = payload.encode() if payload is not None else None
                key = row["aggregateid"].encode()
                try:
                    if traced:
                        with self._send_span(topic, row) as headers:
                            batches.add(topic, key, value, _kafka_headers(headers))
                    else:
                        batches.add(topic, key, value, _kafka_headers(row["headers"]))
                except _NEVER_ACCEPTED as exc:
                    refused.append((row, exc))
                    continue
                published.append(row["seq"])
            acks = await batches.send()
        except BaseException:
            batches.abandon()
            raise
        return _Batch(published, refused, acks, started, rows[-1]["seq"], len(rows))

    async def _mark(self, conn: asyncpg.Connection, batch: _Batch) -> int:
        await conn.execute("UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                           batch.published)
        if batch.refused:
            await self._park(conn, batch.refused)
        metrics.OUTBOX_PUBLISHED.labels(self._service).inc(len(batch.published))
        metrics.OUTBOX_PUBLISH_SECONDS.labels(self._service).observe(
            time.perf_counter() - batch.started)
        return len(batch.published)

    @contextlib.contextmanager
    def _send_span(self, topic: str, row: asyncpg.Record) -> Iterator[dict[str, Any]]:
        """The send under a PRODUCER span, child of the trace stored with the row; yields the
        row's headers with the span's own context, so the consumer's span is the send's
        child."""
        headers: dict[str, Any] = row["headers"]
        with tracing.span(f"{topic} send", parent=headers.get("traceparent"),
                          kind=SpanKind.PRODUCER,
                          attributes={"messaging.system": "kafka",
                                      "messaging.operation.type": "send",
                                      "messaging.destination.name": topic,
                                      "messaging.message.id": str(headers.get("ce_id", "")),
                                      "cloudevents.event_type": str(row["type"])}):
            yield {**headers, "traceparent": tracing.current()}

    async def _park(self, conn: asyncpg.Connection,
                    refused: list[tuple[asyncpg.Record, BaseException]]) -> None:
        parked = await conn.fetch(
            "UPDATE outbox SET parked_reason = r.reason FROM unnest($1::bigint[], $2::text[]) "
            "AS r (seq, reason) WHERE outbox.seq = r.seq RETURNING outbox.seq, id, type",
            [row["seq"] for row, _ in refused],
            [f"{type(exc).__name__}: {exc}" for _, exc in refused])
        metrics.OUTBOX_PARKED.labels(self._service).inc(len(parked))
        errors = {row["seq"]: exc for row, exc in refused}
        for row in parked:  # the event's id and type, never its payload
            exc = errors[row["seq"]]
            log.error("outbox row parked: Kafka will not accept it", seq=row["seq"],
                      event_id=str(row["id"]), event_type=row["type"],
                      error_type=type(exc).__name__, error=str(exc))

    async def backlog(self) -> int:
        return await measure_backlog(self._pool, self._service)

    async def purge_published(self) -> int:
        """Delete published rows past the retention (the runtime's housekeeping calls
        cowork.shared.retention.purge for every table; this is the outbox's part)."""
        async with self._pool.acquire() as conn:
            return await purge_table(conn, "outbox", self._retention_hours, 1000,
                                     service=self._service)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Lead or stand by until stopped; survive broker and database outages with backoff."""
        conn: asyncpg.Connection | None = None
        backoff = 0.2
        metrics.OUTBOX_RELAY_LEADING.labels(self._service).set(0)
        try:
            while not self._stopping:
                try:
                    if conn is not None and conn.is_closed():
                        # Closed under us: the lock went with it, so this relay leads no more.
                        await self._release(conn)
                        conn = None
                    if conn is None:
                        conn = await self._pool.acquire()
                    if not self.leading:
                        self.leading = await conn.fetchval("SELECT pg_try_advisory_lock($1)",
                                                           RELAY_LOCK_KEY)
                        if not self.leading:
                            await self._sleep(self._poll_seconds)
                            continue
                        await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                        metrics.OUTBOX_RELAY_LEADING.labels(self._service).set(1)
                        log.info("outbox relay leading")
                    self._wake.clear()
                    await self.drain(conn)
                    backoff = 0.2
                    await self._sleep(self._poll_seconds)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database away: keep the rows, try again
                    if self._pool.is_closing():  # the service is shutting down under us
                        log.warning("outbox relay stopping: its database pool was closed")
                        break
                    log.warning("outbox relay retrying", error=str(exc),
                                error_type=type(exc).__name__, backoff_s=backoff)
                    if conn is not None:
                        await self._release(conn)
                        conn = None
                    # The producer may be the broken part and aiokafka does not always recover
                    # one by itself: the next attempt starts a fresh one.
                    await self._producer.discard()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
        finally:
            if conn is not None:
                await self._release(conn)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _release(self, conn: asyncpg.Connection) -> None:
        """Give the connection back without the lock or the LISTEN (the pool does not reset
        sessions, see db.create_pool); a connection that cannot be cleaned is closed, which
        drops both on the server."""
        leading, self.leading = self.leading, False
        metrics.OUTBOX_RELAY_LEADING.labels(self._service).set(0)
        try:
            await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            if leading:
                await conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_KEY)
        except Exception:  # a broken connection: closing it is the cleanup
            with contextlib.suppress(Exception):  # one already gone with its pool
                conn.terminate()
        with contextlib.suppress(Exception):
            await self._pool.release(conn)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
