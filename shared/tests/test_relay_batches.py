"""The relay's drain: record batches per partition, marks on a second connection.

The relay hands Kafka whole record batches (one per partition, in `seq` order) and marks each
acknowledged batch on another pooled connection while it reads and sends the next. These tests
hold it to what partners and the fault tests rely on: every row once, each key in order, in
the partition the producer's partitioner gives its key; a mark the database refuses leaves its
rows pending for the next drain; and however a drain ends, every connection it took is back in
the pool, idle (a connection left busy once hung a test's teardown in `pool.close()`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from cowork.devtools import Infra
from cowork.devtools.kafka import collect
from cowork.shared import db
from cowork.shared.kafka import reliable_producer
from cowork.shared.relay import OutboxRelay

from sharedkit import write_events
from support import TOPIC

pytestmark = [pytest.mark.infra]

STREAMS, PER_STREAM, BATCH = 7, 30, 40  # 210 rows: six batches, the last one short


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    p = reliable_producer(infra.kafka_bootstrap, client_id="test-relay-batches")
    await p.start()
    yield p
    await p.stop()


async def closes_promptly(pool: asyncpg.Pool) -> None:
    """pool.close() waits for every acquired connection: one left busy would hang it."""
    await asyncio.wait_for(pool.close(), timeout=20)


async def pending(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


@pytest.mark.parametrize(("pool_size", "record_batch_bytes"), [(4, None), (1, None), (4, 1024)],
                         ids=["mark-on-its-own-connection", "pool-of-one",
                              "record-batches-that-fill-up"])
async def test_a_drain_of_many_batches_publishes_each_row_once_in_key_order(
        infra: Infra, service_db: str, topics: str, pool_size: int,
        record_batch_bytes: int | None) -> None:
    """With record batches that fill up after a few records, a partition gets several per
    read: they must still go in `seq` order."""
    total = await write_events(service_db, streams=STREAMS, per_stream=PER_STREAM, per_tx=50)
    pool = await db.create_pool(service_db, min_size=1, max_size=pool_size)
    producer = reliable_producer(infra.kafka_bootstrap, client_id="test-relay-batches")
    if record_batch_bytes:
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all",
                                    enable_idempotence=True, max_batch_size=record_batch_bytes)
    await producer.start()
    relay = OutboxRelay(pool, producer, topic_prefix=topics, batch_size=BATCH)
    try:
        async with pool.acquire() as conn:
            assert await relay.drain(conn) == total
        assert await pending(pool) == 0, "every acknowledged row is marked before drain returns"
    finally:
        await closes_promptly(pool)
        await producer.stop()
    records = await collect(infra.kafka_bootstrap, topics + TOPIC,
                            until=lambda seen: len(seen) >= total)
    assert len(records) == total, "each row once"
    by_key: dict[str, list[int]] = defaultdict(list)
    partitioner = DefaultPartitioner()
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert r.key is not None
        by_key[r.key].append(r.envelope.data.seq)  # type: ignore[union-attr]
        assert r.partition == partitioner(r.key.encode(), [0, 1, 2], [0, 1, 2]), \
            "the partition the producer's own partitioner gives the key"
    assert by_key == {f"s{s}": list(range(PER_STREAM)) for s in range(STREAMS)}


async def refuse_marking(pool: asyncpg.Pool, nth_row: int, *, times: int = 1,
                         sleep: float = 0.0) -> None:
    """A trigger that fails (or slows) the UPDATE marking the row at position `nth_row`: a
    database refusing one mark, as a failover or a statement timeout would."""
    seq = await pool.fetchval("SELECT seq FROM outbox ORDER BY seq OFFSET $1 LIMIT 1", nth_row)
    await pool.execute(f"""
        CREATE SEQUENCE mark_refusals;
        CREATE FUNCTION refuse_mark() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_sleep({sleep});
            IF {times} > 0 AND nextval('mark_refusals') <= {times} THEN
                RAISE EXCEPTION 'mark refused by the test';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_mark BEFORE UPDATE OF published_at ON outbox
            FOR EACH ROW WHEN (OLD.seq = {seq}) EXECUTE FUNCTION refuse_mark();
    """)


async def test_a_mark_that_fails_leaves_its_rows_pending_and_they_go_out_again(
        infra: Infra, service_db: str, topics: str, producer: AIOKafkaProducer) -> None:
    total = await write_events(service_db, streams=STREAMS, per_stream=PER_STREAM, per_tx=50)
    pool = await db.create_pool(service_db, min_size=1, max_size=4)
    relay = OutboxRelay(pool, producer, topic_prefix=topics, batch_size=BATCH)
    try:
        await refuse_marking(pool, nth_row=2 * BATCH + 5)  # in the third batch
        async with pool.acquire() as conn:
            with pytest.raises(asyncpg.RaiseError, match="mark refused"):
                await relay.drain(conn)
        assert await pending(pool) == total - 2 * BATCH, \
            "the first two batches are marked; the refused one and all after stay pending"
        async with pool.acquire() as conn:
            assert await relay.drain(conn) == total - 2 * BATCH
        assert await pending(pool) == 0
    finally:
        await closes_promptly(pool)
    records = await collect(infra.kafka_bootstrap, topics + TOPIC,
                            until=lambda seen: len({r.envelope.id for r in seen}) >= total)
    assert len({r.envelope.id for r in records}) == total, "nothing lost"
    by_key: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert r.key is not None
        by_key[r.key].append(r.envelope.data.seq)  # type: ignore[union-attr]
    for key, seqs in by_key.items():
        first_seen = list(dict.fromkeys(seqs))
        assert first_seen == list(range(PER_STREAM)), f"{key} in order, resent rows after"


async def test_a_drain_cancelled_while_a_mark_runs_gives_every_connection_back(
        service_db: str, topics: str, producer: AIOKafkaProducer) -> None:
    """Cancelled (a service shutting down) while its second connection is marking: the mark
    ends, both connections go back to the pool idle, and each row is marked or pending —
    never lost, the next drain sends what is left."""
    total = await write_events(service_db, streams=STREAMS, per_stream=PER_STREAM, per_tx=50)
    pool = await db.create_pool(service_db, min_size=1, max_size=4)
    relay = OutboxRelay(pool, producer, topic_prefix=topics, batch_size=BATCH)
    try:
        await refuse_marking(pool, nth_row=BATCH + 1, times=0, sleep=2.0)  # slow second mark

        async def drain() -> int:
            async with pool.acquire() as conn:
                return await relay.drain(conn)

        task = asyncio.create_task(drain())
        marking = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'UPDATE outbox SET%'" \
                  " AND state = 'active' AND datname = current_database()"
        for _ in range(200):
            if await pool.fetchval(marking):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the second mark never started")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.get_idle_size() == pool.get_size(), "every connection back, idle"
        left = await pending(pool)
        assert left in (total - BATCH, total - 2 * BATCH), "whole batches marked, no more"
        async with pool.acquire() as conn:
            await conn.execute("DROP TRIGGER refuse_mark ON outbox")
            assert await relay.drain(conn) == left
        assert await pending(pool) == 0
    finally:
        await closes_promptly(pool)


async def test_a_poll_that_finds_nothing_takes_no_second_connection(
        service_db: str, producer: AIOKafkaProducer) -> None:
    """The leader polls every second: with nothing pending it must not queue for a second
    connection the API is using."""
    pool = await db.create_pool(service_db, min_size=1, max_size=2)
    relay = OutboxRelay(pool, producer, batch_size=BATCH)
    try:
        async with pool.acquire() as leader, pool.acquire():  # the other: an API request's
            assert await asyncio.wait_for(relay.drain(leader), timeout=10) == 0
    finally:
        await closes_promptly(pool)
