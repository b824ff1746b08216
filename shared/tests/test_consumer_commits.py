"""When a consumer commits its offsets: after the batch's transaction, without waiting for
Kafka's answer before taking the next batch, one commit at a time and in order, with explicit
positions; a commit that fails only means a redelivery, which the inbox absorbs.

Driven through `EventConsumer.on_batch` with a stand-in for FastStream's message whose consumer
records the commits and holds each one until the test lets it go; the database is real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from cowork.devtools import Infra
from cowork.shared import db
from cowork.shared.consumer import EventConsumer
from cowork.shared.events import Envelope
from cowork.shared.kafka import ResilientProducer, reliable_producer

from sharedkit import DLQ
from support import SOURCE, TOPIC, Sequenced, record_applied

pytestmark = [pytest.mark.infra]


def batch(stream: str, seqs: range, *, partition: int, first_offset: int
          ) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for i, seq in enumerate(seqs):
        env = Envelope.wrap(Sequenced(stream=stream, seq=seq), source=SOURCE)
        out.append(ConsumerRecord(TOPIC, partition, first_offset + i, 0, 0, env.subject.encode(),
                                  env.value(), None, 0, 0, env.kafka_headers()))
    return out


class HeldCommits:
    """A consumer whose commits wait until released; records what each one asked for."""

    def __init__(self, *, fail: bool = False) -> None:
        self.asked: list[dict[TopicPartition, int]] = []
        self.done: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.asked.append(dict(offsets))
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the group rebalanced")  # what aiokafka's CommitFailedError says
        self.done.append(dict(offsets))


class Message:
    def __init__(self, records: list[ConsumerRecord[bytes, bytes]], consumer: HeldCommits) -> None:
        self.raw_message = tuple(records)
        self.consumer = consumer

    async def nack(self) -> None:
        raise AssertionError("no batch here fails")


@pytest.fixture
async def consumer(infra: Infra, service_db: str, topics: str) -> AsyncIterator[EventConsumer]:
    pool = await db.create_pool(service_db, max_size=4)
    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-commits"))
    yield EventConsumer(name="commits", service="test", pool=pool, producer=producer,
                        topics=[TOPIC], handlers={Sequenced.event_type: record_applied},
                        dlq_topic=DLQ, topic_prefix=topics)
    await producer.stop()
    await pool.close()


async def applied(consumer: EventConsumer) -> int:
    async with consumer._pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM applied"))


async def test_the_next_batch_is_taken_while_kafka_confirms_the_last_commit(
        consumer: EventConsumer) -> None:
    kafka = HeldCommits()
    first = batch("a", range(1, 4), partition=0, first_offset=10) + \
        batch("b", range(1, 3), partition=1, first_offset=40)
    # on_batch returns with its events applied though Kafka has not answered the commit
    await asyncio.wait_for(consumer.on_batch(Message(first, kafka)), 10)  # type: ignore[arg-type]
    assert await applied(consumer) == 5
    await asyncio.sleep(0)
    assert kafka.asked == [{TopicPartition(TOPIC, 0): 13, TopicPartition(TOPIC, 1): 42}]
    assert kafka.done == []

    # The next batch is applied at once, but its commit waits for the previous one: one
    # commit in flight, in order, so an older position never lands after a newer one.
    second = asyncio.create_task(consumer.on_batch(  # type: ignore[arg-type]
        Message(batch("a", range(4, 6), partition=0, first_offset=13), kafka)))
    await asyncio.sleep(0.2)
    assert await applied(consumer) == 7
    assert not second.done() and len(kafka.asked) == 1
    kafka.release.set()
    await asyncio.wait_for(second, 10)
    await asyncio.sleep(0)
    assert kafka.asked[1] == {TopicPartition(TOPIC, 0): 15}
    assert kafka.done[0] == {TopicPartition(TOPIC, 0): 13, TopicPartition(TOPIC, 1): 42}


async def test_a_commit_that_fails_is_absorbed_by_the_inbox_on_redelivery(
        consumer: EventConsumer) -> None:
    kafka = HeldCommits(fail=True)
    kafka.release.set()
    records = batch("c", range(1, 4), partition=0, first_offset=0)
    await consumer.on_batch(Message(records, kafka))  # type: ignore[arg-type]
    await consumer.on_batch(Message(records, kafka))  # redelivered from the old position
    await asyncio.sleep(0)
    assert len(kafka.asked) == 2 and kafka.done == []
    assert await applied(consumer) == 3  # applied once
