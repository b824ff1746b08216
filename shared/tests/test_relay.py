"""Relay leadership: one relay of several publishes, and it hands over cleanly when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY

from cowork.devtools import Infra
from cowork.devtools.kafka import collect
from cowork.shared import db
from cowork.shared.kafka import ResilientProducer, reliable_producer
from cowork.shared.relay import RELAY_LOCK_KEY, OutboxRelay

from sharedkit import fetchval, wait_until, write_events
from support import TOPIC

pytestmark = [pytest.mark.infra]

# The relays' leadership lock in the test's database (other databases' relays hold the same key).
LEADERSHIP = """
FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
LOCK_KEY = (RELAY_LOCK_KEY >> 32, RELAY_LOCK_KEY & 0xFFFFFFFF)


async def _leadership_held(dsn: str) -> object:
    return await fetchval(dsn, "SELECT count(*) " + LEADERSHIP, *LOCK_KEY)


@contextlib.asynccontextmanager
async def two_replicas(infra: Infra, service_db: str, topics: str, name: str
                       ) -> AsyncIterator[tuple[list[OutboxRelay], list[asyncio.Task[None]]]]:
    """Two relays on one database, each with its own pool, as two replicas run them."""
    pools = [await db.create_pool(service_db, max_size=3) for _ in range(2)]
    producer = reliable_producer(infra.kafka_bootstrap, client_id="test-relay")
    await producer.start()
    relays = [OutboxRelay(pool, producer, topic_prefix=topics, poll_seconds=0.1,
                          service=f"{name}-{n}") for n, pool in enumerate(pools)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        yield relays, tasks
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        for pool in pools:
            await pool.close()


async def test_one_relay_leads_and_a_stopped_leader_hands_over(infra: Infra, service_db: str,
                                                               topics: str) -> None:
    async with two_replicas(infra, service_db, topics, "replica") as (relays, tasks):
        async def someone_leads() -> bool:
            return any(r.leading for r in relays)

        await wait_until(someone_leads, 10, "a relay to lead")
        await asyncio.sleep(0.5)  # the standby keeps trying meanwhile
        assert sum(r.leading for r in relays) == 1
        first = next(i for i, r in enumerate(relays) if r.leading)
        assert [_leading_metric(f"replica-{n}") for n in range(2)] == \
            [1.0 if n == first else 0.0 for n in range(2)], "operators see which replica leads"
        relays[first].stop()
        await tasks[first]
        # Its pool stays open and its connection went back to it: the lock must not have.
        other = relays[1 - first]

        async def other_leads() -> bool:
            return other.leading

        await wait_until(other_leads, 10, "the standby to take over")
        assert _leading_metric(f"replica-{first}") == 0.0
        assert await _leadership_held(service_db) == 1
        await write_events(service_db, streams=2, per_stream=50)

        async def all_published() -> bool:
            return await fetchval(service_db, "SELECT count(*) FROM outbox "
                                              "WHERE published_at IS NULL") == 0

        await wait_until(all_published, 30, "the new leader to publish everything")


async def test_a_row_kafka_will_never_accept_is_parked_and_the_rest_flow(
        infra: Infra, service_db: str, topics: str) -> None:
    """An event over Kafka's size limit must not stop every later event of the service."""
    await write_events(service_db, streams=2, per_stream=5)
    conn = await db.connect(service_db)
    try:
        await conn.execute(
            "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, headers) "
            "VALUES ($1, $2, 'big', 'cowork.test.sequenced.v1', $3::jsonb, '{}'::jsonb)",
            uuid.uuid4(), TOPIC, {"padding": "x" * 2_000_000})
    finally:
        await conn.close()
    await write_events(service_db, streams=2, per_stream=5)
    pool = await db.create_pool(service_db, max_size=3)
    producer = reliable_producer(infra.kafka_bootstrap, client_id="test-relay")
    await producer.start()
    relay = OutboxRelay(pool, producer, topic_prefix=topics, poll_seconds=0.1, service="parking")
    parked_before = _sample("cowork_outbox_parked_total", "parking")
    task = asyncio.create_task(relay.run())
    try:
        async def all_but_one_published() -> bool:
            return await fetchval(service_db, "SELECT count(*) FROM outbox "
                                              "WHERE published_at IS NOT NULL") == 20

        await wait_until(all_but_one_published, 30, "the events after the big one to go out")
        reason = await fetchval(service_db, "SELECT parked_reason FROM outbox "
                                            "WHERE aggregateid = 'big' AND published_at IS NULL")
        assert isinstance(reason, str) and reason.startswith("MessageSizeTooLargeError")
        assert _sample("cowork_outbox_parked_total", "parking") == parked_before + 1
        records = await collect(infra.kafka_bootstrap, topics + TOPIC,
                                until=lambda seen: len(seen) >= 20)
        await asyncio.sleep(0.5)
        assert len(records) == 20 and all(r.key != "big" for r in records)
    finally:
        relay.stop()
        await task
        await producer.stop()
        await pool.close()


def _sample(name: str, service: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": service}) or 0.0


def _leading_metric(service: str) -> float:
    value = REGISTRY.get_sample_value("cowork_outbox_relay_leading", {"service": service})
    assert value is not None, f"{service} exports no leadership gauge"
    return value


async def test_a_leader_whose_connection_is_cut_leads_no_more(infra: Infra, service_db: str,
                                                              topics: str) -> None:
    """The database ends the leader's session (failover, idle kill): the lock is gone with it,
    so the old leader must stop leading while a standby takes over — never two at once."""
    async with two_replicas(infra, service_db, topics, "cut") as (relays, _):
        async def one_leads() -> bool:
            return sum(r.leading for r in relays) == 1

        await wait_until(one_leads, 10, "a relay to lead")
        first = next(i for i, r in enumerate(relays) if r.leading)
        await fetchval(service_db, "SELECT pg_terminate_backend(pid) " + LEADERSHIP, *LOCK_KEY)

        async def settled() -> bool:
            return await _leadership_held(service_db) == 1 and await one_leads()

        await wait_until(settled, 10, "leadership to settle after the cut")
        for _ in range(10):  # and it stays settled
            assert sum(r.leading for r in relays) <= 1, "two relays lead at once"
            await asyncio.sleep(0.1)
        assert any(r.leading for r in relays), f"relay {first} was cut and nobody leads"


async def test_a_relay_replaces_a_producer_that_stays_failed(infra: Infra, service_db: str,
                                                            topics: str) -> None:
    """aiokafka can leave a producer failed until restarted; the relay must not keep it."""
    made: list[AIOKafkaProducer] = []

    def producers() -> AIOKafkaProducer:
        producer = reliable_producer(infra.kafka_bootstrap, client_id="test-relay")
        if not made:  # the first one is failed for good: every send raises
            async def refuse(*_: object, **__: object) -> None:
                raise KafkaError("sender task died")
            producer.send = refuse  # type: ignore[method-assign]
            producer.send_batch = refuse  # type: ignore[method-assign]
        made.append(producer)
        return producer

    await write_events(service_db, streams=2, per_stream=5)
    pool = await db.create_pool(service_db, max_size=3)
    producer = ResilientProducer(producers)
    relay = OutboxRelay(pool, producer, topic_prefix=topics, poll_seconds=0.1, service="renew")
    task = asyncio.create_task(relay.run())
    try:
        async def all_published() -> bool:
            return await fetchval(service_db, "SELECT count(*) FROM outbox "
                                              "WHERE published_at IS NULL") == 0

        await wait_until(all_published, 30, "the events to go out on a fresh producer")
        assert len(made) == 2
        records = await collect(infra.kafka_bootstrap, topics + TOPIC,
                                until=lambda seen: len(seen) >= 10)
        assert len(records) == 10
    finally:
        relay.stop()
        await task
        await producer.stop()
        await pool.close()
